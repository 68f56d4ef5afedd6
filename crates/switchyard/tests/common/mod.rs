//! Test harness: runs the real `switchyard` binary on temporary configuration files, real
//! backends on loopback (hyper servers), and a raw HTTP/1.1 client so tests can send exactly the
//! bytes they mean (malformed requests included).
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};

/// A loopback port that was free a moment ago, never the same one twice in this process (tests
/// run in parallel and a port handed out but not yet bound would otherwise come back).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("switchyard-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a file atomically (write to a temp name, then rename), as editors do.
pub fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A running Switchyard process.
pub struct Proxy {
    pub child: Child,
    pub dir: PathBuf,
    /// Entry point name → port.
    pub ports: HashMap<String, u16>,
    pub log: PathBuf,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_switchyard")
}

impl Proxy {
    /// Starts Switchyard with entry points `web` (and `traefik` for ping), a file provider on
    /// `dynamic/` holding `dynamic_yaml`, and `extra_static` appended to the static file.
    /// `{web}`-style placeholders are not needed: ports are chosen here.
    pub fn start(dynamic_yaml: &str, extra_static: &str) -> Proxy {
        Self::start_with_eps(&["web"], dynamic_yaml, extra_static)
    }

    pub fn start_with_eps(eps: &[&str], dynamic_yaml: &str, extra_static: &str) -> Proxy {
        // Another test process may take a port between free_port() and the bind: start again
        // with fresh ports when that happens.
        for _ in 0..3 {
            match Self::try_start(eps, dynamic_yaml, extra_static) {
                Ok(proxy) => return proxy,
                Err(log) if log.contains("cannot listen") => continue,
                Err(log) => panic!("switchyard did not become ready; log:\n{log}"),
            }
        }
        panic!("switchyard could not get free ports three times");
    }

    fn try_start(eps: &[&str], dynamic_yaml: &str, extra_static: &str) -> Result<Proxy, String> {
        let dir = temp_dir("proxy");
        let dyn_dir = dir.join("dynamic");
        std::fs::create_dir_all(&dyn_dir).unwrap();
        std::fs::write(dyn_dir.join("config.yml"), dynamic_yaml).unwrap();
        let mut ports = HashMap::new();
        let mut static_yaml = String::from("entryPoints:\n");
        for ep in eps.iter().chain(std::iter::once(&"traefik")) {
            let port = free_port();
            ports.insert(ep.to_string(), port);
            static_yaml.push_str(&format!("  {ep}:\n    address: \"127.0.0.1:{port}\"\n"));
            static_yaml.push_str(&entrypoint_extra(extra_static, ep));
        }
        static_yaml.push_str(&format!(
            "ping: {{}}\nlog:\n  level: DEBUG\nproviders:\n  providersThrottleDuration: 50ms\n  file:\n    directory: \"{}\"\n    watch: true\n",
            dyn_dir.display()
        ));
        static_yaml.push_str(&strip_ep_extra(extra_static));
        let config = dir.join("traefik.yml");
        std::fs::write(&config, static_yaml).unwrap();
        let log = dir.join("switchyard.log");
        let child = Command::new(binary())
            .arg(format!("--configFile={}", config.display()))
            .env("SWITCHYARD_LOG", "debug,hyper=warn,h2=warn")
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .expect("start switchyard");
        let mut proxy = Proxy {
            child,
            dir,
            ports,
            log,
        };
        proxy.try_wait_ready()?;
        Ok(proxy)
    }

    /// Waits until ping answers 200; the log if the process exits or the wait times out.
    fn try_wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.logs());
            }
            if let Ok(r) = try_request(self.addr("traefik"), "GET", "/ping", "localhost", &[], "") {
                if r.status == 200 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(self.logs())
    }

    pub fn port(&self, ep: &str) -> u16 {
        self.ports[ep]
    }

    pub fn addr(&self, ep: &str) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port(ep)))
    }

    pub fn web(&self) -> SocketAddr {
        self.addr("web")
    }

    /// Waits until ping answers 200 (every provider delivered).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = try_request(self.addr("traefik"), "GET", "/ping", "localhost", &[], "") {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("switchyard did not become ready; log:\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default());
        s
    }

    /// Replaces the dynamic configuration file.
    pub fn set_dynamic(&self, yaml: &str) {
        write_atomic(&self.dir.join("dynamic").join("config.yml"), yaml);
    }

    /// Polls `check` until it holds or the deadline passes.
    pub fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}; log:\n{}", self.logs());
    }

    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }
}

