//! A scanner for the YAML that collections are written in: block mappings
//! and sequences, flow collections on one line, one-line plain and quoted
//! scalars without escapes, and comments. It builds the same tree, with the
//! same positions, as saphyr-parser's events do, at a fraction of the cost
//! (saphyr's scanner spends about 300 instructions a byte). Anything else
//! (flow collections over several lines, anchors, tags, block or multi-line
//! scalars, escapes, tabs, several documents, and every error) gives `None`,
//! and saphyr parses the text.

use super::{Builder, Kind, LineCol, MAX_DEPTH};
use saphyr_parser::ScalarStyle;

/// Builds `text` into `builder`; `None` when the text leaves the subset
/// (the builder is then half built and must be thrown away).
pub(super) fn build(text: &str, builder: &mut Builder<'_>) -> Option<()> {
    let ascii = plain_chars(text)?;
    let mut s = Scanner {
        text,
        bytes: text.as_bytes(),
        ascii,
        next: 0,
        line_no: 0,
        peeked: None,
        depth: 0,
        b: builder,
    };
    let first = s.peek()?;
    s.take();
    s.b.documents = 1;
    s.block(first)?;
    match s.peek() {
        None => Some(()),
        Some(_) => None,
    }
}

/// Whether every character is one the subset allows (`Some(true)` when they
/// are all ASCII): no tab, carriage return, control or YAML 1.1 line break.
fn plain_chars(text: &str) -> Option<bool> {
    let bytes = text.as_bytes();
    if bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == b'\n')
    {
        return Some(true);
    }
    let ok = text.chars().all(|c| match c {
        '\n' => true,
        c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => false,
        '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => false,
        _ => true,
    });
    ok.then_some(false)
}

/// A line with content (not blank, not only a comment), or the rest of
/// one after a `- ` that holds a node of its own.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// Its number, from 1.
    no: u32,
    /// Where the line starts in the text.
    start: usize,
    /// Where its content starts.
    at: usize,
    /// Where it ends (its newline, or the end of the text).
    end: usize,
    /// The column of its content, from 0.
    col: usize,
}

struct Scanner<'t, 'b, 'i> {
    text: &'t str,
    bytes: &'t [u8],
    ascii: bool,
    /// Where the next unread line starts.
    next: usize,
    /// The number of the last line read.
    line_no: u32,
    peeked: Option<Line>,
    depth: usize,
    b: &'b mut Builder<'i>,
}

/// What the start of a line's content is.
enum Start {
    /// A mapping key: its text, style and where its colon is.
    Key(usize, usize, ScalarStyle, usize),
    /// A sequence entry (`-` then a space or the line's end).
    Dash,
    /// Anything else: a scalar, if the subset has it.
    Other,
}

impl<'t> Scanner<'t, '_, '_> {
    /// The next line with content, not consumed (see [`Scanner::take`]);
    /// `None` at the end of the text.
    fn peek(&mut self) -> Option<Line> {
        if self.peeked.is_none() {
            self.peeked = self.read_line();
        }
        self.peeked
    }

    fn take(&mut self) {
        self.peeked = None;
    }

    fn read_line(&mut self) -> Option<Line> {
        while self.next < self.bytes.len() {
            let start = self.next;
            let end =
                memchr::memchr(b'\n', &self.bytes[start..]).map_or(self.bytes.len(), |i| start + i);
            self.next = end + 1;
            self.line_no += 1;
            let at = start
                + self.bytes[start..end]
                    .iter()
                    .take_while(|&&b| b == b' ')
                    .count();
            if at == end || self.bytes[at] == b'#' {
                continue;
            }
            return Some(Line {
                no: self.line_no,
                start,
                at,
                end,
                col: self.col(start, at),
            });
        }
        None
    }

    fn col(&self, start: usize, at: usize) -> usize {
        if self.ascii {
            at - start
        } else {
            self.text[start..at].chars().count()
        }
    }

    fn pos(&self, line: &Line, at: usize) -> LineCol {
        LineCol {
            line: line.no,
            col: self.col(line.start, at) as u32 + 1,
        }
    }

    /// Whether a line starts with something only saphyr reads: a document
    /// marker or a directive.
    fn marker(&self, line: &Line) -> bool {
        let rest = &self.bytes[line.at..line.end];
        line.col == 0 && (rest.starts_with(b"---") || rest.starts_with(b"...") || rest[0] == b'%')
    }

