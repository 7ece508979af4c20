//! serde's view of a [`Document`]: our types are deserialized from its
//! tree, reading scalars as serde_yaml does (a plain `42` is a number where
//! any value may come and the text "42" where a string is wanted; `~`,
//! `null` and nothing are null; `0x1f`, `1e3`, `.inf` are numbers; `007` is
//! text), and every error says where: the node's line and column and its
//! path (`requests[0].expect`).

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{Document, Kind, LineCol, Located};

/// Why the document is not the type asked for: what, where, and the path
/// to the node (`requests[0].timeout`; empty at the root).
#[derive(Debug)]
pub struct YamlError {
    /// What is wrong.
    pub message: String,
    /// The node where it went wrong.
    pub at: Option<LineCol>,
    /// The node's path from the root.
    pub path: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for YamlError {}

impl de::Error for YamlError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        YamlError {
            message: msg.to_string(),
            at: None,
            path: String::new(),
        }
    }
}

type Result<T> = std::result::Result<T, YamlError>;

/// Where a node is, as serde_yaml writes it: `requests[0].expect`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    /// The path of a node read on its own (`requests[3]`).
    Prefix(&'a dyn fmt::Display),
    Seq {
        parent: &'a Path<'a>,
        index: usize,
    },
    Map {
        parent: &'a Path<'a>,
        key: &'a str,
    },
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Prefix(prefix) => prefix.fmt(f),
            Path::Seq { parent, index } => write!(f, "{parent}[{index}]"),
            Path::Map {
                parent: Path::Root,
                key,
            } => f.write_str(key),
            Path::Map { parent, key } => write!(f, "{parent}.{key}"),
        }
    }
}

impl Document {
    /// The document as a `T`; an empty document is null.
    pub fn deserialize<T: de::DeserializeOwned>(&self) -> Result<T> {
        match self.root {
            Some(id) => T::deserialize(Node {
                doc: self,
                id,
                path: &Path::Root,
            }),
            None => T::deserialize(().into_deserializer()).map_err(|e: YamlError| YamlError {
                at: Some(LineCol { line: 1, col: 1 }),
                ..e
            }),
        }
    }
}

impl Document {
    /// The node `found` as a `T`; its errors name their path after
    /// `prefix` (how a user names the node), written only for an error.
    pub fn deserialize_located<T: de::DeserializeOwned>(
        &self,
        found: Located,
        prefix: &dyn fmt::Display,
    ) -> Result<T> {
        let Some(id) = found.node else {
            return Err(de::Error::custom(format!(
                "{prefix}: nothing is written here"
            )));
        };
        let root = Path::Prefix(prefix);
        T::deserialize(Node {
            doc: self,
            id,
            path: &root,
        })
    }
}

/// One node of the tree, as a serde deserializer.
#[derive(Clone, Copy)]
struct Node<'d, 'p> {
    doc: &'d Document,
    id: u32,
    path: &'p Path<'p>,
}

impl<'d> Node<'d, '_> {
    fn kind(&self) -> Kind {
        self.doc.nodes[self.id as usize].kind()
    }

    fn text(&self) -> Option<&'d str> {
        self.doc.scalar(self.id)
    }

    /// `e`, placed at this node unless a node inside it already placed it.
    fn locate(&self, mut e: YamlError) -> YamlError {
        if e.at.is_none() {
            e.at = Some(self.doc.nodes[self.id as usize].at);
            e.path = self.path.to_string();
        }
        e
    }

    fn is_null(&self) -> bool {
        matches!(self.kind(), Kind::Scalar { plain: true, .. })
            && self.text().is_some_and(|t| t.is_empty() || is_null(t))
    }

    fn any<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
        let doc = self.doc;
        match self.kind() {
            Kind::Scalar { plain: true, .. } => plain(self.text().unwrap_or(""), visitor),
            Kind::Scalar { .. } => visitor.visit_borrowed_str(self.text().unwrap_or("")),
            Kind::Seq => visitor.visit_seq(Items {
                doc,
                items: doc.items(self.id),
                next: 0,
                path: self.path,
            }),
            Kind::Map => visitor.visit_map(Entries {
                doc,
                pairs: doc.pairs(self.id),
                next: 0,
                path: self.path,
            }),
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "~" | "null" | "Null" | "NULL")
}

/// A plain scalar as the type its text says.
fn plain<'d, V: Visitor<'d>>(text: &'d str, visitor: V) -> Result<V::Value> {
    if text.is_empty() || is_null(text) {
        return visitor.visit_unit();
    }
    match text {
        "true" | "True" | "TRUE" => return visitor.visit_bool(true),
        "false" | "False" | "FALSE" => return visitor.visit_bool(false),
        _ => {}
    }
    match int(text) {
        Some(n) if n >= 0 && n <= i128::from(u64::MAX) => return visitor.visit_u64(n as u64),
        Some(n) if n >= i128::from(i64::MIN) && n < 0 => return visitor.visit_i64(n as i64),
        _ => {}
    }
    if let Some(f) = float(text) {
        return visitor.visit_f64(f);
    }
    visitor.visit_borrowed_str(text)
}

