//! The serde `Deserializer` over a [`Node`] tree: case-insensitive struct fields, text coercion,
//! and error paths.
//!
//! Struct fields are matched to the keys of a map without regard to case (serde hands us the
//! canonical field names), and a key that matches no field is an error naming its full path.
//! Map keys (router names, header names) are kept exactly. Because flags, env vars, labels and KV
//! values are all text, strings are coerced on demand: `"true"` to a bool, `"8080"` to a number,
//! `"a,b"` to a list. Errors carry their key path, collected segment by segment on the way out so
//! that the happy path never builds paths.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Visitor};

use super::access::{Entries, Fields, Items, Variant};
use super::node::Node;
use crate::duration::DURATION_MARKER;

/// Name of the newtype through which [`super::section`] asks for "a section that may be
/// switched off with `false`".
pub(crate) const SECTION_MARKER: &str = "$switchyard::section";

pub(super) static EMPTY_MAP: Node = Node::Map(Vec::new());
pub(super) static NULL: Node = Node::Null;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// What kind of failure, so the caller can phrase it for its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// A key that matches no field of the section.
    UnknownKey,
    /// A flag without `=value` where a value is required.
    NeedsValue,
    /// Anything else (wrong type, bad value, missing field).
    Invalid,
}

/// The deserializer's error. `path` is stored innermost-first while the error travels up.
#[derive(Debug, Clone)]
pub(crate) struct DeError {
    pub(crate) path: Vec<Segment>,
    pub(crate) message: String,
    pub(crate) kind: ErrorKind,
}

impl DeError {
    pub(super) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DeError {
            path: Vec::new(),
            message: message.into(),
            kind,
        }
    }

    fn expected(what: &str, node: &Node) -> Self {
        if matches!(node, Node::Bare) {
            return DeError::new(
                ErrorKind::NeedsValue,
                format!("expected {what}, but no value was given"),
            );
        }
        DeError::new(
            ErrorKind::Invalid,
            format!("expected {what}, got {}", node.describe()),
        )
    }

    pub(super) fn within(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    /// The path from the root, outermost first.
    pub(crate) fn path_from_root(&self) -> impl Iterator<Item = &Segment> {
        self.path.iter().rev()
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(ErrorKind::Invalid, msg.to_string())
    }
}

/// A deserializer over one node. Generic over `'de` because it never lends out borrowed data.
pub(crate) struct NodeDe<'a> {
    node: &'a Node,
}

impl<'a> NodeDe<'a> {
    pub(crate) fn new(node: &'a Node) -> Self {
        NodeDe { node }
    }

    fn integer(&self, what: &str) -> Result<i128, DeError> {
        match self.node {
            Node::Int(i) => Ok(i128::from(*i)),
            Node::Float(x) if x.fract() == 0.0 && x.abs() < 1e30 => Ok(*x as i128),
            Node::Str(s) => {
                let t = s.trim();
                t.strip_prefix('+')
                    .unwrap_or(t)
                    .parse::<i128>()
                    .map_err(|_| DeError::expected(what, self.node))
            }
            _ => Err(DeError::expected(what, self.node)),
        }
    }

