//! One certificate resolver at work: it keeps the resolver's stored certificates, learns from
//! each compiled configuration which domain sets routers want, and orders what is missing or due
//! for renewal — one order at a time, each domain set with its own exponential backoff.
//!
//! Renewal starts when a third of a certificate's lifetime remains, or inside the CA's ARI window
//! when the CA offers one. A failed renewal never removes the certificate in use; a certificate
//! obtained or renewed is stored first, then served at once (the configuration is recompiled).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use instant_acme::{Account, CertificateIdentifier};
use tokio::sync::{watch, Notify};
use tracing::{debug, error, info, warn};

use super::challenge::Challenges;
use super::dns::DnsProvider;
use super::order::{self, OrderContext, OrderError};
use super::settings::ResolverSettings;
use super::storage::{CertStorage, ResolverData, StoredCert, StoredDomain};
use crate::tls::certs::{load_pair, LoadedCert};

/// First retry delay after a failure; doubled after each further failure.
const RETRY_MIN: Duration = Duration::from_secs(20);
/// Longest wait between retries (and the wait after a rate limit).
const RETRY_MAX: Duration = Duration::from_secs(3600);

/// A resolver's state, shared by its task and the rest of the process.
#[derive(Debug)]
pub(crate) struct Resolver {
    pub(crate) settings: ResolverSettings,
    storage: Arc<dyn CertStorage>,
    data: Mutex<ResolverData>,
    /// The stored certificates, ready to serve.
    pub(crate) served: ArcSwap<Vec<LoadedCert>>,
    /// Domain sets the routers want (each: main name first).
    pub(crate) wanted: watch::Sender<BTreeSet<Vec<String>>>,
    dns: Option<DnsProvider>,
}

/// A stored certificate's facts used for planning.
struct CertFacts {
    domain: StoredDomain,
    names: Vec<String>,
    not_before: SystemTime,
    not_after: SystemTime,
    id: Option<CertificateIdentifier<'static>>,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    next: tokio::time::Instant,
}

impl Backoff {
    fn fail(prev: Option<Backoff>, rate_limited: bool) -> (Backoff, Duration) {
        let failures = prev.map_or(0, |b| b.failures) + 1;
        let mut delay = RETRY_MIN
            .saturating_mul(1u32 << (failures - 1).min(16))
            .min(RETRY_MAX);
        if rate_limited {
            delay = RETRY_MAX;
        }
        let next = tokio::time::Instant::now() + delay;
        (Backoff { failures, next }, delay)
    }
}

/// Whether certificate name `pattern` (maybe `*.x`) covers `name`.
fn covers(pattern: &str, name: &str) -> bool {
    if pattern == name {
        return true;
    }
    match (pattern.strip_prefix("*."), name.split_once('.')) {
        (Some(suffix), Some((_, parent))) => !name.starts_with("*.") && suffix == parent,
        _ => false,
    }
}

impl Resolver {
    pub(crate) fn new(
        settings: ResolverSettings,
        storage: Arc<dyn CertStorage>,
        data: ResolverData,
        dns: Option<DnsProvider>,
    ) -> Resolver {
        let served = ArcSwap::from_pointee(load_served(&settings.name, &data));
        Resolver {
            settings,
            storage,
            data: Mutex::new(data),
            served,
            wanted: watch::channel(BTreeSet::new()).0,
            dns,
        }
    }

    fn facts(&self) -> Vec<CertFacts> {
        let data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        data.certificates
            .iter()
            .filter_map(|c| {
                let (chain, _) = c.pem().ok()?;
                facts_of(&c.domain, &chain)
            })
            .collect()
    }

    /// Stores a new or renewed certificate (replacing one for the same domain) and serves it.
    async fn install(&self, domain: StoredDomain, issued: &order::Issued) {
        let snapshot = {
            let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
            let cert = StoredCert::new(domain.clone(), &issued.chain_pem, &issued.key_pem);
            match data.certificates.iter_mut().find(|c| c.domain == domain) {
                Some(existing) => *existing = cert,
                None => data.certificates.push(cert),
            }
            data.clone()
        };
        self.served
            .store(Arc::new(load_served(&self.settings.name, &snapshot)));
        self.save(snapshot).await;
    }

