//! `udp.routers` and `udp.services`: UDP has no rules, so a router just ties entry points to a
//! service; sessions are keyed by client address by the runtime.

use std::collections::BTreeMap;

use crate::decode::section;

use super::WeightedService;

model! {
    /// `udp`.
    pub struct UdpConfig {
        pub routers: BTreeMap<String, UdpRouter>,
        pub services: BTreeMap<String, UdpService>,
    }

    /// `udp.routers.<name>`.
    pub struct UdpRouter {
        /// Omitted: every UDP entry point.
        pub entry_points: Vec<String>,
        pub service: Option<String>,
    }

    /// `udp.services.<name>`: exactly one type.
    pub struct UdpService {
        #[serde(with = "section")]
        pub load_balancer: Option<UdpLoadBalancer>,
        #[serde(with = "section")]
        pub weighted: Option<UdpWeighted>,
    }

    /// `udp.services.<name>.loadBalancer`.
    pub struct UdpLoadBalancer {
        pub servers: Vec<UdpServer>,
    }

    /// One UDP upstream.
    pub struct UdpServer {
        /// `host:port`.
        pub address: Option<String>,
    }

    /// `udp.services.<name>.weighted`.
    pub struct UdpWeighted {
        pub services: Vec<WeightedService>,
    }
}

impl UdpService {
    /// The service types that are set; a valid service has exactly one.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.load_balancer.is_some() {
            names.push("loadBalancer");
        }
        if self.weighted.is_some() {
            names.push("weighted");
        }
        names
    }
}
