//! Decoded views of a text. A server may echo a secret escaped for JSON
//! (`\u0070`, `\/`, twice over), URL-encoded, as HTML entities or in
//! base64; rather than list every spelling of every secret, the text is
//! decoded and the secrets are looked for in the decoded copy, whose every
//! byte remembers the range of the original text it came from.

use std::ops::Range;

/// A decoded copy of a text; `from[i]` is the range of the original text
/// that decoded byte `i` came from.
pub(super) struct View {
    pub bytes: Vec<u8>,
    pub from: Vec<(usize, usize)>,
}

impl View {
    /// The original range of decoded bytes `r`.
    pub fn original(&self, r: Range<usize>) -> Range<usize> {
        self.from[r.start].0..self.from[r.end - 1].1
    }
}

type Decoder = fn(&[u8], Option<&[(usize, usize)]>) -> Option<View>;

const DECODERS: [Decoder; 4] = [json_unescape, percent_decode, form_decode, html_unescape];

/// How many decodings deep views go: a JSON document echoing a request
/// body that held JSON in a string is three.
const DEPTH: usize = 3;
/// At most this many views of one text.
const MAX_VIEWS: usize = 32;

/// Every view of `text` up to [`DEPTH`] decodings deep (JSON inside a JSON
/// string, a JSON body in a query parameter); a decoder that finds nothing
/// to decode adds no view.
pub(super) fn views(text: &[u8]) -> Vec<View> {
    let mut out: Vec<View> = DECODERS.iter().filter_map(|d| d(text, None)).collect();
    let mut level = 0..out.len();
    for _ in 1..DEPTH {
        let next = out.len();
        for i in level {
            for d in DECODERS {
                if out.len() >= MAX_VIEWS {
                    return out;
                }
                if let Some(v) = d(&out[i].bytes, Some(&out[i].from)) {
                    out.push(v);
                }
            }
        }
        level = next..out.len();
    }
    out
}

/// Builds a view, mapping ranges of `input` through `map` (the ranges of
/// the input's own bytes in the original text, when the input is a view).
struct Builder<'a> {
    map: Option<&'a [(usize, usize)]>,
    out: View,
}

impl<'a> Builder<'a> {
    fn new(len: usize, map: Option<&'a [(usize, usize)]>) -> Self {
        Builder {
            map,
            out: View {
                bytes: Vec::with_capacity(len),
                from: Vec::with_capacity(len),
            },
        }
    }

    /// Decoded bytes `decoded` came from input bytes `start..end`.
    fn push(&mut self, decoded: &[u8], start: usize, end: usize) {
        let range = match self.map {
            None => (start, end),
            Some(m) => (m[start].0, m[end - 1].1),
        };
        self.out.bytes.extend_from_slice(decoded);
        self.out
            .from
            .extend(std::iter::repeat_n(range, decoded.len()));
    }

    /// Input bytes `start..end` kept as they are.
    fn copy(&mut self, input: &[u8], start: usize, end: usize) {
        self.out.bytes.extend_from_slice(&input[start..end]);
        match self.map {
            None => self.out.from.extend((start..end).map(|k| (k, k + 1))),
            Some(m) => self.out.from.extend_from_slice(&m[start..end]),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex4(s: &[u8]) -> Option<u32> {
    if s.len() < 4 {
        return None;
    }
    s[..4]
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + hex(b)? as u32))
}

/// What one escape at the start of a text decodes to: up to four bytes,
/// and how many bytes of the text it took.
struct Decoded {
    bytes: [u8; 4],
    len: usize,
    took: usize,
}

impl Decoded {
    fn char(c: char, took: usize) -> Decoded {
        let mut bytes = [0u8; 4];
        let len = c.encode_utf8(&mut bytes).len();
        Decoded { bytes, len, took }
    }

