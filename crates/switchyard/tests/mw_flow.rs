//! Flow-control middlewares through the running proxy: retry, errors, circuitBreaker, buffering.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

/// A dynamic config from YAML fragments indented for their section (see [`router`], [`lb`]).
fn dynamic(routers: &str, services: &str, middlewares: &str) -> String {
    format!("http:\n  routers:\n{routers}  services:\n{services}  middlewares:\n{middlewares}")
}

/// A load balancer service over `urls`; `extra` holds more loadBalancer options (YAML lines
/// indented by 8).
fn lb(name: &str, urls: &[String], extra: &str) -> String {
    let mut s = format!("    {name}:\n      loadBalancer:\n{extra}        servers:\n");
    for u in urls {
        s.push_str(&format!("          - url: \"{u}\"\n"));
    }
    s
}

fn router(name: &str, rule: &str, service: &str, middlewares: &str) -> String {
    format!("    {name}:\n      rule: \"{rule}\"\n      service: {service}\n      middlewares: [{middlewares}]\n")
}

/// A URL nothing listens on.
fn dead_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// A server that accepts connections, reads the request head and closes without answering;
/// it counts the connections.
fn hang_up_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
        }
    });
    (url, count)
}

fn count_in_logs(proxy: &Proxy, needle: &str) -> usize {
    proxy.logs().matches(needle).count()
}

// ---------------------------------------------------------------------------------------------
// retry

#[test]
fn retry_recovers_from_a_dead_server() {
    let b = Backend::start("live");
    let routers = router("r", "PathPrefix(`/`)", "s", "retry");
    let mws = "    retry:\n      retry:\n        attempts: 2\n";
    let proxy = Proxy::start(
        &dynamic(&routers, &lb("s", &[dead_url(), b.url()], ""), mws),
        "",
    );
    // Round robin alternates, so every first attempt lands on the dead server (the retry took
    // the live server's turn) and is retried on the live one.
    for _ in 0..6 {
        let r = get(proxy.web(), "x", "/");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-backend"), Some("live"));
    }
    assert_eq!(b.hits.load(Ordering::SeqCst), 6);
    assert_eq!(count_in_logs(&proxy, "retry: new attempt"), 6);
}

#[test]
fn retry_gives_up_after_attempts_and_keeps_the_body() {
    let routers = router("r", "PathPrefix(`/`)", "s", "retry");
    let mws = "    retry:\n      retry:\n        attempts: 3\n        initialInterval: 20ms\n";
    let proxy = Proxy::start(&dynamic(&routers, &lb("s", &[dead_url()], ""), mws), "");
    let start = std::time::Instant::now();
    let r = request(proxy.web(), "POST", "/", "x", &[], "payload");
    assert_eq!(r.status, 502);
    assert_eq!(count_in_logs(&proxy, "retry: new attempt"), 2);
    // Two waits of 20–40 ms each (randomized ±50%, growing to 2× the initial interval).
    assert!(start.elapsed() >= std::time::Duration::from_millis(20));

    // A POST whose first attempt hit the dead server still reaches the live one with its body.
    let b = Backend::start("live");
    proxy.set_dynamic(&dynamic(
        &routers,
        &lb("s", &[dead_url(), b.url()], ""),
        mws,
    ));
    proxy.eventually("new config", || {
        let r = request(proxy.web(), "POST", "/", "x", &[], "payload");
        r.status == 200 && r.text().contains("body: payload\n")
    });
    for _ in 0..4 {
        let r = request(proxy.web(), "POST", "/", "x", &[], "payload");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("body: payload\n"), "{}", r.text());
    }
}

