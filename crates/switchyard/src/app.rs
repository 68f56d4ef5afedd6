//! Wiring the process together: entry points from the static configuration, the compile context,
//! providers, the configuration watcher, the listeners, and the lifecycle (SIGTERM: keep accepting
//! for `requestAcceptGraceTimeout` while ping answers the terminating status, then stop accepting
//! and drain for `graceTimeOut`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderValue;
use switchyard_model::config::static_cfg::StaticConfig;
use switchyard_rule::Syntax;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::{self, LoadedStatic};
use crate::http::entrypoint::{EntryPointSpec, Transport};
use crate::http::internal::Health;
use crate::http::upstream::{TransportSettings, UpstreamRegistry};
use crate::http::{http3, server};
use crate::runtime::compile::{CompileContext, DEFAULT_PRECEDENCE};
use crate::runtime::{self, internal, watcher, Shared, Snapshot};

/// The pieces built from the static configuration, shared by `run` and `check`.
pub struct Prepared {
    pub config: StaticConfig,
    pub ctx: Arc<CompileContext>,
    pub shared: Arc<Shared>,
}

/// Validates the static configuration and builds the compile context. `observe`: also set up the
/// per-request sinks (metrics, access log, tracing); `check` does not.
pub fn prepare(config: StaticConfig, observe: bool) -> Result<Prepared, String> {
    let mut entry_points = Vec::new();
    for (index, (name, ep)) in config.entry_points.iter().enumerate() {
        entry_points.push(Arc::new(EntryPointSpec::new(name, index, ep, &config)?));
    }
    if let Some(ep) = internal::ping_entry_point(&config) {
        if !config.entry_points.contains_key(&ep) {
            return Err(format!("ping.entryPoint: entry point {ep:?} doesn't exist"));
        }
    }
    let default_syntax = match config
        .core
        .as_ref()
        .and_then(|c| c.default_rule_syntax.as_deref())
    {
        None | Some("") => Syntax::V3,
        Some(s) => s.parse().map_err(|_| {
            format!("core.defaultRuleSyntax: unknown syntax {s:?} (expected v2 or v3)")
        })?,
    };
    let precedence = match config.providers.as_ref().map(|p| &p.precedence) {
        Some(list) if !list.is_empty() => list.iter().map(|p| p.to_ascii_lowercase()).collect(),
        _ => DEFAULT_PRECEDENCE.iter().map(|s| s.to_string()).collect(),
    };
    let terminating = config
        .ping
        .as_ref()
        .and_then(|p| p.terminating_status_code)
        .unwrap_or(503);
    let ping_terminating_status = http::StatusCode::from_u16(terminating)
        .map_err(|_| format!("ping.terminatingStatusCode: invalid status {terminating}"))?;
    let hostname = runtime::hostname();
    let health = Arc::new(Health::default());
    let default_cert = crate::tls::certs::generate_default()
        .map_err(|e| format!("cannot generate the default TLS certificate: {e}"))?;
    // A resolver that cannot work is disabled and reported; the rest of the proxy runs.
    let (acme, acme_errors) = crate::acme::CertificateResolvers::new(&config);
    for e in &acme_errors {
        error!("{e}");
    }
    let acme = Arc::new(acme);
    let service_state: Arc<crate::http::service_state::ServiceState> = Arc::default();
    let observers = if observe {
        crate::observe::Observers::from_static(&config, service_state.clone())?
    } else {
        crate::observe::Observers::none()
    };
    // `check` has no sinks, but `prometheus@internal` must still compile as it will when running.
    let metrics = match &observers.metrics {
        Some(m) => Some(m.clone()),
        None => crate::observe::metrics::Metrics::from_static(&config, service_state.clone())?
            .map(Arc::new),
    };
    let api = config
        .api
        .as_ref()
        .map(|_| Arc::new(crate::api::ApiState::new(&config, service_state.clone())));
    let ctx = Arc::new(CompileContext {
        entry_points,
        default_syntax,
        precedence,
        default_transport: TransportSettings::from_static(config.servers_transport.as_ref()),
        upstreams: Arc::new(UpstreamRegistry::default()),
        health: health.clone(),
        hostname: hostname.clone().into(),
        ping_terminating_status,
        middleware_state: Arc::default(),
        service_state,
        default_cert,
        acme: acme.clone(),
        api,
        metrics,
    });
    let shared = Arc::new(Shared {
        snapshot: ArcSwap::from_pointee(Snapshot::empty(&ctx.default_cert)),
        health,
        hostname: HeaderValue::from_str(&hostname)
            .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
        acme: acme.challenges(),
        observe: Arc::new(observers),
    });
    Ok(Prepared {
        config,
        ctx,
        shared,
    })
}

