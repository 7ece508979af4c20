//! The one YAML parse of the load stage. saphyr-parser's events, each with
//! its span, build a compact tree: serde deserializes our types from it
//! ([`de`]), and every node keeps its line and column, for the model and
//! for errors. (serde_yaml forgets positions, so it once took a second parse
//! of every file to find them.)

mod de;
mod fast;

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, SpannedEventReceiver, Tag};

/// One step of a path from the document's root: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// The entry under this key.
    Key(String),
    /// The item at this index, from 0.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_string())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// Line (1-based) and column (1-based) of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct LineCol {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub col: u32,
}

impl LineCol {
    fn of(mark: &Marker) -> Self {
        LineCol {
            line: mark.line() as u32,
            col: mark.col() as u32 + 1,
        }
    }
}

/// A key written twice in one mapping: YAML parsers keep the last one, so
/// whatever the first said would silently vanish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key.
    pub key: String,
    /// Where it is written first.
    pub first: LineCol,
    /// Where it is written again.
    pub second: LineCol,
}

/// A node found by a path, and the position [`Document::find`] gives it.
#[derive(Debug, Clone, Copy)]
pub struct Located {
    node: Option<u32>,
    /// Where the path's last step is written.
    pub at: LineCol,
}

/// Text that is not YAML: where the parser stopped, and why.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where.
    pub at: LineCol,
    /// Why, as the parser says it.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `plain` for an unquoted scalar, whose type its text decides;
    /// `string` when tagged `!!str`.
    Scalar {
        plain: bool,
        string: bool,
    },
    Seq,
    Map,
}

/// A node: scalars hold a range of [`Document::text`], collections a range
/// of [`Document::children`] (a mapping's key, then its value, per entry).
/// Its kind rides in the low bits of its length: 16 bytes a node, not 20.
#[derive(Debug, Clone, Copy)]
struct Node {
    at: LineCol,
    start: u32,
    kind_len: u32,
}

/// Three bits of kind (and one spare).
const KIND_BITS: u32 = 4;
const KIND_MASK: u32 = 0b111;

/// The longest text a document may have, so that every length fits.
const MAX_TEXT: usize = (u32::MAX >> KIND_BITS) as usize;

impl Node {
    fn new(at: LineCol, kind: Kind) -> Node {
        let code = match kind {
            Kind::Scalar { plain, string } => u32::from(plain) | u32::from(string) << 1,
            Kind::Seq => 4,
            Kind::Map => 5,
        };
        Node {
            at,
            start: 0,
            kind_len: code,
        }
    }

    fn kind(&self) -> Kind {
        match self.kind_len & KIND_MASK {
            4 => Kind::Seq,
            5 => Kind::Map,
            code => Kind::Scalar {
                plain: code & 1 != 0,
                string: code & 2 != 0,
            },
        }
    }

    fn len(&self) -> u32 {
        self.kind_len >> KIND_BITS
    }

    fn set_range(&mut self, start: usize, len: usize) {
        self.start = start as u32;
        self.kind_len = (len as u32) << KIND_BITS | (self.kind_len & ((1 << KIND_BITS) - 1));
    }
}

/// Mappings with more keys than this get a hash index, so that a mapping of
/// 200,000 keys is built and searched in linear time.
const INDEXED_FROM: u32 = 16;

/// How deep collections may nest (serde_yaml's limit): reading and
/// dropping a tree recurses once per level.
const MAX_DEPTH: usize = 128;

/// How many nodes aliases may repeat in all: a few lines of anchors could
/// otherwise stand for billions of nodes.
const MAX_REPEATED: u64 = 1_000_000;

/// A parsed YAML document: its nodes and where each one is written.
#[derive(Debug, Default)]
pub struct Document {
    nodes: Vec<Node>,
    children: Vec<u32>,
    /// The text of the scalars, each written once however often it is
    /// repeated (collections repeat URLs, headers and assertions): the
    /// input itself is not kept.
    text: String,
    /// The hash indexes of wide mappings: node → key → entry number.
    wide: HashMap<u32, HashMap<Box<str>, u32>>,
    root: Option<u32>,
    /// Keys written twice in one mapping, in document order.
    pub duplicates: Vec<Duplicate>,
}

