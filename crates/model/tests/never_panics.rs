//! Hostile input never panics the decoders: arbitrary YAML/TOML/JSON-ish text, arbitrary flag
//! lists, env vars and key/value pairs all end in `Ok` or a `DecodeError`.

use proptest::prelude::*;
use switchyard_model::config::dynamic::DynamicConfig;
use switchyard_model::config::static_cfg::StaticConfig;
use switchyard_model::decode::{from_env, from_flags, from_key_values, from_text, Format};

const KEYS: &[&str] = &[
    "entryPoints",
    "web",
    "address",
    "http",
    "tls",
    "domains",
    "[0]",
    "[1]",
    "0",
    "main",
    "sans",
    "providers",
    "file",
    "docker",
    "api",
    "insecure",
    "log",
    "level",
    "routers",
    "services",
    "middlewares",
    "loadBalancer",
    "servers",
    "url",
    "headers",
    "X-Foo",
    "plugin",
    "rule",
    "transport",
    "respondingTimeouts",
    "readTimeout",
    "http2",
    "maxConcurrentStreams",
    "tcp",
    "udp",
    "weighted",
    "weight",
    "ENTRYPOINTS",
    "bogus",
];

const VALUES: &[&str] = &[
    "",
    "true",
    "false",
    ":80",
    "10s",
    "-1",
    "1.5",
    "a,b",
    "99999999999999999999",
    "{}",
    "[]",
    "null",
    "~",
    "é",
    "1m30s",
    "0x10",
    "[0]",
];

fn key_path(separator: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(KEYS), 0..7)
        .prop_map(move |parts| parts.join(separator))
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(VALUES).prop_map(str::to_string),
        ".{0,12}"
    ]
}

fn yamlish() -> impl Strategy<Value = String> {
    let line = (
        0usize..4,
        prop::sample::select(KEYS),
        prop::option::of(value()),
    )
        .prop_map(|(indent, key, value)| match value {
            Some(value) => format!("{}{key}: {value}", "  ".repeat(indent)),
            None => format!("{}- {key}:", "  ".repeat(indent)),
        });
    prop_oneof![
        prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n")),
        "[ -~\n\t]{0,200}",
        "[\\[\\]{}:,\"'\\-\n a-z0-9=#.]{0,120}",
    ]
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        (key_path("."), prop::option::of(value())).prop_map(|(path, value)| match value {
            Some(value) => format!("--{path}={value}"),
            None => format!("--{path}"),
        }),
        ".{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn text_never_panics(text in yamlish()) {
        for format in [Format::Yaml, Format::Toml, Format::Json] {
            let _ = from_text::<StaticConfig>(&text, format, "fuzz");
            let _ = from_text::<DynamicConfig>(&text, format, "fuzz");
        }
    }

    #[test]
    fn flags_never_panic(args in prop::collection::vec(flag(), 0..8)) {
        let _ = from_flags::<StaticConfig>(&args);
    }

    #[test]
    fn env_never_panics(vars in prop::collection::vec((key_path("_"), value()), 0..8)) {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (format!("TRAEFIK_{}", k.to_uppercase()), v))
            .collect();
        let _ = from_env::<StaticConfig>(vars, "TRAEFIK_");
    }

    #[test]
    fn key_values_never_panic(
        pairs in prop::collection::vec((key_path("/"), value()), 0..8),
        labels in prop::collection::vec((key_path("."), value()), 0..8),
    ) {
        let _ = from_key_values::<DynamicConfig>(&pairs, '/', "kv");
        let _ = from_key_values::<DynamicConfig>(&labels, '.', "labels");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 100_000;
    let yaml = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(from_text::<StaticConfig>(&yaml, Format::Yaml, "deep.yml").is_err());
    let json = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert!(from_text::<StaticConfig>(&json, Format::Json, "deep.json").is_err());
    let toml = format!("a = {}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(from_text::<StaticConfig>(&toml, Format::Toml, "deep.toml").is_err());
    let flag = format!("--{}=x", vec!["a"; depth].join("."));
    assert!(from_flags::<StaticConfig>(&[flag]).is_err());
    let label = (vec!["a"; depth].join("."), "x".to_string());
    assert!(from_key_values::<DynamicConfig>(&[label], '.', "labels").is_err());
}