    fn float(&self) -> Result<f64, DeError> {
        match self.node {
            Node::Int(i) => Ok(*i as f64),
            Node::Float(x) => Ok(*x),
            Node::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| DeError::expected("a number", self.node)),
            _ => Err(DeError::expected("a number", self.node)),
        }
    }

    fn visit_integer<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        what: &str,
    ) -> Result<V::Value, DeError> {
        let value = self.integer(what)?;
        if let Ok(v) = i64::try_from(value) {
            visitor.visit_i64(v)
        } else if let Ok(v) = u64::try_from(value) {
            visitor.visit_u64(v)
        } else {
            Err(DeError::new(
                ErrorKind::Invalid,
                format!("number {value} is out of range"),
            ))
        }
    }

    /// True for the values that mean "this section, with defaults".
    fn is_enabling(&self) -> bool {
        match self.node {
            Node::Null | Node::Bare | Node::Bool(true) => true,
            Node::Str(s) => s.is_empty() || s.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    fn is_disabling(&self) -> bool {
        match self.node {
            Node::Bool(false) => true,
            Node::Str(s) => s.eq_ignore_ascii_case("false"),
            _ => false,
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("true") || t == "1" || t.eq_ignore_ascii_case("t") => {
            Some(true)
        }
        t if t.eq_ignore_ascii_case("false") || t == "0" || t.eq_ignore_ascii_case("f") => {
            Some(false)
        }
        _ => None,
    }
}

fn scalar_text(node: &Node) -> Option<Cow<'_, str>> {
    match node {
        Node::Str(s) => Some(Cow::Borrowed(s)),
        Node::Int(i) => Some(Cow::Owned(i.to_string())),
        Node::Float(x) => Some(Cow::Owned(x.to_string())),
        Node::Bool(b) => Some(Cow::Owned(b.to_string())),
        Node::Null => Some(Cow::Borrowed("")),
        Node::Bare | Node::List(_) | Node::Map(_) => None,
    }
}

macro_rules! forward_integer {
    ($($method:ident => $what:literal),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
                self.visit_integer(visitor, $what)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Null => visitor.visit_unit(),
            Node::Bare => visitor.visit_bool(true),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Int(i) => visitor.visit_i64(*i),
            Node::Float(x) => visitor.visit_f64(*x),
            Node::Str(s) => visitor.visit_str(s),
            Node::List(items) => visitor.visit_seq(Items::borrowed(items)),
            Node::Map(entries) => match self.node.as_indexed_list() {
                Some(items) => visitor.visit_seq(Items::indexed(items)),
                None => visitor.visit_map(Entries::new(entries)),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Bare => visitor.visit_bool(true),
            Node::Int(0) => visitor.visit_bool(false),
            Node::Int(1) => visitor.visit_bool(true),
            Node::Str(s) => match parse_bool(s) {
                Some(b) => visitor.visit_bool(b),
                None => Err(DeError::expected("a boolean (true or false)", self.node)),
            },
            _ => Err(DeError::expected("a boolean (true or false)", self.node)),
        }
    }

    forward_integer! {
        deserialize_i8 => "an integer",
        deserialize_i16 => "an integer",
        deserialize_i32 => "an integer",
        deserialize_i64 => "an integer",
        deserialize_i128 => "an integer",
        deserialize_u8 => "a non-negative integer",
        deserialize_u16 => "a non-negative integer",
        deserialize_u32 => "a non-negative integer",
        deserialize_u64 => "a non-negative integer",
        deserialize_u128 => "a non-negative integer",
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match scalar_text(self.node) {
            Some(text) => visitor.visit_str(&text),
            None => Err(DeError::expected("a string", self.node)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == DURATION_MARKER && matches!(self.node, Node::Bare) {
            return Err(DeError::expected("a duration such as `10s`", self.node));
        }
        if name == SECTION_MARKER {
            if self.is_disabling() {
                return visitor.visit_none();
            }
            if self.is_enabling() {
                return visitor.visit_newtype_struct(NodeDe::new(&EMPTY_MAP));
            }
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::List(items) => visitor.visit_seq(Items::borrowed(items)),
            Node::Map(_) => match self.node.as_indexed_list() {
                Some(items) => visitor.visit_seq(Items::indexed(items)),
                None => Err(DeError::expected("a list", self.node)),
            },
            Node::Null => visitor.visit_seq(Items::owned(Vec::new())),
            Node::Str(s) if s.trim().is_empty() => visitor.visit_seq(Items::owned(Vec::new())),
            // Text sources write lists as `a,b,c`.
            Node::Str(s) => visitor.visit_seq(Items::owned(
                s.split(',')
                    .map(|part| Node::Str(part.trim().to_string()))
                    .collect(),
            )),
            Node::Bool(_) | Node::Int(_) | Node::Float(_) => {
                visitor.visit_seq(Items::owned(vec![self.node.clone()]))
            }
            Node::Bare => Err(DeError::expected("a list", self.node)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Map(entries) => visitor.visit_map(Entries::new(entries)),
            _ if self.is_enabling() => visitor.visit_map(Entries::new(&[])),
            _ => Err(DeError::expected("a map", self.node)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node {
            Node::Map(entries) => visitor.visit_map(Fields::new(entries, fields)?),
            _ if self.is_enabling() => visitor.visit_map(Fields::new(&[], fields)?),
            _ => Err(DeError::expected("a section (a map of options)", self.node)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node {
            Node::Str(s) => {
                let canonical = variants
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| {
                        DeError::new(
                            ErrorKind::Invalid,
                            format!(
                                "unknown value {s:?}, expected one of: {}",
                                variants.join(", ")
                            ),
                        )
                    })?;
                visitor.visit_enum(Variant {
                    name: canonical,
                    value: None,
                })
            }
            Node::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let canonical = variants
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(key))
                    .ok_or_else(|| {
                        DeError::new(
                            ErrorKind::UnknownKey,
                            format!("unknown variant, expected one of: {}", variants.join(", ")),
                        )
                        .within(Segment::Key(key.clone()))
                    })?;
                visitor
                    .visit_enum(Variant {
                        name: canonical,
                        value: Some(value),
                    })
                    .map_err(|e| e.within(Segment::Key(key.clone())))
            }
            _ => Err(DeError::expected(
                &format!("one of: {}", variants.join(", ")),
                self.node,
            )),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}