/// Static lines meant for entry points: lines of `extra` starting with `EP:` are indented under
/// every entry point (`traefik` included), lines starting with `EP[name]:` under that one only.
fn entrypoint_extra(extra: &str, ep: &str) -> String {
    let only = format!("EP[{ep}]:");
    extra
        .lines()
        .filter_map(|l| {
            l.strip_prefix("EP:")
                .or_else(|| l.strip_prefix(only.as_str()))
        })
        .map(|l| format!("    {l}\n"))
        .collect()
}

fn strip_ep_extra(extra: &str) -> String {
    extra
        .lines()
        .filter(|l| !l.starts_with("EP:") && !l.starts_with("EP["))
        .map(|l| format!("{l}\n"))
        .collect()
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with `Connection: close` and reads the whole response.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<RawResponse> {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    raw(addr, req.as_bytes())
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    try_request(addr, method, target, host, headers, body).expect("request failed")
}

pub fn get(addr: SocketAddr, host: &str, target: &str) -> RawResponse {
    request(addr, "GET", target, host, &[], "")
}

/// Writes raw bytes, reads until the server closes, parses the first response.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<RawResponse> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(bytes)?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf).ok_or_else(|| {
        std::io::Error::other(format!(
            "unparsable response: {:?}",
            String::from_utf8_lossy(&buf)
        ))
    })
}

/// Parses a response (Content-Length, chunked, or until EOF).
pub fn parse_response(buf: &[u8]) -> Option<RawResponse> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(nl) = rest[i..].windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[i..i + nl])
                    .ok()?
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            i += nl + 2;
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(i..i + size)?);
            i += size + 2;
        }
        out
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = len.1.parse().ok()?;
        rest.get(..len).unwrap_or(rest).to_vec()
    } else {
        rest.to_vec()
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// A backend: a hyper HTTP/1.1 + h2c server on loopback running in its own thread. It answers
/// with a text dump of what it received (`X-Backend` names it), and has special paths:
/// `/slow` (waits 2 s), `/sse` (one event, a 1.5 s pause, a second event), `/status/N`,
/// `/trailers` (a body followed by trailers `grpc-status: 0`).
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    pub hits: std::sync::Arc<AtomicUsize>,
    _rt: std::thread::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

impl Backend {
    pub fn start(name: &str) -> Backend {
        let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let hits2 = hits.clone();
        let name2 = name.to_owned();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        Ok((stream, _)) = listener.accept() => {
                            let name = name2.clone();
                            let hits = hits2.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                    backend_handle(name.clone(), req)
                                });
                                let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                                let _ = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), svc).await;
                            });
                        }
                        _ = &mut stop_rx => break,
                    }
                }
            });
        });
        Backend {
            addr,
            name: name.to_owned(),
            hits,
            _rt: handle,
            stop: Some(stop_tx),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn full(s: impl Into<Bytes>) -> TestBody {
    Full::new(s.into()).boxed()
}

async fn backend_handle(
    name: String,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let mut dump = format!(
        "backend: {name}\nmethod: {}\ntarget: {}\nversion: {:?}\n",
        req.method(),
        req.uri(),
        req.version()
    );
    for (k, v) in req.headers() {
        dump.push_str(&format!(
            "{}: {}\n",
            k,
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    let resp = if path == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Response::new(full(dump))
    } else if path == "/sse" {
        let stream = async_stream(vec![
            (Duration::ZERO, "data: first\n\n"),
            (Duration::from_millis(1500), "data: second\n\n"),
        ]);
        let mut r = Response::new(StreamBody::new(stream).boxed());
        r.headers_mut()
            .insert("content-type", "text/event-stream".parse().unwrap());
        r
    } else if let Some(code) = path.strip_prefix("/status/") {
        let mut r = Response::new(full(dump));
        *r.status_mut() = hyper::StatusCode::from_u16(code.parse().unwrap_or(500)).unwrap();
        r
    } else if path == "/trailers" {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        trailers.insert("grpc-message", "ok".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, Infallible>> =
            vec![Ok(Frame::data(body)), Ok(Frame::trailers(trailers))];
        let mut r = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
        r.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        r
    } else {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        dump.push_str(&format!("body: {}\n", String::from_utf8_lossy(&body)));
        Response::new(full(dump))
    };
    let mut resp = resp;
    resp.headers_mut()
        .insert("x-backend", name.parse().unwrap());
    Ok(resp)
}

/// A stream of chunks, each sent after its delay.
fn async_stream(
    chunks: Vec<(Duration, &'static str)>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> {
    futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
        let (delay, chunk) = it.next()?;
        tokio::time::sleep(delay).await;
        Some((Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))), it))
    })
}

/// A dynamic configuration with one router `r` (rule `rule`) to a load balancer over `urls`.
pub fn one_route(rule: &str, urls: &[String]) -> String {
    let servers: String = urls
        .iter()
        .map(|u| format!("          - url: \"{u}\"\n"))
        .collect();
    format!(
        "http:\n  routers:\n    r:\n      rule: \"{}\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n{servers}",
        rule.replace('"', "\\\"")
    )
}

