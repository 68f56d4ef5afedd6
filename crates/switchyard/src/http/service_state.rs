//! State of services that must survive reloads: server health (active and passive checks) and
//! sticky mappings, keyed by the service's qualified name and server URL. A reload that leaves a
//! service's configuration unchanged keeps its state: a down server does not come back as healthy
//! because the configuration was re-applied.

/// Registries shared by every snapshot.
#[derive(Debug, Default)]
pub struct ServiceState {}
