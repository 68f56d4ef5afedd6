//! The two kinds of check request: an HTTP request judged by its status (following redirects as
//! Go's client does), and a gRPC `grpc.health.v1.Health/Check` call judged by its answer. The
//! protobuf messages involved are tiny, so they are encoded and decoded by hand.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, HOST, LOCATION, TE};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{HealthCheckSpec, ProbeUrl};
use crate::http::body::{empty, full, Body};
use crate::http::upstream::UpstreamClient;

/// Go's client gives up after this many redirects.
const MAX_REDIRECTS: usize = 10;

/// An HTTP check.
pub(super) async fn http(
    spec: &HealthCheckSpec,
    server: &ProbeUrl,
    client: &UpstreamClient,
) -> Result<(), String> {
    let mut url = server
        .join(&spec.path)
        .map_err(|e| format!("create HTTP request: {e}"))?;
    if let Some(scheme) = &spec.scheme {
        url.scheme = scheme.to_ascii_lowercase();
    }
    if let Some(port) = spec.port {
        url.set_port(port);
    }
    let mut method = spec.method.clone();
    let mut host = spec.hostname.clone();
    let mut redirects = 0;
    let status = loop {
        let resp = send(client, &url, method.clone(), host.clone(), spec)
            .await
            .map_err(|e| format!("HTTP request failed: {e}"))?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        drop(resp);
        let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| redirect && spec.follow_redirects) else {
            break status;
        };
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(format!(
                "HTTP request failed: stopped after {MAX_REDIRECTS} redirects"
            ));
        }
        let next = url
            .join(&location)
            .map_err(|e| format!("HTTP request failed: redirect to {location:?}: {e}"))?;
        // A relative redirect keeps the configured Host; an absolute one names its own.
        if next.authority != url.authority {
            host = None;
        }
        if matches!(status.as_u16(), 301..=303) && method != Method::HEAD {
            method = Method::GET;
        }
        url = next;
    };
    match spec.status {
        None if !(200..400).contains(&status.as_u16()) => Err(format!(
            "checking HTTP health: received error status code: {}",
            status.as_u16()
        )),
        Some(want) if want != status.as_u16() => Err(format!(
            "checking HTTP health: received error status code: {} expected status code: {want}",
            status.as_u16()
        )),
        _ => Ok(()),
    }
}

