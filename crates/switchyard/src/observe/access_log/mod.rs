//! Traefik's access log (`accessLog`): one line per finished request, in Traefik CLF
//! (`common`, the default), `genericCLF` or `json`, to `filePath` or stdout.
//!
//! - [`config`]: the options, resolved once (`filters`, `fields`, header modes, …);
//! - [`format`]: Traefik's fields computed from the [`Record`] and written as a line;
//! - [`writer`]: a dedicated thread writes the lines in batches; `bufferingSize` holds lines until
//!   that many are pending (or the oldest waited [`writer::MAX_HOLD`]); SIGUSR1 reopens the file.
//!
//! [`AccessLog::log`] runs on the request's task: it formats into a thread-local buffer and
//! copies the line into the writer's pending buffer; it never waits for I/O (when the writer
//! cannot keep up, lines are dropped and counted).
//!
//! Where the record cannot say what Traefik logs, the closest fact is used (see
//! `docs/access-log.md`): `OriginContentSize` is the size of the response sent to the client,
//! `ClientHost` the TCP peer's address.

mod config;
mod format;
mod subject;
mod time;
mod writer;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use switchyard_model::config::static_cfg::StaticConfig;

use super::record::Record;
use config::Settings;

/// The access log writer.
#[derive(Debug)]
pub struct AccessLog {
    settings: Settings,
    writer: writer::Writer,
    /// Traefik's `RequestCount`: requests that went through the access log (internal requests
    /// count only with `addInternals`), numbered when they finish.
    requests: AtomicU64,
}