    async fn save(&self, data: ResolverData) {
        let storage = self.storage.clone();
        let name = self.settings.name.clone();
        let saved = tokio::task::spawn_blocking(move || storage.save(&name, &data)).await;
        match saved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(resolver = %self.settings.name, error = %e, "cannot save the ACME data; the certificate is served but will be ordered again after a restart")
            }
            Err(e) => {
                error!(resolver = %self.settings.name, error = %e, "saving the ACME data failed")
            }
        }
    }
}

/// Parses the stored certificates; a broken entry is skipped with an error naming its domain.
fn load_served(resolver: &str, data: &ResolverData) -> Vec<LoadedCert> {
    data.certificates
        .iter()
        .filter_map(|c| {
            let loaded = c.pem().and_then(|(chain, key)| load_pair(&chain, &key));
            match loaded {
                Ok(l) => Some(l),
                Err(e) => {
                    error!(resolver, domain = %c.domain.main, error = %e, "stored ACME certificate skipped");
                    None
                }
            }
        })
        .collect()
}

fn facts_of(domain: &StoredDomain, chain_pem: &str) -> Option<CertFacts> {
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()?
        .ok()?;
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names = domain.names();
    }
    let to_time =
        |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0));
    let id = cert
        .iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| {
                CertificateIdentifier::new(
                    rustls::pki_types::Der::from_slice(k.0),
                    rustls::pki_types::Der::from_slice(cert.tbs_certificate.raw_serial()),
                )
                .into_owned()
            }),
            _ => None,
        });
    Some(CertFacts {
        domain: domain.clone(),
        names,
        not_before: to_time(cert.validity().not_before.timestamp()),
        not_after: to_time(cert.validity().not_after.timestamp()),
        id,
    })
}

/// When a certificate is due: two thirds into its lifetime.
fn renew_at(f: &CertFacts) -> SystemTime {
    let life = f.not_after.duration_since(f.not_before).unwrap_or_default();
    f.not_after - life / 3
}

/// One order to place.
struct Job {
    names: Vec<String>,
    renewal: Option<CertificateIdentifier<'static>>,
}

/// What to order now: renewals of due certificates still wanted by a router, then names routers
/// want that no valid certificate covers.
fn plan(
    wanted: &BTreeSet<Vec<String>>,
    facts: &[CertFacts],
    due: &HashMap<String, SystemTime>,
    now: SystemTime,
) -> Vec<Job> {
    let wanted_names: BTreeSet<&String> = wanted.iter().flatten().collect();
    let mut jobs: Vec<Job> = Vec::new();
    let mut renewing: BTreeSet<String> = BTreeSet::new();
    for f in facts {
        let at = due
            .get(&f.domain.main)
            .copied()
            .unwrap_or_else(|| renew_at(f));
        let still_wanted = f
            .names
            .iter()
            .any(|n| wanted_names.iter().any(|w| covers(n, w)));
        if now >= at && still_wanted {
            renewing.extend(f.names.iter().cloned());
            jobs.push(Job {
                names: f.domain.names(),
                renewal: f.id.clone(),
            });
        }
    }
    for set in wanted {
        let missing: Vec<String> = set
            .iter()
            .filter(|n| {
                !facts
                    .iter()
                    .any(|f| f.not_after > now && f.names.iter().any(|p| covers(p, n)))
                    && !renewing.iter().any(|p| covers(p, n))
            })
            .cloned()
            .collect();
        if !missing.is_empty() && !jobs.iter().any(|j| j.names == missing) {
            jobs.push(Job {
                names: missing,
                renewal: None,
            });
        }
    }
    jobs
}

