//! One case-insensitive key-path decoder for every configuration source.
//!
//! Every source is first turned into a [`Node`] tree — YAML, TOML and JSON by their parsers,
//! CLI flags, `TRAEFIK_*` environment variables, labels and KV pairs by splitting their keys into
//! paths — and then decoded into the typed model by one serde deserializer (`de.rs`). That
//! deserializer matches struct fields without regard to case, rejects unknown keys with their full
//! path, and coerces text (`"true"`, `"8080"`, `"a,b"`) because most sources only have text.
//! This module reads no files and no process state: callers pass the text, the arguments or the
//! variables in, so it stays pure and testable.

mod access;
mod de;
mod lines;
mod node;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use node::Node;

use de::{DeError, ErrorKind, NodeDe, Segment};
use node::{split_indices, KeyTree};

/// The source name used for errors in CLI flags.
pub const COMMAND_LINE: &str = "command line";
/// The source name used for errors in environment variables.
pub const ENVIRONMENT: &str = "environment";

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `.yml` / `.yaml`
    Yaml,
    /// `.toml`
    Toml,
    /// `.json`
    Json,
}

impl Format {
    /// The format implied by a file's extension (case-insensitive), if it is one we read.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yml" | "yaml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A configuration error that names where it is: the source, the key path and, for files,
/// the line (best effort).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// A file path, [`COMMAND_LINE`], [`ENVIRONMENT`], or what the caller named its source.
    pub source_name: String,
    /// The key as the user spelled it: `entryPoints.web.address` in files,
    /// `--entryPoints.web.address` for flags, `TRAEFIK_ENTRYPOINTS_WEB_ADDRESS` for env vars,
    /// `http/routers/x/rule` for KV. Empty when the problem is the document itself.
    pub key_path: String,
    /// 1-based line in a file, when known.
    pub line: Option<usize>,
    /// What was wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut wrote = false;
        if !self.source_name.is_empty() {
            f.write_str(&self.source_name)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            wrote = true;
        }
        if !self.key_path.is_empty() {
            if wrote {
                f.write_str(": ")?;
            }
            f.write_str(&self.key_path)?;
            wrote = true;
        }
        if wrote {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// How a source spells key paths, used to echo the user's own spelling in errors.
#[derive(Debug, Clone, Copy)]
enum PathStyle<'a> {
    /// `a.b[0].c`
    Dotted,
    /// `--a.b[0].c`
    Flag,
    /// `TRAEFIK_A_B_0_C`
    Env(&'a str),
    /// `a/b/0/c` (or any other separator)
    Separated(char),
}

fn render_path(err: &DeError, style: PathStyle<'_>) -> String {
    let mut out = String::new();
    match style {
        PathStyle::Dotted | PathStyle::Flag => {
            if matches!(style, PathStyle::Flag) {
                out.push_str("--");
            }
            for (i, segment) in err.path_from_root().enumerate() {
                match segment {
                    Segment::Key(key) => {
                        if i > 0 {
                            out.push('.');
                        }
                        out.push_str(key);
                    }
                    Segment::Index(index) => out.push_str(&format!("[{index}]")),
                }
            }
        }
        PathStyle::Env(prefix) => {
            out.push_str(prefix);
            let parts: Vec<String> = err
                .path_from_root()
                .map(|segment| match segment {
                    Segment::Key(key) => key.to_ascii_uppercase(),
                    Segment::Index(index) => index.to_string(),
                })
                .collect();
            out.push_str(&parts.join("_"));
        }
        PathStyle::Separated(separator) => {
            let parts: Vec<String> = err
                .path_from_root()
                .map(|segment| match segment {
                    Segment::Key(key) => key.clone(),
                    Segment::Index(index) => index.to_string(),
                })
                .collect();
            out.push_str(&parts.join(&separator.to_string()));
        }
    }
    out
}

fn convert(err: DeError, source: &str, style: PathStyle<'_>, text: Option<&str>) -> DecodeError {
    let key_path = render_path(&err, style);
    let line = text.and_then(|text| lines::find_key_line(text, err.path_from_root()));
    let message = match (err.kind, style) {
        (ErrorKind::NeedsValue, PathStyle::Flag) => {
            format!("{}; give it one: {key_path}=VALUE", err.message)
        }
        _ => err.message,
    };
    DecodeError {
        source_name: source.to_string(),
        key_path,
        line,
        message,
    }
}

fn decode_node<T: DeserializeOwned>(
    node: &Node,
    source: &str,
    style: PathStyle<'_>,
    text: Option<&str>,
) -> Result<T, DecodeError> {
    T::deserialize(NodeDe::new(node)).map_err(|err| convert(err, source, style, text))
}

fn document_error(source: &str, line: Option<usize>, message: String) -> DecodeError {
    DecodeError {
        source_name: source.to_string(),
        key_path: String::new(),
        line,
        message,
    }
}

/// YAML 1.2 typing, as Traefik's Go YAML reader does: `yes`/`no`/`on`/`off` stay strings, and
/// numbers spelled with leading zeros or underscores keep their text (a string field gets it
/// verbatim; a numeric field still parses it).
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// Parses a document into the neutral tree, reporting syntax errors with their line.
pub fn parse_text(text: &str, format: Format, source: &str) -> Result<Node, DecodeError> {
    if text.trim().is_empty() {
        return Ok(Node::Map(Vec::new()));
    }
    let node = match format {
        Format::Yaml => {
            serde_saphyr::from_str_with_options::<Node>(text, yaml_options()).map_err(|err| {
                let line = err
                    .location()
                    .and_then(|location| usize::try_from(location.line()).ok())
                    .filter(|line| *line > 0);
                document_error(
                    source,
                    line,
                    format!("invalid YAML: {}", err.without_snippet()),
                )
            })?
        }
        Format::Toml => toml::from_str::<Node>(text).map_err(|err| {
            let line = err
                .span()
                .map(|span| lines::line_of_offset(text, span.start));
            document_error(source, line, format!("invalid TOML: {}", err.message()))
        })?,
        Format::Json => serde_json::from_str::<Node>(text).map_err(|err| {
            let line = Some(err.line()).filter(|line| *line > 0);
            document_error(source, line, format!("invalid JSON: {err}"))
        })?,
    };
    // A YAML document holding only comments parses as null: treat it as empty.
    Ok(match node {
        Node::Null => Node::Map(Vec::new()),
        other => other,
    })
}

/// Decodes a YAML, TOML or JSON document. `source` names it in errors (usually the file path).
pub fn from_text<T: DeserializeOwned>(
    text: &str,
    format: Format,
    source: &str,
) -> Result<T, DecodeError> {
    let node = parse_text(text, format, source)?;
    decode_node(&node, source, PathStyle::Dotted, Some(text))
}

/// Decodes an already-built tree (for providers that assemble their own).
pub fn from_node<T: DeserializeOwned>(node: &Node, source: &str) -> Result<T, DecodeError> {
    decode_node(node, source, PathStyle::Dotted, None)
}

/// Deeper paths than this are not configuration; refusing them keeps the tree shallow.
const MAX_PATH_SEGMENTS: usize = 64;

fn split_path(key: &str, separator: char) -> Result<Vec<String>, &'static str> {
    let mut segments = Vec::new();
    for part in key.split(separator) {
        if part.is_empty() {
            return Err("malformed key (empty path segment)");
        }
        split_indices(part, &mut segments);
        if segments.len() > MAX_PATH_SEGMENTS {
            return Err("key path is too deep");
        }
    }
    Ok(segments)
}

/// Decodes Traefik-style CLI flags: `--entryPoints.web.address=:80`, bare `--providers.file`
/// (enables the section), lists `--a.b=x,y` or `--a.b[0].c=x`, maps `--providers.http.headers.X-Foo=bar`.
/// Keys are case-insensitive; `--configFile` is skipped (the caller handles it).
pub fn from_flags<T: DeserializeOwned>(args: &[String]) -> Result<T, DecodeError> {
    let mut tree = KeyTree::default();
    for arg in args {
        let flag_error = |message: String| DecodeError {
            source_name: COMMAND_LINE.to_string(),
            key_path: arg.clone(),
            line: None,
            message,
        };
        let Some(body) = arg.strip_prefix("--") else {
            return Err(flag_error(if arg.starts_with('-') {
                "flags start with two dashes and use `=` for values: --section.option=value"
                    .to_string()
            } else {
                "unexpected argument; values are written with `=`: --section.option=value"
                    .to_string()
            }));
        };
        let (key, value) = match body.split_once('=') {
            Some((key, value)) => (key, Node::Str(value.to_string())),
            None => (body, Node::Bare),
        };
        if key.eq_ignore_ascii_case("configfile") {
            continue;
        }
        let path = split_path(key, '.').map_err(|message| flag_error(message.to_string()))?;
        tree.insert(&path, value);
    }
    decode_node(&tree.into_node(), COMMAND_LINE, PathStyle::Flag, None)
}

/// Decodes environment variables named `{prefix}SECTION_OPTION` (e.g. `TRAEFIK_LOG_LEVEL=DEBUG`).
/// `_` separates path segments; names are lower-cased as Traefik does, so `TRAEFIK_ENTRYPOINTS_WEB_ADDRESS`
/// defines entry point `web`. Variables without the prefix, and `{prefix}CONFIGFILE`, are ignored.
pub fn from_env<T: DeserializeOwned>(
    vars: impl IntoIterator<Item = (String, String)>,
    prefix: &str,
) -> Result<T, DecodeError> {
    let mut tree = KeyTree::default();
    let mut entries: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix) && name.len() > prefix.len())
        .collect();
    // The process environment has no order; sort so results (and first spellings) are stable.
    entries.sort();
    for (name, value) in entries {
        let key = name[prefix.len()..].to_ascii_lowercase();
        if key == "configfile" {
            continue;
        }
        let path = split_path(&key, '_').map_err(|message| DecodeError {
            source_name: ENVIRONMENT.to_string(),
            key_path: name.clone(),
            line: None,
            message: message.to_string(),
        })?;
        tree.insert(&path, Node::Str(value));
    }
    let style = PathStyle::Env(prefix);
    decode_node(&tree.into_node(), ENVIRONMENT, style, None)
}

