//! The file provider (`providers.file`): one file (`filename`) or a directory tree (`directory`,
//! recursive, `.yml`/`.yaml`/`.toml`/`.json` files). With `watch`, the parent directory is watched
//! rather than the file itself, so editors' rename-replace and Kubernetes-style symlink swaps are
//! seen. A file that does not parse rejects the whole update with an error naming the file and
//! position; the last good configuration stays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use switchyard_model::config::dynamic::DynamicConfig;
use switchyard_model::config::static_cfg::FileProvider;
use switchyard_model::decode::{self, Format};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::runtime::watcher::ProviderUpdate;

/// Name of this provider in `name@file`.
pub const PROVIDER: &str = "file";

/// How long the file system must stay quiet before a change is read: editors and `kubectl`
/// write in bursts of events a few milliseconds apart. Short, because it adds to every reload;
/// a file caught half-written fails to parse, keeps the last good configuration, and the event
/// that completes it triggers another read.
const DEBOUNCE: Duration = Duration::from_millis(20);

/// Where the configuration is read from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Directory(PathBuf),
}

impl Source {
    /// The source named by the static options; an error when neither or both are set.
    pub fn from_config(cfg: &FileProvider) -> Result<Self, String> {
        match (
            cfg.filename.as_deref().filter(|s| !s.is_empty()),
            cfg.directory.as_deref().filter(|s| !s.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                Err("providers.file: filename and directory are mutually exclusive".to_owned())
            }
            (Some(f), None) => Ok(Source::File(PathBuf::from(f))),
            (None, Some(d)) => Ok(Source::Directory(PathBuf::from(d))),
            (None, None) => {
                Err("providers.file: one of filename or directory is required".to_owned())
            }
        }
    }
}

/// Reads and merges the configuration. Errors name the file (and position when known).
pub fn load(source: &Source) -> Result<DynamicConfig, String> {
    match source {
        Source::File(path) => load_file(path),
        Source::Directory(dir) => {
            let mut files = Vec::new();
            collect(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
            files.sort();
            let mut merged = DynamicConfig::default();
            for file in files {
                let cfg = load_file(&file)?;
                merge(&mut merged, cfg, &file);
            }
            Ok(merged)
        }
    }
}

fn load_file(path: &Path) -> Result<DynamicConfig, String> {
    let format = Format::from_path(path).ok_or_else(|| {
        format!(
            "{}: unsupported file extension (expected .yml, .yaml, .toml or .json)",
            path.display()
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(DynamicConfig::default());
    }
    decode::from_text::<DynamicConfig>(&text, format, &path.display().to_string())
        .map_err(|e| e.to_string())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // hidden files, editors' swap files, Kubernetes' `..data` internals
        }
        if path.is_dir() {
            collect(&path, out)?;
        } else if Format::from_path(&path).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Merges one file's objects into the directory's configuration; a name defined twice keeps the
/// first definition and logs the conflict.
fn merge(into: &mut DynamicConfig, from: DynamicConfig, file: &Path) {
    fn maps<T>(
        into: &mut std::collections::BTreeMap<String, T>,
        from: std::collections::BTreeMap<String, T>,
        kind: &str,
        file: &Path,
    ) {
        for (k, v) in from {
            match into.entry(k) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    warn!(file = %file.display(), "{kind} {:?} is defined more than once; keeping the first definition", e.key());
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
    }
    if let Some(h) = from.http {
        let dst = into.http.get_or_insert_with(Default::default);
        maps(&mut dst.routers, h.routers, "router", file);
        maps(&mut dst.services, h.services, "service", file);
        maps(&mut dst.middlewares, h.middlewares, "middleware", file);
        maps(
            &mut dst.servers_transports,
            h.servers_transports,
            "serversTransport",
            file,
        );
    }
    if let Some(t) = from.tcp {
        let dst = into.tcp.get_or_insert_with(Default::default);
        maps(&mut dst.routers, t.routers, "TCP router", file);
        maps(&mut dst.services, t.services, "TCP service", file);
        maps(&mut dst.middlewares, t.middlewares, "TCP middleware", file);
        maps(
            &mut dst.servers_transports,
            t.servers_transports,
            "TCP serversTransport",
            file,
        );
    }
    if let Some(u) = from.udp {
        let dst = into.udp.get_or_insert_with(Default::default);
        maps(&mut dst.routers, u.routers, "UDP router", file);
        maps(&mut dst.services, u.services, "UDP service", file);
    }
    if let Some(t) = from.tls {
        let dst = into.tls.get_or_insert_with(Default::default);
        dst.certificates.extend(t.certificates);
        maps(&mut dst.options, t.options, "TLS option", file);
        maps(&mut dst.stores, t.stores, "TLS store", file);
    }
}

/// Sends the configuration once, then (with `watch`) again after every change.
pub async fn run(cfg: FileProvider, tx: mpsc::Sender<ProviderUpdate>) {
    let source = match Source::from_config(&cfg) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            return;
        }
    };
    let send = |tx: &mpsc::Sender<ProviderUpdate>| {
        let tx = tx.clone();
        let result = load(&source);
        async move {
            match result {
                Ok(config) => {
                    let _ = tx
                        .send(ProviderUpdate {
                            provider: PROVIDER.to_owned(),
                            config,
                        })
                        .await;
                }
                Err(e) => error!(
                    provider = PROVIDER,
                    "cannot load configuration, keeping the last good one: {e}"
                ),
            }
        }
    };
    send(&tx).await;
    if !cfg.watch.unwrap_or(true) {
        return;
    }

    let (events_tx, mut events) = mpsc::unbounded_channel::<()>();
    let watch_dir = match &source {
        Source::File(f) => f
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        Source::Directory(d) => d.clone(),
    };
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = events_tx.send(());
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                error!(provider = PROVIDER, error = %e, "cannot watch files");
                return;
            }
        };
    if let Err(e) = watcher.watch(&watch_dir, RecursiveMode::Recursive) {
        error!(provider = PROVIDER, dir = %watch_dir.display(), error = %e, "cannot watch directory");
        return;
    }
    info!(provider = PROVIDER, dir = %watch_dir.display(), "watching for changes");
    while events.recv().await.is_some() {
        // Debounce: wait for a quiet period, swallowing the burst.
        loop {
            match tokio::time::timeout(DEBOUNCE, events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_) => break,
            }
        }
        send(&tx).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_merge_and_errors() {
        let dir = std::env::temp_dir().join(format!("sy-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("a.yml"),
            "http:\n  routers:\n    r1:\n      rule: Path(`/a`)\n      service: s\n",
        )
        .unwrap();
        std::fs::write(dir.join("sub/b.toml"), "[http.services.s.loadBalancer]\n[[http.services.s.loadBalancer.servers]]\nurl = \"http://127.0.0.1:1\"\n").unwrap();
        std::fs::write(dir.join("ignored.txt"), "not config").unwrap();
        let cfg = load(&Source::Directory(dir.clone())).unwrap();
        let http = cfg.http.unwrap();
        assert!(http.routers.contains_key("r1"));
        assert!(http.services.contains_key("s"));

        std::fs::write(
            dir.join("bad.yml"),
            "http:\n  routers:\n    r2:\n      rulez: x\n",
        )
        .unwrap();
        let err = load(&Source::Directory(dir.clone())).unwrap_err();
        assert!(err.contains("bad.yml"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
