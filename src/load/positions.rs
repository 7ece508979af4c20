//! Where each node of a YAML document stands, by its path from the root.
//!
//! serde_yaml deserializes into our types but forgets positions, so the load
//! stage walks the same text once more with an event parser and records the
//! line and column of every mapping entry and sequence item. Types built from
//! the serde output then look their positions up by path.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
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
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Default)]
pub struct PositionIndex {
    by_path: HashMap<Vec<Seg>, LineCol>,
}

impl PositionIndex {
    /// Never fails: on text the event parser rejects, the index simply stays
    /// partial; serde_yaml reports the syntax error itself.
    pub fn build(text: &str) -> Self {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut walker, false);
        PositionIndex {
            by_path: walker.index,
        }
    }

    /// The position of the node at `path`, or of its nearest ancestor that
    /// has one (a node built by serde defaults has no text of its own).
    pub fn find(&self, path: &[Seg]) -> LineCol {
        let mut len = path.len();
        loop {
            if let Some(at) = self.by_path.get(&path[..len]) {
                return *at;
            }
            if len == 0 {
                return LineCol { line: 1, col: 1 };
            }
            len -= 1;
        }
    }
}

enum Frame {
    /// `item_path` is set for a mapping that is a sequence item: its first
    /// key is a better position for the item than where the parser says
    /// the block mapping starts.
    Map {
        key: Option<Seg>,
        key_at: LineCol,
        item_path: Option<Vec<Seg>>,
    },
    Seq {
        next: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    path: Vec<Seg>,
    index: HashMap<Vec<Seg>, LineCol>,
    done: bool,
}

impl Walker {
    /// Called when a node (scalar, alias, or the start of a collection)
    /// begins. Returns true when the node is a mapping key.
    fn begin_node(&mut self, at: LineCol, key_text: Option<&str>) -> bool {
        match self.stack.last_mut() {
            None => {
                self.index.entry(Vec::new()).or_insert(at);
                false
            }
            Some(Frame::Map {
                key,
                key_at,
                item_path,
            }) => {
                if key.is_none() {
                    *key = Some(Seg::Key(key_text.unwrap_or("?").to_string()));
                    *key_at = at;
                    if let Some(path) = item_path.take() {
                        self.index.insert(path, at);
                    }
                    true
                } else {
                    // The entry's position is its key's: that is the line a
                    // reader looks at for `expect:` or `$.a.b: 1`.
                    let seg = key.clone().expect("checked above");
                    let mut path = self.path.clone();
                    path.push(seg.clone());
                    self.index.entry(path).or_insert(*key_at);
                    self.path.push(seg);
                    false
                }
            }
            Some(Frame::Seq { next }) => {
                let seg = Seg::Index(*next);
                *next += 1;
                let mut path = self.path.clone();
                path.push(seg.clone());
                self.index.entry(path).or_insert(at);
                self.path.push(seg);
                false
            }
        }
    }

    /// A scalar or an alias: a node that begins and ends at once, unless it
    /// is a mapping key, which only names the value to come.
    fn leaf(&mut self, at: LineCol, text: Option<&str>) {
        if !self.begin_node(at, text) {
            self.end_node();
        }
    }

    /// Called when a node ends (a scalar right away, a collection at its end).
    fn end_node(&mut self) {
        match self.stack.last_mut() {
            None => {}
            Some(Frame::Map { key, .. }) => {
                *key = None;
                self.path.pop();
            }
            Some(Frame::Seq { .. }) => {
                self.path.pop();
            }
        }
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
                let in_sequence = matches!(self.stack.last(), Some(Frame::Seq { .. }));
                let is_key = self.begin_node(at, None);
                if is_key {
                    // Complex keys are not part of our format; keep walking
                    // without recording anything under them.
                    self.path.push(Seg::Key("?".into()));
                }
                self.stack.push(Frame::Map {
                    key: None,
                    key_at: at,
                    item_path: in_sequence.then(|| self.path.clone()),
                });
            }
            Event::SequenceStart(..) => {
                let is_key = self.begin_node(at, None);
                if is_key {
                    self.path.push(Seg::Key("?".into()));
                }
                self.stack.push(Frame::Seq { next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.end_node();
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
    fn flow_collections_are_indexed_too() {
        let text = "a: {b: [1, {c: 2}]}\n";
        let idx = PositionIndex::build(text);
        let c = p(&["a".into(), "b".into(), 1.into(), "c".into()]);
        assert_eq!(idx.find(&c), LineCol { line: 1, col: 13 });
    }
}
