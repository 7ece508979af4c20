//! Where each node of a YAML document stands, by its path from the root.
//!
//! serde_yaml deserializes into our types but forgets positions, so the load
//! stage walks the same text once more with an event parser and records the
//! line and column of every mapping entry and sequence item. Types built from
//! the serde output then look their positions up by path.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineCol {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1.
    pub col: u32,
}

/// The positions as a tree mirroring the document, so that recording a node
/// and looking one up cost a walk down its path, with no path copied.
#[derive(Debug, Default)]
pub struct PositionIndex {
    nodes: Vec<Node>,
    /// Keys written twice in one mapping, in document order.
    pub duplicates: Vec<Duplicate>,
    /// Whether the whole text parsed (else the index stops at the error).
    pub complete: bool,
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

/// Mappings with more keys than this get a hash index, so that a mapping of
/// 200,000 keys is built and searched in linear time.
const INDEXED_FROM: usize = 16;

#[derive(Debug, Default)]
struct Node {
    at: LineCol,
    keys: Vec<(String, usize)>,
    by_key: Option<HashMap<String, usize>>,
    items: Vec<usize>,
}

impl Node {
    fn child(&self, key: &str) -> Option<usize> {
        match &self.by_key {
            Some(index) => index.get(key).copied(),
            None => self.keys.iter().find(|(k, _)| k == key).map(|(_, i)| *i),
        }
    }

    /// Records a key; returns the node of an earlier entry with this key.
    fn add_key(&mut self, key: String, child: usize) -> Option<usize> {
        let earlier = self.child(&key);
        if earlier.is_some() {
            return earlier;
        }
        if let Some(index) = &mut self.by_key {
            index.insert(key.clone(), child);
        } else if self.keys.len() >= INDEXED_FROM {
            let mut index: HashMap<String, usize> = self.keys.iter().cloned().collect();
            index.insert(key.clone(), child);
            self.by_key = Some(index);
        }
        self.keys.push((key, child));
        None
    }
}

impl PositionIndex {
    /// Never fails: on text the event parser rejects, the index simply stays
    /// partial; serde_yaml reports the syntax error itself.
    pub fn build(text: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        let complete = parser.load(&mut walker, false).is_ok();
        PositionIndex {
            nodes: walker.nodes,
            duplicates: walker.duplicates,
            complete,
        }
    }

    /// The keys of the root mapping.
    pub fn root_has_key(&self, key: &str) -> bool {
        self.nodes.first().is_some_and(|n| n.child(key).is_some())
    }

