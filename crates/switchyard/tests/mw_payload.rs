//! Payload middlewares through the running proxy: compress, forwardAuth, grpcWeb.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use common::*;

fn config(backend: &Backend, routers: &str, middlewares: &str) -> String {
    format!(
        "http:\n  routers:\n{routers}  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n{middlewares}",
        backend.url()
    )
}

fn router(name: &str, rule: &str, middlewares: &str) -> String {
    format!("    {name}:\n      rule: \"{rule}\"\n      service: s\n      middlewares: [{middlewares}]\n")
}

/// Decompresses a complete body.
fn decode(encoding: &str, data: &[u8]) -> Vec<u8> {
    use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        match encoding {
            "gzip" => GzipDecoder::new(data).read_to_end(&mut out).await,
            "br" => BrotliDecoder::new(data).read_to_end(&mut out).await,
            "zstd" => ZstdDecoder::new(data).read_to_end(&mut out).await,
            other => panic!("unexpected encoding {other}"),
        }
        .unwrap();
        out
    })
}

/// What a gzip decoder makes of the start of a stream.
fn gunzip_prefix(data: &[u8]) -> Vec<u8> {
    use async_compression::codecs::{Decode, GzipDecoder};
    use async_compression::core::util::PartialBuffer;
    let mut dec = GzipDecoder::new();
    let mut input = PartialBuffer::new(data);
    let mut out = PartialBuffer::new(vec![0u8; 64 * 1024]);
    let _ = dec.decode(&mut input, &mut out);
    out.written().to_vec()
}

// ---------------------------------------------------------------------------------------------
// compress

#[test]
fn compress_negotiates_and_skips_what_it_must() {
    let b = Backend::start("b");
    let routers = format!(
        "{}{}",
        router("r", "PathPrefix(`/`)", "comp"),
        router("pref", "Header(`X-Route`, `pref`)", "pref"),
    );
    let mws = "    comp:\n      compress: {}\n    pref:\n      compress:\n        encodings: [zstd, br]\n        defaultEncoding: br\n        minResponseBodyBytes: 10\n";
    let proxy = Proxy::start(&config(&b, &routers, mws), "");
    let body = "x".repeat(3000);

    // A large response (the backend echoes the 3000-byte body) in each coding.
    for (ae, want) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip, br, zstd", "gzip"),
        ("br;q=0.5, zstd;q=0.9", "zstd"),
    ] {
        let r = request(
            proxy.web(),
            "POST",
            "/",
            "x",
            &[("Accept-Encoding", ae)],
            &body,
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some(want), "{ae}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-length"), None);
        let plain = String::from_utf8(decode(want, &r.body)).unwrap();
        assert!(plain.contains(&format!("body: {body}\n")), "{plain}");
        assert!(r.body.len() < 1000, "{} bytes", r.body.len());
    }
    // The request's Accept-Encoding still reaches the upstream.
    let r = request(
        proxy.web(),
        "POST",
        "/",
        "x",
        &[("Accept-Encoding", "br")],
        &body,
    );
    assert!(String::from_utf8(decode("br", &r.body))
        .unwrap()
        .contains("accept-encoding: br\n"));

    // Small responses, no or unacceptable Accept-Encoding, HEAD, gRPC requests: untouched.
    let r = request(
        proxy.web(),
        "GET",
        "/",
        "x",
        &[("Accept-Encoding", "gzip")],
        "",
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.text().contains("method: GET"));
    for headers in [
        vec![],
        vec![("Accept-Encoding", "identity")],
        vec![("Accept-Encoding", "gzip;q=0")],
        vec![
            ("Accept-Encoding", "gzip"),
            ("Content-Type", "application/grpc"),
        ],
    ] {
        let r = request(proxy.web(), "POST", "/", "x", &headers, &body);
        assert_eq!(r.header("content-encoding"), None, "{headers:?}");
        assert_eq!(r.header("vary"), None, "{headers:?}");
        assert!(r.text().contains(&body));
    }
    let r = request(
        proxy.web(),
        "HEAD",
        "/",
        "x",
        &[("Accept-Encoding", "gzip")],
        "",
    );
    assert_eq!(r.header("content-encoding"), None);

    // Server preference breaks ties; defaultEncoding applies without Accept-Encoding;
    // minResponseBodyBytes is honoured.
    let pref = |ae: Option<&str>| {
        let mut h = vec![("X-Route", "pref")];
        if let Some(ae) = ae {
            h.push(("Accept-Encoding", ae));
        }
        request(proxy.web(), "GET", "/", "x", &h, "")
    };
    assert_eq!(
        pref(Some("br, zstd")).header("content-encoding"),
        Some("zstd")
    );
    assert_eq!(pref(None).header("content-encoding"), Some("br"));
    assert_eq!(pref(Some("*")).header("content-encoding"), Some("br"));
    assert_eq!(pref(Some("gzip")).header("content-encoding"), None);
}

