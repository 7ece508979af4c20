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

/// JSON string escapes: `\"`, `\\`, `\/`, `\n`..., `\uXXXX` and surrogate
/// pairs, whatever the case of the hex digits.
fn json_unescape(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    let escapes = |w: &[u8]| w[0] == b'\\' && b"\"\\/bfnrtu".contains(&w[1]);
    if !s.windows(2).any(escapes) {
        return None;
    }
    let mut b = Builder::new(s.len(), map);
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 >= s.len() {
            b.push(&s[i..i + 1], i, i + 1);
            i += 1;
            continue;
        }
        let simple = match s[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            b.push(&[c], i, i + 2);
            i += 2;
            continue;
        }
        if s[i + 1] == b'u' {
            if let Some((c, len)) = unicode_escape(&s[i..]) {
                let mut buf = [0u8; 4];
                b.push(c.encode_utf8(&mut buf).as_bytes(), i, i + len);
                i += len;
                continue;
            }
        }
        b.push(&s[i..i + 1], i, i + 1);
        i += 1;
    }
    Some(b.out)
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
    url_decode(s, map, false)
}

/// Form encoding: `%XX`, and `+` for a space.
fn form_decode(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    if !s.contains(&b'+') {
        return None;
    }
    url_decode(s, map, true)
}

fn url_decode(s: &[u8], map: Option<&[(usize, usize)]>, plus: bool) -> Option<View> {
    let escapes = |w: &[u8]| w[0] == b'%' && hex(w[1]).is_some() && hex(w[2]).is_some();
    if !plus && !s.windows(3).any(escapes) {
        return None;
    }
    let mut b = Builder::new(s.len(), map);
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                b.push(&[h * 16 + l], i, i + 3);
                i += 3;
                continue;
            }
        }
        if plus && s[i] == b'+' {
            b.push(b" ", i, i + 1);
        } else {
            b.push(&s[i..i + 1], i, i + 1);
        }
        i += 1;
    }
    Some(b.out)
}

/// HTML character references, as an error page echoes a value.
fn html_unescape(s: &[u8], map: Option<&[(usize, usize)]>) -> Option<View> {
    if !s
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'&' && entity(&s[i..]).is_some())
    {
        return None;
    }
    let mut b = Builder::new(s.len(), map);
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'&' {
            if let Some((c, len)) = entity(&s[i..]) {
                let mut buf = [0u8; 4];
                b.push(c.encode_utf8(&mut buf).as_bytes(), i, i + len);
                i += len;
                continue;
            }
        }
        b.push(&s[i..i + 1], i, i + 1);
        i += 1;
    }
    Some(b.out)
}

fn entity(s: &[u8]) -> Option<(char, usize)> {
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