    /// The block collection whose first entry starts at `line.at`.
    fn block(&mut self, line: Line) -> Option<()> {
        if self.marker(&line) {
            return None;
        }
        match self.start(&line)? {
            Start::Dash => self.seq(line, false),
            Start::Key(..) => self.map(line),
            Start::Other => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth < MAX_DEPTH).then_some(())
    }

    /// The next line of a block whose entries are at column `n`, not
    /// consumed: `Some(None)` where the block ends, `None` for a line
    /// deeper than its entries (what only saphyr reads).
    fn sibling(&mut self, n: usize) -> Option<Option<Line>> {
        match self.peek() {
            Some(next) if next.col == n && !self.marker(&next) => Some(Some(next)),
            Some(next) if next.col > n => None,
            _ => Some(None),
        }
    }

    /// The collection [`Scanner::enter`] opened is done.
    fn leave(&mut self) {
        self.b.close();
        self.depth -= 1;
    }

    /// A block sequence: entries at `first.col`; an indentless one (under a
    /// key, at the key's column) ends at the first line that is not an entry.
    fn seq(&mut self, first: Line, indentless: bool) -> Option<()> {
        self.enter()?;
        let at = if indentless {
            // saphyr places it at its first item.
            let item = self.skip_spaces(first.at + 1, first.end);
            if item == first.end || self.bytes[item] == b'#' {
                return None;
            }
            self.pos(&first, item)
        } else {
            self.pos(&first, first.at)
        };
        self.b.open_node(at, Kind::Seq, 0);
        let n = first.col;
        let mut line = first;
        loop {
            self.entry(line)?;
            let Some(next) = self.sibling(n)? else {
                break;
            };
            if !matches!(self.start(&next)?, Start::Dash) {
                if indentless {
                    break;
                }
                return None;
            }
            self.take();
            line = next;
        }
        self.leave();
        Some(())
    }

    /// One `-` entry of a sequence at `line.col`.
    fn entry(&mut self, line: Line) -> Option<()> {
        let n = line.col;
        let rest = self.skip_spaces(line.at + 1, line.end);
        if rest == line.end {
            return match self.peek() {
                Some(next) if next.col > n => {
                    self.take();
                    self.block(next)
                }
                // saphyr places an empty entry at the end of its line.
                _ => {
                    self.empty(self.pos(&line, line.end));
                    Some(())
                }
            };
        }
        if self.bytes[rest] == b'#' {
            return None;
        }
        let inner = Line {
            at: rest,
            col: self.col(line.start, rest),
            ..line
        };
        match self.start(&inner)? {
            Start::Dash => self.seq(inner, false),
            Start::Key(..) => self.map(inner),
            Start::Other => {
                self.value(&inner)?;
                self.no_continuation(n)
            }
        }
    }

    /// A block mapping whose keys are at `first.col`.
    fn map(&mut self, first: Line) -> Option<()> {
        self.enter()?;
        self.b.open_node(self.pos(&first, first.at), Kind::Map, 0);
        let n = first.col;
        let mut line = first;
        loop {
            let Start::Key(from, to, style, colon) = self.start(&line)? else {
                return None;
            };
            self.scalar(&line, from, to, style);
            self.after_key(&line, colon)?;
            let Some(next) = self.sibling(n)? else {
                break;
            };
            self.take();
            line = next;
        }
        self.leave();
        Some(())
    }

    /// The value of the key on `line` whose colon is at `colon`.
    fn after_key(&mut self, line: &Line, colon: usize) -> Option<()> {
        let n = line.col;
        let rest = self.skip_spaces(colon + 1, line.end);
        if rest == line.end || self.bytes[rest] == b'#' {
            return match self.peek() {
                Some(next) if next.col > n => {
                    self.take();
                    self.block(next)
                }
                Some(next) if next.col == n && matches!(self.start(&next)?, Start::Dash) => {
                    self.take();
                    self.seq(next, true)
                }
                // saphyr places an empty value at its colon.
                _ => {
                    self.empty(self.pos(line, colon));
                    Some(())
                }
            };
        }
        let inner = Line {
            at: rest,
            col: self.col(line.start, rest),
            ..*line
        };
        if !matches!(self.start(&inner)?, Start::Other) {
            return None;
        }
        self.value(&inner)?;
        self.no_continuation(n)
    }