#[test]
fn compress_streams_server_sent_events() {
    let b = Backend::start("b");
    let proxy = Proxy::start(
        &config(
            &b,
            &router("r", "PathPrefix(`/`)", "comp"),
            "    comp:\n      compress: {}\n",
        ),
        "",
    );
    let mut s = TcpStream::connect(proxy.web()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /sse HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // The first event (sent 1.5 s before the second) must arrive compressed, on its own.
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        assert!(head.contains("content-encoding: gzip"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        let body = dechunk(&buf[end + 4..]);
        if gunzip_prefix(&body).starts_with(b"data: first\n\n") {
            break;
        }
    }
    assert!(
        start.elapsed() < Duration::from_millis(1200),
        "{:?}",
        start.elapsed()
    );
    let _ = s.read_to_end(&mut buf);
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert_eq!(
        decode("gzip", &dechunk(&buf[end + 4..])),
        b"data: first\n\ndata: second\n\n"
    );
}

/// The data of a (possibly incomplete) chunked body.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") {
        let Ok(size) = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap_or(""), 16)
        else {
            break;
        };
        let data = &rest[nl + 2..];
        if size == 0 || data.len() < size {
            out.extend_from_slice(&data[..size.min(data.len())]);
            break;
        }
        out.extend_from_slice(&data[..size]);
        rest = data.get(size + 2..).unwrap_or(&[]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// forwardAuth

/// A scripted HTTP/1.1 server: `answer(method, target, headers, body)` gives status, headers and
/// body; the last request it received is kept as text (`method target`, headers, body).
struct Scripted {
    addr: SocketAddr,
    last: Arc<Mutex<String>>,
}

type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

impl Scripted {
    fn start(answer: fn(&str, &str) -> Answer) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let last = Arc::new(Mutex::new(String::new()));
        let last2 = last.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let last = last2.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                let last = last.clone();
                                async move {
                                    let mut dump = format!("{} {}\n", req.method(), req.uri());
                                    for (k, v) in req.headers() {
                                        dump.push_str(&format!(
                                            "{k}: {}\n",
                                            v.to_str().unwrap_or("?")
                                        ));
                                    }
                                    let (method, target) =
                                        (req.method().to_string(), req.uri().to_string());
                                    let body = req
                                        .into_body()
                                        .collect()
                                        .await
                                        .map(|c| c.to_bytes())
                                        .unwrap_or_default();
                                    dump.push_str(&format!(
                                        "body: {}\n",
                                        String::from_utf8_lossy(&body)
                                    ));
                                    *last.lock().unwrap() = dump;
                                    let (status, headers, body) = answer(&method, &target);
                                    let mut resp =
                                        hyper::Response::new(Full::new(Bytes::from(body)));
                                    *resp.status_mut() =
                                        hyper::StatusCode::from_u16(status).unwrap();
                                    for (k, v) in headers {
                                        resp.headers_mut().append(k, v.parse().unwrap());
                                    }
                                    Ok::<_, std::convert::Infallible>(resp)
                                }
                            },
                        );
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        Scripted { addr, last }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn last(&self) -> String {
        self.last.lock().unwrap().clone()
    }
}

fn auth_answer(_method: &str, target: &str) -> Answer {
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/ok" => (
            200,
            vec![
                ("x-auth-user", "alice".into()),
                ("x-auth-extra", "e".into()),
                ("set-cookie", "auth=1; Path=/".into()),
                ("set-cookie", "other=2".into()),
            ],
            b"granted".to_vec(),
        ),
        "/deny" => (
            401,
            vec![
                ("location", "/login?x=1".into()),
                ("www-authenticate", "Basic realm=\"x\"".into()),
            ],
            b"denied".to_vec(),
        ),
        "/big" => (200, vec![], vec![b'x'; 3000]),
        _ => (404, vec![], b"no such auth path".to_vec()),
    }
}

