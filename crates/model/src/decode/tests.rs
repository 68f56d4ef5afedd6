//! Table-driven tests of the decoder's coercion rules, on small purpose-built types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::Duration;

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Sample {
    name: Option<String>,
    enabled: Option<bool>,
    count: Option<u16>,
    delta: Option<i64>,
    ratio: Option<f64>,
    timeout: Option<Duration>,
    items: Vec<String>,
    ports: Vec<u16>,
    labels: BTreeMap<String, String>,
    #[serde(with = "section")]
    inner: Option<Inner>,
    children: Vec<Inner>,
    extra: Option<serde_json::Value>,
    mode: Option<Mode>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Inner {
    main: Option<String>,
    sans: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Mode {
    Keep,
    Drop,
}

fn yaml(text: &str) -> Result<Sample, DecodeError> {
    from_text(text, Format::Yaml, "t.yml")
}

fn kv(pairs: &[(&str, &str)]) -> Result<Sample, DecodeError> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    from_key_values(&pairs, '.', "labels")
}

#[test]
fn text_values_are_coerced() {
    let s = kv(&[
        ("name", "42"),
        ("enabled", "TRUE"),
        ("count", "8080"),
        ("delta", "-7"),
        ("ratio", "0.25"),
        ("timeout", "90"),
        ("items", "a, b ,c"),
        ("ports", "80,443"),
        ("mode", "drop"),
    ])
    .expect("decodes");
    assert_eq!(s.name.as_deref(), Some("42"));
    assert_eq!(s.enabled, Some(true));
    assert_eq!(s.count, Some(8080));
    assert_eq!(s.delta, Some(-7));
    assert_eq!(s.ratio, Some(0.25));
    assert_eq!(s.timeout, Some(Duration::from_secs(90)));
    assert_eq!(s.items, ["a", "b", "c"]);
    assert_eq!(s.ports, [80, 443]);
    assert_eq!(s.mode, Some(Mode::Drop));
}

#[test]
fn native_yaml_types_are_accepted() {
    let s = yaml("name: 8080\nenabled: false\ncount: 7\nratio: 1\ntimeout: 1m\nitems: single\nports: 443\nmode: Keep\n")
        .expect("decodes");
    assert_eq!(s.name.as_deref(), Some("8080"));
    assert_eq!(s.enabled, Some(false));
    assert_eq!(s.count, Some(7));
    assert_eq!(s.ratio, Some(1.0));
    assert_eq!(s.timeout, Some(Duration::from_secs(60)));
    assert_eq!(s.items, ["single"]);
    assert_eq!(s.ports, [443]);
    assert_eq!(s.mode, Some(Mode::Keep));
}

#[test]
fn indexed_maps_become_lists_in_index_order() {
    let s = kv(&[
        ("children[1].main", "b"),
        ("children[0].main", "a"),
        ("children[0].sans[1]", "y"),
        ("children[0].sans[0]", "x"),
        ("items.10", "ten"),
        ("items.2", "two"),
    ])
    .expect("decodes");
    assert_eq!(s.children.len(), 2);
    assert_eq!(s.children[0].main.as_deref(), Some("a"));
    assert_eq!(s.children[0].sans, ["x", "y"]);
    assert_eq!(s.children[1].main.as_deref(), Some("b"));
    assert_eq!(s.items, ["two", "ten"]);
}

#[test]
fn sections_follow_traefik_enabling_rules() {
    let cases: &[(&str, Option<Inner>)] = &[
        ("inner: {}\n", Some(Inner::default())),
        ("inner:\n", Some(Inner::default())),
        ("inner: true\n", Some(Inner::default())),
        ("inner: 'true'\n", Some(Inner::default())),
        ("inner: ''\n", Some(Inner::default())),
        ("inner: false\n", None),
        ("inner: 'FALSE'\n", None),
        ("name: x\n", None),
        (
            "inner:\n  main: m\n",
            Some(Inner {
                main: Some("m".into()),
                sans: vec![],
            }),
        ),
    ];
    for (text, expected) in cases {
        let s = yaml(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(&s.inner, expected, "{text:?}");
    }
    let err = yaml("inner: 3\n").expect_err("a number is not a section");
    assert_eq!(err.key_path, "inner");
    assert!(err.message.contains("section"), "{}", err.message);
}

#[test]
fn null_scalars_are_unset_and_null_lists_empty() {
    let s = yaml("name:\nenabled:\ncount: ~\nitems:\nlabels:\n  X-Empty:\n").expect("decodes");
    assert_eq!(s.name, None);
    assert_eq!(s.enabled, None);
    assert_eq!(s.count, None);
    assert!(s.items.is_empty());
    assert_eq!(s.labels.get("X-Empty").map(String::as_str), Some(""));
}

#[test]
fn bare_flags() {
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let s: Sample = from_flags(&args(&["--enabled", "--inner", "--extra"])).expect("decodes");
    assert_eq!(s.enabled, Some(true));
    assert_eq!(s.inner, Some(Inner::default()));
    assert_eq!(s.extra, Some(serde_json::Value::Bool(true)));
    for flag in ["--name", "--count", "--timeout", "--items", "--labels.x"] {
        let err = from_flags::<Sample>(&args(&[flag])).expect_err(flag);
        assert_eq!(err.key_path, flag);
        assert!(err.message.contains("no value"), "{flag}: {}", err.message);
        assert!(
            err.message.contains(&format!("{flag}=VALUE")),
            "{}",
            err.message
        );
    }
}

#[test]
fn any_values_keep_structure() {
    let s = yaml("extra:\n  a: [1, two, true]\n  b:\n    c: null\n").expect("decodes");
    assert_eq!(
        s.extra,
        Some(serde_json::json!({"a": [1, "two", true], "b": {"c": null}}))
    );
    let s = kv(&[
        ("extra.list[1]", "b"),
        ("extra.list[0]", "a"),
        ("extra.flag", "true"),
    ])
    .expect("decodes");
    assert_eq!(
        s.extra,
        Some(serde_json::json!({"list": ["a", "b"], "flag": "true"}))
    );
}

#[test]
fn errors_describe_what_was_expected() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("count: many\n", "count", 1, "non-negative integer"),
        ("count: 70000\n", "count", 1, "u16"),
        ("count: -1\n", "count", 1, "u16"),
        ("enabled: yes\n", "enabled", 1, "boolean"),
        ("timeout: 5 parsecs\n", "timeout", 1, "duration"),
        ("ratio: fast\n", "ratio", 1, "number"),
        ("name: [a, b]\n", "name", 1, "string"),
        ("items: {a: b}\n", "items", 1, "list"),
        ("labels: [a]\n", "labels", 1, "map"),
        ("mode: sideways\n", "mode", 1, "keep, drop"),
        (
            "children:\n  - main: a\n  - mian: b\n",
            "children[1].mian",
            3,
            "unknown key",
        ),
        ("ports: [80, http]\n", "ports[1]", 1, "integer"),
    ];
    for (text, path, line, fragment) in cases {
        let err = yaml(text).expect_err(text);
        assert_eq!(err.key_path, *path, "{text:?}");
        assert_eq!(err.line, Some(*line), "{text:?}");
        assert!(err.message.contains(fragment), "{text:?}: {}", err.message);
    }
}

