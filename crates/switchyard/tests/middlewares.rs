//! Middlewares through the running proxy: path rewriting, redirects, chains, entry point
//! middlewares, ordering, and invalid middlewares disabling only their routers.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::*;

fn config(backend: &Backend, routers: &str, middlewares: &str) -> String {
    format!(
        "http:\n  routers:\n{routers}  services:\n    s:\n      loadBalancer:\n        servers: [{{url: \"{}\"}}]\n  middlewares:\n{middlewares}",
        backend.url()
    )
}

#[test]
fn path_rewriting_middlewares() {
    let b = Backend::start("b");
    let routers = "    strip:\n      rule: PathPrefix(`/api`)\n      service: s\n      middlewares: [strip]\n    add:\n      rule: PathPrefix(`/add`)\n      service: s\n      middlewares: [add]\n    replace:\n      rule: PathPrefix(`/old`)\n      service: s\n      middlewares: [replace]\n    regex:\n      rule: PathPrefix(`/users`)\n      service: s\n      middlewares: [users]\n    stripre:\n      rule: PathPrefix(`/v`)\n      service: s\n      middlewares: [stripre]\n";
    let mws = "    strip:\n      stripPrefix:\n        prefixes: [\"/api\"]\n    add:\n      addPrefix:\n        prefix: /inner\n    replace:\n      replacePath:\n        path: /new\n    users:\n      replacePathRegex:\n        regex: \"^/users/(.*)\"\n        replacement: \"/accounts/$1\"\n    stripre:\n      stripPrefixRegex:\n        regex: [\"/v[0-9]+\"]\n";
    let proxy = Proxy::start(&config(&b, routers, mws), "");

    let r = get(proxy.web(), "x", "/api/items?x=1");
    assert!(r.text().contains("target: /items?x=1\n"), "{}", r.text());
    assert!(
        r.text()
            .to_lowercase()
            .contains("x-forwarded-prefix: /api\n"),
        "{}",
        r.text()
    );
    let r = get(proxy.web(), "x", "/api");
    assert!(r.text().contains("target: /\n"), "{}", r.text());

    let r = get(proxy.web(), "x", "/add/x");
    assert!(r.text().contains("target: /inner/add/x\n"), "{}", r.text());

    let r = get(proxy.web(), "x", "/old/thing?q=2");
    assert!(r.text().contains("target: /new?q=2\n"), "{}", r.text());
    assert!(
        r.text()
            .to_lowercase()
            .contains("x-replaced-path: /old/thing\n"),
        "{}",
        r.text()
    );

    let r = get(proxy.web(), "x", "/users/42");
    assert!(r.text().contains("target: /accounts/42\n"), "{}", r.text());

    let r = get(proxy.web(), "x", "/v2/items");
    assert!(r.text().contains("target: /items\n"), "{}", r.text());
    assert!(
        r.text()
            .to_lowercase()
            .contains("x-forwarded-prefix: /v2\n"),
        "{}",
        r.text()
    );
}

#[test]
fn strip_prefix_cannot_be_escaped_with_dot_segments() {
    let b = Backend::start("b");
    let routers = "    strip:\n      rule: PathPrefix(`/api`)\n      service: s\n      middlewares: [strip]\n";
    let mws = "    strip:\n      stripPrefix:\n        prefixes: [\"/api\"]\n";
    let proxy = Proxy::start(&config(&b, routers, mws), "");
    // Cleaned before routing: /api/../admin is /admin, which no router matches.
    assert_eq!(get(proxy.web(), "x", "/api/../admin").status, 404);
    assert_eq!(get(proxy.web(), "x", "/api/%2e%2e/admin").status, 404);
    let r = get(proxy.web(), "x", "/api/a/../b");
    assert!(r.text().contains("target: /b\n"), "{}", r.text());
}

#[test]
fn redirects() {
    let b = Backend::start("b");
    let routers = "    https:\n      rule: PathPrefix(`/secure`)\n      service: s\n      middlewares: [tohttps]\n    regex:\n      rule: PathPrefix(`/old`)\n      service: s\n      middlewares: [moved]\n";
    let mws = "    tohttps:\n      redirectScheme:\n        scheme: https\n        permanent: true\n    moved:\n      redirectRegex:\n        regex: \"^http://([^/]+)/old/(.*)\"\n        replacement: \"http://${1}/new/${2}\"\n";
    let proxy = Proxy::start(&config(&b, routers, mws), "");

    let r = get(proxy.web(), "example.com:8000", "/secure/x?y=1");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://example.com/secure/x?y=1")
    );
    let r = request(proxy.web(), "POST", "/secure", "example.com", &[], "body");
    assert_eq!(r.status, 308, "non-GET keeps the method");

    let r = get(proxy.web(), "example.com", "/old/page");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://example.com/new/page"));
}

#[test]
fn chains_entry_point_middlewares_and_order() {
    let b = Backend::start("b");
    let routers =
        "    r:\n      rule: PathPrefix(`/`)\n      service: s\n      middlewares: [both]\n";
    // Order matters: strip /a then add /z gives /z/rest; entry point middleware runs first.
    let mws = "    both:\n      chain:\n        middlewares: [strip, add]\n    strip:\n      stripPrefix:\n        prefixes: [\"/a\"]\n    add:\n      addPrefix:\n        prefix: /z\n    ep:\n      replacePathRegex:\n        regex: \"^/ep/(.*)\"\n        replacement: \"/a/$1\"\n";
    let proxy = Proxy::start(
        &config(&b, routers, mws),
        "EP:http:\nEP:  middlewares: [\"ep@file\"]",
    );
    let r = get(proxy.web(), "x", "/ep/rest");
    assert!(
        r.text().contains("target: /z/rest\n"),
        "{}\n{}",
        r.text(),
        proxy.logs()
    );
}

#[test]
fn invalid_middlewares_disable_only_their_routers() {
    let b = Backend::start("b");
    let routers = "    good:\n      rule: Path(`/good`)\n      service: s\n      middlewares: [fine]\n    badregex:\n      rule: Path(`/badregex`)\n      service: s\n      middlewares: [broken]\n    missing:\n      rule: Path(`/missing`)\n      service: s\n      middlewares: [nothere]\n    loop:\n      rule: Path(`/loop`)\n      service: s\n      middlewares: [c1]\n    twotypes:\n      rule: Path(`/two`)\n      service: s\n      middlewares: [two]\n";
    let mws = "    fine:\n      addPrefix:\n        prefix: /p\n    broken:\n      replacePathRegex:\n        regex: \"(\"\n    c1:\n      chain:\n        middlewares: [c2]\n    c2:\n      chain:\n        middlewares: [c1]\n    two:\n      addPrefix:\n        prefix: /a\n      stripPrefix:\n        prefixes: [\"/b\"]\n";
    let proxy = Proxy::start(&config(&b, routers, mws), "");
    assert_eq!(get(proxy.web(), "x", "/good").status, 200);
    for path in ["/badregex", "/missing", "/loop", "/two"] {
        assert_eq!(
            get(proxy.web(), "x", path).status,
            404,
            "{path} must be disabled"
        );
    }
    let logs = proxy.logs();
    assert!(logs.contains("replacePathRegex.regex"), "{logs}");
    assert!(logs.contains("nothere@file"), "{logs}");
    assert!(logs.contains("cycle"), "{logs}");
    assert!(logs.contains("only one middleware type"), "{logs}");
}
