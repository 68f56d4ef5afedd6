//! `switchyard check`: loads the static configuration and every provider's dynamic configuration
//! once, compiles them as the running proxy would, prints each router (entry points, rule,
//! priority, service, status) and every error with its file and key path, and exits non-zero when
//! anything is invalid.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use switchyard_model::config::dynamic::DynamicConfig;

use crate::app;
use crate::config::{self, LoadedStatic};
use crate::runtime::compile::compile;
use crate::runtime::internal;
use crate::runtime::report::Status;

/// The printed report and whether everything was valid.
pub struct CheckOutcome {
    pub text: String,
    pub ok: bool,
}

/// Runs the check on a loaded static configuration.
pub fn run(loaded: LoadedStatic) -> CheckOutcome {
    let mut out = String::new();
    let mut ok = true;
    let _ = writeln!(out, "static configuration: {}", loaded.source);
    for section in config::unsupported_sections(&loaded.config) {
        let _ = writeln!(out, "note: {section} is not supported yet and is ignored");
    }
    if let Some(providers) = &loaded.config.providers {
        for name in crate::provider::unsupported(providers) {
            let _ = writeln!(
                out,
                "note: provider {name} is not supported yet and is ignored"
            );
        }
    }
    let prepared = match app::prepare(loaded.config, false) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            return CheckOutcome {
                text: out,
                ok: false,
            };
        }
    };
    let mut configs: BTreeMap<String, Arc<DynamicConfig>> = BTreeMap::new();
    configs.insert(
        internal::PROVIDER.to_owned(),
        Arc::new(internal::config(&prepared.config)),
    );
    if let Some(file) = prepared
        .config
        .providers
        .as_ref()
        .and_then(|p| p.file.as_ref())
    {
        match crate::provider::file::Source::from_config(file)
            .and_then(|s| crate::provider::file::load(&s))
        {
            Ok(cfg) => {
                configs.insert(crate::provider::file::PROVIDER.to_owned(), Arc::new(cfg));
            }
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                ok = false;
            }
        }
    }
    let snapshot = compile(&prepared.ctx, &configs);
    let _ = writeln!(out, "\nrouters:");
    for (name, r) in &snapshot.report.routers {
        let _ = writeln!(
            out,
            "  {name}\n    entryPoints: {}\n    rule: {}\n    priority: {}\n    service: {}\n    status: {}",
            r.entry_points.join(", "),
            r.rule,
            r.priority,
            r.service,
            r.status
        );
        if !r.middlewares.is_empty() {
            let _ = writeln!(out, "    middlewares: {}", r.middlewares.join(", "));
        }
        if r.status == Status::Disabled {
            ok = false;
        }
    }
    let errors = snapshot.report.errors();
    if !errors.is_empty() {
        ok = false;
        let _ = writeln!(out, "\nerrors:");
        for e in errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        if ok {
            "configuration is valid"
        } else {
            "configuration has errors"
        }
    );
    CheckOutcome { text: out, ok }
}
