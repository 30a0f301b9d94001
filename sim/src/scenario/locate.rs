//! Where each value of a scenario sits in its text: a path → line/column map.
//!
//! serde-saphyr reports the location of its own errors (syntax, types,
//! unknown keys), but a semantic mistake — an unknown merchant, a TMK too
//! short for its key mode — is found after deserialising, when the typed
//! [`Scenario`](super::Scenario) no longer knows its lines. Wrapping every
//! model field in `Spanned<T>` would spread through every type the world
//! reads, and its spans are lost under `#[serde(flatten)]` and internally
//! tagged enums (both used by faults). So the text is read a second time
//! into a generic tree whose every node is a [`Spanned`], and a
//! [`FieldPath`] is looked up in it.
//!
//! ```
//! use possim_sim::scenario::locate::Locations;
//! use possim_sim::scenario::FieldPath;
//! let text = "terminals:\n  - id: T1\n    tmk: ABCD\n";
//! let locations = Locations::of(text).unwrap();
//! let path = FieldPath::root().key("terminals").index(0).key("tmk");
//! assert_eq!(locations.find(&path), (3, 10));
//! ```

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::{FieldPath, Segment};

/// A YAML node with the location of every node below it.
#[derive(Debug, Clone)]
enum Node {
    Scalar,
    Seq(Vec<Spanned<Node>>),
    /// Keys in document order (duplicates are refused before this is built).
    Map(Vec<(String, Spanned<Node>)>),
}

/// The location map of one scenario text.
#[derive(Debug, Clone)]
pub struct Locations {
    root: Spanned<Node>,
}

impl Locations {
    /// Reads `text`; `None` if it is not YAML (the caller reports that
    /// through serde-saphyr's own error first).
    pub fn of(text: &str) -> Option<Locations> {
        serde_saphyr::from_str_with_options::<Spanned<Node>>(text, super::load::options())
            .ok()
            .map(|root| Locations { root })
    }

    /// Whether the value at `path` is written in the text.
    pub fn contains(&self, path: &FieldPath) -> bool {
        let mut node = &self.root;
        for segment in &path.0 {
            match Self::child(node, segment) {
                Some(child) => node = child,
                None => return false,
            }
        }
        true
    }

    fn child<'a>(node: &'a Spanned<Node>, segment: &Segment) -> Option<&'a Spanned<Node>> {
        match (&node.value, segment) {
            (Node::Map(entries), Segment::Key(key)) => {
                entries.iter().find(|(name, _)| name == key).map(|(_, value)| value)
            }
            (Node::Seq(items), Segment::Index(index)) => items.get(*index),
            _ => None,
        }
    }

    /// Line and column (from 1) of the value at `path`, or of its nearest
    /// ancestor written in the text when the value was left to its default.
    pub fn find(&self, path: &FieldPath) -> (u64, u64) {
        let mut node = &self.root;
        for segment in &path.0 {
            match Self::child(node, segment) {
                Some(child) => node = child,
                None => break,
            }
        }
        let location = node.referenced;
        // An empty document has no node location; point at its start.
        (location.line().max(1), location.column().max(1))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any yaml value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key.0, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text, whatever scalar it was written as.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KeyText, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<KeyText, E> {
                Ok(KeyText(value.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText(String::new()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_points_at_its_nearest_written_ancestor() {
        let text = "run:\n  tick_ms: 5\nlinks:\n  gprs:\n    latency_ms: {min: 9, max: 3}\n";
        let locations = Locations::of(text).unwrap();
        assert_eq!(locations.find(&FieldPath::keys("run.tick_ms")), (2, 12));
        assert_eq!(locations.find(&FieldPath::keys("links.gprs.latency_ms.min")), (5, 23));
        assert_eq!(locations.find(&FieldPath::keys("run.safety_ms")), (2, 3));
    }
}