thread_local! {
    /// The line being formatted, reused by every request on this thread.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

impl AccessLog {
    /// `None` when `accessLog` is not configured. May run outside a tokio runtime.
    pub fn from_static(cfg: &StaticConfig) -> Result<Option<Self>, String> {
        let Some(al) = &cfg.access_log else {
            return Ok(None);
        };
        let settings = Settings::from_config(al)?;
        let writer = writer::Writer::start(settings.file_path.as_deref(), settings.buffering)?;
        Ok(Some(AccessLog {
            settings,
            writer,
            requests: AtomicU64::new(0),
        }))
    }

    /// Whether `Record::request_headers` is needed: a header can be logged (the CLF referer and
    /// user agent are headers too, shown only when their mode keeps them, as in Traefik).
    pub fn wants_request_headers(&self) -> bool {
        self.settings.headers.any()
    }

    /// Whether `Record::response_headers` is needed (`downstream_*` and `origin_*` in JSON).
    pub fn wants_response_headers(&self) -> bool {
        self.settings.format == config::Format::Json && self.settings.headers.any()
    }

    /// One finished request.
    pub fn log(&self, r: &Record) {
        let s = &self.settings;
        if r.internal && !s.add_internals {
            return;
        }
        let count = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(filters) = &s.filters {
            if !filters.keep(r.status, r.trail.retry_attempts, r.duration) {
                return;
            }
        }
        let facts = format::Facts::new(r, count);
        let written = LINE.try_with(|line| match line.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                format::write_line(s, &facts, &mut buf);
                self.writer.push(&buf);
                if buf.capacity() > 64 << 10 {
                    *buf = Vec::with_capacity(1024);
                }
                true
            }
            Err(_) => false,
        });
        if written != Ok(true) {
            // Re-entered or the thread is shutting down: a buffer of its own.
            let mut buf = Vec::with_capacity(1024);
            format::write_line(s, &facts, &mut buf);
            self.writer.push(&buf);
        }
    }

    /// SIGUSR1: reopen the file (logrotate). Returns at once; the writer thread first writes
    /// what is pending to the old file.
    pub fn reopen(&self) {
        if self.settings.file_path.is_some() {
            self.writer.reopen();
        }
    }

    /// Writes out buffered lines (shutdown); waits until they are written (at most a few
    /// seconds).
    pub fn flush(&self) {
        self.writer.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use http::{HeaderMap, HeaderValue, Method, Uri, Version};
    use serde_json::Value;

    use super::*;
    use crate::observe::record::{Protocol, TlsInfo, TrailData};

    fn record() -> Record {
        let mut request_headers = HeaderMap::new();
        request_headers.insert("host", HeaderValue::from_static("example.com:8080"));
        request_headers.insert("user-agent", HeaderValue::from_static("curl/8 \"x\""));
        request_headers.insert("referer", HeaderValue::from_static("http://ref/"));
        request_headers.append("x-multi", HeaderValue::from_static("1"));
        request_headers.append("x-multi", HeaderValue::from_static("2"));
        request_headers.insert("authorization", HeaderValue::from_static("Basic eDp5"));
        request_headers.insert("x-bytes", HeaderValue::from_bytes(b"a\xffb<").unwrap());
        request_headers.insert("connection", HeaderValue::from_static("close, x-listed"));
        request_headers.insert("x-listed", HeaderValue::from_static("1"));
        let mut response_headers = HeaderMap::new();
        response_headers.insert("x-backend", HeaderValue::from_static("a"));
        response_headers.insert("content-length", HeaderValue::from_static("12"));
        Record {
            start: UNIX_EPOCH + Duration::new(1_795_778_291, 878_612_300),
            duration: Duration::from_micros(1500),
            entry_point: Arc::from("web"),
            client: "127.0.0.1:54518".parse::<SocketAddr>().unwrap(),
            method: Method::GET,
            uri: Uri::from_static("/a/b?x=1&y=2"),
            version: Version::HTTP_11,
            host: "example.com:8080".into(),
            request_headers: Some(request_headers),
            request_size: 0,
            tls: None,
            protocol: Protocol::Http,
            status: 200,
            response_size: 12,
            response_headers: Some(response_headers),
            grpc_status: None,
            entry_point_switches: Default::default(),
            internal: false,
            trail: TrailData {
                router: Some(Arc::from("r1@file")),
                service: Some(Arc::from("s1@file")),
                lb_service: Some(Arc::from("s1@file")),
                server_url: Some(Arc::from("http://127.0.0.1:47311")),
                origin_status: Some(200),
                origin_duration: Some(Duration::from_micros(1000)),
                ..TrailData::default()
            },
        }
    }

    fn static_cfg(yaml: &str) -> StaticConfig {
        switchyard_model::decode::from_text(yaml, switchyard_model::decode::Format::Yaml, "test")
            .expect("static config")
    }

    fn line(yaml: &str, r: &Record) -> String {
        let cfg = static_cfg(yaml);
        let settings = Settings::from_config(cfg.access_log.as_ref().unwrap()).unwrap();
        let mut out = Vec::new();
        format::write_line(&settings, &format::Facts::new(r, 1), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn json(yaml: &str, r: &Record) -> serde_json::Map<String, Value> {
        let l = line(yaml, r);
        assert!(l.ends_with('\n'));
        match serde_json::from_str::<Value>(&l).expect(&l) {
            Value::Object(m) => m,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn common_line() {
        let r = record();
        assert_eq!(
            line("accessLog: {}", &r),
            "127.0.0.1 - - [27/Nov/2026:11:18:11 +0000] \"GET /a/b?x=1&y=2 HTTP/1.1\" 200 12 \"-\" \"-\" 1 \"r1@file\" \"http://127.0.0.1:47311\" 1ms\n"
        );
        assert_eq!(
            line(
                "accessLog:\n  format: genericCLF\n  fields:\n    headers:\n      defaultMode: keep\n",
                &r
            ),
            "127.0.0.1 - - [27/Nov/2026:11:18:11 +0000] \"GET /a/b?x=1&y=2 HTTP/1.1\" 200 12 \"http://ref/\" \"curl/8 \\\"x\\\"\"\n"
        );
        // Unknown formats fall back to common.
        assert!(line("accessLog:\n  format: xml\n", &r).ends_with(" 1ms\n"));
    }

    #[test]
    fn common_line_with_everything_dropped() {
        let r = record();
        assert_eq!(
            line(
                "accessLog:\n  fields:\n    defaultMode: drop\n    headers:\n      defaultMode: keep\n",
                &r
            ),
            "- - - [-] \"- - -\" - - \"http://ref/\" \"curl/8 \\\"x\\\"\" - \"-\" \"-\" 0ms\n"
        );
    }

    #[test]
    fn json_line_has_traefiks_keys_and_types() {
        let r = record();
        let l = line("accessLog:\n  format: json\n", &r);
        assert!(l.starts_with("{\"ClientAddr\":\"127.0.0.1:54518\",\"ClientHost\":\"127.0.0.1\",\"ClientPort\":\"54518\",\"ClientUsername\":\"-\",\"DownstreamContentSize\":12,"), "{l}");
        assert!(l.contains("\"RequestPath\":\"/a/b?x=1\\u0026y=2\""), "{l}");
        assert!(l.ends_with(",\"entryPointName\":\"web\",\"level\":\"info\",\"msg\":\"\",\"time\":\"2026-11-27T11:18:11Z\"}\n"), "{l}");
        let m = json("accessLog:\n  format: json\n", &r);
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ClientAddr",
                "ClientHost",
                "ClientPort",
                "ClientUsername",
                "DownstreamContentSize",
                "DownstreamStatus",
                "Duration",
                "OriginContentSize",
                "OriginDuration",
                "OriginStatus",
                "Overhead",
                "RequestAddr",
                "RequestContentSize",
                "RequestCount",
                "RequestHost",
                "RequestMethod",
                "RequestPath",
                "RequestPort",
                "RequestProtocol",
                "RequestScheme",
                "RetryAttempts",
                "RouterName",
                "ServiceAddr",
                "ServiceName",
                "ServiceURL",
                "StartLocal",
                "StartUTC",
                "entryPointName",
                "level",
                "msg",
                "time"
            ]
        );
        assert_eq!(m["Duration"], 1_500_000);
        assert_eq!(m["OriginDuration"], 1_000_000);
        assert_eq!(m["Overhead"], 500_000);
        assert_eq!(m["StartUTC"], "2026-11-27T11:18:11.8786123Z");
        assert_eq!(m["ServiceURL"], "http://127.0.0.1:47311");
        assert_eq!(m["ServiceAddr"], "127.0.0.1:47311");
        assert_eq!(m["RequestHost"], "example.com");
        assert_eq!(m["RequestPort"], "8080");
        assert_eq!(m["RequestCount"], 1);
    }

    #[test]
    fn json_headers_keep_drop_redact() {
        let r = record();
        let m = json(
            "accessLog:\n  format: json\n  fields:\n    headers:\n      defaultMode: keep\n      names:\n        Authorization: redact\n        x-multi: drop\n",
            &r,
        );
        assert_eq!(m["request_Authorization"], "REDACTED");
        assert_eq!(m["request_User-Agent"], "curl/8 \"x\"");
        assert_eq!(m["request_X-Bytes"], "a\u{fffd}b<");
        assert!(!m.contains_key("request_X-Multi"));
        assert!(!m.contains_key("request_Host"));
        assert!(!m.contains_key("request_Connection"));
        assert!(!m.contains_key("request_X-Listed"));
        assert_eq!(m["downstream_X-Backend"], "a");
        assert_eq!(m["origin_X-Backend"], "a");
        // Traefik's proxy shows an empty Content-Type when the upstream sent none.
        assert_eq!(m["downstream_Content-Type"], "");
        let keys: Vec<&String> = m.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "keys in Go's order");

        let m = json(
            "accessLog:\n  format: json\n  fields:\n    headers:\n      names:\n        X-Multi: keep\n",
            &r,
        );
        assert_eq!(m["request_X-Multi"], "1,2");
        assert!(!m.contains_key("request_User-Agent"));
    }

    #[test]
    fn json_fields_names_and_query_drop() {
        let r = record();
        let m = json(
            "accessLog:\n  format: json\n  fields:\n    defaultMode: drop\n    names:\n      RequestPath: keep\n      downstreamstatus: keep\n      StartUTC: redact\n    queryParameters:\n      defaultMode: drop\n",
            &r,
        );
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["DownstreamStatus", "RequestPath", "level", "msg", "time"]
        );
        assert_eq!(m["RequestPath"], "/a/b");
    }

    #[test]
    fn service_name_is_the_load_balancer_that_forwarded() {
        let mut r = record();
        r.trail.service = Some(Arc::from("weighted@file"));
        r.trail.lb_service = Some(Arc::from("child@file"));
        let m = json("accessLog:\n  format: json\n", &r);
        assert_eq!(m["ServiceName"], "child@file");
    }

    #[test]
    fn requests_that_were_not_proxied() {
        let mut r = record();
        r.trail.server_url = None;
        r.trail.origin_status = None;
        r.trail.origin_duration = None;
        r.trail.username = Some("bob".into());
        r.status = 401;
        r.response_size = 17;
        let m = json("accessLog:\n  format: json\n", &r);
        assert_eq!(m["OriginStatus"], 0);
        assert_eq!(m["OriginContentSize"], 0);
        assert_eq!(m["OriginDuration"], 0);
        assert_eq!(m["GzipRatio"], 0);
        assert_eq!(m["ClientUsername"], "bob");
        assert!(!m.contains_key("ServiceName"));
        assert!(!m.contains_key("ServiceURL"));
        assert!(m.contains_key("RouterName"));
    }

    #[test]
    fn upstream_errors_and_clients_gone() {
        let mut r = record();
        r.trail.origin_status = None;
        r.status = 502;
        r.response_size = 11;
        let m = json("accessLog:\n  format: json\n", &r);
        assert_eq!(m["OriginStatus"], 502);
        assert_eq!(m["OriginContentSize"], 11);
        assert!(!m.contains_key("GzipRatio"));

        r.status = 499;
        r.response_size = 0;
        r.trail.origin_duration = None;
        let m = json("accessLog:\n  format: json\n", &r);
        assert_eq!(m["DownstreamStatus"], 499);
        assert_eq!(m["OriginStatus"], 499);
        assert_eq!(m["DownstreamContentSize"], 21);
        assert_eq!(m["OriginDuration"], m["Duration"]);
    }

    #[test]
    fn tls_and_odd_requests() {
        let mut r = record();
        r.tls = Some(TlsInfo {
            version: "1.3",
            cipher: "TLS13_AES_128_GCM_SHA256",
            client_certs: None,
        });
        r.version = Version::HTTP_2;
        r.host = String::new();
        r.uri = Uri::from_static("https://h/a%20b/{x}?q");
        let m = json("accessLog:\n  format: json\n", &r);
        assert_eq!(m["TLSVersion"], "1.3");
        assert_eq!(m["TLSCipher"], "TLS_AES_128_GCM_SHA256");
        assert_eq!(m["RequestScheme"], "https");
        assert_eq!(m["RequestProtocol"], "HTTP/2.0");
        assert_eq!(m["RequestPath"], "/a%20b/%7Bx%7D?q");
        assert!(!m.contains_key("RequestAddr"));
        assert!(!m.contains_key("RequestHost"));
        assert!(!m.contains_key("RequestPort"));
    }

    fn log_to_file(yaml_extra: &str, records: &[Record]) -> String {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-al-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("access.log");
        let cfg = static_cfg(&format!(
            "accessLog:\n  filePath: {}\n{yaml_extra}",
            path.display()
        ));
        let al = AccessLog::from_static(&cfg).unwrap().unwrap();
        for r in records {
            al.log(r);
        }
        al.flush();
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn internals_filters_and_request_count() {
        let mut internal = record();
        internal.internal = true;
        internal.trail.router = Some(Arc::from("ping@internal"));
        let mut slow = record();
        slow.duration = Duration::from_millis(50);
        slow.status = 503;
        let mut retried = record();
        retried.status = 502;
        retried.trail.retry_attempts = 2;
        let mut redirect = record();
        redirect.status = 301;
        let all = [record(), internal, slow, retried, redirect];

        let out = log_to_file("", &all);
        assert_eq!(out.lines().count(), 4, "{out}");
        assert!(!out.contains("ping@internal"));
        // RequestCount numbers the requests the access log saw.
        let counts: Vec<&str> = out
            .lines()
            .map(|l| l.split(' ').nth(12).unwrap_or(""))
            .collect();
        assert_eq!(counts, ["1", "2", "3", "4"], "{out}");

        let out = log_to_file("  addInternals: true\n", &all);
        assert_eq!(out.lines().count(), 5, "{out}");

        let out = log_to_file(
            "  filters:\n    statusCodes: [\"200\", \"300-302\"]\n",
            &all,
        );
        let statuses: Vec<&str> = out
            .lines()
            .map(|l| l.split(' ').nth(8).unwrap_or(""))
            .collect();
        assert_eq!(statuses, ["200", "301"], "{out}");

        let out = log_to_file("  filters:\n    retryAttempts: true\n", &all);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("\" 502 "));

        let out = log_to_file("  filters:\n    minDuration: 10ms\n", &all);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("\" 503 "));
    }

    #[test]
    fn options_are_validated() {
        let err = AccessLog::from_static(&static_cfg(
            "accessLog:\n  filters:\n    statusCodes: [\"abc\"]\n",
        ))
        .unwrap_err();
        assert!(err.starts_with("accessLog.filters.statusCodes:"), "{err}");
        assert!(AccessLog::from_static(&static_cfg("log: {}"))
            .unwrap()
            .is_none());
        let al = AccessLog::from_static(&static_cfg("accessLog: {}"))
            .unwrap()
            .unwrap();
        assert!(!al.wants_request_headers());
        assert!(!al.wants_response_headers());
        let al = AccessLog::from_static(&static_cfg(
            "accessLog:\n  format: json\n  fields:\n    headers:\n      names:\n        User-Agent: keep\n",
        ))
        .unwrap()
        .unwrap();
        assert!(al.wants_request_headers());
        assert!(al.wants_response_headers());
    }

    /// `cargo test --release -p switchyard --lib access_log::tests::log_cost -- --ignored
    /// --nocapture`: the cost of `log()` on the request's thread (JSON and CLF to a file).
    #[test]
    #[ignore]
    fn log_cost() {
        for (format, headers) in [("json", false), ("common", false), ("json", true)] {
            let dir =
                std::env::temp_dir().join(format!("switchyard-al-cost-{}", std::process::id()));
            let path = dir.join(format!("{format}-{headers}.log"));
            let mut yaml = format!(
                "accessLog:\n  filePath: {}\n  format: {format}\n",
                path.display()
            );
            if headers {
                yaml.push_str("  fields:\n    headers:\n      defaultMode: keep\n");
            }
            let al = AccessLog::from_static(&static_cfg(&yaml)).unwrap().unwrap();
            let mut r = record();
            if !headers {
                // As the request path fills the record when no sink wants headers.
                r.request_headers = None;
                r.response_headers = None;
            }
            let n = 200_000;
            let t = std::time::Instant::now();
            for _ in 0..n {
                al.log(&r);
            }
            let per = t.elapsed() / n;
            al.flush();
            let mut buf = Vec::with_capacity(4096);
            let t = std::time::Instant::now();
            for i in 0..n {
                buf.clear();
                format::write_line(
                    &al.settings,
                    &format::Facts::new(&r, u64::from(i)),
                    &mut buf,
                );
            }
            let format_only = t.elapsed() / n;
            eprintln!(
                "{format} (headers {headers}): formatting alone {format_only:?}, {} bytes",
                buf.len()
            );
            let _ = std::fs::remove_dir_all(&dir);
            eprintln!("{format} (headers {headers}): {per:?} per line on the request thread");
        }
    }

    #[test]
    fn clf_values_cannot_break_the_line() {
        let mut r = record();
        r.trail.username = Some("eve\n127.0.0.1 - \"admin\"".into());
        let l = line("accessLog: {}", &r);
        assert_eq!(l.lines().count(), 1, "{l}");
        assert!(
            l.starts_with("127.0.0.1 - eve\\x0a127.0.0.1 - \"admin\" ["),
            "{l}"
        );
    }

    #[test]
    fn never_panics_on_odd_records() {
        let mut r = record();
        r.start = UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 3000);
        r.duration = Duration::MAX;
        r.host = "[::1".into();
        r.trail.server_url = Some(Arc::from("not a url"));
        r.trail.username = Some("\u{0}\"\\".into());
        let _ = line("accessLog: {}", &r);
        let _ = json("accessLog:\n  format: json\n", &r);
        r.start = SystemTime::now() + Duration::from_secs(86_400 * 365 * 9000);
        let _ = json("accessLog:\n  format: json\n", &r);
    }
}