    fn byte(b: u8, took: usize) -> Decoded {
        Decoded {
            bytes: [b, 0, 0, 0],
            len: 1,
            took,
        }
    }
}

/// A view of `s` with every escape `escape` recognises decoded; `None`
/// when there is none. Every escape starts with one of `starts`, so the
/// text between them is copied in one stretch.
fn decode_with(
    s: &[u8],
    map: Option<&[(usize, usize)]>,
    starts: &[u8],
    escape: impl Fn(&[u8]) -> Option<Decoded>,
) -> Option<View> {
    let next = |from: usize| {
        s[from..]
            .iter()
            .position(|b| starts.contains(b))
            .map_or(s.len(), |p| from + p)
    };
    let mut at = next(0);
    while at < s.len() && escape(&s[at..]).is_none() {
        at = next(at + 1);
    }
    if at == s.len() {
        return None;
    }
    let mut b = Builder::new(s.len(), map);
    let mut i = 0;
    while i < s.len() {
        let stop = next(i);
        b.copy(s, i, stop);
        i = stop;
        if i == s.len() {
            break;
        }
        match escape(&s[i..]) {
            Some(d) => {
                b.push(&d.bytes[..d.len], i, i + d.took);
                i += d.took;
            }
            None => {
                b.copy(s, i, i + 1);
                i += 1;
            }
        }
    }
    Some(b.out)
}

/// JSON string escapes: `\"`, `\\`, `\/`, `\n`..., `\uXXXX` and surrogate
/// pairs, whatever the case of the hex digits.
fn json_unescape(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    decode_with(s, map, b"\\", json_escape)
}

fn json_escape(s: &[u8]) -> Option<Decoded> {
    if s.first() != Some(&b'\\') {
        return None;
    }
    let simple = match s.get(1)? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 8,
        b'f' => 12,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => return unicode_escape(s).map(|(c, took)| Decoded::char(c, took)),
        _ => return None,
    };
    Some(Decoded::byte(simple, 2))
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`, at the start of `s`.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hi = hex4(&s[2..])?;
    if (0xD800..0xDC00).contains(&hi) && s.len() >= 12 && &s[6..8] == b"\\u" {
        let lo = hex4(&s[8..])?;
        if (0xDC00..0xE000).contains(&lo) {
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return char::from_u32(c).map(|c| (c, 12));
        }
    }
    char::from_u32(hi).map(|c| (c, 6))
}

/// `%XX` in either case, as every URL encoder writes it.
fn percent_decode(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    decode_with(s, map, b"%", percent_escape)
}

fn percent_escape(s: &[u8]) -> Option<Decoded> {
    match s {
        [b'%', h, l, ..] => Some(Decoded::byte(hex(*h)? * 16 + hex(*l)?, 3)),
        _ => None,
    }
}

/// Form encoding: `%XX`, and `+` for a space.
fn form_decode(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    if !s.contains(&b'+') {
        return None;
    }
    decode_with(s, map, b"+%", |s| match s.first() {
        Some(b'+') => Some(Decoded::byte(b' ', 1)),
        _ => percent_escape(s),
    })
}

/// HTML character references, as an error page echoes a value.
fn html_unescape(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    decode_with(s, map, b"&", |s| {
        let (c, took) = entity(s)?;
        Some(Decoded::char(c, took))
    })
}

fn entity(s: &[u8]) -> Option<(char, usize)> {
    if s.first() != Some(&b'&') {
        return None;
    }
    let end = s.iter().take(12).position(|&c| c == b';')?;
    let name = std::str::from_utf8(&s[1..end]).ok()?;
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(v: &View) -> String {
        String::from_utf8_lossy(&v.bytes).into_owned()
    }

    #[test]
    fn json_escapes_decode_in_any_case_with_surrogates() {
        let v = json_unescape(br#"a\u0070\u00E9\/\"\ud83d\ude00"#, None).unwrap();
        assert_eq!(decoded(&v), "ap\u{e9}/\"\u{1F600}");
        // `p` came from the six bytes `\u0070`.
        assert_eq!(v.original(1..2), 1..7);
    }

    #[test]
    fn views_compose_two_deep_and_map_back_to_the_original() {
        // JSON inside a JSON string: `\\\"` is `\"` is `"`.
        let text = br#"x\\u0041y"#;
        let all = views(text);
        let twice = all.iter().find(|v| decoded(v) == "xAy").unwrap();
        assert_eq!(twice.original(1..2), 1..8);
        let pct = percent_decode(b"a%2Fb+c", None).unwrap();
        assert_eq!(decoded(&pct), "a/b+c");
        let form = form_decode(b"a%2Fb+c", None).unwrap();
        assert_eq!(decoded(&form), "a/b c");
        let html = html_unescape(b"&quot;p&#x41;&#66;&amp;", None).unwrap();
        assert_eq!(decoded(&html), "\"pAB&");
    }
}