/// A persistent HTTP/1.1 connection: requests are sent one after another on the same socket.
pub struct KeepAlive {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> std::io::Result<KeepAlive> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(KeepAlive {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends a GET and reads exactly one response (Content-Length or chunked bodies).
    pub fn get(&mut self, host: &str, target: &str) -> std::io::Result<RawResponse> {
        write!(self.stream, "GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n")?;
        let mut chunk = [0u8; 8192];
        loop {
            if let Some((resp, used)) = parse_complete(&self.buf) {
                self.buf.drain(..used);
                return Ok(resp);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A complete response at the start of `buf` and how many bytes it used.
fn parse_complete(buf: &[u8]) -> Option<(RawResponse, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    if buf.len() < end + len {
        return None;
    }
    let resp = parse_response(&buf[..end + len])?;
    Some((resp, end + len))
}

/// A backend that answers every request with the same raw HTTP/1.1 response (for bodies and
/// headers the echo backend cannot produce, e.g. no `Content-Type` and an HTML or binary body),
/// then closes the connection. Its thread lives as long as the test process.
pub fn fixed_backend(response: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = stream.write_all(&response);
        }
    });
    addr
}

/// A backend whose behaviour a test changes while it runs. `/health…` answers 200 while
/// `healthy` holds, else 503; a gRPC `grpc.health.v1.Health/Check` answers SERVING or
/// NOT_SERVING the same way. Any other request waits `delay_ms`, answers `status` with the body
/// `name method path body`, names the backend in `X-Backend`, and is recorded in `seen`.
pub struct ScriptedBackend {
    pub addr: SocketAddr,
    pub name: String,
    pub healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    pub delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Requests other than health checks.
    pub hits: std::sync::Arc<AtomicUsize>,
    pub health_hits: std::sync::Arc<AtomicUsize>,
    /// `METHOD path body` of every request other than health checks.
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// `METHOD target` then `name: value` lines of every HTTP health check.
    pub health_seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Clone)]
struct Script {
    name: String,
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    hits: std::sync::Arc<AtomicUsize>,
    health_hits: std::sync::Arc<AtomicUsize>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    health_seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ScriptedBackend {
    pub fn start(name: &str) -> ScriptedBackend {
        use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64};
        use std::sync::{Arc, Mutex};
        let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let script = Script {
            name: name.to_owned(),
            healthy: Arc::new(AtomicBool::new(true)),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            hits: Arc::new(AtomicUsize::new(0)),
            health_hits: Arc::new(AtomicUsize::new(0)),
            seen: Arc::new(Mutex::new(Vec::new())),
            health_seen: Arc::new(Mutex::new(Vec::new())),
        };
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let s2 = script.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        Ok((stream, _)) = listener.accept() => {
                            let script = s2.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| scripted_handle(script.clone(), req));
                                let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                                let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await;
                            });
                        }
                        _ = &mut stop_rx => break,
                    }
                }
            });
        });
        ScriptedBackend {
            addr,
            name: name.to_owned(),
            healthy: script.healthy,
            status: script.status,
            delay_ms: script.delay_ms,
            hits: script.hits,
            health_hits: script.health_hits,
            seen: script.seen,
            health_seen: script.health_seen,
            stop: Some(stop_tx),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_healthy(&self, up: bool) {
        self.healthy.store(up, Ordering::SeqCst);
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn health_hits(&self) -> usize {
        self.health_hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    pub fn health_seen(&self) -> Vec<String> {
        self.health_seen.lock().unwrap().clone()
    }
}

impl Drop for ScriptedBackend {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn scripted_handle(
    s: Script,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let healthy = s.healthy.load(Ordering::SeqCst);
    if path == "/grpc.health.v1.Health/Check" {
        s.health_hits.fetch_add(1, Ordering::SeqCst);
        let _ = req.into_body().collect().await;
        let status = if healthy { 1u8 } else { 2u8 };
        let mut trailers = hyper::HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
            Ok(Frame::data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]))),
            Ok(Frame::trailers(trailers)),
        ];
        let mut r = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
        r.headers_mut()
            .insert("content-type", "application/grpc".parse().unwrap());
        return Ok(r);
    }
    if path.starts_with("/health") {
        s.health_hits.fetch_add(1, Ordering::SeqCst);
        let mut line = format!("{} {}", req.method(), req.uri());
        for (k, v) in req.headers() {
            line.push_str(&format!("\n{k}: {}", String::from_utf8_lossy(v.as_bytes())));
        }
        s.health_seen.lock().unwrap().push(line);
        let mut r = Response::new(full(if healthy { "ok" } else { "down" }));
        if !healthy {
            *r.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
        }
        r.headers_mut().insert("x-backend", s.name.parse().unwrap());
        return Ok(r);
    }
    let delay = s.delay_ms.load(Ordering::SeqCst);
    s.hits.fetch_add(1, Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let method = req.method().to_string();
    let target = req.uri().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let line = format!("{method} {target} {}", String::from_utf8_lossy(&body));
    s.seen.lock().unwrap().push(line.clone());
    let mut r = Response::new(full(format!("{} {line}", s.name)));
    *r.status_mut() =
        hyper::StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap_or_default();
    r.headers_mut().insert("x-backend", s.name.parse().unwrap());
    Ok(r)
}