/// Leading zeros then digits are text in YAML 1.2 (`007`, a zip code).
fn zero_padded(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

/// An integer: decimal, or `0x`, `0o`, `0b`, with an optional sign.
fn int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let (radix, digits) = if let Some(d) = digits.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = digits.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = digits.strip_prefix("0b") {
        (2, d)
    } else if zero_padded(text) {
        return None;
    } else {
        (10, digits)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let n = i128::from_str_radix(digits, radix).ok()?;
    Some(if negative { -n } else { n })
}

/// A float: decimal with a fraction or an exponent, or `.inf`, `.nan`.
fn float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if unsigned.starts_with(['+', '-']) && text.starts_with('+') {
        return None;
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let numeric = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !numeric || zero_padded(text) {
        return None;
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

macro_rules! through_any {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
            self.any(visitor).map_err(|e| self.locate(e))
        })*
    };
}

impl<'d> de::Deserializer<'d> for Node<'d, '_> {
    type Error = YamlError;

    through_any! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16
        deserialize_i32 deserialize_i64 deserialize_i128 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes
        deserialize_byte_buf deserialize_unit deserialize_seq deserialize_map
    }

    fn deserialize_str<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
        match self.text() {
            Some(text) => visitor.visit_borrowed_str(text),
            None => self.any(visitor),
        }
        .map_err(|e| self.locate(e))
    }

    fn deserialize_string<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
        if self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
        .map_err(|e| self.locate(e))
    }

    fn deserialize_unit_struct<V: Visitor<'d>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'d>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| self.locate(e))
    }

    fn deserialize_tuple<V: Visitor<'d>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'d>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'d>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'d>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let doc = self.doc;
        match (self.kind(), self.text()) {
            (_, Some(text)) => visitor.visit_enum(text.into_deserializer()),
            (Kind::Map, _) if doc.pairs(self.id).len() == 2 => {
                let pair = doc.pairs(self.id);
                visitor.visit_enum(Variant {
                    doc,
                    key: pair[0],
                    value: pair[1],
                    path: self.path,
                })
            }
            _ => Err(de::Error::custom(
                "expected a name, or a mapping with one key",
            )),
        }
        .map_err(|e| self.locate(e))
    }

    fn deserialize_ignored_any<V: Visitor<'d>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

/// A sequence's items, each under its index in the path.
struct Items<'d, 'p> {
    doc: &'d Document,
    items: &'d [u32],
    next: usize,
    path: &'p Path<'p>,
}

impl<'d> de::SeqAccess<'d> for Items<'d, '_> {
    type Error = YamlError;

    fn next_element_seed<T: DeserializeSeed<'d>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(&id) = self.items.get(self.next) else {
            return Ok(None);
        };
        let path = Path::Seq {
            parent: self.path,
            index: self.next,
        };
        self.next += 1;
        seed.deserialize(Node {
            doc: self.doc,
            id,
            path: &path,
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.next)
    }
}

/// A mapping's entries: a key is read at the mapping's path (an unknown
/// field is the mapping's fault), its value under the key.
struct Entries<'d, 'p> {
    doc: &'d Document,
    pairs: &'d [u32],
    next: usize,
    path: &'p Path<'p>,
}

impl<'d> de::MapAccess<'d> for Entries<'d, '_> {
    type Error = YamlError;

    fn next_key_seed<K: DeserializeSeed<'d>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(&id) = self.pairs.get(self.next) else {
            return Ok(None);
        };
        seed.deserialize(Node {
            doc: self.doc,
            id,
            path: self.path,
        })
        .map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'d>>(&mut self, seed: T) -> Result<T::Value> {
        let key = self.doc.scalar(self.pairs[self.next]).unwrap_or("?");
        let id = self.pairs[self.next + 1];
        self.next += 2;
        let path = Path::Map {
            parent: self.path,
            key,
        };
        seed.deserialize(Node {
            doc: self.doc,
            id,
            path: &path,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.pairs.len() - self.next) / 2)
    }
}

/// An enum written as a mapping of one key: `{variant: content}`.
struct Variant<'d, 'p> {
    doc: &'d Document,
    key: u32,
    value: u32,
    path: &'p Path<'p>,
}

impl<'d, 'p> de::EnumAccess<'d> for Variant<'d, 'p> {
    type Error = YamlError;
    type Variant = Node<'d, 'p>;

    fn variant_seed<V: DeserializeSeed<'d>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let key = Node {
            doc: self.doc,
            id: self.key,
            path: self.path,
        };
        let variant = seed.deserialize(key)?;
        Ok((
            variant,
            Node {
                doc: self.doc,
                id: self.value,
                path: self.path,
            },
        ))
    }
}

impl<'d> de::VariantAccess<'d> for Node<'d, '_> {
    type Error = YamlError;

    fn unit_variant(self) -> Result<()> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'d>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'d>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'d>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}