impl Document {
    /// Parses `input` (a leading byte-order mark skipped), which must hold
    /// at most one document.
    pub fn parse(input: impl Into<String>) -> Result<Document, SyntaxError> {
        Document::parse_with(input.into(), true)
    }

    /// [`Document::parse`], trying the [`fast`] scanner first when `fast`.
    fn parse_with(input: String, fast: bool) -> Result<Document, SyntaxError> {
        let text = input.strip_prefix('\u{FEFF}').unwrap_or(&input);
        if text.len() > MAX_TEXT {
            return Err(SyntaxError {
                at: LineCol { line: 1, col: 1 },
                message: format!(
                    "{} bytes: a document may have at most {MAX_TEXT}",
                    text.len()
                ),
            });
        }
        let builder = build(&input, input.len() - text.len(), fast)?;
        if let Some(e) = builder.error {
            return Err(e);
        }
        let mut doc = builder.doc;
        doc.duplicates.sort_by_key(|d| d.second);
        // The slack of growing is freed before the load's next peak.
        doc.nodes.shrink_to_fit();
        doc.children.shrink_to_fit();
        doc.text.shrink_to_fit();
        Ok(doc)
    }

    /// The root, located.
    pub fn root_located(&self) -> Located {
        match self.root {
            Some(root) => Located {
                node: Some(root),
                at: self.nodes[root as usize].at,
            },
            None => Located {
                node: None,
                at: LineCol { line: 1, col: 1 },
            },
        }
    }

    /// The entry under `key` of `from` (where its key is written): past a
    /// missing step nothing more is found and the position stays.
    pub fn step_key(&self, from: Located, key: &str) -> Located {
        let found = from.node.and_then(|node| self.entry(node, key));
        self.stepped(from, found)
    }

    /// The item at `index` of `from`, as [`Document::step_key`].
    pub fn step_index(&self, from: Located, index: usize) -> Located {
        let found = from
            .node
            .and_then(|node| self.items(node).get(index).map(|&item| (item, item)));
        self.stepped(from, found)
    }

    fn stepped(&self, from: Located, found: Option<(u32, u32)>) -> Located {
        match found {
            Some((place, value)) => Located {
                node: Some(value),
                at: self.nodes[place as usize].at,
            },
            None => Located { node: None, ..from },
        }
    }

    /// Whether the root is a mapping with this key.
    pub fn root_has_key(&self, key: &str) -> bool {
        self.root.and_then(|r| self.entry(r, key)).is_some()
    }

    /// The position of the node at `path` (an entry's is its key's), or of
    /// its nearest ancestor that has one (a node built by serde defaults
    /// has no text of its own).
    pub fn find<'s>(&self, path: impl IntoIterator<Item = &'s Seg>) -> LineCol {
        path.into_iter()
            .fold(self.root_located(), |from, seg| match seg {
                Seg::Key(k) => self.step_key(from, k),
                Seg::Index(i) => self.step_index(from, *i),
            })
            .at
    }

    /// Whether the node `found` is a mapping with `key`.
    pub fn has_key(&self, found: Located, key: &str) -> bool {
        found.node.and_then(|n| self.entry(n, key)).is_some()
    }

    /// The key node and value node of `key` in mapping `map`.
    fn entry(&self, map: u32, key: &str) -> Option<(u32, u32)> {
        let node = self.nodes[map as usize];
        if node.kind() != Kind::Map {
            return None;
        }
        // Only a wide mapping has an index: no hashing for the others.
        let index = (node.len() / 2 > INDEXED_FROM)
            .then(|| self.wide.get(&map))
            .flatten();
        if let Some(index) = index {
            let entry = *index.get(key)? as usize;
            let pairs = self.pairs(map);
            return Some((pairs[2 * entry], pairs[2 * entry + 1]));
        }
        self.pairs(map)
            .chunks(2)
            .find(|p| self.scalar(p[0]) == Some(key))
            .map(|p| (p[0], p[1]))
    }

    /// The items of a sequence; empty for any other node.
    fn items(&self, node: u32) -> &[u32] {
        let n = self.nodes[node as usize];
        match n.kind() {
            Kind::Seq => &self.children[n.start as usize..(n.start + n.len()) as usize],
            _ => &[],
        }
    }

    /// A mapping's key and value nodes, alternating.
    fn pairs(&self, node: u32) -> &[u32] {
        let n = self.nodes[node as usize];
        &self.children[n.start as usize..(n.start + n.len()) as usize]
    }

    /// A scalar's text; `None` for a collection.
    fn scalar(&self, node: u32) -> Option<&str> {
        let n = self.nodes[node as usize];
        match n.kind() {
            Kind::Scalar { .. } => Some(&self.text[n.start as usize..(n.start + n.len()) as usize]),
            _ => None,
        }
    }
}