/// Runs the resolver until the process ends.
pub(crate) async fn run(
    resolver: Arc<Resolver>,
    challenges: Arc<Challenges>,
    changed: Arc<Notify>,
) {
    let name = resolver.settings.name.clone();
    let mut wanted_rx = resolver.wanted.subscribe();
    let mut account: Option<Account> = None;
    let mut account_backoff: Option<Backoff> = None;
    let mut backoffs: HashMap<Vec<String>, Backoff> = HashMap::new();
    // ARI: renewal times the CA suggested, by certificate main name; `None` until known.
    let mut ari_supported: Option<bool> = None;
    let mut ari_due: HashMap<String, SystemTime> = HashMap::new();
    let mut ari_checked: Option<tokio::time::Instant> = None;
    if resolver.settings.preferred_chain.is_some() {
        warn!(resolver = %name, "preferredChain is not supported; the CA's default chain is used");
    }
    loop {
        let wanted = wanted_rx.borrow_and_update().clone();
        let facts = resolver.facts();
        let now = tokio::time::Instant::now();
        let account_ready = account_backoff.is_none_or(|b| now >= b.next);
        if account.is_none() && !wanted.is_empty() && account_ready {
            let stored = resolver
                .data
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .account
                .clone();
            match super::account::account(&resolver.settings, stored.as_ref()).await {
                Ok((acct, new)) => {
                    if let Some(new) = new {
                        let data = {
                            let mut d = resolver.data.lock().unwrap_or_else(|p| p.into_inner());
                            d.account = Some(new);
                            d.clone()
                        };
                        resolver.save(data).await;
                    }
                    account = Some(acct);
                    account_backoff = None;
                }
                Err(e) => {
                    let (b, delay) = Backoff::fail(account_backoff, false);
                    account_backoff = Some(b);
                    error!(resolver = %name, error = %e, retry_in = ?delay, "ACME account unavailable; certificates already obtained keep being served");
                }
            }
        }
        if let Some(acct) = &account {
            let interval = resolver.settings.check_interval();
            if ari_supported != Some(false) && ari_checked.is_none_or(|t| now >= t + interval) {
                ari_checked = Some(now);
                for f in &facts {
                    let Some(id) = &f.id else { continue };
                    match acct.renewal_info(id).await {
                        Ok((info, _)) => {
                            ari_supported = Some(true);
                            let start = info.suggested_window.start.unix_timestamp();
                            let end = info.suggested_window.end.unix_timestamp().max(start);
                            let at = start + random_below(end - start + 1);
                            let at = SystemTime::UNIX_EPOCH
                                + Duration::from_secs(u64::try_from(at).unwrap_or(0));
                            ari_due.insert(f.domain.main.clone(), at);
                        }
                        Err(instant_acme::Error::Unsupported(_)) => {
                            ari_supported = Some(false);
                            break;
                        }
                        Err(e) => {
                            debug!(resolver = %name, error = %e, "ARI renewal window unavailable")
                        }
                    }
                }
            }
            let jobs = plan(&wanted, &facts, &ari_due, SystemTime::now());
            for job in jobs {
                if backoffs
                    .get(&job.names)
                    .is_some_and(|b| tokio::time::Instant::now() < b.next)
                {
                    continue;
                }
                let what = if job.renewal.is_some() {
                    "renewing"
                } else {
                    "obtaining"
                };
                info!(resolver = %name, domains = ?job.names, "{what} a certificate");
                let ctx = OrderContext {
                    settings: &resolver.settings,
                    account: acct,
                    challenges: &challenges,
                    dns: resolver.dns.as_ref(),
                };
                let replaces = job.renewal.clone().filter(|_| ari_supported == Some(true));
                match order::obtain(&ctx, &job.names, replaces).await {
                    Ok(issued) => {
                        let domain = StoredDomain {
                            main: job.names[0].clone(),
                            sans: job.names[1..].to_vec(),
                        };
                        ari_due.remove(&domain.main);
                        resolver.install(domain, &issued).await;
                        backoffs.remove(&job.names);
                        info!(resolver = %name, domains = ?job.names, "certificate obtained; serving it now");
                        changed.notify_one();
                    }
                    Err(e) => {
                        let limited = matches!(e, OrderError::RateLimited(_));
                        let (b, delay) = Backoff::fail(backoffs.get(&job.names).copied(), limited);
                        backoffs.insert(job.names.clone(), b);
                        let keep = if job.renewal.is_some() {
                            "; the current certificate stays in use"
                        } else {
                            "; the default certificate is served meanwhile"
                        };
                        error!(resolver = %name, domains = ?job.names, error = %e, retry_in = ?delay, "cannot {} a certificate{keep}", if job.renewal.is_some() { "renew" } else { "obtain" });
                    }
                }
            }
        }
        // Sleep until the next renewal, retry or check, or until the routers change.
        let facts = resolver.facts();
        let mut wake = tokio::time::Instant::now() + resolver.settings.check_interval();
        let sys_now = SystemTime::now();
        for f in &facts {
            // Past due times are either being retried (their backoff counts) or belong to
            // certificates no router uses; only future ones set an alarm.
            let at = ari_due
                .get(&f.domain.main)
                .copied()
                .unwrap_or_else(|| renew_at(f));
            if let Ok(in_) = at.duration_since(sys_now) {
                wake = wake.min(tokio::time::Instant::now() + in_ + Duration::from_millis(100));
            }
        }
        for b in backoffs.values().chain(account_backoff.iter()) {
            wake = wake.min(b.next);
        }
        tokio::select! {
            r = wanted_rx.changed() => if r.is_err() { return },
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

fn random_below(n: i64) -> i64 {
    if n <= 1 {
        return 0;
    }
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    i64::try_from(u64::from_be_bytes(b) % n.unsigned_abs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn facts(main: &str, names: &[&str], born: u64, dies: u64) -> CertFacts {
        CertFacts {
            domain: StoredDomain {
                main: main.into(),
                sans: names[1..].iter().map(|s| s.to_string()).collect(),
            },
            names: names.iter().map(|s| s.to_string()).collect(),
            not_before: SystemTime::UNIX_EPOCH + Duration::from_secs(born),
            not_after: SystemTime::UNIX_EPOCH + Duration::from_secs(dies),
            id: None,
        }
    }

    fn set(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.a.test", "x.a.test"));
        assert!(!covers("*.a.test", "a.test"));
        assert!(!covers("*.a.test", "y.x.a.test"));
        assert!(covers("a.test", "a.test"));
    }

    #[test]
    fn plans_missing_names_and_due_renewals() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let certs = vec![facts("a.test", &["a.test", "b.test"], 0, 90)];
        let wanted: BTreeSet<Vec<String>> = [set(&["a.test", "c.test"]), set(&["b.test"])].into();
        // Fresh certificate: only c.test is missing.
        let jobs = plan(&wanted, &certs, &HashMap::new(), at(10));
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].names, set(&["c.test"]));
        // A third of the lifetime left: renewal of a.test+b.test, c.test still missing.
        let jobs = plan(&wanted, &certs, &HashMap::new(), at(61));
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].names, set(&["a.test", "b.test"]));
        // No router wants it any more: no renewal.
        let only_c: BTreeSet<Vec<String>> = [set(&["c.test"])].into();
        let jobs = plan(&only_c, &certs, &HashMap::new(), at(61));
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].names, set(&["c.test"]));
        // An ARI window overrides the lifetime rule.
        let due: HashMap<String, SystemTime> = [("a.test".to_owned(), at(20))].into();
        assert_eq!(plan(&wanted, &certs, &due, at(21)).len(), 2);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let (b1, d1) = Backoff::fail(None, false);
        let (b2, d2) = Backoff::fail(Some(b1), false);
        assert_eq!(d1, RETRY_MIN);
        assert_eq!(d2, RETRY_MIN * 2);
        let mut b = b2;
        for _ in 0..40 {
            b = Backoff::fail(Some(b), false).0;
        }
        assert_eq!(Backoff::fail(Some(b), false).1, RETRY_MAX);
        assert_eq!(Backoff::fail(None, true).1, RETRY_MAX);
    }
}
