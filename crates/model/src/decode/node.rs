//! The source-neutral value tree every decoder goes through.
//!
//! YAML, TOML and JSON are parsed straight into a [`Node`] (through serde); flags, environment
//! variables, labels and KV pairs are assembled into one by [`KeyTree`]. Map keys keep their
//! spelling and order; matching them to struct fields is the deserializer's job (`de.rs`), so
//! nothing here knows about Traefik's schema.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A decoded configuration value, before it is matched against the typed model.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// An explicit null / empty YAML value.
    Null,
    /// A flag given without `=value` (`--providers.file`): `true` for booleans, "enabled with
    /// defaults" for sections, an error for anything that needs a value.
    Bare,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string; text-only sources produce nothing else, and the deserializer coerces it.
    Str(String),
    /// A sequence.
    List(Vec<Node>),
    /// A mapping, in source order, keys spelled as written.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A short description used in "expected X, got Y" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Node::Null => "an empty value".to_string(),
            Node::Bare => "a flag without a value".to_string(),
            Node::Bool(b) => format!("`{b}`"),
            Node::Int(i) => format!("`{i}`"),
            Node::Float(x) => format!("`{x}`"),
            Node::Str(s) => format!("{s:?}"),
            Node::List(_) => "a list".to_string(),
            Node::Map(_) => "a map".to_string(),
        }
    }

    /// If every key of this map is a list index (`0`, `[1]` …), its values in index order.
    pub(crate) fn as_indexed_list(&self) -> Option<Vec<(usize, &Node)>> {
        let Node::Map(entries) = self else {
            return None;
        };
        if entries.is_empty() {
            return None;
        }
        let mut items = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            items.push((parse_index(key)?, value));
        }
        items.sort_by_key(|(index, _)| *index);
        Some(items)
    }
}

/// `0`, `12`, `[0]`, `[12]` → the index.
pub(crate) fn parse_index(key: &str) -> Option<usize> {
    let inner = key
        .strip_prefix('[')
        .and_then(|k| k.strip_suffix(']'))
        .unwrap_or(key);
    if inner.is_empty() || inner.len() > 9 || !inner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    inner.parse().ok()
}

/// TOML hands datetimes to serde as a one-entry map with this key.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any configuration value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or_else(|_| Node::Str(v.to_string()), Node::Int))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or_else(|_| Node::Str(v.to_string()), Node::Int))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or_else(|_| Node::Str(v.to_string()), Node::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(KeyText(key)) = map.next_key::<KeyText>()? {
            let value = map.next_value::<Node>()?;
            if key == TOML_DATETIME_KEY {
                if let Node::Str(text) = value {
                    return Ok(Node::Str(text));
                }
            }
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// A map key of any scalar type, kept as text (YAML allows `418: 404`).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Node::deserialize(deserializer)? {
            Node::Str(s) => Ok(KeyText(s)),
            Node::Int(i) => Ok(KeyText(i.to_string())),
            Node::Float(x) => Ok(KeyText(x.to_string())),
            Node::Bool(b) => Ok(KeyText(b.to_string())),
            Node::Null | Node::Bare => Ok(KeyText(String::new())),
            Node::List(_) | Node::Map(_) => Err(de::Error::custom(
                "a map key must be a plain value, not a list or a map",
            )),
        }
    }
}

/// Builds a [`Node`] from flat `path → value` pairs (flags, env vars, labels, KV).
///
/// Path segments are merged case-insensitively, keeping the first spelling seen, so
/// `--entryPoints.web.address` and `--entrypoints.web.http.tls` land in one `entryPoints.web`.
#[derive(Debug, Default)]
pub(crate) struct KeyTree {
    value: Option<Node>,
    children: Vec<(String, KeyTree)>,
}

impl KeyTree {
    /// Sets the value at `path`, creating intermediate levels.
    pub(crate) fn insert(&mut self, path: &[String], value: Node) {
        let mut node = self;
        for segment in path {
            let position = node
                .children
                .iter()
                .position(|(name, _)| name.eq_ignore_ascii_case(segment));
            let index = match position {
                Some(index) => index,
                None => {
                    node.children.push((segment.clone(), KeyTree::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[index].1;
        }
        node.value = Some(value);
    }

    /// Converts into a node: a level with children is a map (its own `true`-like value, as in
    /// `tls=true` beside `tls.certresolver=x`, only said "enabled"), a leaf is its value.
    pub(crate) fn into_node(self) -> Node {
        if self.children.is_empty() {
            return self.value.unwrap_or(Node::Null);
        }
        Node::Map(
            self.children
                .into_iter()
                .map(|(name, child)| (name, child.into_node()))
                .collect(),
        )
    }
}

/// Splits one path segment such as `domains[0]` into `domains` and `[0]`.
pub(crate) fn split_indices(segment: &str, out: &mut Vec<String>) {
    let mut rest = segment;
    let mut tail = Vec::new();
    while let Some(open) = rest.rfind('[') {
        let candidate = &rest[open..];
        if candidate.ends_with(']') && parse_index(candidate).is_some() && open > 0 {
            tail.push(candidate.to_string());
            rest = &rest[..open];
        } else {
            break;
        }
    }
    out.push(rest.to_string());
    out.extend(tail.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("[12]"), Some(12));
        assert_eq!(parse_index("[]"), None);
        assert_eq!(parse_index("a"), None);
        assert_eq!(parse_index("-1"), None);
    }

    #[test]
    fn splits_indexed_segments() {
        let mut out = Vec::new();
        split_indices("domains[0]", &mut out);
        split_indices("plain", &mut out);
        split_indices("m[1][2]", &mut out);
        assert_eq!(out, ["domains", "[0]", "plain", "m", "[1]", "[2]"]);
    }

    #[test]
    fn key_tree_merges_case_insensitively() {
        let mut tree = KeyTree::default();
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        tree.insert(&path("entryPoints.web.address"), Node::Str(":80".into()));
        tree.insert(&path("entrypoints.WEB.reusePort"), Node::Bare);
        let node = tree.into_node();
        let Node::Map(top) = node else { panic!("map") };
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, "entryPoints");
        let Node::Map(eps) = &top[0].1 else {
            panic!("map")
        };
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].0, "web");
    }
}