#[test]
fn retry_stops_once_the_upstream_answered() {
    let b = Backend::start("b");
    let (hang_up, connections) = hang_up_server();
    let routers = format!(
        "{}{}",
        router("r", "PathPrefix(`/`)", "s", "retry"),
        router("h", "PathPrefix(`/hangup`)", "h", "retry")
    );
    let mws = "    retry:\n      retry:\n        attempts: 3\n";
    let proxy = Proxy::start(
        &dynamic(
            &routers,
            &[lb("s", &[b.url()], ""), lb("h", &[hang_up], "")].concat(),
            mws,
        ),
        "",
    );
    // An error status from the upstream is an answer: no retry by default.
    let r = get(proxy.web(), "x", "/status/503");
    assert_eq!(r.status, 503);
    assert_eq!(b.hits.load(Ordering::SeqCst), 1);
    // The upstream got the request and hung up: sending it again could repeat its effect.
    let r = get(proxy.web(), "x", "/hangup");
    assert_eq!(r.status, 502);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[test]
fn retry_on_status_codes() {
    let b = Backend::start("b");
    let routers = format!(
        "{}{}{}",
        router("r", "PathPrefix(`/`)", "s", "retry"),
        router("post", "PathPrefix(`/post`)", "s", "retrypost, strip"),
        router("small", "PathPrefix(`/small`)", "s", "retrysmall, strip")
    );
    let mws = "    retry:\n      retry:\n        attempts: 3\n        status: [\"500-599\"]\n    retrypost:\n      retry:\n        attempts: 3\n        status: [\"418,500-599\"]\n        retryNonIdempotentMethod: true\n    retrysmall:\n      retry:\n        attempts: 3\n        status: [\"500-599\"]\n        maxRequestBodyBytes: 4\n    strip:\n      stripPrefix:\n        prefixes: [\"/post\", \"/small\"]\n";
    let proxy = Proxy::start(&dynamic(&routers, &lb("s", &[b.url()], ""), mws), "");
    let hits = || b.hits.load(Ordering::SeqCst);

    // Every attempt answered 503: three attempts, the last answer goes to the client.
    let r = get(proxy.web(), "x", "/status/503");
    assert_eq!(r.status, 503);
    assert_eq!(hits(), 3);
    // A status outside the list is returned at once.
    let r = get(proxy.web(), "x", "/status/404");
    assert_eq!(r.status, 404);
    assert_eq!(hits(), 4);
    // POST is not retried on status unless retryNonIdempotentMethod.
    let r = request(proxy.web(), "POST", "/status/500", "x", &[], "data");
    assert_eq!(r.status, 500);
    assert_eq!(hits(), 5);
    let r = request(proxy.web(), "POST", "/post/status/418", "x", &[], "data");
    assert_eq!(r.status, 418);
    assert_eq!(hits(), 8);
    // The buffered body is sent again with every attempt.
    let r = request(proxy.web(), "PUT", "/post/echo", "x", &[], "data");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("body: data\n"), "{}", r.text());
    assert_eq!(hits(), 9);
    // Within maxRequestBodyBytes the status retry works...
    let r = request(proxy.web(), "PUT", "/small/status/502", "x", &[], "1234");
    assert_eq!(r.status, 502);
    assert_eq!(hits(), 12);
    // ...a larger body is streamed, and only network errors could be retried.
    let r = request(proxy.web(), "PUT", "/small/status/502", "x", &[], "12345");
    assert_eq!(r.status, 502);
    assert_eq!(hits(), 13);
    let r = request(proxy.web(), "PUT", "/small/echo", "x", &[], "12345");
    assert!(r.text().contains("body: 12345\n"), "{}", r.text());
}

#[test]
fn retry_timeout_ends_the_retries() {
    let b = Backend::start("b");
    let routers = router("r", "PathPrefix(`/`)", "s", "retry");
    let mws = "    retry:\n      retry:\n        attempts: 10\n        initialInterval: 150ms\n        timeout: 200ms\n        status: [\"503\"]\n";
    let proxy = Proxy::start(&dynamic(&routers, &lb("s", &[b.url()], ""), mws), "");
    let r = get(proxy.web(), "x", "/status/503");
    assert_eq!(r.status, 503);
    // Waits of at least 75 ms each: the 200 ms budget allows 2 to 4 attempts, never 10.
    let hits = b.hits.load(Ordering::SeqCst);
    assert!((2..=4).contains(&hits), "{hits} attempts");
}

// ---------------------------------------------------------------------------------------------
// errors