#[test]
fn forward_auth_grants_and_denies() {
    let b = Backend::start("b");
    let auth = Scripted::start(auth_answer);
    let routers = [
        router("ok", "PathPrefix(`/`)", "ok"),
        router("deny", "PathPrefix(`/deny`)", "deny"),
        router("keep", "PathPrefix(`/keeploc`)", "keep"),
        router("signin", "PathPrefix(`/signin`)", "signin"),
        router("body", "PathPrefix(`/body`)", "body"),
        router("bigresp", "PathPrefix(`/bigresp`)", "bigresp"),
        router("dead", "PathPrefix(`/dead`)", "dead"),
        router("only", "PathPrefix(`/only`)", "only"),
    ]
    .concat();
    let mws = format!(
        "    ok:\n      forwardAuth:\n        address: \"{ok}\"\n        authResponseHeaders: [X-Auth-User]\n        authResponseHeadersRegex: \"^X-Auth-E\"\n        addAuthCookiesToResponse: [auth]\n\
         \x20   deny:\n      forwardAuth:\n        address: \"{deny}\"\n\
         \x20   keep:\n      forwardAuth:\n        address: \"{deny}\"\n        preserveLocationHeader: true\n\
         \x20   signin:\n      forwardAuth:\n        address: \"{deny}\"\n        authSigninURL: \"https://login.example.com/start\"\n\
         \x20   body:\n      forwardAuth:\n        address: \"{ok}\"\n        forwardBody: true\n        maxBodySize: 10\n        preserveRequestMethod: true\n\
         \x20   bigresp:\n      forwardAuth:\n        address: \"{big}\"\n        maxResponseBodySize: 100\n\
         \x20   dead:\n      forwardAuth:\n        address: \"http://127.0.0.1:{dead}/\"\n\
         \x20   only:\n      forwardAuth:\n        address: \"{ok}\"\n        authRequestHeaders: [X-Keep]\n",
        ok = auth.url("/ok?q=1"),
        deny = auth.url("/deny"),
        big = auth.url("/big"),
        dead = free_port(),
    );
    let proxy = Proxy::start(&config(&b, &routers, &mws), "");
    let hits = || b.hits.load(std::sync::atomic::Ordering::SeqCst);

    // Granted: the auth server sees a GET describing the original request; the upstream gets
    // the auth headers (replacing forged ones) and the client the listed auth cookie.
    let r = request(
        proxy.web(),
        "POST",
        "/path?a=b",
        "example.com",
        &[
            ("X-Auth-User", "forged"),
            ("X-Auth-Extra", "forged"),
            ("Cookie", "session=s"),
        ],
        "data",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let up = r.text();
    assert!(up.contains("x-auth-user: alice\n"), "{up}");
    assert!(up.contains("x-auth-extra: e\n"), "{up}");
    assert!(!up.contains("forged"), "{up}");
    assert!(up.contains("body: data\n"), "{up}");
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["auth=1; Path=/"]);
    let seen = auth.last();
    assert!(seen.starts_with("GET /ok?q=1\n"), "{seen}");
    for line in [
        "x-forwarded-method: POST",
        "x-forwarded-uri: /path?a=b",
        "x-forwarded-host: example.com",
        "x-forwarded-proto: http",
        "x-forwarded-for: 127.0.0.1",
        "cookie: session=s",
        &format!("host: {}", auth.addr),
        "body: ",
    ] {
        assert!(seen.contains(&format!("{line}\n")), "{line} in {seen}");
    }
    assert!(!seen.contains("content-length"), "{seen}");

    // Denied: the auth answer goes to the client, Location made absolute; no upstream call.
    let before = hits();
    let r = get(proxy.web(), "x", "/deny");
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), "denied");
    assert_eq!(
        r.header("location"),
        Some(format!("http://{}/login?x=1", auth.addr).as_str())
    );
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"x\""));
    assert_eq!(hits(), before);
    let r = get(proxy.web(), "x", "/keeploc");
    assert_eq!(r.header("location"), Some("/login?x=1"));
    let r = get(proxy.web(), "x", "/signin");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://login.example.com/start")
    );
    assert!(r.body.is_empty());

    // forwardBody: the auth server and the upstream both get the body; over maxBodySize: 401.
    let r = request(proxy.web(), "PUT", "/body", "x", &[], "0123456789");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("body: 0123456789\n"), "{}", r.text());
    let seen = auth.last();
    assert!(seen.starts_with("PUT /ok?q=1\n"), "{seen}");
    assert!(seen.contains("body: 0123456789\n"), "{seen}");
    let r = request(proxy.web(), "PUT", "/body", "x", &[], "0123456789a");
    assert_eq!(r.status, 401);
    assert!(r.body.is_empty());

    // An auth answer over maxResponseBodySize: 401; an unreachable auth server: 500.
    assert_eq!(get(proxy.web(), "x", "/bigresp").status, 401);
    let r = get(proxy.web(), "x", "/dead");
    assert_eq!(r.status, 500);
    assert!(r.body.is_empty());

    // authRequestHeaders: only those (and the X-Forwarded ones) reach the auth server.
    let r = request(
        proxy.web(),
        "GET",
        "/only",
        "x",
        &[("X-Keep", "k"), ("X-Drop", "d")],
        "",
    );
    assert_eq!(r.status, 200);
    let seen = auth.last();
    assert!(seen.contains("x-keep: k\n"), "{seen}");
    assert!(!seen.contains("x-drop"), "{seen}");
    assert!(seen.contains("x-forwarded-uri: /only\n"), "{seen}");
}

