//! List endpoints' query parameters as Traefik reads them: filters (`search`, `status`,
//! `serviceName`, `middlewareName`), sorting (`sortBy`, `direction`) and paging (`page`,
//! `per_page`, answered with `X-Next-Page`), plus the percent-decoding of path segments and query
//! strings. Nothing here panics on input: numbers are parsed like Go's `strconv.Atoi` and all
//! arithmetic is checked.

use std::cmp::Ordering;

use super::certs::Cert;
use super::view::Entry;

/// `name` qualified in `provider`'s namespace unless it names its own (`x@p`).
pub(crate) fn qualify(name: &str, provider: &str) -> String {
    if name.contains('@') {
        name.to_owned()
    } else {
        format!("{name}@{provider}")
    }
}

/// Percent-decodes `s` (`+` is a space when `plus` is set, as in query strings); `None` when an
/// escape is malformed.
pub(crate) fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// A parsed query string; like Go's `url.Values.Get`, a key's first value wins and malformed
/// pairs are skipped.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            // Go rejects (and `URL.Query` skips) pairs holding a `;`.
            .filter(|p| !p.is_empty() && !p.contains(';'))
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((percent_decode(k, true)?, percent_decode(v, true)?))
            })
            .collect();
        Self { pairs }
    }

    pub(crate) fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// The list filters; `None` when none is set (everything is kept).
#[derive(Debug)]
pub(crate) struct Criterion<'a> {
    search: &'a str,
    status: &'a str,
    service_name: &'a str,
    middleware_name: &'a str,
}

impl<'a> Criterion<'a> {
    pub(crate) fn new(q: &'a Query) -> Option<Self> {
        if q.is_empty() {
            return None;
        }
        let c = Criterion {
            search: q.get("search"),
            status: q.get("status"),
            service_name: q.get("serviceName"),
            middleware_name: q.get("middlewareName"),
        };
        let all_empty = c.search.is_empty()
            && c.status.is_empty()
            && c.service_name.is_empty()
            && c.middleware_name.is_empty();
        (!all_empty).then_some(c)
    }

    fn with_status(&self, status: &str) -> bool {
        self.status.is_empty() || status.eq_ignore_ascii_case(self.status)
    }

    fn search_in(&self, values: &[&str]) -> bool {
        if self.search.is_empty() {
            return true;
        }
        let needle = self.search.to_lowercase();
        values.iter().any(|v| v.to_lowercase().contains(&needle))
    }

    fn filter_service(&self, name: &str) -> bool {
        if self.service_name.is_empty() {
            return true;
        }
        if name.contains('@') {
            return self.service_name == name;
        }
        self.service_name.split('@').next().unwrap_or_default() == name
    }

    fn filter_middleware(&self, names: &[String]) -> bool {
        self.middleware_name.is_empty() || names.iter().any(|m| m == self.middleware_name)
    }

    /// A router (HTTP or TCP): status, search in rule and name, service and middleware filters.
    pub(crate) fn keep_router(&self, e: &Entry) -> bool {
        self.with_status(e.status)
            && self.search_in(&[&e.rule, &e.name])
            && self.filter_service(&e.service)
            && self.filter_middleware(&e.middlewares)
    }

    /// A UDP router: status, search in the name, service filter.
    pub(crate) fn keep_udp_router(&self, e: &Entry) -> bool {
        self.with_status(e.status) && self.search_in(&[&e.name]) && self.filter_service(&e.service)
    }

    /// A service or middleware: status and search in the name.
    pub(crate) fn keep_object(&self, e: &Entry) -> bool {
        self.with_status(e.status) && self.search_in(&[&e.name])
    }

    /// A certificate: status, search in the common name, issuer and SANs.
    pub(crate) fn keep_cert(&self, c: &Cert, status: &str) -> bool {
        let mut fields: Vec<&str> = vec![&c.common_name, &c.issuer_org, &c.issuer_cn];
        fields.extend(c.sans.iter().map(String::as_str));
        self.with_status(status) && self.search_in(&fields)
    }
}

/// What a list holds, for `sortBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    Router,
    Service,
    Middleware,
}