#[test]
fn errors_serve_pages_from_another_service() {
    let b = Backend::start("b");
    let pages = Backend::start("pages");
    let routers = format!(
        "{}{}{}{}",
        router("r", "PathPrefix(`/`) && !PathPrefix(`/broken`)", "s", "err").replace(
            "      service: s\n",
            "      service: s\n      priority: 1\n"
        ),
        router("nohost", "PathPrefix(`/nohost`)", "s", "errnohost, strip"),
        router("dead", "PathPrefix(`/dead`)", "dead", "err"),
        router("broken", "PathPrefix(`/broken`)", "s", "errmissing"),
    );
    let mws = "    err:\n      errors:\n        status: [\"500-599\", \"404\"]\n        statusRewrites: {\"502\": 404, \"503-504\": 410}\n        service: pages\n        query: \"/page/{status}/{originalStatus}?u={url}\"\n    errnohost:\n      errors:\n        status: [\"418\"]\n        service: pagesnohost\n        errorRequestHeaders: [X-Keep]\n    errmissing:\n      errors:\n        status: [\"500\"]\n        service: nothere\n    strip:\n      stripPrefix:\n        prefixes: [\"/nohost\"]\n";
    let services = [
        lb("s", &[b.url()], ""),
        lb("pages", &[pages.url()], ""),
        lb(
            "pagesnohost",
            &[pages.url()],
            "        passHostHeader: false\n",
        ),
        lb("dead", &[dead_url()], ""),
    ]
    .concat();
    let config = dynamic(&routers, &services, mws);
    let proxy = Proxy::start(&config, "");

    // The upstream's 502 becomes a 404 (statusRewrites) with the page's headers and body; the page
    // request is a GET carrying the client's Host and headers.
    let r = request(
        proxy.web(),
        "GET",
        "/status/502?a=b&c=d%20e",
        "example.com",
        &[("X-Custom", "1")],
        "",
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-backend"), Some("pages"));
    let page = r.text();
    assert!(
        page.contains(
            "target: /page/404/502?u=http%3A%2F%2Fexample.com%2Fstatus%2F502%3Fa%3Db%26c%3Dd%2520e\n"
        ),
        "{page}"
    );
    assert!(page.contains("method: GET\n"), "{page}");
    assert!(page.contains("host: example.com\n"), "{page}");
    assert!(page.contains("x-custom: 1\n"), "{page}");
    let r = get(proxy.web(), "x", "/status/503");
    assert_eq!(r.status, 410);
    assert!(r.text().contains("target: /page/410/503?"), "{}", r.text());
    let r = get(proxy.web(), "x", "/status/500");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("target: /page/500/500?"), "{}", r.text());
    // Other statuses pass untouched.
    let r = get(proxy.web(), "x", "/status/403");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-backend"), Some("b"));
    let r = get(proxy.web(), "x", "/ok");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-backend"), Some("b"));
    // The proxy's own 502 (unreachable upstream) is caught too.
    let r = get(proxy.web(), "x", "/dead");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("target: /page/404/502?"), "{}", r.text());
    // passHostHeader false on the error service, errorRequestHeaders, no query: GET /.
    let r = request(
        proxy.web(),
        "POST",
        "/nohost/status/418",
        "example.com",
        &[("X-Keep", "k"), ("X-Drop", "d")],
        "body",
    );
    assert_eq!(r.status, 418);
    let page = r.text();
    assert!(page.contains("target: /\n"), "{page}");
    assert!(page.contains(&format!("host: {}\n", pages.addr)), "{page}");
    assert!(page.contains("x-keep: k\n"), "{page}");
    assert!(!page.contains("x-drop"), "{page}");
    // A missing error service disables the middleware and its routers.
    assert_eq!(get(proxy.web(), "x", "/broken").status, 404);
    assert!(proxy.logs().contains("errors.service"), "{}", proxy.logs());
}

// ---------------------------------------------------------------------------------------------
// circuitBreaker

