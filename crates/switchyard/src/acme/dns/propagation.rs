//! Waiting for a DNS-01 record to be visible, with Traefik's `propagation` options: after
//! `delayBeforeChecks`, unless `disableChecks`, every authoritative name server of the zone must
//! serve the value (skipped with `disableANSChecks`), and with `requireAllRNS` every recursive
//! resolver too (`dnsChallenge.resolvers`, else the system's).

use std::net::SocketAddr;
use std::time::Duration;

use super::wire::{self, RecordData, TYPE_A, TYPE_NS, TYPE_SOA, TYPE_TXT};
use super::{Timing, TxtRecord};
use crate::acme::settings::DnsChallenge;

/// The `nameserver` lines of `/etc/resolv.conf`, port 53.
pub fn system_resolvers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if out.is_empty() {
        out.push(SocketAddr::from(([127, 0, 0, 1], 53)));
    }
    out
}

fn resolvers(cfg: &DnsChallenge) -> Vec<SocketAddr> {
    use std::net::ToSocketAddrs;
    if cfg.resolvers.is_empty() {
        return system_resolvers();
    }
    cfg.resolvers
        .iter()
        .filter_map(|r| r.to_socket_addrs().ok()?.next())
        .collect()
}

const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The zone holding `fqdn`: the owner of the SOA in the answer or authority section of an SOA
/// query, asked of each server in turn.
pub(super) async fn find_zone(
    servers: &[SocketAddr],
    fqdn: &str,
    timeout: Duration,
) -> Result<String, String> {
    let mut last = String::from("no server to ask");
    for &server in servers {
        match wire::lookup(server, fqdn, TYPE_SOA, true, timeout).await {
            Ok(r) => {
                let soa = r
                    .answers
                    .iter()
                    .chain(&r.authority)
                    .find(|rec| rec.rtype == TYPE_SOA);
                if let Some(soa) = soa {
                    return Ok(soa.name.clone());
                }
                last = format!("{server}: no SOA record ({})", wire::rcode_name(r.rcode));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Whether `server` serves `value` for `fqdn`.
async fn has_txt(
    server: SocketAddr,
    fqdn: &str,
    value: &str,
    recursive: bool,
) -> Result<bool, String> {
    let r = wire::lookup(server, fqdn, TYPE_TXT, recursive, QUERY_TIMEOUT).await?;
    Ok(r.answers
        .iter()
        .any(|rec| rec.data == RecordData::Txt(value.to_owned())))
}

/// The authoritative name servers of the zone of `fqdn`, as addresses (port 53).
async fn authoritative(recursors: &[SocketAddr], fqdn: &str) -> Result<Vec<SocketAddr>, String> {
    let zone = find_zone(recursors, fqdn, QUERY_TIMEOUT).await?;
    let mut names = Vec::new();
    for &r in recursors {
        if let Ok(resp) = wire::lookup(r, &zone, TYPE_NS, true, QUERY_TIMEOUT).await {
            names.extend(resp.answers.iter().filter_map(|rec| match &rec.data {
                RecordData::Name(n) if rec.rtype == TYPE_NS => Some(n.clone()),
                _ => None,
            }));
            if !names.is_empty() {
                break;
            }
        }
    }
    if names.is_empty() {
        return Err(format!("no NS records found for zone {zone}"));
    }
    let mut addrs = Vec::new();
    for name in &names {
        for &r in recursors {
            if let Ok(resp) = wire::lookup(r, name, TYPE_A, true, QUERY_TIMEOUT).await {
                let found: Vec<SocketAddr> = resp
                    .answers
                    .iter()
                    .filter_map(|rec| match rec.data {
                        RecordData::Ip(ip) => Some(SocketAddr::new(ip, 53)),
                        _ => None,
                    })
                    .collect();
                if !found.is_empty() {
                    addrs.extend(found);
                    break;
                }
            }
        }
    }
    if addrs.is_empty() {
        return Err(format!(
            "cannot resolve the name servers of zone {zone} ({})",
            names.join(", ")
        ));
    }
    Ok(addrs)
}

/// One round of checks; `Ok(None)` when the record is visible everywhere required, else what is
/// still missing.
async fn check_once(cfg: &DnsChallenge, rec: &TxtRecord) -> Result<Option<String>, String> {
    let recursors = resolvers(cfg);
    if !cfg.disable_ans_checks {
        for ns in authoritative(&recursors, &rec.fqdn).await? {
            if !has_txt(ns, &rec.fqdn, &rec.value, false)
                .await
                .unwrap_or(false)
            {
                return Ok(Some(format!("authoritative name server {ns}")));
            }
        }
    }
    if cfg.require_all_rns {
        for r in recursors {
            if !has_txt(r, &rec.fqdn, &rec.value, true)
                .await
                .unwrap_or(false)
            {
                return Ok(Some(format!("resolver {r}")));
            }
        }
    }
    Ok(None)
}

/// Waits until the record is visible as the options require, or the provider's propagation
/// timeout passes (an error naming the server that does not show it yet).
pub async fn wait_for_txt(
    cfg: &DnsChallenge,
    timing: Timing,
    rec: &TxtRecord,
) -> Result<(), String> {
    if !cfg.delay_before_checks.is_zero() {
        tokio::time::sleep(cfg.delay_before_checks).await;
    }
    if cfg.disable_checks {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timing.propagation_timeout;
    loop {
        let missing = match check_once(cfg, rec).await {
            Ok(None) => return Ok(()),
            Ok(Some(m)) => m,
            Err(e) => e,
        };
        if tokio::time::Instant::now() + timing.polling_interval > deadline {
            return Err(format!(
                "TXT record {} not visible after {:?}: {missing}",
                rec.fqdn, timing.propagation_timeout
            ));
        }
        tokio::time::sleep(timing.polling_interval).await;
    }
}
