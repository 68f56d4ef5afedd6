//! `ClientIP()` values: one IPv4/IPv6 address or CIDR, checked against the TCP peer address only
//! (forwarded headers never count). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as seen on
//! dual-stack sockets) are compared as the IPv4 address they carry, on both sides, as Go does.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::RuleError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpMatcher(IpNet);

impl IpMatcher {
    pub(crate) fn parse(matcher: &str, value: &str) -> Result<IpMatcher, RuleError> {
        let invalid = || {
            RuleError::new(format!(
                "{matcher}: `{value}` is not a valid IP address or CIDR"
            ))
        };
        let net = if value.contains('/') {
            value.parse::<IpNet>().map_err(|_| invalid())?
        } else {
            IpNet::from(value.parse::<IpAddr>().map_err(|_| invalid())?)
        };
        Ok(IpMatcher(canonical_net(net)))
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

/// Turns `::ffff:a.b.c.d/n` (n ≥ 96) into the IPv4 network it denotes.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.addr().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            if let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(n);
            }
        }
    }
    net
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(v: &str) -> IpMatcher {
        IpMatcher::parse("ClientIP", v).unwrap()
    }

    fn ip(v: &str) -> IpAddr {
        v.parse().unwrap()
    }

    #[test]
    fn addresses_and_networks() {
        assert!(m("192.168.1.0/24").contains(ip("192.168.1.100")));
        assert!(!m("192.168.1.0/24").contains(ip("192.168.2.1")));
        assert!(m("20.20.20.20/24").contains(ip("20.20.20.77")));
        assert!(m("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!m("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(m("::1").contains(ip("::1")));
        assert!(m("2001:db8::/32").contains(ip("2001:db8:1::5")));
        assert!(m("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(m("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
        assert!(m("::ffff:10.1.2.3").contains(ip("10.1.2.3")));
    }

    #[test]
    fn invalid() {
        for v in [
            "1",
            "1.2.3",
            "1.2.3.4/33",
            "🦭/32",
            "10.0.0.1/",
            "a::b::c",
            "01.2.3.4",
        ] {
            assert!(IpMatcher::parse("ClientIP", v).is_err(), "{v}");
        }
    }
}
