//! One connection to Redis for the rate limiter: it speaks RESP2 over TCP or TLS (rustls on
//! aws-lc-rs), authenticates and selects its database when opened, then runs one command at a
//! time, each bounded by the write and read timeouts. It knows only what the limiter needs
//! (`AUTH`, `SELECT`, `EVALSHA`/`EVAL` and their short replies) and refuses oversized replies;
//! pooling and endpoint choice live in [`super::pool`].

use std::fmt;
use std::future::Future;
use std::io::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use switchyard_model::config::dynamic::ClientTls;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::http::upstream::{load_certs, load_key};

/// The longest reply line or bulk string accepted: the limiter's replies are a few bytes.
const MAX_REPLY: usize = 64 * 1024;
/// The most elements accepted in an array reply.
const MAX_ARRAY: usize = 16;

/// One `host:port` of `rateLimit.redis.endpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub(super) host: String,
    pub(super) port: u16,
}

impl Endpoint {
    /// Parses `host:port`, or `[v6]:port`, as Go's `net.Dial` wants it.
    pub(super) fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| format!("{raw:?}: expected [ipv6]:port"))?;
            (host, port)
        } else {
            let (host, port) = raw
                .rsplit_once(':')
                .ok_or_else(|| format!("{raw:?}: expected host:port"))?;
            if host.contains(':') {
                return Err(format!(
                    "{raw:?}: an IPv6 address needs brackets: [ipv6]:port"
                ));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(format!("{raw:?}: expected host:port, the host is empty"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{raw:?}: invalid port {port:?}"))?;
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What every connection of a pool shares.
#[derive(Clone)]
pub(super) struct ConnSettings {
    pub(super) tls: Option<TlsConnector>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) db: u32,
    /// `None`: no limit.
    pub(super) dial_timeout: Option<Duration>,
    pub(super) read_timeout: Option<Duration>,
    pub(super) write_timeout: Option<Duration>,
}

impl fmt::Debug for ConnSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnSettings")
            .field("tls", &self.tls.is_some())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .field("db", &self.db)
            .field("dial_timeout", &self.dial_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .finish()
    }
}

/// Why a command got no usable answer. Every variant names the endpoint.
#[derive(Debug, thiserror::Error)]
pub(super) enum RespError {
    #[error("dial {endpoint}: {source}")]
    Dial { endpoint: String, source: io::Error },
    #[error("dial {endpoint}: no connection within dialTimeout ({timeout:?})")]
    DialTimeout { endpoint: String, timeout: Duration },
    #[error("TLS handshake with {endpoint}: {source}")]
    Tls { endpoint: String, source: io::Error },
    #[error("{endpoint}: could not send the command within writeTimeout ({timeout:?})")]
    WriteTimeout { endpoint: String, timeout: Duration },
    #[error("{endpoint}: no reply within readTimeout ({timeout:?})")]
    ReadTimeout { endpoint: String, timeout: Duration },
    #[error("{endpoint}: {source}")]
    Io { endpoint: String, source: io::Error },
    /// An error reply (`-ERR ...`): the connection itself is still in a clean state.
    #[error("{endpoint} answered: {message}")]
    Server { endpoint: String, message: String },
    #[error("{endpoint}: unexpected reply: {message}")]
    Protocol { endpoint: String, message: String },
    #[error("no free Redis connection within {0:?} (poolSize / maxActiveConns reached)")]
    PoolTimeout(Duration),
}

impl RespError {
    /// The connection can serve the next command: the whole reply was read.
    pub(super) fn keeps_connection(&self) -> bool {
        matches!(self, Self::Server { .. })
    }

    /// The connection was closed under us (a restarted Redis, an idle timeout): the command
    /// never reached a live server, so one retry on a fresh connection is safe.
    pub(super) fn is_stale_connection(&self) -> bool {
        match self {
            Self::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
            _ => false,
        }
    }

    /// The error reply's text, when Redis answered with one.
    pub(super) fn server_message(&self) -> Option<&str> {
        match self {
            Self::Server { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A reply that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// An open, authenticated connection with its database selected.
pub(super) struct Conn {
    io: BufReader<Box<dyn Io>>,
    endpoint: Arc<str>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    out: Vec<u8>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Runs `f`, or gives up after `limit` (`None` when it ran out).
async fn within<F: Future>(limit: Option<Duration>, f: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, f).await.ok(),
        None => Some(f.await),
    }
}

impl Conn {
    /// Connects (TCP, then TLS when configured, both within `dialTimeout`), authenticates and
    /// selects the database.
    pub(super) async fn open(endpoint: &Endpoint, s: &ConnSettings) -> Result<Self, RespError> {
        let name = endpoint.to_string();
        let connect = async {
            let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|source| RespError::Dial {
                    endpoint: name.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            let io: Box<dyn Io> = match &s.tls {
                None => Box::new(tcp),
                Some(tls) => {
                    let server = ServerName::try_from(endpoint.host.clone()).map_err(|e| {
                        RespError::Tls {
                            endpoint: name.clone(),
                            source: io::Error::new(io::ErrorKind::InvalidInput, e),
                        }
                    })?;
                    let stream =
                        tls.connect(server, tcp)
                            .await
                            .map_err(|source| RespError::Tls {
                                endpoint: name.clone(),
                                source,
                            })?;
                    Box::new(stream)
                }
            };
            Ok::<_, RespError>(io)
        };
        let io = match within(s.dial_timeout, connect).await {
            Some(io) => io?,
            None => {
                return Err(RespError::DialTimeout {
                    endpoint: name,
                    timeout: s.dial_timeout.unwrap_or_default(),
                })
            }
        };
        let mut conn = Conn {
            io: BufReader::new(io),
            endpoint: name.into(),
            read_timeout: s.read_timeout,
            write_timeout: s.write_timeout,
            out: Vec::with_capacity(256),
        };
        if s.username.is_some() || s.password.is_some() {
            let password = s.password.as_deref().unwrap_or("");
            match &s.username {
                Some(user) => {
                    conn.command(&[b"AUTH", user.as_bytes(), password.as_bytes()])
                        .await?
                }
                None => conn.command(&[b"AUTH", password.as_bytes()]).await?,
            };
        }
        if s.db != 0 {
            conn.command(&[b"SELECT", s.db.to_string().as_bytes()])
                .await?;
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply.
    pub(super) async fn command(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        encode(&mut self.out, args);
        let write = async {
            self.io.get_mut().write_all(&self.out).await?;
            self.io.get_mut().flush().await
        };
        match within(self.write_timeout, write).await {
            Some(Ok(())) => {}
            Some(Err(source)) => return Err(self.io_error(source)),
            None => {
                return Err(RespError::WriteTimeout {
                    endpoint: self.endpoint.to_string(),
                    timeout: self.write_timeout.unwrap_or_default(),
                })
            }
        }
        let timeout = self.read_timeout;
        match within(timeout, self.read_reply()).await {
            Some(reply) => reply,
            None => Err(RespError::ReadTimeout {
                endpoint: self.endpoint.to_string(),
                timeout: timeout.unwrap_or_default(),
            }),
        }
    }

    fn io_error(&self, source: io::Error) -> RespError {
        RespError::Io {
            endpoint: self.endpoint.to_string(),
            source,
        }
    }

    fn protocol(&self, message: impl Into<String>) -> RespError {
        RespError::Protocol {
            endpoint: self.endpoint.to_string(),
            message: message.into(),
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, RespError> {
        let line = self.read_line().await?;
        if line.first() != Some(&b'*') {
            return self.scalar(line).await;
        }
        let len = self.length(&line[1..])?;
        let Some(len) = len else {
            return Ok(Reply::Array(None));
        };
        if len > MAX_ARRAY {
            return Err(self.protocol(format!("array of {len} elements")));
        }
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            let line = self.read_line().await?;
            if line.first() == Some(&b'*') {
                return Err(self.protocol("nested array"));
            }
            items.push(self.scalar(line).await?);
        }
        Ok(Reply::Array(Some(items)))
    }

    /// A non-array reply whose first line is `line` (without its CRLF).
    async fn scalar(&mut self, line: Vec<u8>) -> Result<Reply, RespError> {
        let text = || String::from_utf8_lossy(&line[1..]).into_owned();
        match line.first() {
            Some(b'+') => Ok(Reply::Status(text())),
            Some(b'-') => Err(RespError::Server {
                endpoint: self.endpoint.to_string(),
                message: text(),
            }),
            Some(b':') => text()
                .parse()
                .map(Reply::Int)
                .map_err(|_| self.protocol(format!("integer {:?}", text()))),
            Some(b'$') => {
                let Some(len) = self.length(&line[1..])? else {
                    return Ok(Reply::Bulk(None));
                };
                if len > MAX_REPLY {
                    return Err(self.protocol(format!("bulk string of {len} bytes")));
                }
                let mut data = vec![0; len + 2];
                self.io
                    .read_exact(&mut data)
                    .await
                    .map_err(|e| self.io_error(e))?;
                if !data.ends_with(b"\r\n") {
                    return Err(self.protocol("bulk string without CRLF"));
                }
                data.truncate(len);
                Ok(Reply::Bulk(Some(data)))
            }
            _ => Err(self.protocol(format!(
                "{:?}",
                String::from_utf8_lossy(&line[..line.len().min(64)])
            ))),
        }
    }

    /// A length header: `-1` is a null reply.
    fn length(&self, digits: &[u8]) -> Result<Option<usize>, RespError> {
        let text = String::from_utf8_lossy(digits);
        match text.parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(n) => usize::try_from(n)
                .map(Some)
                .map_err(|_| self.protocol(format!("length {n}"))),
            Err(_) => Err(self.protocol(format!("length {text:?}"))),
        }
    }

    /// One CRLF-terminated line, without the CRLF.
    async fn read_line(&mut self) -> Result<Vec<u8>, RespError> {
        let mut line = Vec::new();
        let n = (&mut self.io)
            .take(MAX_REPLY as u64)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| self.io_error(e))?;
        if n == 0 {
            return Err(self.io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by Redis",
            )));
        }
        if !line.ends_with(b"\r\n") {
            return Err(self.protocol("reply line too long or cut short"));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

/// A command as a RESP array of bulk strings.
fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "*{}\r\n", args.len());
    for arg in args {
        let _ = write!(out, "${}\r\n", arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// The client TLS configuration of `rateLimit.redis.tls`: `ca` (path or inline PEM; the system
/// roots when empty), `cert` + `key` for mutual TLS, `insecureSkipVerify`.
pub(super) fn tls_connector(tls: &ClientTls) -> Result<TlsConnector, String> {
    const AT: &str = "rateLimit.redis.tls";
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{AT}: {e}"))?;
    let builder = if tls.insecure_skip_verify.unwrap_or(false) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::http::upstream::NoVerify(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        match tls.ca.as_deref().filter(|c| !c.is_empty()) {
            Some(ca) => {
                let certs = load_certs(ca).map_err(|e| format!("{AT}.ca: {e}"))?;
                for cert in certs {
                    roots.add(cert).map_err(|e| format!("{AT}.ca: {e}"))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        builder.with_root_certificates(roots)
    };
    let cert = tls.cert.as_deref().filter(|c| !c.is_empty());
    let key = tls.key.as_deref().filter(|c| !c.is_empty());
    let config = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert).map_err(|e| format!("{AT}.cert: {e}"))?;
            let key = load_key(key).map_err(|e| format!("{AT}.key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{AT}.cert: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(format!("{AT}: cert and key must be set together")),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[test]
    fn endpoints_parse_like_go_addresses() {
        let ok = [
            ("localhost:6379", "localhost", 6379),
            (" 10.0.0.1:7000 ", "10.0.0.1", 7000),
            ("[::1]:6380", "::1", 6380),
        ];
        for (raw, host, port) in ok {
            let e = Endpoint::parse(raw).unwrap();
            assert_eq!((e.host.as_str(), e.port), (host, port), "{raw}");
        }
        assert_eq!(
            Endpoint::parse("[::1]:6380").unwrap().to_string(),
            "[::1]:6380"
        );
        for bad in [
            "localhost",
            ":6379",
            "host:0",
            "host:99999",
            "::1:6379",
            "[::1]",
            "redis://h:1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&mut out, &[b"SELECT", b"3"]);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n");
    }

    /// A connection whose server side is scripted: `replies` is what Redis sends.
    fn scripted(replies: &'static [u8]) -> Conn {
        let (client, mut server) = duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let _ = server.read(&mut buf).await;
            let _ = server.write_all(replies).await;
            // Keep the server side open so that EOF is not what ends a read.
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        Conn {
            io: BufReader::new(Box::new(client)),
            endpoint: "test:6379".into(),
            read_timeout: Some(Duration::from_millis(200)),
            write_timeout: Some(Duration::from_millis(200)),
            out: Vec::new(),
        }
    }

    #[tokio::test]
    async fn replies_parse() {
        let cases: [(&'static [u8], Reply); 6] = [
            (b"+OK\r\n", Reply::Status("OK".into())),
            (b":-12\r\n", Reply::Int(-12)),
            (b"$3\r\nabc\r\n", Reply::Bulk(Some(b"abc".to_vec()))),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"*-1\r\n", Reply::Array(None)),
            (
                b"*2\r\n:1\r\n$2\r\n42\r\n",
                Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"42".to_vec()))])),
            ),
        ];
        for (wire, want) in cases {
            let mut conn = scripted(wire);
            assert_eq!(conn.command(&[b"X"]).await.unwrap(), want, "{wire:?}");
        }
    }

    #[tokio::test]
    async fn bad_replies_are_errors_that_name_the_endpoint() {
        let mut conn = scripted(b"-NOSCRIPT No matching script\r\n");
        let err = conn.command(&[b"X"]).await.unwrap_err();
        assert!(err.keeps_connection());
        assert_eq!(err.server_message(), Some("NOSCRIPT No matching script"));
        assert!(err.to_string().starts_with("test:6379 answered"), "{err}");

        for wire in [
            &b"?\r\n"[..],
            b"*99\r\n",
            b"*1\r\n*1\r\n",
            b"$2\r\nabcd\r\n",
        ] {
            let mut conn = scripted(wire);
            let err = conn.command(&[b"X"]).await.unwrap_err();
            assert!(matches!(err, RespError::Protocol { .. }), "{wire:?}: {err}");
            assert!(!err.keeps_connection());
        }

        let mut conn = scripted(b"+OK");
        let err = conn.command(&[b"X"]).await.unwrap_err();
        assert!(
            matches!(err, RespError::ReadTimeout { .. }),
            "a cut reply waits for the read timeout: {err}"
        );
        assert!(err.to_string().contains("readTimeout"), "{err}");
    }

    #[test]
    fn tls_options_are_checked() {
        let both = |cert: Option<&str>, key: Option<&str>| ClientTls {
            cert: cert.map(str::to_owned),
            key: key.map(str::to_owned),
            ..ClientTls::default()
        };
        let err = tls_connector(&both(Some("/nope.pem"), None)).err().unwrap();
        assert_eq!(
            err,
            "rateLimit.redis.tls: cert and key must be set together"
        );
        let err = tls_connector(&ClientTls {
            ca: Some("/does/not/exist.pem".into()),
            ..ClientTls::default()
        })
        .err()
        .unwrap();
        assert!(err.starts_with("rateLimit.redis.tls.ca: "), "{err}");
        assert!(tls_connector(&ClientTls::default()).is_ok());
    }
}