/// Runs Switchyard until SIGTERM/SIGINT and the drain that follows.
pub async fn run(loaded: LoadedStatic) -> Result<(), String> {
    let LoadedStatic { config, source } = loaded;
    info!(version = crate::VERSION, "starting Switchyard");
    info!("static configuration loaded from {source}");
    for section in config::unsupported_sections(&config) {
        warn!(section = %section, "static configuration section is not supported yet; it is ignored");
    }
    let prepared = prepare(config, true)?;
    let Prepared {
        config,
        ctx,
        shared,
    } = prepared;

    // Bind every entry point before anything else: a port that cannot be bound is fatal.
    let mut listeners = Vec::new();
    for spec in &ctx.entry_points {
        if spec.transport == Transport::Udp {
            warn!(entry_point = %spec.name, "UDP entry points are not supported yet; not listening");
            continue;
        }
        let listener = server::bind(spec).map_err(|e| {
            format!(
                "entryPoints.{}: cannot listen on {}: {e}",
                spec.name, spec.address
            )
        })?;
        info!(entry_point = %spec.name, address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening");
        // HTTP/3 (`entryPoints.<n>.http3`): UDP on the port the TCP listener got.
        let h3 = http3::bind(spec, &shared, listener.local_addr().unwrap_or(spec.addr))?;
        listeners.push((spec.clone(), listener, h3));
    }

    // Providers and the watcher.
    let (tx, rx) = mpsc::channel(16);
    let mut expected = BTreeSet::new();
    let throttle = config
        .providers
        .as_ref()
        .and_then(|p| p.providers_throttle_duration)
        .map(|d| d.as_std().unwrap_or_default())
        .unwrap_or(Duration::from_secs(2));
    if let Some(providers) = &config.providers {
        crate::provider::warn_unsupported(providers);
        if let Some(file) = providers.file.clone() {
            expected.insert(crate::provider::file::PROVIDER.to_owned());
            info!(provider = "file", "starting provider");
            tokio::spawn(crate::provider::file::run(file, tx.clone()));
        }
    }
    drop(tx);
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(watcher::run(
        rx,
        ctx.clone(),
        shared.clone(),
        internal::config(&config),
        expected,
        throttle,
        first_tx,
    ));
    // The sockets are bound (clients queue in the backlog); serve once the internal routers
    // (ping, api, dashboard, metrics) are compiled, so an early request never gets a 404.
    let _ = first_rx.await;

    // Listeners, each with its own stop switch.
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for (spec, listener, h3) in listeners {
        let (stop_tx, stop_rx) = watch::channel(false);
        stops.push((spec.clone(), stop_tx));
        if let Some(h3) = h3 {
            tasks.push(tokio::spawn(http3::serve(
                h3,
                spec.clone(),
                shared.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(server::serve(
            listener,
            spec,
            shared.clone(),
            stop_rx,
        )));
    }

    // SIGUSR1 reopens the access log file (logrotate's `postrotate`), as Traefik does.
    if let Some(access_log) = shared.observe.access_log.clone() {
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
                warn!("cannot listen for SIGUSR1; the access log will not be reopened");
                return;
            };
            while usr1.recv().await.is_some() {
                info!("SIGUSR1: reopening the access log");
                access_log.reopen();
            }
        });
    }

    wait_for_signal().await;
    info!("shutdown requested");
    shared
        .health
        .terminating
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for (spec, stop) in stops {
        let grace = spec.request_accept_grace_timeout;
        tokio::spawn(async move {
            if !grace.is_zero() {
                info!(entry_point = %spec.name, ?grace, "still accepting during requestAcceptGraceTimeout");
                tokio::time::sleep(grace).await;
            }
            let _ = stop.send(true);
        });
    }
    for t in tasks {
        if let Err(e) = t.await {
            error!(error = %e, "entry point task failed");
        }
    }
    if let Some(access_log) = &shared.observe.access_log {
        access_log.flush();
    }
    if let Some(tracer) = shared.observe.tracer.clone() {
        // Spans still queued go out before the process exits (bounded, as Traefik's shutdown).
        let _ =
            tokio::task::spawn_blocking(move || tracer.flush(std::time::Duration::from_secs(5)))
                .await;
    }
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