// ---------------------------------------------------------------------------------------------
// grpcWeb

fn grpc_web_config(b: &Backend) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n      middlewares: [gw]\n  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"h2c://{}\"}}]\n  middlewares:\n    gw:\n      grpcWeb:\n        allowOrigins: [\"https://app.example.com\"]\n",
        b.addr
    )
}

/// Splits a gRPC-Web body into its data and its trailer frame's text.
fn split_trailer_frame(body: &[u8]) -> (Vec<u8>, String) {
    let at = body
        .iter()
        .rposition(|&b| b == 0x80)
        .expect("a trailer frame");
    let len = u32::from_be_bytes(body[at + 1..at + 5].try_into().unwrap()) as usize;
    assert_eq!(body.len(), at + 5 + len, "the trailer frame ends the body");
    (
        body[..at].to_vec(),
        String::from_utf8(body[at + 5..].to_vec()).unwrap(),
    )
}

#[test]
fn grpc_web_is_translated_to_grpc_and_back() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let b = Backend::start("grpc");
    let proxy = Proxy::start(&grpc_web_config(&b), "");
    let message = "\0\0\0\0\x05hello";
    let origin = ("Origin", "https://app.example.com");

    // Binary: the upstream (HTTP/2) answers with trailers; they come back in the body.
    let r = request(
        proxy.web(),
        "POST",
        "/trailers",
        "x",
        &[origin, ("Content-Type", "application/grpc-web+proto")],
        message,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/grpc-web"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let exposed = r.header("access-control-expose-headers").unwrap();
    assert!(exposed.ends_with("grpc-status, grpc-message"), "{exposed}");
    assert!(exposed.contains("Content-Type"), "{exposed}");
    let (data, trailers) = split_trailer_frame(&r.body);
    assert_eq!(data, message.as_bytes());
    assert_eq!(trailers, "grpc-message: ok\r\ngrpc-status: 0\r\n");

    // What the upstream receives: gRPC over HTTP/2.
    let r = request(
        proxy.web(),
        "POST",
        "/echo",
        "x",
        &[origin, ("Content-Type", "application/grpc-web+proto")],
        message,
    );
    let (data, _) = split_trailer_frame(&r.body);
    let seen = String::from_utf8_lossy(&data).into_owned();
    assert!(seen.contains("version: HTTP/2.0\n"), "{seen}");
    assert!(
        seen.contains("content-type: application/grpc+proto\n"),
        "{seen}"
    );
    assert!(seen.contains("te: trailers\n"), "{seen}");
    assert!(seen.contains("body: \0\0\0\0\x05hello\n"), "{seen}");

    // Text: the request is base64, and so is every part of the answer.
    let r = request(
        proxy.web(),
        "POST",
        "/trailers",
        "x",
        &[origin, ("Content-Type", "application/grpc-web-text")],
        &b64.encode(message),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/grpc-web-text"));
    let mut decoded = Vec::new();
    for segment in r.text().split_inclusive('=').filter(|s| *s != "=") {
        let mut s = segment.to_owned();
        while s.len() % 4 != 0 {
            s.push('=');
        }
        b64.decode_vec(&s, &mut decoded).unwrap();
    }
    let (data, trailers) = split_trailer_frame(&decoded);
    assert_eq!(data, message.as_bytes());
    assert_eq!(trailers, "grpc-message: ok\r\ngrpc-status: 0\r\n");

    // A disallowed origin gets no CORS headers (the call itself still goes through).
    let r = request(
        proxy.web(),
        "POST",
        "/trailers",
        "x",
        &[
            ("Origin", "https://evil.example.com"),
            ("Content-Type", "application/grpc-web"),
        ],
        message,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);

    // CORS preflight, answered by the middleware.
    let hits = b.hits.load(std::sync::atomic::Ordering::SeqCst);
    let preflight = |origin: &str| {
        request(
            proxy.web(),
            "OPTIONS",
            "/svc.Greeter/SayHello",
            "x",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "x-grpc-web,content-type"),
            ],
            "",
        )
    };
    let r = preflight("https://app.example.com");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("X-Grpc-Web, Content-Type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    let r = preflight("https://evil.example.com");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::SeqCst), hits);

    // Anything else passes untouched.
    let r = get(proxy.web(), "x", "/plain");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-expose-headers"), None);
    assert!(
        r.text().contains("method: GET\n") && r.text().contains("/plain\n"),
        "{}",
        r.text()
    );
}