/// The tree of `input` from byte `from` on: by the fast scanner when
/// `fast` and the text is in its subset, else from saphyr-parser's events.
fn build(input: &str, from: usize, fast: bool) -> Result<Builder<'_>, SyntaxError> {
    let text = &input[from..];
    if fast {
        let mut builder = Builder {
            input,
            ..Builder::default()
        };
        if fast::build(text, &mut builder).is_some() {
            return Ok(builder);
        }
    }
    let mut builder = Builder {
        input,
        ..Builder::default()
    };
    // Event by event, not the parser's recursive loader: a deep
    // document stops at the builder's depth limit, not the stack's.
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxError {
            at: LineCol::of(e.marker()),
            message: e.info().to_string(),
        })?;
        builder.on_event(event, span);
        if builder.error.is_some() {
            break;
        }
    }
    Ok(builder)
}

#[derive(Default)]
struct Builder<'a> {
    doc: Document,
    /// The text parsed: a lent scalar is a range of it.
    input: &'a str,
    /// Where each text lent from the input is in [`Document::text`].
    interned: foldhash::HashMap<&'a str, u32>,
    /// Open collections: their node, and where their children start in
    /// `scratch` (children are moved to the document when it closes, so
    /// that each collection's children lie side by side).
    open: Vec<(u32, usize)>,
    scratch: Vec<u32>,
    anchors: HashMap<usize, u32>,
    /// Each node's size with everything under it, for the alias budget.
    sizes: Vec<u32>,
    repeated: u64,
    documents: u32,
    error: Option<SyntaxError>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, at: LineCol, kind: Kind, anchor: usize) -> u32 {
        let id = self.doc.nodes.len() as u32;
        self.doc.nodes.push(Node::new(at, kind));
        self.sizes.push(1);
        if anchor != 0 {
            self.anchors.insert(anchor, id);
        }
        id
    }

    fn attach(&mut self, id: u32) {
        if self.open.is_empty() {
            self.doc.root = Some(id);
        } else {
            self.scratch.push(id);
        }
    }

    fn scalar(&mut self, at: LineCol, text: &str, style: ScalarStyle, tag: bool, anchor: usize) {
        let kind = Kind::Scalar {
            plain: style == ScalarStyle::Plain && !tag,
            string: tag,
        };
        if text.len() > MAX_TEXT {
            // An escape can make a scalar longer than its source.
            return self.fail(at, format!("a text longer than {MAX_TEXT} bytes"));
        }
        if self.doc.text.len() + text.len() > u32::MAX as usize {
            return self.fail(at, format!("texts longer than {} bytes in all", u32::MAX));
        }
        let id = self.push(at, kind, anchor);
        // A text lent from the input is kept once, however often written.
        let input = self.input;
        let offset = (text.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
        let lent = input.get(offset..offset.wrapping_add(text.len()));
        let start = match lent.and_then(|lent| self.interned.get(lent)) {
            Some(&start) => start,
            None => {
                let start = self.doc.text.len() as u32;
                self.doc.text.push_str(text);
                if let Some(lent) = lent {
                    self.interned.insert(lent, start);
                }
                start
            }
        };
        self.doc.nodes[id as usize].set_range(start as usize, text.len());
        self.attach(id);
    }

    /// A sequence or mapping begins, no deeper than [`MAX_DEPTH`].
    fn open_node(&mut self, at: LineCol, kind: Kind, anchor: usize) {
        if self.open.len() >= MAX_DEPTH {
            return self.fail(at, format!("collections nested more than {MAX_DEPTH} deep"));
        }
        let id = self.push(at, kind, anchor);
        self.open.push((id, self.scratch.len()));
    }

    fn alias(&mut self, at: LineCol, anchor: usize) {
        let Some(&id) = self.anchors.get(&anchor) else {
            return self.fail(at, "an alias to an unknown anchor".into());
        };
        if self.open.iter().any(|(open, _)| *open == id) {
            // The node would hold itself: reading it would never end.
            return self.fail(at, "an alias inside the node it names".into());
        }
        self.repeated += u64::from(self.sizes[id as usize]);
        if self.repeated > MAX_REPEATED {
            return self.fail(
                at,
                format!("aliases repeat more than {MAX_REPEATED} nodes in all"),
            );
        }
        self.attach(id);
    }

    fn close(&mut self) {
        let Some((id, start)) = self.open.pop() else {
            return;
        };
        let kids = &self.scratch[start..];
        let size = kids
            .iter()
            .fold(1u32, |sum, k| sum.saturating_add(self.sizes[*k as usize]));
        self.sizes[id as usize] = size;
        let first = kids.first().copied();
        let node = &mut self.doc.nodes[id as usize];
        node.set_range(self.doc.children.len(), kids.len());
        self.doc.children.extend_from_slice(kids);
        self.scratch.truncate(start);
        if node.kind() == Kind::Map {
            // A mapping that is a sequence item stands where its first key
            // does, not where the parser says the block begins.
            let in_seq = self
                .open
                .last()
                .is_some_and(|(p, _)| self.doc.nodes[*p as usize].kind() == Kind::Seq);
            if let (true, Some(first)) = (in_seq, first) {
                self.doc.nodes[id as usize].at = self.doc.nodes[first as usize].at;
            }
            self.index_keys(id);
        }
        self.attach(id);
    }

    /// Records the keys a mapping has twice, and indexes a wide one.
    fn index_keys(&mut self, map: u32) {
        let doc = &self.doc;
        let pairs = doc.pairs(map);
        let key = |i: usize| doc.scalar(pairs[2 * i]);
        let mut twice = Vec::new();
        let mut record = |first: usize, second: usize, text: &str| {
            twice.push(Duplicate {
                key: text.to_string(),
                first: doc.nodes[pairs[2 * first] as usize].at,
                second: doc.nodes[pairs[2 * second] as usize].at,
            })
        };
        let n = pairs.len() / 2;
        if n as u32 <= INDEXED_FROM {
            // A few keys are compared with each other: no hashing.
            for i in 1..n {
                if let Some(text) = key(i) {
                    if let Some(first) = (0..i).find(|&j| key(j) == Some(text)) {
                        record(first, i, text);
                    }
                }
            }
        } else {
            let mut seen: HashMap<&str, usize> = HashMap::with_capacity(n);
            for i in 0..n {
                if let Some(text) = key(i) {
                    if let Some(&first) = seen.get(text) {
                        record(first, i, text);
                    } else {
                        seen.insert(text, i);
                    }
                }
            }
        }
        if n as u32 > INDEXED_FROM {
            let index = pairs
                .chunks(2)
                .enumerate()
                .filter_map(|(i, p)| Some((Box::from(doc.scalar(p[0])?), i as u32)))
                .collect();
            self.doc.wide.insert(map, index);
        }
        self.doc.duplicates.extend(twice);
    }

    fn fail(&mut self, at: LineCol, message: String) {
        self.error.get_or_insert(SyntaxError { at, message });
    }
}

/// Whether a tag says "string" (`!!str`).
fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| (t.handle == "!!" || t.handle == "tag:yaml.org,2002:") && t.suffix == "str")
}

impl<'input> SpannedEventReceiver<'input> for Builder<'_> {
    fn on_event(&mut self, ev: Event<'input>, span: Span) {
        if self.error.is_some() {
            return;
        }
        let at = LineCol::of(&span.start);
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        at,
                        "more than one document (`---`): a file holds one".into(),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(at, &text, style, is_str_tag(tag.as_deref()), anchor)
            }
            Event::Alias(anchor) => self.alias(at, anchor),
            Event::SequenceStart(anchor, _) => self.open_node(at, Kind::Seq, anchor),
            Event::MappingStart(anchor, _) => self.open_node(at, Kind::Map, anchor),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