#[test]
fn display_omits_missing_parts() {
    let full = DecodeError {
        source_name: "a.yml".into(),
        key_path: "x.y".into(),
        line: Some(3),
        message: "bad".into(),
    };
    assert_eq!(full.to_string(), "a.yml:3: x.y: bad");
    let no_line = DecodeError {
        line: None,
        ..full.clone()
    };
    assert_eq!(no_line.to_string(), "a.yml: x.y: bad");
    let no_path = DecodeError {
        key_path: String::new(),
        ..full.clone()
    };
    assert_eq!(no_path.to_string(), "a.yml:3: bad");
    let bare = DecodeError {
        source_name: String::new(),
        key_path: String::new(),
        line: None,
        message: "bad".into(),
    };
    assert_eq!(bare.to_string(), "bad");
}

#[test]
fn formats_from_paths() {
    use std::path::Path;
    assert_eq!(
        Format::from_path(Path::new("/etc/traefik/traefik.yml")),
        Some(Format::Yaml)
    );
    assert_eq!(Format::from_path(Path::new("a.YAML")), Some(Format::Yaml));
    assert_eq!(Format::from_path(Path::new("a.toml")), Some(Format::Toml));
    assert_eq!(Format::from_path(Path::new("a.json")), Some(Format::Json));
    assert_eq!(Format::from_path(Path::new("a.txt")), None);
    assert_eq!(Format::from_path(Path::new("traefik")), None);
}

#[test]
fn toml_datetimes_become_strings() {
    let s: Sample =
        from_text("name = 1979-05-27T07:32:00Z\n", Format::Toml, "t.toml").expect("decodes");
    assert_eq!(s.name.as_deref(), Some("1979-05-27T07:32:00Z"));
}

#[test]
fn yaml_integer_map_keys_are_text() {
    let s = yaml("labels:\n  418: teapot\n  true: yes\n  X-Robots-Tag: no\n  Zip: 01234\n")
        .expect("decodes");
    assert_eq!(s.labels.get("418").map(String::as_str), Some("teapot"));
    // YAML 1.2 typing: `yes`/`no` are text, leading zeros are kept.
    assert_eq!(s.labels.get("true").map(String::as_str), Some("yes"));
    assert_eq!(s.labels.get("X-Robots-Tag").map(String::as_str), Some("no"));
    assert_eq!(s.labels.get("Zip").map(String::as_str), Some("01234"));
}

#[test]
fn from_node_decodes_a_prebuilt_tree() {
    let node = Node::Map(vec![("NAME".into(), Node::Str("n".into()))]);
    let s: Sample = from_node(&node, "provider").expect("decodes");
    assert_eq!(s.name.as_deref(), Some("n"));
}
