//! Serde types mirroring Traefik v3.7's configuration schema, key for key.
//!
//! [`static_cfg`] is the install configuration (entry points, providers, observability, ACME …),
//! read once at start; [`dynamic`] is the routing configuration (`http`, `tcp`, `udp`, `tls`)
//! that providers deliver over and over. These types only describe what the user wrote: every
//! scalar is an `Option` so "unset" stays distinguishable from a default, and no defaults or
//! validation are applied here — the runtime compiles them into its own types.
//!
//! Conventions: fields are snake_case and serialize as Traefik's camelCase (explicit renames where
//! Traefik's spelling is irregular, e.g. `rootCAs`, `trustedIPs`); lists and maps default to empty;
//! sub-sections are `Option<Struct>` decoded through [`crate::decode::section`] so `true`, an empty
//! value or `{}` enables them with defaults and `false` turns them off. Serialization omits unset
//! options and empty lists/maps, so a decoded file serializes back to what it said.

/// Declares configuration structs with the house derives and serde conventions: container-level
/// `default` + `camelCase`, and every field skipped on output when it holds its default.
macro_rules! model {
    ($(
        $(#[$struct_meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    )*) => {
        $(
            $(#[$struct_meta])*
            #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
            #[serde(default, rename_all = "camelCase")]
            pub struct $name {
                $(
                    $(#[$field_meta])*
                    #[serde(skip_serializing_if = "crate::config::is_default")]
                    pub $field: $ty,
                )*
            }
        )*
    };
}

pub mod common;
pub mod dynamic;
pub mod static_cfg;

pub use dynamic::DynamicConfig;
pub use static_cfg::StaticConfig;

/// `skip_serializing_if` helper for `Option`, `Vec` and map fields alike.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