/// Decodes flat `path → value` pairs: Docker labels with `.` (`http.routers.x.rule`, the caller
/// strips `traefik.`), KV keys with `/` (`http/routers/x/entrypoints/0`). Segments match
/// case-insensitively; `[n]` or numeric segments make lists; an empty value enables a section.
pub fn from_key_values<T: DeserializeOwned>(
    pairs: &[(String, String)],
    separator: char,
    source: &str,
) -> Result<T, DecodeError> {
    let mut tree = KeyTree::default();
    for (key, value) in pairs {
        let path = split_path(key, separator).map_err(|message| DecodeError {
            source_name: source.to_string(),
            key_path: key.clone(),
            line: None,
            message: message.to_string(),
        })?;
        tree.insert(&path, Node::Str(value.clone()));
    }
    let style = if separator == '.' {
        PathStyle::Dotted
    } else {
        PathStyle::Separated(separator)
    };
    decode_node(&tree.into_node(), source, style, None)
}

/// `#[serde(with = "crate::decode::section")]` for `Option<Section>` fields: `true`, a bare flag,
/// an empty value or an empty map enable the section with defaults; `false` leaves it off.
pub mod section {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{Deserialize, Deserializer, Visitor};
    use serde::{Serialize, Serializer};

    use super::de::SECTION_MARKER;

    /// Serializes the section as the plain option it is.
    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    /// Deserializes a section that `false` can switch off.
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        deserializer.deserialize_newtype_struct(SECTION_MARKER, SectionVisitor(PhantomData))
    }

    struct SectionVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for SectionVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a section (a map of options), `true` or `false`")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Option<T>, D::Error> {
            Option::<T>::deserialize(deserializer)
        }
    }
}

#[cfg(test)]
mod tests;