/// An HTTPS auth server (certificate for 127.0.0.1 from a fresh CA) that grants everything;
/// returns its address and the CA's PEM.
fn tls_auth_server() -> (SocketAddr, String) {
    let (config, ca_pem) = ca_signed_server_config(&["127.0.0.1"]);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(|_req| async {
                        let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                        resp.headers_mut()
                            .insert("x-auth-user", "tls-user".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(resp)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
    });
    (addr, ca_pem)
}

#[test]
fn forward_auth_over_tls() {
    let b = Backend::start("b");
    let (auth, ca_pem) = tls_auth_server();
    let ca_yaml = ca_pem.replace('\n', "\\n");
    let routers = [
        router("ca", "PathPrefix(`/ca`)", "withca"),
        router("noca", "PathPrefix(`/noca`)", "noca"),
        router("skip", "PathPrefix(`/skip`)", "skip"),
    ]
    .concat();
    let mws = format!(
        "    withca:\n      forwardAuth:\n        address: \"https://{auth}/\"\n        authResponseHeaders: [X-Auth-User]\n        tls:\n          ca: \"{ca_yaml}\"\n    noca:\n      forwardAuth:\n        address: \"https://{auth}/\"\n    skip:\n      forwardAuth:\n        address: \"https://{auth}/\"\n        authResponseHeaders: [X-Auth-User]\n        tls:\n          insecureSkipVerify: true\n"
    );
    let proxy = Proxy::start(&config(&b, &routers, &mws), "");
    let r = get(proxy.web(), "x", "/ca");
    assert_eq!(r.status, 200, "{}", proxy.logs());
    assert!(r.text().contains("x-auth-user: tls-user\n"), "{}", r.text());
    // An auth server whose certificate cannot be verified is an auth server that cannot be
    // reached: 500.
    assert_eq!(get(proxy.web(), "x", "/noca").status, 500);
    let r = get(proxy.web(), "x", "/skip");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("x-auth-user: tls-user\n"), "{}", r.text());
}

#[test]
fn forward_auth_is_not_reached_by_oversized_headers() {
    let b = Backend::start("b");
    let auth = Scripted::start(auth_answer);
    let routers = router("ok", "PathPrefix(`/`)", "ok");
    let mws = format!(
        "    ok:\n      forwardAuth:\n        address: \"{}\"\n",
        auth.url("/ok")
    );
    let proxy = Proxy::start(&config(&b, &routers, &mws), "");
    // Headers beyond the entry point's maxHeaderBytes (1 MiB) are refused before any
    // middleware runs: neither the auth server nor the upstream sees them.
    let huge = "h".repeat(1100 * 1024);
    let r = request(proxy.web(), "GET", "/", "x", &[("X-Huge", &huge)], "");
    assert_eq!(r.status, 431);
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Many large headers under the limit: the auth call is made with them and answered; the
    // proxy answers with the auth decision, not an error of its own.
    let big = "v".repeat(8 * 1024);
    let headers: Vec<(String, String)> = (0..40)
        .map(|i| (format!("X-Big-{i}"), big.clone()))
        .collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = request(proxy.web(), "GET", "/", "x", &refs, "");
    assert!(
        r.status == 200 || (400..500).contains(&r.status),
        "got {}",
        r.status
    );
    assert_eq!(get(proxy.web(), "x", "/").status, 200, "still serving");
}
