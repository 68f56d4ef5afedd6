//! The configuration watcher: providers send whole configurations; the watcher keeps the newest
//! one per provider, skips empty and unchanged ones, throttles each provider
//! (`providersThrottleDuration`), then compiles the merged set on a blocking thread and swaps the
//! snapshot in. Readiness turns on once every configured provider has delivered.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_model::config::dynamic::DynamicConfig;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::compile::{compile, CompileContext};
use super::{internal, Shared};

/// A provider's complete new configuration.
#[derive(Debug)]
pub struct ProviderUpdate {
    pub provider: String,
    pub config: DynamicConfig,
}

/// Whether a configuration has no section at all (Traefik skips those).
fn is_empty(cfg: &DynamicConfig) -> bool {
    cfg.http.is_none() && cfg.tcp.is_none() && cfg.udp.is_none() && cfg.tls.is_none()
}

/// Runs until every sender is dropped.
pub async fn run(
    mut rx: mpsc::Receiver<ProviderUpdate>,
    ctx: Arc<CompileContext>,
    shared: Arc<Shared>,
    internal_config: DynamicConfig,
    expected: BTreeSet<String>,
    throttle: Duration,
    first_applied: tokio::sync::oneshot::Sender<()>,
) {
    let mut applied: BTreeMap<String, Arc<DynamicConfig>> = BTreeMap::new();
    applied.insert(internal::PROVIDER.to_owned(), Arc::new(internal_config));
    let mut pending: BTreeMap<String, DynamicConfig> = BTreeMap::new();
    let mut last_applied: HashMap<String, Instant> = HashMap::new();
    let mut delivered: BTreeSet<String> = BTreeSet::new();

    // Certificate files in use are watched; a content change recompiles with the same configs.
    let cert_changed = Arc::new(tokio::sync::Notify::new());
    let (files_tx, files_rx) = tokio::sync::watch::channel(Vec::new());
    tokio::spawn(super::cert_watch::run(files_rx, cert_changed.clone()));
    // ACME resolvers signal the same way when they obtain or renew a certificate.
    ctx.acme.start(cert_changed.clone());

    // The internal provider's routers (ping, api...) serve from the start: the entry points start
    // serving only once this first configuration is in place.
    swap(&ctx, &shared, &applied, &files_tx).await;
    mark_ready(&shared, &expected, &delivered);
    let _ = first_applied.send(());

    loop {
        let now = Instant::now();
        let next_due = pending
            .keys()
            .filter_map(|p| last_applied.get(p).map(|t| *t + throttle))
            .min()
            .unwrap_or(now);
        let wait = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            next_due.saturating_duration_since(now)
        };
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(update) => {
                    delivered.insert(update.provider.clone());
                    if is_empty(&update.config) {
                        info!(provider = %update.provider, "skipping empty configuration");
                        mark_ready(&shared, &expected, &delivered);
                        continue;
                    }
                    if applied.get(&update.provider).is_some_and(|c| **c == update.config) {
                        pending.remove(&update.provider);
                        info!(provider = %update.provider, "skipping unchanged configuration");
                        mark_ready(&shared, &expected, &delivered);
                        continue;
                    }
                    pending.insert(update.provider, update.config);
                }
                None => return,
            },
            _ = tokio::time::sleep(wait) => {}
            _ = cert_changed.notified() => {
                swap(&ctx, &shared, &applied, &files_tx).await;
                continue;
            }
        }
        let now = Instant::now();
        let due: Vec<String> = pending
            .keys()
            .filter(|p| last_applied.get(*p).is_none_or(|t| now >= *t + throttle))
            .cloned()
            .collect();
        if due.is_empty() {
            continue;
        }
        for p in due {
            if let Some(cfg) = pending.remove(&p) {
                applied.insert(p.clone(), Arc::new(cfg));
                last_applied.insert(p, now);
            }
        }
        swap(&ctx, &shared, &applied, &files_tx).await;
        mark_ready(&shared, &expected, &delivered);
    }
}

async fn swap(
    ctx: &Arc<CompileContext>,
    shared: &Shared,
    applied: &BTreeMap<String, Arc<DynamicConfig>>,
    cert_files: &tokio::sync::watch::Sender<Vec<std::path::PathBuf>>,
) {
    let started = Instant::now();
    let ctx2 = ctx.clone();
    let configs = applied.clone();
    let snapshot = match tokio::task::spawn_blocking(move || compile(&ctx2, &configs)).await {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "configuration compile failed; keeping the previous configuration");
            if let Some(m) = &ctx.metrics {
                m.on_reload(false);
            }
            return;
        }
    };
    for e in snapshot.report.errors() {
        error!("{e}");
    }
    let routers = snapshot.report.routers.len();
    ctx.acme.request(&snapshot.acme_requests);
    if *cert_files.borrow() != snapshot.tls.files {
        let _ = cert_files.send(snapshot.tls.files.clone());
    }
    if let Some(api) = &ctx.api {
        api.update(applied, &snapshot.report);
    }
    if let Some(m) = &ctx.metrics {
        m.on_certificates(&snapshot.tls);
        m.on_config(&snapshot.report);
        m.on_reload(true);
    }
    shared.snapshot.store(Arc::new(snapshot));
    info!(routers, elapsed = ?started.elapsed(), "configuration applied");
}

fn mark_ready(shared: &Shared, expected: &BTreeSet<String>, delivered: &BTreeSet<String>) {
    if !shared.health.ready.load(Ordering::Relaxed) {
        if expected.is_subset(delivered) {
            shared.health.ready.store(true, Ordering::Relaxed);
            info!("every provider delivered its configuration: ready");
        } else {
            let missing: Vec<&String> = expected.difference(delivered).collect();
            if !missing.is_empty() && !delivered.is_empty() {
                warn!(?missing, "waiting for providers");
            }
        }
    }
}
