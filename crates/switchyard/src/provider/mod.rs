//! Providers: tasks that produce whole dynamic configurations and send them to the
//! [`crate::runtime::watcher`]. A provider that cannot parse its input logs the error and sends
//! nothing, so the last good configuration keeps serving.

pub mod file;

use switchyard_model::config::static_cfg::Providers;
use tracing::warn;

/// Providers that exist in Traefik's static configuration but are not implemented yet; each one
/// configured is logged once, by name.
pub fn warn_unsupported(providers: &Providers) {
    for name in unsupported(providers) {
        warn!(
            provider = name,
            "provider is configured but not supported yet; it is ignored"
        );
    }
}

/// Names of configured providers Switchyard does not implement yet.
pub fn unsupported(p: &Providers) -> Vec<&'static str> {
    let mut out = Vec::new();
    let checks: [(bool, &'static str); 16] = [
        (p.docker.is_some(), "docker"),
        (p.swarm.is_some(), "swarm"),
        (p.kubernetes_crd.is_some(), "kubernetesCRD"),
        (p.kubernetes_ingress.is_some(), "kubernetesIngress"),
        (p.kubernetes_gateway.is_some(), "kubernetesGateway"),
        (
            p.kubernetes_ingress_nginx.is_some(),
            "kubernetesIngressNGINX",
        ),
        (p.knative.is_some(), "knative"),
        (p.consul_catalog.is_some(), "consulCatalog"),
        (p.nomad.is_some(), "nomad"),
        (p.ecs.is_some(), "ecs"),
        (p.consul.is_some(), "consul"),
        (p.etcd.is_some(), "etcd"),
        (p.zoo_keeper.is_some(), "zooKeeper"),
        (p.redis.is_some(), "redis"),
        (p.http.is_some(), "http"),
        (p.rest.is_some(), "rest"),
    ];
    for (set, name) in checks {
        if set {
            out.push(name);
        }
    }
    if !p.plugin.is_empty() {
        out.push("plugin");
    }
    out
}
