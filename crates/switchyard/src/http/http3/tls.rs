//! TLS for QUIC, chosen per connection from the SNI like the TCP path does: the TLS options of
//! the routers whose `Host()` names the SNI (else `default`) pick the rustls configuration, whose
//! certificate resolver then picks the certificate.
//!
//! quinn takes one crypto configuration per endpoint and starts the TLS session before the
//! ClientHello is read, so [`SniQuicConfig`] hands out an [`SniSession`] that buffers the CRYPTO
//! bytes until the ClientHello is complete, reads its SNI, and only then starts the real rustls
//! session with the chosen configuration (replaying the buffered bytes). The QUIC variants of the
//! configurations (ALPN `h3`, checked for TLS 1.3) are built on first use and cached per TLS
//! snapshot, so a reload that changes certificates or options is picked up by the next
//! connection. This module never routes and never touches the TCP path.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use quinn::crypto::rustls::QuicServerConfig;
use quinn::crypto::{
    self, ExportKeyingMaterialError, KeyPair, Keys, PacketKey, ServerConfig as _,
    UnsupportedVersion,
};
use quinn::{ConnectionId, Side, TransportErrorCode};
use quinn_proto::transport_parameters::TransportParameters;
use quinn_proto::TransportError;

use crate::runtime::Shared;
use crate::tls::{TlsSnapshot, DEFAULT_OPTIONS};

/// The ALPN protocol of HTTP/3 (RFC 9114).
const ALPN_H3: &[u8] = b"h3";

/// The largest ClientHello buffered before giving up on reading its SNI (real ones, post-quantum
/// key shares included, stay under a few KiB).
const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// TLS alert `handshake_failure`, as a QUIC crypto error.
const HANDSHAKE_FAILURE: u8 = 40;

/// What the handshake chose, for the connection's request context (the `Any` that
/// `quinn::Connection::handshake_data` returns).
#[derive(Debug, Clone)]
pub(super) struct Negotiated {
    /// The SNI the client sent, lowercased.
    pub(super) sni: Option<Arc<str>>,
    /// The TLS options the configuration came from (for the 421 domain-fronting guard).
    pub(super) options: Arc<str>,
}

/// QUIC configurations built from one TLS snapshot, by TLS options name; `None` records options
/// that cannot serve QUIC (e.g. `maxVersion: VersionTLS12`).
struct Cache {
    tls: Arc<TlsSnapshot>,
    by_options: HashMap<Arc<str>, Option<Arc<QuicServerConfig>>>,
}

/// The endpoint's crypto configuration: picks the real one per connection from the SNI.
pub(super) struct SniQuicConfig {
    shared: Arc<Shared>,
    /// The entry point's index in the snapshot's tables.
    index: usize,
    /// For the steps before any ClientHello (initial keys, retry tags) and as the fallback
    /// session: every configuration here uses the same crypto provider and initial suite.
    base: Arc<QuicServerConfig>,
    cache: Mutex<Option<Cache>>,
}

impl SniQuicConfig {
    /// Builds the configuration for the entry point at `index`; fails when the current default
    /// TLS options cannot serve QUIC.
    pub(super) fn new(shared: Arc<Shared>, index: usize) -> Result<Self, String> {
        let tls = shared.snapshot.load().tls.clone();
        let (_, config) = tls
            .config(DEFAULT_OPTIONS)
            .ok_or("no default TLS configuration")?;
        let base = quic_config(&config)?;
        Ok(Self {
            shared,
            index,
            base,
            cache: Mutex::new(None),
        })
    }

    /// The TLS options and QUIC configuration for a ClientHello with this SNI.
    fn choose(&self, sni: Option<&str>) -> Result<(Arc<str>, Arc<QuicServerConfig>), String> {
        let snapshot = self.shared.snapshot.load();
        let wanted = snapshot
            .http
            .get(self.index)
            .and_then(|t| crate::tls::options_for_host(&t.tls_hosts, sni))
            .cloned()
            .unwrap_or_else(|| Arc::from(DEFAULT_OPTIONS));
        let (name, config) = snapshot
            .tls
            .config(&wanted)
            .ok_or_else(|| format!("no TLS configuration for options {wanted:?}"))?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cache = match &mut *cache {
            Some(c) if Arc::ptr_eq(&c.tls, &snapshot.tls) => c,
            slot => slot.insert(Cache {
                tls: snapshot.tls.clone(),
                by_options: HashMap::new(),
            }),
        };
        let quic = cache
            .by_options
            .entry(name.clone())
            .or_insert_with(|| match quic_config(&config) {
                Ok(q) => Some(q),
                Err(e) => {
                    tracing::warn!(options = %name, error = %e, "TLS options cannot serve HTTP/3");
                    None
                }
            })
            .clone()
            .ok_or_else(|| format!("TLS options {name:?} cannot serve HTTP/3 (TLS 1.3 needed)"))?;
        Ok((name, quic))
    }
}