    /// A one-line scalar or flow collection as a value, with nothing after
    /// it but a comment.
    fn value(&mut self, line: &Line) -> Option<()> {
        let after = match self.bytes[line.at] {
            b'{' | b'[' => self.flow(line, line.at)?,
            q @ (b'"' | b'\'') => {
                let close = self.quoted(line, line.at, q)?;
                self.scalar(line, line.at + 1, close, style_of(q));
                close + 1
            }
            _ => {
                let to = self.plain_end(line)?;
                self.scalar(line, line.at, to, ScalarStyle::Plain);
                return Some(());
            }
        };
        let rest = self.skip_spaces(after, line.end);
        let comment = rest > after && rest < line.end && self.bytes[rest] == b'#';
        (rest == line.end || comment).then_some(())
    }

    /// A flow collection opening at `open` and closing on the same line,
    /// with keys and items the subset has; gives where it ends.
    fn flow(&mut self, line: &Line, open: usize) -> Option<usize> {
        self.enter()?;
        let (kind, close) = match self.bytes[open] {
            b'{' => (Kind::Map, b'}'),
            _ => (Kind::Seq, b']'),
        };
        self.b.open_node(self.pos(line, open), kind, 0);
        let mut i = self.skip_spaces(open + 1, line.end);
        if i == line.end {
            return None;
        }
        if self.bytes[i] != close {
            loop {
                if kind == Kind::Map {
                    i = self.flow_key(line, i)?;
                }
                i = self.flow_node(line, i)?;
                i = self.skip_spaces(i, line.end);
                match self.bytes.get(i) {
                    Some(b',') if i < line.end => {
                        i = self.skip_spaces(i + 1, line.end);
                        // A trailing comma or an empty entry: saphyr's.
                        if i >= line.end || matches!(self.bytes[i], b',' | b']' | b'}') {
                            return None;
                        }
                    }
                    Some(&c) if c == close && i < line.end => break,
                    _ => return None,
                }
            }
        }
        self.leave();
        Some(i + 1)
    }

    /// A key of a flow mapping at `i`, then `: `; gives where its value starts.
    fn flow_key(&mut self, line: &Line, i: usize) -> Option<usize> {
        let colon = match self.bytes[i] {
            q @ (b'"' | b'\'') => {
                let close = self.quoted(line, i, q)?;
                self.scalar(line, i + 1, close, style_of(q));
                self.skip_spaces(close + 1, line.end)
            }
            _ => {
                let (to, stop) = self.flow_plain(line, i, true)?;
                self.scalar(line, i, to, ScalarStyle::Plain);
                stop
            }
        };
        let spaced = self.bytes.get(colon + 1) == Some(&b' ');
        (colon < line.end && self.bytes[colon] == b':' && spaced)
            .then(|| self.skip_spaces(colon + 1, line.end))
            .filter(|&v| v < line.end)
    }

    /// A scalar or flow collection inside a flow collection; gives where
    /// it ends.
    fn flow_node(&mut self, line: &Line, i: usize) -> Option<usize> {
        match self.bytes[i] {
            b'{' | b'[' => self.flow(line, i),
            q @ (b'"' | b'\'') => {
                let close = self.quoted(line, i, q)?;
                self.scalar(line, i + 1, close, style_of(q));
                Some(close + 1)
            }
            _ => {
                let (to, stop) = self.flow_plain(line, i, false)?;
                self.scalar(line, i, to, ScalarStyle::Plain);
                Some(stop)
            }
        }
    }

    /// A plain scalar in a flow collection at `i`: where its text ends and
    /// where it stops (a flow indicator, or the colon of a `key`).
    fn flow_plain(&self, line: &Line, i: usize, key: bool) -> Option<(usize, usize)> {
        let b = self.bytes;
        let flow_end =
            |j: usize| j >= line.end || matches!(b[j], b' ' | b',' | b'[' | b']' | b'{' | b'}');
        if !plain_first(b[i], flow_end(i + 1)) {
            return None;
        }
        let mut j = i;
        while j < line.end {
            match b[j] {
                b',' | b'[' | b']' | b'{' | b'}' => break,
                b':' if flow_end(j + 1) => {
                    if key && b.get(j + 1) == Some(&b' ') {
                        break;
                    }
                    return None;
                }
                b'#' if b[j - 1] == b' ' => return None,
                _ => j += 1,
            }
        }
        (j < line.end).then(|| (trim_end(b, i, j), j))
    }

    /// A scalar on one line is not continued on the next: a line indented
    /// deeper than its entry (column `n`) would be.
    fn no_continuation(&mut self, n: usize) -> Option<()> {
        match self.peek() {
            Some(next) if next.col > n => None,
            _ => Some(()),
        }
    }

