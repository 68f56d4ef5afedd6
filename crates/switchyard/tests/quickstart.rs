//! The README's first command: the quick-start example works as documented (routing by host and
//! path, ping, the API, the dashboard, metrics and the access log). The example's files are used
//! as they are, only with free ports instead of 8000/8001/8080 so tests can run in parallel.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, get, temp_dir, try_request};

#[test]
fn quickstart_example_serves_routes_api_dashboard_metrics_and_access_log() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = root.join("examples/quickstart");
    let (web, backend, traefik) = (free_port(), free_port(), free_port());
    let ports = |s: &str| {
        s.replace("127.0.0.1:8000", &format!("127.0.0.1:{web}"))
            .replace("127.0.0.1:8001", &format!("127.0.0.1:{backend}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{traefik}"))
    };
    let dir = temp_dir("quickstart");
    let dyn_dir = dir.join("dynamic");
    std::fs::create_dir_all(&dyn_dir).unwrap();
    for entry in std::fs::read_dir(example.join("dynamic")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(dyn_dir.join(path.file_name().unwrap()), ports(&text)).unwrap();
    }
    let static_text = std::fs::read_to_string(example.join("traefik.yml")).unwrap();
    assert!(static_text.contains("directory: examples/quickstart/dynamic"));
    let static_text = ports(&static_text).replace(
        "directory: examples/quickstart/dynamic",
        &format!("directory: \"{}\"", dyn_dir.display()),
    );
    let config = dir.join("traefik.yml");
    std::fs::write(&config, static_text).unwrap();
    let stdout = dir.join("stdout.log");
    let mut child = Command::new(common::binary())
        .arg(format!("--configFile={}", config.display()))
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let logs = || {
        std::fs::read_to_string(&stdout).unwrap_or_default()
            + &std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ping = try_request(addr(traefik), "GET", "/ping", "localhost", &[], "");
        if ping.is_ok_and(|r| r.status == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "quick start did not become ready:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let by_host = get(addr(web), "whoami.localhost", "/");
    assert_eq!(by_host.status, 200, "{}", logs());
    assert!(by_host.text().contains("Hostname:"), "{}", by_host.text());
    let by_path = get(addr(web), "localhost", "/whoami");
    assert_eq!(by_path.status, 200);

    let overview = get(addr(traefik), "localhost", "/api/overview");
    assert_eq!(overview.status, 200, "{}", overview.text());
    let overview: serde_json::Value = serde_json::from_str(&overview.text()).unwrap();
    assert!(
        overview["http"]["routers"]["total"].as_u64().unwrap_or(0) >= 2,
        "{overview}"
    );
    let routers = get(addr(traefik), "localhost", "/api/http/routers/whoami@file");
    assert_eq!(routers.status, 200, "{}", routers.text());

    let dashboard = get(addr(traefik), "localhost", "/dashboard/");
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.text().to_ascii_lowercase().contains("<html"));

    let metrics = get(addr(traefik), "localhost", "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text()
            .lines()
            .any(|l| l.starts_with("traefik_router_requests_total{")
                && l.contains("router=\"whoami@file\"")),
        "{}",
        metrics.text()
    );

    // The access log (common format, stdout) has the proxied requests.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs().contains("\"GET /whoami HTTP/1.1\" 200") {
        assert!(Instant::now() < deadline, "no access log line:\n{}", logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