/// The QUIC variant of a TLS configuration: the same certificates, client authentication and
/// curves, with ALPN `h3` only. Checked up front, because quinn cannot report a configuration
/// that rustls refuses for QUIC once a connection has started.
fn quic_config(config: &rustls::ServerConfig) -> Result<Arc<QuicServerConfig>, String> {
    let mut config = config.clone();
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    // QUIC allows only "no 0-RTT" (0) or u32::MAX here; 0-RTT stays off, as in Traefik.
    config.max_early_data_size = 0;
    let config = Arc::new(config);
    rustls::quic::ServerConnection::new(config.clone(), rustls::quic::Version::V1, Vec::new())
        .map_err(|e| e.to_string())?;
    QuicServerConfig::try_from(config)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

impl crypto::ServerConfig for SniQuicConfig {
    fn initial_keys(
        &self,
        version: u32,
        dst_cid: &ConnectionId,
    ) -> Result<Keys, UnsupportedVersion> {
        self.base.initial_keys(version, dst_cid)
    }

    fn retry_tag(&self, version: u32, orig_dst_cid: &ConnectionId, packet: &[u8]) -> [u8; 16] {
        self.base.retry_tag(version, orig_dst_cid, packet)
    }

    fn start_session(
        self: Arc<Self>,
        version: u32,
        params: &TransportParameters,
    ) -> Box<dyn crypto::Session> {
        // Most connections use the default options: start with them, replace when the SNI says
        // otherwise. `version` was accepted by `initial_keys` (the base's), as quinn requires.
        let (probe_config, probe) = match self.choose(None) {
            Ok((_, config)) => (config.clone(), config.start_session(version, params)),
            Err(_) => (
                self.base.clone(),
                self.base.clone().start_session(version, params),
            ),
        };
        Box::new(SniSession {
            state: State::Hello(Box::new(Pending {
                chooser: self,
                version,
                params: *params,
                probe_config,
                hello: Vec::new(),
            })),
            probe,
            negotiated: None,
        })
    }
}

enum State {
    /// Buffering CRYPTO bytes until the ClientHello is complete.
    Hello(Box<Pending>),
    /// The real session runs (in `SniSession::probe`).
    Running,
}

/// What starting the real session needs, kept until the ClientHello is complete.
struct Pending {
    chooser: Arc<SniQuicConfig>,
    version: u32,
    params: TransportParameters,
    /// The configuration `probe` was started with.
    probe_config: Arc<QuicServerConfig>,
    hello: Vec<u8>,
}

/// A server TLS session that starts once the SNI is known.
struct SniSession {
    state: State,
    /// Before the ClientHello: a session of the default configuration, answering what needs no
    /// ClientHello (initial keys). After it: the session in use.
    probe: Box<dyn crypto::Session>,
    negotiated: Option<Negotiated>,
}

impl SniSession {
    fn handshaking(&self) -> bool {
        matches!(self.state, State::Hello(_))
    }

    /// Chooses the configuration for `sni`, starts its session and feeds it the ClientHello.
    fn start(&mut self, sni: Option<String>, hello: &[u8]) -> Result<bool, TransportError> {
        let State::Hello(pending) = std::mem::replace(&mut self.state, State::Running) else {
            return self.probe.read_handshake(hello);
        };
        let Pending {
            chooser,
            version,
            params,
            probe_config,
            ..
        } = *pending;
        let sni: Option<Arc<str>> = sni.map(|s| Arc::from(s.to_ascii_lowercase()));
        let (options, config) =
            chooser
                .choose(sni.as_deref())
                .map_err(|reason| TransportError {
                    code: TransportErrorCode::crypto(HANDSHAKE_FAILURE),
                    frame: None,
                    reason,
                })?;
        if !Arc::ptr_eq(&config, &probe_config) {
            self.probe = config.start_session(version, &params);
        }
        self.negotiated = Some(Negotiated { sni, options });
        self.probe.read_handshake(hello)
    }
}

impl crypto::Session for SniSession {
    fn initial_keys(&self, dst_cid: &ConnectionId, side: Side) -> Keys {
        self.probe.initial_keys(dst_cid, side)
    }

    fn handshake_data(&self) -> Option<Box<dyn Any>> {
        let negotiated = self.negotiated.clone()?;
        self.probe.handshake_data()?;
        Some(Box::new(negotiated))
    }

    fn peer_identity(&self) -> Option<Box<dyn Any>> {
        if self.handshaking() {
            return None;
        }
        self.probe.peer_identity()
    }

    fn early_crypto(&self) -> Option<(Box<dyn crypto::HeaderKey>, Box<dyn PacketKey>)> {
        if self.handshaking() {
            return None;
        }
        self.probe.early_crypto()
    }

    fn early_data_accepted(&self) -> Option<bool> {
        self.probe.early_data_accepted()
    }

    fn is_handshaking(&self) -> bool {
        self.handshaking() || self.probe.is_handshaking()
    }

    fn read_handshake(&mut self, buf: &[u8]) -> Result<bool, TransportError> {
        let State::Hello(pending) = &mut self.state else {
            return self.probe.read_handshake(buf);
        };
        let hello = &mut pending.hello;
        if hello.is_empty() {
            // Usually the whole ClientHello comes in one piece: no copy.
            if let Some(sni) = client_hello_sni(buf) {
                return self.start(sni, buf);
            }
        }
        hello.extend_from_slice(buf);
        match client_hello_sni(hello) {
            Some(sni) => {
                let hello = std::mem::take(hello);
                self.start(sni, &hello)
            }
            None => Ok(false),
        }
    }

    fn transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        if self.handshaking() {
            return Ok(None);
        }
        self.probe.transport_parameters()
    }

    fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Keys> {
        if self.handshaking() {
            return None;
        }
        self.probe.write_handshake(buf)
    }

    fn next_1rtt_keys(&mut self) -> Option<KeyPair<Box<dyn PacketKey>>> {
        if self.handshaking() {
            return None;
        }
        self.probe.next_1rtt_keys()
    }

    fn is_valid_retry(&self, orig_dst_cid: &ConnectionId, header: &[u8], payload: &[u8]) -> bool {
        self.probe.is_valid_retry(orig_dst_cid, header, payload)
    }

    fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        if self.handshaking() {
            return Err(ExportKeyingMaterialError);
        }
        self.probe.export_keying_material(output, label, context)
    }
}