#[test]
fn circuit_breaker_trips_keeps_its_state_across_reloads_and_recovers() {
    let b = Backend::start("live");
    let routers = format!(
        "{}{}",
        router("r", "PathPrefix(`/`)", "s", "cb"),
        router("bad", "PathPrefix(`/bad`)", "s", "cbbad"),
    );
    let mws = "    cb:\n      circuitBreaker:\n        expression: \"NetworkErrorRatio() > 0.5\"\n        fallbackDuration: 1s\n        recoveryDuration: 1s\n        responseCode: 418\n    cbbad:\n      circuitBreaker:\n        expression: \"NetworkErrorRatio() > 1\"\n";
    let proxy = Proxy::start(&dynamic(&routers, &lb("s", &[dead_url()], ""), mws), "");

    // The first answer is a network error: the breaker trips and answers on its own.
    assert_eq!(get(proxy.web(), "x", "/").status, 502);
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.status, 418);
    assert_eq!(r.text(), "I'm a teapot");

    // A reload that keeps the middleware as it was keeps the breaker open, even though the
    // service now points to a live server.
    proxy.set_dynamic(&dynamic(&routers, &lb("s", &[b.url()], ""), mws));
    std::thread::sleep(std::time::Duration::from_millis(400));
    let r = get(proxy.web(), "x", "/");
    assert_eq!(r.status, 418, "{}", r.text());
    assert_eq!(b.hits.load(Ordering::SeqCst), 0);

    // After fallbackDuration and recoveryDuration, traffic flows again.
    proxy.eventually("requests to pass again", || {
        get(proxy.web(), "x", "/").status == 200
    });
    // Once recoveryDuration is over, every request passes.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for _ in 0..5 {
        assert_eq!(get(proxy.web(), "x", "/").status, 200);
    }
    // An invalid expression disables its router (which would otherwise answer /bad).
    let r = get(proxy.web(), "x", "/bad");
    assert_eq!(
        r.header("x-backend"),
        Some("live"),
        "{} {}",
        r.status,
        r.text()
    );
    assert!(
        proxy.logs().contains("circuitBreaker.expression"),
        "{}",
        proxy.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// buffering

#[test]
fn buffering_limits_spills_and_retries() {
    let b = Backend::start("b");
    let routers = [
        router("r", "PathPrefix(`/`)", "s", "limits"),
        router("spill", "PathPrefix(`/spill`)", "s", "spill"),
        router("retry", "PathPrefix(`/retry`)", "flaky", "again"),
        router("resp", "PathPrefix(`/resp`)", "s", "small"),
    ]
    .concat();
    let mws = "    limits:\n      buffering:\n        maxRequestBodyBytes: 10\n    spill:\n      buffering:\n        memRequestBodyBytes: 10\n        memResponseBodyBytes: 10\n    again:\n      buffering:\n        retryExpression: \"IsNetworkError() && Attempts() < 2\"\n    small:\n      buffering:\n        maxResponseBodyBytes: 100\n";
    let services = [
        lb("s", &[b.url()], ""),
        lb("flaky", &[dead_url(), b.url()], ""),
    ]
    .concat();
    let proxy = Proxy::start(&dynamic(&routers, &services, mws), "");

    // Over maxRequestBodyBytes, by Content-Length or while reading a chunked body: 413.
    let r = request(proxy.web(), "POST", "/", "x", &[], "01234567890");
    assert_eq!(r.status, 413);
    assert_eq!(r.text(), "Request Entity Too Large");
    let chunked = |body: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    };
    assert_eq!(
        raw(proxy.web(), chunked("01234567890").as_bytes())
            .unwrap()
            .status,
        413
    );
    // Within the limit, a chunked request reaches the upstream with its length.
    let r = raw(proxy.web(), chunked("0123456789").as_bytes()).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("content-length: 10\n"), "{}", r.text());
    assert!(!r.text().contains("transfer-encoding"), "{}", r.text());
    assert!(r.text().contains("body: 0123456789\n"), "{}", r.text());

    // Bodies larger than the memory limits go through a temporary file, both ways.
    let big = "z".repeat(200_000);
    let r = request(proxy.web(), "POST", "/spill", "x", &[], &big);
    assert_eq!(r.status, 200);
    assert!(r.text().contains(&format!("body: {big}\n")));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );

    // A response over maxResponseBodyBytes: 500.
    let r = get(proxy.web(), "x", "/resp");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "Internal Server Error");

    // retryExpression: the dead server's 502 is retried on the next server, body included.
    for _ in 0..4 {
        let r = request(proxy.web(), "PUT", "/retry", "x", &[], "again");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("body: again\n"), "{}", r.text());
    }
}