    /// What starts at `line.at`: a key, a sequence entry, or neither;
    /// `None` for what only saphyr reads.
    fn start(&self, line: &Line) -> Option<Start> {
        let b = self.bytes;
        let at = line.at;
        let spaced = |i: usize| i >= line.end || b[i] == b' ';
        match b[at] {
            b'-' if spaced(at + 1) => Some(Start::Dash),
            b'{' | b'[' => Some(Start::Other),
            q @ (b'"' | b'\'') => {
                let close = self.quoted(line, at, q)?;
                let colon = self.skip_spaces(close + 1, line.end);
                if colon < line.end && b[colon] == b':' && spaced(colon + 1) {
                    return short_key(at, colon).then_some(Start::Key(
                        at + 1,
                        close,
                        style_of(q),
                        colon,
                    ));
                }
                Some(Start::Other)
            }
            c if !plain_first(c, spaced(at + 1)) => None,
            _ => {
                let mut i = at;
                while let Some(found) = memchr::memchr2(b':', b'#', &b[i..line.end]) {
                    i += found;
                    match b[i] {
                        b':' if spaced(i + 1) => {
                            let key_end = trim_end(b, at, i);
                            return short_key(at, i).then_some(Start::Key(
                                at,
                                key_end,
                                ScalarStyle::Plain,
                                i,
                            ));
                        }
                        b'#' if b[i - 1] == b' ' => break,
                        _ => i += 1,
                    }
                }
                Some(Start::Other)
            }
        }
    }

    /// Where the quote opened at `open` closes, on the same line and with
    /// no escape before it.
    fn quoted(&self, line: &Line, open: usize, q: u8) -> Option<usize> {
        let body = &self.bytes[open + 1..line.end];
        let close = open + 1 + memchr::memchr(q, body)?;
        let escaped = match q {
            b'"' => self.bytes[open + 1..close].contains(&b'\\'),
            _ => self.bytes.get(close + 1) == Some(&b'\''),
        };
        (!escaped).then_some(close)
    }

    /// The end of a plain scalar value at `line.at` (its trailing spaces
    /// and comment left out); `None` when a `: ` in it makes it a mapping.
    fn plain_end(&self, line: &Line) -> Option<usize> {
        let b = self.bytes;
        let mut i = line.at;
        while let Some(found) = memchr::memchr2(b':', b'#', &b[i..line.end]) {
            i += found;
            match b[i] {
                b':' if i + 1 >= line.end || b[i + 1] == b' ' => return None,
                b'#' if b[i - 1] == b' ' => return Some(trim_end(b, line.at, i)),
                _ => i += 1,
            }
        }
        Some(trim_end(b, line.at, line.end))
    }

    fn skip_spaces(&self, mut i: usize, end: usize) -> usize {
        while i < end && self.bytes[i] == b' ' {
            i += 1;
        }
        i
    }

    fn scalar(&mut self, line: &Line, from: usize, to: usize, style: ScalarStyle) {
        // A quoted scalar's position is its opening quote's.
        let at = if style == ScalarStyle::Plain {
            from
        } else {
            from - 1
        };
        let text: &'t str = &self.text[from..to];
        self.b.scalar(self.pos(line, at), text, style, false, 0);
    }

    fn empty(&mut self, at: LineCol) {
        self.b.scalar(at, "", ScalarStyle::Plain, false, 0);
    }
}

fn style_of(q: u8) -> ScalarStyle {
    match q {
        b'"' => ScalarStyle::DoubleQuoted,
        _ => ScalarStyle::SingleQuoted,
    }
}

/// Whether a plain scalar may start with `c` (followed by a space or the
/// line's end when `spaced`) in the subset.
fn plain_first(c: u8, spaced: bool) -> bool {
    match c {
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
        | b'@' | b'`' => false,
        b'-' | b'?' | b':' => !spaced,
        _ => true,
    }
}

/// Whether a block key starting at `at` has its colon at `colon` soon
/// enough: saphyr forgets a key whose colon is more than 1024 characters
/// on (bytes are counted here, never fewer than characters).
fn short_key(at: usize, colon: usize) -> bool {
    colon - at <= 1000
}

fn trim_end(b: &[u8], from: usize, mut to: usize) -> usize {
    while to > from && b[to - 1] == b' ' {
        to -= 1;
    }
    to
}