/// The SNI of a complete ClientHello handshake message (RFC 8446 §4.1.2, RFC 6066 §3):
/// `None` while more bytes are needed, `Some(None)` when the message is complete without a host
/// name — or is not a ClientHello, or is malformed, or too large: rustls then gives the error.
fn client_hello_sni(msg: &[u8]) -> Option<Option<String>> {
    let (&kind, rest) = msg.split_first()?;
    let len = usize::from(*rest.first()?) << 16 | usize::from(*rest.get(1)?) << 8;
    let len = len | usize::from(*rest.get(2)?);
    if kind != 1 || len > MAX_CLIENT_HELLO {
        return Some(None);
    }
    let body = rest.get(3..3 + len)?;
    Some(parse_sni(body))
}

/// A cursor over a TLS structure; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(b[0]) << 8 | usize::from(b[1]))
    }
    /// A vector with a one- or two-byte length prefix.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn parse_sni(body: &[u8]) -> Option<String> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    r.vec8()?; // legacy_session_id
    r.vec16()?; // cipher_suites
    r.vec8()?; // legacy_compression_methods
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        if kind != 0 {
            continue;
        }
        let mut list = Reader(Reader(data).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok().map(str::to_owned);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello handshake message with the given extensions.
    fn hello(extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0); // session id
        body.extend([0, 2, 0x13, 0x01]); // one suite
        body.extend([1, 0]); // null compression
        let mut exts = Vec::new();
        for (kind, data) in extensions {
            exts.extend(kind.to_be_bytes());
            exts.extend(u16::try_from(data.len()).unwrap().to_be_bytes());
            exts.extend(data);
        }
        body.extend(u16::try_from(exts.len()).unwrap().to_be_bytes());
        body.extend(exts);
        let mut msg = vec![1];
        msg.extend(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
        msg.extend(body);
        msg
    }

    fn server_name(name: &str) -> (u16, Vec<u8>) {
        let mut entry = vec![0];
        entry.extend(u16::try_from(name.len()).unwrap().to_be_bytes());
        entry.extend(name.as_bytes());
        let mut data = u16::try_from(entry.len()).unwrap().to_be_bytes().to_vec();
        data.extend(entry);
        (0, data)
    }

    #[test]
    fn reads_the_sni_of_a_complete_client_hello() {
        let msg = hello(&[(10, vec![0, 2, 0, 29]), server_name("a.example.com")]);
        assert_eq!(
            client_hello_sni(&msg),
            Some(Some("a.example.com".to_owned()))
        );
        assert_eq!(
            client_hello_sni(&hello(&[(10, vec![0, 2, 0, 29])])),
            Some(None)
        );
    }

    #[test]
    fn waits_for_the_rest_of_a_split_client_hello() {
        let msg = hello(&[server_name("a.example.com")]);
        for cut in [0, 1, 3, 4, 20, msg.len() - 1] {
            assert_eq!(client_hello_sni(&msg[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn gives_up_on_garbage_without_panicking() {
        assert_eq!(client_hello_sni(&[2, 0, 0, 1, 0]), Some(None)); // not a ClientHello
        assert_eq!(client_hello_sni(&[1, 0xff, 0xff, 0xff]), Some(None)); // too large
        assert_eq!(client_hello_sni(&[1, 0, 0, 3, 1, 2, 3]), Some(None)); // truncated body
        let mut bad = hello(&[server_name("a.example.com")]);
        let n = bad.len();
        bad[n - 14] = 0xff; // a name longer than its list
        assert_eq!(client_hello_sni(&bad), Some(None));
    }
}