/// Sorts like Traefik: by `sortBy` (name when unknown), ties by name, `direction=asc` (default) or
/// anything else for descending.
pub(crate) fn sort(q: &Query, kind: ListKind, items: &mut [&Entry]) {
    let by = q.get("sortBy");
    let ascending = matches!(q.get("direction"), "" | "asc");
    let key: fn(&Entry, &Entry) -> Ordering = match (kind, by) {
        (_, "provider") => |a, b| a.provider.cmp(&b.provider),
        (ListKind::Router, "priority") => |a, b| a.priority.cmp(&b.priority),
        (_, "status") => |a, b| a.status.cmp(b.status),
        (ListKind::Router, "rule") => |a, b| a.rule.cmp(&b.rule),
        (ListKind::Router, "service") => |a, b| a.service.cmp(&b.service),
        (ListKind::Router, "entryPoints") => |a, b| a.entry_points.cmp(&b.entry_points),
        (ListKind::Service | ListKind::Middleware, "type") => |a, b| a.kind.cmp(&b.kind),
        (ListKind::Service, "servers") => |a, b| a.servers.cmp(&b.servers),
        _ => |_, _| Ordering::Equal,
    };
    items.sort_by(|a, b| {
        let order = key(a, b).then_with(|| a.name.cmp(&b.name));
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
}

/// Sorts certificates like Traefik: `sortBy` `validUntil`, `issuer`, `status`, else the common
/// name; ties by common name.
pub(crate) fn sort_certs(q: &Query, items: &mut [&Cert], now: i64) {
    let ascending = matches!(q.get("direction"), "" | "asc");
    let by = q.get("sortBy");
    items.sort_by(|a, b| {
        let order = match by {
            "validUntil" => a.not_after.cmp(&b.not_after),
            "issuer" => a.issuer().cmp(b.issuer()),
            "status" => a.status(now).cmp(b.status(now)),
            _ => Ordering::Equal,
        }
        .then_with(|| a.common_name.cmp(&b.common_name));
        if ascending {
            order
        } else {
            order.reverse()
        }
    });
}

/// One page of a list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) next: i64,
}

/// `page`/`per_page` (defaults 1 and 100) over `len` items, or Traefik's 400 message.
pub(crate) fn paginate(q: &Query, len: usize) -> Result<Page, String> {
    let per_page = int_param(q, "per_page", 100)?;
    let page = int_param(q, "page", 1)?;
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = (page - 1).checked_mul(per_page);
    let start = match start {
        Some(s) if s == 0 || s < len_i => s,
        _ => {
            return Err(format!(
                "invalid request: page: {page}, per_page: {per_page}"
            ))
        }
    };
    let end = start.saturating_add(per_page).min(len_i);
    let next = match page.checked_mul(per_page) {
        Some(n) if n < len_i => page + 1,
        _ => 1,
    };
    Ok(Page {
        start: usize::try_from(start).unwrap_or(0),
        end: usize::try_from(end).unwrap_or(0),
        next,
    })
}

/// Go's `strconv.Atoi` as Traefik uses it: the message shows 0 for text, the clamped value on
/// overflow, and rejects values below 1.
fn int_param(q: &Query, key: &str, default: i64) -> Result<i64, String> {
    let raw = q.get(key);
    if raw.is_empty() {
        return Ok(default);
    }
    let value = atoi(raw);
    match value {
        Ok(v) if v > 0 => Ok(v),
        Ok(v) | Err(v) => Err(format!("invalid request: {key}: {v}")),
    }
}

/// `Ok(value)`, or `Err(value Go reports)` (0 for syntax errors, ±MaxInt64 when out of range).
fn atoi(s: &str) -> Result<i64, i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(0);
    }
    s.parse::<i64>().map_err(|_| {
        if s.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s))
    }

    #[test]
    fn paging_like_traefik() {
        assert_eq!(
            paginate(&q(""), 5),
            Ok(Page {
                start: 0,
                end: 5,
                next: 1
            })
        );
        assert_eq!(
            paginate(&q("per_page=2&page=2"), 5),
            Ok(Page {
                start: 2,
                end: 4,
                next: 3
            })
        );
        assert_eq!(
            paginate(&q("per_page=2&page=3"), 5),
            Ok(Page {
                start: 4,
                end: 5,
                next: 1
            })
        );
        assert_eq!(
            paginate(&q(""), 0),
            Ok(Page {
                start: 0,
                end: 0,
                next: 1
            })
        );
        assert_eq!(
            paginate(&q("page=10"), 3).unwrap_err(),
            "invalid request: page: 10, per_page: 100"
        );
        assert_eq!(
            paginate(&q("page=0"), 3).unwrap_err(),
            "invalid request: page: 0"
        );
        assert_eq!(
            paginate(&q("page=-3"), 3).unwrap_err(),
            "invalid request: page: -3"
        );
        assert_eq!(
            paginate(&q("per_page=abc"), 3).unwrap_err(),
            "invalid request: per_page: 0"
        );
        assert_eq!(
            paginate(&q("per_page=99999999999999999999"), 3).unwrap_err(),
            "invalid request: per_page: 9223372036854775807"
        );
        // Overflowing products never panic.
        assert!(paginate(
            &q("per_page=9223372036854775807&page=9223372036854775807"),
            3
        )
        .is_err());
        assert!(paginate(&q("per_page=9223372036854775807"), 3).is_ok());
    }

    #[test]
    fn query_decoding() {
        let query = q("search=a+b%40c&search=second&x=%zz&status=Enabled");
        assert_eq!(query.get("search"), "a b@c");
        assert_eq!(query.get("x"), "");
        assert_eq!(query.get("status"), "Enabled");
        assert_eq!(
            percent_decode("a%2Fb@file", false).as_deref(),
            Some("a/b@file")
        );
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%", false), None);
        assert_eq!(percent_decode("%é", false), None);
    }

    #[test]
    fn service_filter_matches_unqualified_names() {
        let query = q("serviceName=s@docker");
        let c = Criterion::new(&query).unwrap();
        assert!(c.filter_service("s"));
        assert!(!c.filter_service("s@file"));
        assert!(c.filter_service("s@docker"));
    }
}