    /// The position of the node at `path`, or of its nearest ancestor that
    /// has one (a node built by serde defaults has no text of its own).
    pub fn find(&self, path: &[Seg]) -> LineCol {
        let Some(mut node) = self.nodes.first() else {
            return LineCol { line: 1, col: 1 };
        };
        for seg in path {
            let child = match seg {
                Seg::Key(k) => node.child(k),
                Seg::Index(i) => node.items.get(*i).copied(),
            };
            match child {
                Some(i) => node = &self.nodes[i],
                None => break,
            }
        }
        node.at
    }
}

enum Frame {
    /// `pending_key` holds the key whose value comes next; `item` is set
    /// for a mapping that is a sequence item, whose position is better
    /// taken from its first key than from where the parser says the block
    /// mapping starts.
    Map {
        node: usize,
        pending_key: Option<(String, LineCol)>,
        item: bool,
    },
    Seq {
        node: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    nodes: Vec<Node>,
    duplicates: Vec<Duplicate>,
    done: bool,
}

impl Walker {
    fn new_node(&mut self, at: LineCol) -> usize {
        self.nodes.push(Node {
            at,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// Called when a node (scalar, alias, or the start of a collection)
    /// begins. Returns the new node, or None when the node is a mapping key.
    fn begin_node(&mut self, at: LineCol, key_text: Option<&str>) -> Option<usize> {
        let parent = match self.stack.last_mut() {
            None => {
                return Some(if self.nodes.is_empty() {
                    self.new_node(at)
                } else {
                    0
                })
            }
            Some(Frame::Map {
                node,
                pending_key,
                item,
            }) => {
                if pending_key.is_none() {
                    if std::mem::take(item) {
                        self.nodes[*node].at = at;
                    }
                    *pending_key = Some((key_text.unwrap_or("?").to_string(), at));
                    return None;
                }
                let (key, key_at) = pending_key.take().expect("checked above");
                let parent = *node;
                // The entry's position is its key's: that is the line a
                // reader looks at for `expect:` or `$.a.b: 1`.
                let child = self.new_node(key_at);
                if let Some(first) = self.nodes[parent].add_key(key.clone(), child) {
                    let first = self.nodes[first].at;
                    self.duplicates.push(Duplicate {
                        key,
                        first,
                        second: key_at,
                    });
                }
                return Some(child);
            }
            Some(Frame::Seq { node }) => *node,
        };
        let child = self.new_node(at);
        self.nodes[parent].items.push(child);
        Some(child)
    }

    /// A scalar or an alias: a node that begins and ends at once.
    fn leaf(&mut self, at: LineCol, text: Option<&str>) {
        self.begin_node(at, text);
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        let at = LineCol {
            line: mark.line() as u32,
            col: mark.col() as u32 + 1,
        };
        match ev {
            Event::Scalar(text, ..) => self.leaf(at, Some(&text)),
            Event::Alias(_) => self.leaf(at, None),
            Event::MappingStart(..) => {
                let item = matches!(self.stack.last(), Some(Frame::Seq { .. }));
                // A complex key (a mapping as a key) is not part of our
                // format: walk it in a throw-away node.
                let node = match self.begin_node(at, None) {
                    Some(n) => n,
                    None => self.new_node(at),
                };
                self.stack.push(Frame::Map {
                    node,
                    pending_key: None,
                    item,
                });
            }
            Event::SequenceStart(..) => {
                let node = match self.begin_node(at, None) {
                    Some(n) => n,
                    None => self.new_node(at),
                };
                self.stack.push(Frame::Seq { node });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segs: &[Seg]) -> Vec<Seg> {
        segs.to_vec()
    }

    #[test]
    fn records_mapping_entries_and_sequence_items() {
        let text = "name: demo\nrequests:\n  - name: a\n    url: /a\n    expect:\n      json:\n        $.x.y: 1\n  - name: b\n    url: /b\n";
        let idx = PositionIndex::build(text);
        assert_eq!(idx.find(&p(&["name".into()])).line, 1);
        assert_eq!(
            idx.find(&p(&["requests".into(), 0.into()])),
            LineCol { line: 3, col: 5 }
        );
        assert_eq!(
            idx.find(&p(&["requests".into(), 0.into(), "url".into()]))
                .line,
            4
        );
        let json_entry = p(&[
            "requests".into(),
            0.into(),
            "expect".into(),
            "json".into(),
            "$.x.y".into(),
        ]);
        assert_eq!(idx.find(&json_entry), LineCol { line: 7, col: 9 });
        assert_eq!(
            idx.find(&p(&["requests".into(), 1.into(), "url".into()]))
                .line,
            9
        );
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let text = "requests:\n  - name: a\n";
        let idx = PositionIndex::build(text);
        let missing = p(&[
            "requests".into(),
            0.into(),
            "expect".into(),
            "status".into(),
        ]);
        assert_eq!(idx.find(&missing).line, 2);
    }

    #[test]
    fn keys_written_twice_in_one_mapping_are_recorded_with_both_places() {
        let text = "vars:\n  a: 1\n  b: 2\n  a: 3\nheaders: {X: 1, \"X\": 2}\nvars2:\n  a: 1\n";
        let idx = PositionIndex::build(text);
        assert_eq!(
            idx.duplicates,
            vec![
                Duplicate {
                    key: "a".into(),
                    first: LineCol { line: 2, col: 3 },
                    second: LineCol { line: 4, col: 3 }
                },
                Duplicate {
                    key: "X".into(),
                    first: LineCol { line: 5, col: 11 },
                    second: LineCol { line: 5, col: 17 }
                },
            ]
        );
    }

    #[test]
    fn wide_mappings_are_found_by_hash() {
        let text: String = (0..1000).map(|i| format!("k{i}: {i}\n")).collect();
        let idx = PositionIndex::build(&text);
        assert_eq!(idx.find(&p(&["k999".into()])).line, 1000);
        assert!(idx.duplicates.is_empty());
    }

    #[test]
    fn flow_collections_are_indexed_too() {
        let text = "a: {b: [1, {c: 2}]}\n";
        let idx = PositionIndex::build(text);
        let c = p(&["a".into(), "b".into(), 1.into(), "c".into()]);
        assert_eq!(idx.find(&c), LineCol { line: 1, col: 13 });
    }
}