async fn send(
    client: &UpstreamClient,
    url: &ProbeUrl,
    method: Method,
    host: Option<HeaderValue>,
    spec: &HealthCheckSpec,
) -> Result<Response<Incoming>, String> {
    let (wire_scheme, h2c) = match url.scheme.as_str() {
        "http" => ("http", false),
        "https" => ("https", false),
        "h2c" => ("http", true),
        other => return Err(format!("unsupported protocol scheme {other:?}")),
    };
    let mut req = Request::new(empty());
    *req.method_mut() = method;
    *req.uri_mut() = url.uri(wire_scheme)?;
    *req.version_mut() = if h2c {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let host = match host {
        Some(h) => h,
        None => HeaderValue::from_str(&url.authority).map_err(|e| e.to_string())?,
    };
    req.headers_mut().insert(HOST, host);
    for (k, v) in &spec.headers {
        req.headers_mut().insert(k, v.clone());
    }
    request(client, wire_scheme, h2c, req).await
}

async fn request(
    client: &UpstreamClient,
    scheme: &str,
    h2c: bool,
    req: Request<Body>,
) -> Result<Response<Incoming>, String> {
    let result = if h2c {
        client.h2c.request(req).await
    } else if scheme == "https" {
        client.https.request(req).await
    } else {
        client.http.request(req).await
    };
    result.map_err(|e| {
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        msg
    })
}

/// A gRPC check: `grpc.health.v1.Health/Check` with an empty service name must answer SERVING.
pub(super) async fn grpc(
    spec: &HealthCheckSpec,
    server: &ProbeUrl,
    client: &UpstreamClient,
) -> Result<(), String> {
    let mut url = server.clone();
    if let Some(port) = spec.port {
        url.set_port(port);
    }
    let tls = match spec.scheme.as_deref().unwrap_or(&server.scheme) {
        "http" | "h2c" | "" => false,
        "https" => true,
        other => {
            return Err(format!(
                "gRPC health check failed: unsupported scheme {other:?}"
            ))
        }
    };
    url.path = "/grpc.health.v1.Health/Check".to_owned();
    url.query = None;
    let mut req = Request::new(full(Bytes::from_static(&[0, 0, 0, 0, 0])));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = url.uri(if tls { "https" } else { "http" })?;
    *req.version_mut() = Version::HTTP_2;
    let headers = req.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    let resp = request(client, if tls { "https" } else { "http" }, !tls, req)
        .await
        .map_err(|e| format!("fail to connect to {}: {e}", url.authority))?;
    if resp.status() != StatusCode::OK {
        return Err(format!(
            "gRPC health check failed: HTTP status {}",
            resp.status().as_u16()
        ));
    }
    let header_status = grpc_status(resp.headers());
    let collected = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("gRPC health check failed: {e}"))?;
    let trailer_status = collected.trailers().and_then(grpc_status);
    let message = collected.to_bytes();
    match trailer_status.or(header_status) {
        Some((0, _)) => {}
        Some((12, m)) => {
            return Err(format!(
                "gRPC server does not implement the health protocol: {m}"
            ))
        }
        Some((4, m)) => return Err(format!("gRPC health check timeout: {m}")),
        Some((code, m)) => return Err(format!("gRPC health check failed: code {code}: {m}")),
        None => return Err("gRPC health check failed: no grpc-status".to_owned()),
    }
    match serving_status(&message) {
        Some(1) => Ok(()),
        Some(s) => Err(format!("received gRPC status code: {}", status_name(s))),
        None => Err("gRPC health check failed: malformed response".to_owned()),
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<(u32, String)> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Some((code, message))
}

/// The `status` field (1) of a length-prefixed `HealthCheckResponse`; 0 (UNKNOWN) when absent.
fn serving_status(frame: &[u8]) -> Option<u64> {
    let (&compressed, rest) = frame.split_first()?;
    if compressed != 0 || rest.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let mut msg = rest.get(4..4 + len)?;
    let mut status = 0;
    while !msg.is_empty() {
        let (key, n) = varint(msg)?;
        msg = &msg[n..];
        match key & 7 {
            0 => {
                let (v, n) = varint(msg)?;
                msg = &msg[n..];
                if key >> 3 == 1 {
                    status = v;
                }
            }
            1 => msg = msg.get(8..)?,
            2 => {
                let (l, n) = varint(msg)?;
                let end = usize::try_from(l).ok()?.checked_add(n)?;
                msg = msg.get(end..)?;
            }
            5 => msg = msg.get(4..)?,
            _ => return None,
        }
    }
    Some(status)
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn status_name(s: u64) -> String {
    match s {
        0 => "UNKNOWN".to_owned(),
        1 => "SERVING".to_owned(),
        2 => "NOT_SERVING".to_owned(),
        3 => "SERVICE_UNKNOWN".to_owned(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_health_responses() {
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 0x01]), Some(1));
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 0x02]), Some(2));
        assert_eq!(serving_status(&[0, 0, 0, 0, 0]), Some(0));
        // Unknown fields are skipped.
        assert_eq!(
            serving_status(&[0, 0, 0, 0, 5, 0x12, 0x01, b'x', 0x08, 0x01]),
            Some(1)
        );
        assert_eq!(serving_status(&[1, 0, 0, 0, 0]), None);
        assert_eq!(serving_status(&[0, 0, 0, 0, 9, 0x08]), None);
        assert_eq!(serving_status(&[]), None);
        // A length-delimited field claiming an absurd length.
        let mut huge = vec![0, 0, 0, 0, 12, 0x12];
        huge.extend_from_slice(&[0xff; 9]);
        huge.push(0x01);
        huge.extend_from_slice(&[0x08, 0x01]);
        assert_eq!(serving_status(&huge), None);
        assert_eq!(status_name(2), "NOT_SERVING");
    }
}
