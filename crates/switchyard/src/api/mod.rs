//! The API (`api@internal`) and the dashboard (`dashboard@internal`): Traefik's `/api/*` JSON
//! built from the merged dynamic configuration and the compile report, and the embedded web UI.
//!
//! PLACEHOLDER: the JSON builders are being written; this module fixes the interface the runtime
//! calls.

pub mod dashboard;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{Request, Response, StatusCode};
use switchyard_model::config::dynamic::DynamicConfig;
use switchyard_model::config::static_cfg::StaticConfig;

use crate::http::body::{text_response, Body};
use crate::http::service_state::ServiceState;
use crate::runtime::Report;

/// What the API shows: the latest compiled configuration.
#[derive(Debug, Default)]
pub struct RuntimeView {
    pub configs: BTreeMap<String, Arc<DynamicConfig>>,
    pub report: Report,
}

/// Process-wide API state, shared by `api@internal` and `dashboard@internal`.
#[derive(Debug)]
pub struct ApiState {
    view: ArcSwap<RuntimeView>,
    #[allow(dead_code)]
    services: Arc<ServiceState>,
}

impl ApiState {
    pub fn new(_cfg: &StaticConfig, services: Arc<ServiceState>) -> Self {
        Self {
            view: ArcSwap::from_pointee(RuntimeView::default()),
            services,
        }
    }

    /// Called after every compilation with the merged provider configurations (provider name →
    /// configuration, `internal` included) and the report.
    pub fn update(&self, configs: &BTreeMap<String, Arc<DynamicConfig>>, report: &Report) {
        self.view.store(Arc::new(RuntimeView {
            configs: configs.clone(),
            report: report.clone(),
        }));
    }

    /// `api@internal`: answers `<basePath>/api/...` (the full request path).
    pub fn serve(&self, _req: &Request<Body>) -> Response<Body> {
        text_response(StatusCode::NOT_FOUND, "404 page not found\n")
    }

    /// `dashboard@internal`: the embedded UI.
    pub fn serve_dashboard(&self, req: &Request<Body>) -> Response<Body> {
        let rel = req.uri().path().trim_start_matches('/');
        let rel = rel.strip_prefix("dashboard/").unwrap_or(rel);
        dashboard::serve(rel)
    }
}
