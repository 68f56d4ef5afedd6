//! The serde access types the deserializer hands to visitors: list items, data maps (names kept
//! exactly), struct sections (keys matched to fields without regard to case, unknown keys
//! rejected with a suggestion) and enum variants. Each one adds its key or index to errors
//! coming back from below, which is how error paths are built.

use std::borrow::Cow;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::de::{DeError, ErrorKind, NodeDe, Segment, EMPTY_MAP, NULL};
use super::node::Node;

/// The elements of a list, a `[n]`-keyed map, or a comma-separated string.
pub(super) struct Items<'a> {
    items: Vec<(usize, Cow<'a, Node>)>,
    next: usize,
}

impl<'a> Items<'a> {
    pub(super) fn borrowed(items: &'a [Node]) -> Self {
        Items {
            items: items
                .iter()
                .enumerate()
                .map(|(i, n)| (i, Cow::Borrowed(n)))
                .collect(),
            next: 0,
        }
    }

    pub(super) fn indexed(items: Vec<(usize, &'a Node)>) -> Self {
        Items {
            items: items
                .into_iter()
                .map(|(i, n)| (i, Cow::Borrowed(n)))
                .collect(),
            next: 0,
        }
    }

    pub(super) fn owned(items: Vec<Node>) -> Self {
        Items {
            items: items
                .into_iter()
                .enumerate()
                .map(|(i, n)| (i, Cow::Owned(n)))
                .collect(),
            next: 0,
        }
    }
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((index, node)) = self.items.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        seed.deserialize(NodeDe::new(node))
            .map(Some)
            .map_err(|e| e.within(Segment::Index(*index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.next)
    }
}

/// The entries of a map whose keys are data (names), passed through exactly.
pub(super) struct Entries<'a> {
    entries: &'a [(String, Node)],
    next: usize,
}

impl<'a> Entries<'a> {
    pub(super) fn new(entries: &'a [(String, Node)]) -> Self {
        Entries { entries, next: 0 }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let key_node = Node::Str(key.clone());
        seed.deserialize(NodeDe::new(&key_node))
            .map(Some)
            .map_err(|e| e.within(Segment::Key(key.clone())))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.entries.get(self.next) else {
            return Err(DeError::new(
                ErrorKind::Invalid,
                "value requested past the end of a map",
            ));
        };
        self.next += 1;
        seed.deserialize(NodeDe::new(value))
            .map_err(|e| e.within(Segment::Key(key.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

/// The entries of a map matched against a struct's fields, case-insensitively.
pub(super) struct Fields<'a> {
    /// (canonical field name, key as written, value)
    fields: Vec<(&'static str, String, Cow<'a, Node>)>,
    next: usize,
}

impl<'a> Fields<'a> {
    pub(super) fn new(
        entries: &'a [(String, Node)],
        names: &'static [&'static str],
    ) -> Result<Self, DeError> {
        let mut fields: Vec<(&'static str, String, Cow<'a, Node>)> =
            Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Some(canonical) = names.iter().find(|name| name.eq_ignore_ascii_case(key)) else {
                let message = unknown_key_message(key, names);
                return Err(
                    DeError::new(ErrorKind::UnknownKey, message).within(Segment::Key(key.clone()))
                );
            };
            // The same field spelled twice (`entryPoints` and `entrypoints`): merge the two.
            if let Some(existing) = fields.iter_mut().find(|(name, _, _)| name == canonical) {
                let merged = merge(existing.2.as_ref(), value);
                existing.2 = Cow::Owned(merged);
            } else {
                fields.push((canonical, key.clone(), Cow::Borrowed(value)));
            }
        }
        Ok(Fields { fields, next: 0 })
    }
}

/// "unknown key", with a suggestion when one name is a likely typo, else the valid names.
fn unknown_key_message(key: &str, names: &[&str]) -> String {
    if names.is_empty() {
        return format!("unknown key `{key}`: this section takes no options");
    }
    let lower = key.to_ascii_lowercase();
    let closest = names
        .iter()
        .map(|name| (edit_distance(&lower, &name.to_ascii_lowercase()), *name))
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((distance, name)) if distance <= (key.len() / 3).max(1) => {
            format!("unknown key `{key}`; did you mean `{name}`?")
        }
        _ => format!("unknown key `{key}`; valid keys here: {}", names.join(", ")),
    }
}

/// Levenshtein distance over bytes (keys are ASCII in practice), capped to keep it cheap.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Merges two spellings of one key: maps are concatenated (the next level merges again),
/// anything else is replaced by the later value.
fn merge(first: &Node, second: &Node) -> Node {
    match (first, second) {
        (Node::Map(a), Node::Map(b)) => Node::Map(a.iter().chain(b.iter()).cloned().collect()),
        _ => second.clone(),
    }
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((name, _, _)) = self.fields.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(name.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((_, key, value)) = self.fields.get(self.next) else {
            return Err(DeError::new(
                ErrorKind::Invalid,
                "value requested past the end of a section",
            ));
        };
        self.next += 1;
        seed.deserialize(NodeDe::new(value))
            .map_err(|e| e.within(Segment::Key(key.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len() - self.next)
    }
}

/// An enum variant, given as a bare name or as a one-entry map.
pub(super) struct Variant<'a> {
    pub(super) name: &'static str,
    pub(super) value: Option<&'a Node>,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), DeError> {
        let value = seed.deserialize(self.name.into_deserializer())?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for Variant<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(NodeDe::new(self.value.unwrap_or(&NULL)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(NodeDe::new(self.value.unwrap_or(&NULL)), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(
            NodeDe::new(self.value.unwrap_or(&EMPTY_MAP)),
            "",
            fields,
            visitor,
        )
    }
}