/// Sends one request from the local address `from` (e.g. 127.0.0.7), to see what a given client
/// IP gets.
pub fn request_from(
    from: std::net::IpAddr,
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .expect("bind the client address");
    socket.connect(&addr.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf).expect("a response")
}

/// Which backend (`X-Backend`) answered each of `n` GETs of `target`.
pub fn backends_of(addr: SocketAddr, target: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            get(addr, "x", target)
                .header("x-backend")
                .unwrap_or("-")
                .to_owned()
        })
        .collect()
}

/// A `redis-server` on a loopback port, without persistence, for the Redis-backed rate limiter.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    /// `--requirepass`, used by [`RedisServer::cmd`].
    password: Option<String>,
}

impl RedisServer {
    /// Whether `redis-server` can run here (tests skip loudly otherwise).
    pub fn installed() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Starts `redis-server --port N --save '' --appendonly no` plus `extra`.
    pub fn start(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .map(|s| s.to_string());
        let mut server = RedisServer {
            child: None,
            port,
            args,
            password,
        };
        server.restart();
        server
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and waits until it answers PING.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.try_cmd(&[&["PING"]]).is_ok_and(|r| r == "+PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open, nothing answers.
    pub fn pause(&self, paused: bool) {
        if let Some(child) = &self.child {
            let signal = if paused { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill")
                .arg(signal)
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Runs `commands` on one connection (after AUTH when the server has a password) and
    /// returns the last reply: `+OK`, `:1`, `$value`, `(nil)`, arrays one element a line.
    pub fn cmd(&self, commands: &[&[&str]]) -> String {
        self.try_cmd(commands).expect("redis command")
    }

    fn try_cmd(&self, commands: &[&[&str]]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let auth: Vec<&str> = self.password.iter().map(|p| p.as_str()).collect();
        let mut all: Vec<Vec<&str>> = Vec::new();
        if !auth.is_empty() {
            all.push([&["AUTH"][..], &auth].concat());
        }
        all.extend(commands.iter().map(|c| c.to_vec()));
        let mut out = Vec::new();
        for c in &all {
            out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
            for a in c {
                out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        s.write_all(&out)?;
        let mut reader = std::io::BufReader::new(s);
        let mut last = String::new();
        for _ in &all {
            last = read_redis_reply(&mut reader)?;
        }
        Ok(last)
    }
}

fn read_redis_reply(r: &mut impl std::io::BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    let bad = || std::io::Error::other(format!("bad reply line {line:?}"));
    match line.as_bytes().first() {
        Some(b'$') => {
            let n: i64 = line[1..].parse().map_err(|_| bad())?;
            if n < 0 {
                return Ok("(nil)".into());
            }
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf)?;
            Ok(format!("${}", String::from_utf8_lossy(&buf[..n as usize])))
        }
        Some(b'*') => {
            let n: i64 = line[1..].parse().map_err(|_| bad())?;
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_redis_reply(r)?);
            }
            Ok(items.join("\n"))
        }
        Some(_) => Ok(line),
        None => Err(bad()),
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TLS client verifier that accepts any server certificate and remembers it, so tests can look
/// at what was served (handshake signatures are still checked).
#[derive(Debug)]
pub struct CertRecorder {
    seen: std::sync::Mutex<Option<rustls::pki_types::CertificateDer<'static>>>,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl CertRecorder {
    pub fn new(provider: std::sync::Arc<rustls::crypto::CryptoProvider>) -> Self {
        Self {
            seen: std::sync::Mutex::new(None),
            provider,
        }
    }

    /// The last certificate the server presented.
    pub fn last(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        self.seen.lock().unwrap().clone()
    }
}

impl rustls::client::danger::ServerCertVerifier for CertRecorder {
    fn verify_server_cert(
        &self,
        end: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end.clone().into_owned());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls server configuration for a certificate naming `names`, signed by a fresh test CA;
/// also returns the CA certificate as PEM, for the proxy's `rootCAs`.
pub fn ca_signed_server_config(names: &[&str]) -> (rustls::ServerConfig, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    (config, ca.pem())
}
