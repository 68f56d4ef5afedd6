//! Watching certificate files: when a certificate or key file in use changes on disk (renewed by
//! certbot, rotated by a Kubernetes secret), the configuration is recompiled so the new
//! certificate is served without a restart — something Traefik users ask for (#5495). The parent
//! directories are watched (so rename-replace and symlink swaps are seen) and a recompile happens
//! only when a file's contents really changed.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, info, warn};

/// Quiet period before re-reading (a renewal writes cert and key in quick succession).
const DEBOUNCE: Duration = Duration::from_millis(200);

fn fingerprint(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// Runs until `files` is closed: watches the current list and pings `changed` when one of them
/// changes content.
pub async fn run(mut files: watch::Receiver<Vec<PathBuf>>, changed: Arc<Notify>) {
    let (events_tx, mut events) = mpsc::unbounded_channel::<()>();
    let mut watcher = match notify::recommended_watcher(
        move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = events_tx.send(());
            }
        },
    ) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch certificate files; rotated certificates need a reload");
            return;
        }
    };
    let mut watched_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut prints: HashMap<PathBuf, Option<u64>> = HashMap::new();
    loop {
        tokio::select! {
            r = files.changed() => {
                if r.is_err() {
                    return;
                }
                let list = files.borrow_and_update().clone();
                let dirs: BTreeSet<PathBuf> = list
                    .iter()
                    .filter_map(|f| f.parent().map(Path::to_path_buf))
                    .map(|d| if d.as_os_str().is_empty() { PathBuf::from(".") } else { d })
                    .collect();
                for gone in watched_dirs.difference(&dirs) {
                    let _ = watcher.unwatch(gone);
                }
                for new in dirs.difference(&watched_dirs) {
                    if let Err(e) = watcher.watch(new, RecursiveMode::NonRecursive) {
                        warn!(dir = %new.display(), error = %e, "cannot watch certificate directory");
                    }
                }
                watched_dirs = dirs;
                prints = list.iter().map(|f| (f.clone(), fingerprint(f))).collect();
            }
            e = events.recv() => {
                if e.is_none() {
                    return;
                }
                // Debounce the burst.
                while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
                let mut any = false;
                for (path, print) in prints.iter_mut() {
                    let now = fingerprint(path);
                    if now != *print {
                        info!(file = %path.display(), "certificate file changed; reloading TLS configuration");
                        *print = now;
                        any = true;
                    }
                }
                if any {
                    changed.notify_one();
                } else {
                    debug!("certificate directory event without content change");
                }
            }
        }
    }
}
