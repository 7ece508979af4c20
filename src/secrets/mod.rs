//! The secrets of a run and what any output may show of a text.
//!
//! Secrets are auth passwords and client secrets, every token and refresh
//! token obtained, variables and captures marked secret and
//! `env('X', secret=true)`. They are held in [`Secret`], which cannot print
//! its value, and registered in [`Secrets`], through which every shown text
//! passes: [`Secrets::redact`] masks a text whole, [`Secrets::excerpt`]
//! masks first and cuts second. A secret is found in whatever form it
//! travels in: as it is, JSON-escaped (once or twice, `\uXXXX` in any case,
//! `\/`), URL- or form-encoded, as HTML entities, in base64 (standard or
//! URL-safe, padded or not, alone or inside a longer blob such as an HTTP
//! Basic credential) and line by line when it spans lines.
//!
//! A leaf module: every stage registers secrets, every output reads.

mod keys;
pub mod shown;
mod views;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde_json::Value as Json;

pub use keys::{is_secret_header, is_secret_key, mask_header};

/// What a masked secret is replaced by.
pub const MASK: &str = "***";

/// Secrets this long or longer are also looked for inside decoded base64
/// runs and as base64 fragments; shorter ones would match by chance.
const BASE64_MIN: usize = 3;
/// Base64 runs shorter than this are not decoded (except after `Basic`).
const RUN_MIN: usize = 8;
/// Long texts are searched in chunks of this many bytes (and an overlap).
const CHUNK: usize = 256 * 1024;
/// A decoded base64 run larger than this is searched as it is, not in views.
const DECODED_VIEWS_MAX: usize = 64 * 1024;

/// A password, client secret, token or refresh token. Its `Debug` shows
/// `Secret(***)` and it has no `Display`: the value comes out only through
/// [`Secret::expose`], where it is sent. Every `Secret` is registered with
/// the run's [`Secrets`] when it is made ([`Secrets::keep`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// The value, for the request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Default)]
struct Inner {
    values: BTreeSet<String>,
    /// Values registered since the matcher was last built.
    pending: Vec<String>,
    /// The compiled parts, larger first; `matcher` searches them all.
    parts: Vec<Arc<Part>>,
    matcher: Option<Arc<Matcher>>,
}

/// The registry of a run's secrets, shared by every stage.
#[derive(Default, Clone)]
pub struct Secrets {
    inner: Arc<RwLock<Inner>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} values)", self.len())
    }
}

impl Secrets {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a secret value, whatever its length (an empty one aside:
    /// it hides nothing). A very short secret masks every occurrence of
    /// its characters in every output.
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.values.insert(value.to_string()) {
            inner.pending.push(value.to_string());
            inner.matcher = None;
        }
    }

    /// Registers `value` and wraps it: the only way to make a [`Secret`].
    pub fn keep(&self, value: impl Into<String>) -> Secret {
        let value = value.into();
        self.add(&value);
        Secret(Arc::from(value))
    }

    /// Whether `value` is registered as it is.
    pub fn contains(&self, value: &str) -> bool {
        self.read().values.contains(value)
    }

    /// How many values are registered.
    pub fn len(&self) -> usize {
        self.read().values.len()
    }

    /// Whether no value is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn matcher(&self) -> Option<Arc<Matcher>> {
        if let Some(m) = &self.read().matcher {
            return Some(m.clone());
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = &inner.matcher {
            return Some(m.clone());
        }
        if inner.values.is_empty() {
            return None;
        }
        // Secrets arrive one by one (each token, each secret capture):
        // compiling only the new ones, and merging parts as a binary
        // counter does, compiles each secret O(log n) times in a run
        // instead of once per output after every new one.
        let mut values = std::mem::take(&mut inner.pending);
        while let Some(older) = inner.parts.pop_if(|p| p.values.len() <= values.len()) {
            values.extend(older.values.iter().cloned());
        }
        if !values.is_empty() {
            inner.parts.push(Arc::new(Part::new(values)));
        }
        let matcher = Arc::new(Matcher::new(inner.parts.clone()));
        inner.matcher = Some(matcher.clone());
        Some(matcher)
    }

    /// `text` with every secret, in any of its forms, replaced by `***`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(m) = self.matcher() else {
            return Cow::Borrowed(text);
        };
        let spans = m.spans(text);
        if spans.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(masked(text, spans, usize::MAX).0)
        }
    }

    /// At most `max_chars` characters of `text` and `…` when it was cut,
    /// masked before it is cut, so that no secret straddling the cut shows
    /// its first characters.
    pub fn excerpt(&self, text: &str, max_chars: usize) -> String {
        let (masked, truncated) = self.mask_prefix(text, max_chars.saturating_mul(4));
        let shown = cut(&masked, max_chars);
        if truncated && !shown.ends_with('…') {
            shown + "…"
        } else {
            shown
        }
    }

    /// The first `limit` bytes of `text` (more when a secret crosses the
    /// limit: it is masked whole), masked, and whether `text` went on. Only
    /// as much of `text` is searched as any spelling of the longest secret
    /// can reach past the limit, so a huge body costs no more than its start.
    pub fn mask_prefix(&self, text: &str, limit: usize) -> (String, bool) {
        let Some(m) = self.matcher() else {
            let end = floor_boundary(text, limit.min(text.len()));
            return (text[..end].to_string(), end < text.len());
        };
        if text.len() <= limit {
            return (masked(text, m.spans(text), usize::MAX).0, false);
        }
        // Any spelling of a secret (escaped three times over) is at most
        // this many times longer than the secret.
        let reach = m.max_len.saturating_mul(48).saturating_add(64);
        let searched = &text[..floor_boundary(text, limit.saturating_add(reach).min(text.len()))];
        let spans = m.spans(searched);
        let limit = floor_boundary(text, limit);
        // Spans that start before the limit are kept whole; the text after
        // the limit is left out.
        let end = spans
            .iter()
            .filter(|r| r.start < limit)
            .map(|r| r.end)
            .fold(limit, usize::max);
        let kept: Vec<Range<usize>> = spans.into_iter().filter(|r| r.start < end).collect();
        let (shown, _) = masked(&searched[..end.min(searched.len())], kept, usize::MAX);
        (shown, true)
    }

    /// A JSON value as it may be shown: registered secrets masked in every
    /// string (and key), and the values under secret-looking keys replaced
    /// by `***` even when reqtest never learnt them.
    pub fn mask_value(&self, value: &Json) -> Json {
        let mut shown = value.clone();
        self.mask_in_place(&mut shown);
        shown
    }

    /// [`Secrets::mask_value`] of a value the caller owns, in place: only
    /// what is masked is rewritten.
    pub fn mask_in_place(&self, value: &mut Json) {
        match value {
            Json::String(s) => {
                if let Cow::Owned(masked) = self.redact(s) {
                    *s = masked;
                }
            }
            Json::Array(items) => items.iter_mut().for_each(|v| self.mask_in_place(v)),
            Json::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if is_secret_key(k)
                        && !matches!(v, Json::Object(_) | Json::Array(_) | Json::Null)
                    {
                        *v = Json::from(MASK);
                    } else {
                        self.mask_in_place(v);
                    }
                }
                if map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_))) {
                    let keyed = std::mem::take(map);
                    *map = keyed
                        .into_iter()
                        .map(|(k, v)| (self.redact(&k).into_owned(), v))
                        .collect();
                }
            }
            _ => {}
        }
    }
}

/// Cuts to `max_chars` characters, adding `…` when it cut.
pub fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((i, _)) => format!("{}…", &text[..i]),
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `text` with `spans` masked, at most `max_chars` characters of it, and how
/// many bytes of `text` that took.
fn masked(text: &str, spans: Vec<Range<usize>>, max_chars: usize) -> (String, usize) {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut chars = 0usize;
    let mut at = 0usize;
    let end = text.len()..text.len();
    for span in merge(text, spans).into_iter().chain(std::iter::once(end)) {
        for c in text[at..span.start].chars() {
            if chars == max_chars {
                return (out, at);
            }
            out.push(c);
            chars += 1;
            at += c.len_utf8();
        }
        if span.is_empty() || chars == max_chars {
            break;
        }
        let stars = MASK.len().min(max_chars - chars);
        out.push_str(&MASK[..stars]);
        chars += stars;
        at = span.end;
    }
    (out, at)
}

/// Spans sorted, cut to the text (a span found in a longer text may reach
/// past it), widened to whole characters, overlapping ones joined.
fn merge(text: &str, mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for r in spans.into_iter().filter(|r| r.start < text.len()) {
        let r = floor_boundary(text, r.start)..ceil_boundary(text, r.end.min(text.len()));
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Some of the secrets, compiled: every spelling that is looked for
/// literally, and what decoded base64 is searched for.
struct Part {
    values: Vec<String>,
    /// Every secret, each line of a multi-line one, their base64 spellings.
    all: AhoCorasick,
    /// Secrets long enough to look for inside decoded base64.
    long: Option<AhoCorasick>,
}

/// Every secret of the run, in the parts compiled so far.
struct Matcher {
    parts: Vec<Arc<Part>>,
    max_len: usize,
}

fn engine(alphabet: &alphabet::Alphabet, pad: bool) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(pad)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

fn engines() -> &'static [GeneralPurpose; 4] {
    static E: OnceLock<[GeneralPurpose; 4]> = OnceLock::new();
    E.get_or_init(|| {
        [
            engine(&alphabet::STANDARD, true),
            engine(&alphabet::STANDARD, false),
            engine(&alphabet::URL_SAFE, true),
            engine(&alphabet::URL_SAFE, false),
        ]
    })
}

/// The base64 spellings of `value`: whole (padded or not, both alphabets)
/// and, for a value inside a longer blob, the characters that encode only
/// its bytes at each of the three alignments.
fn base64_forms(value: &[u8], out: &mut BTreeSet<Vec<u8>>) {
    let [std_pad, std, url_pad, url] = engines();
    out.insert(std_pad.encode(value).into_bytes());
    out.insert(url_pad.encode(value).into_bytes());
    if value.len() < BASE64_MIN {
        return;
    }
    out.insert(std.encode(value).into_bytes());
    out.insert(url.encode(value).into_bytes());
    for k in 0..3usize {
        let mut padded = vec![0u8; k];
        padded.extend_from_slice(value);
        // Characters j whose six bits all come from the value.
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + value.len())) / 6;
        if last < first + 4 {
            continue;
        }
        for e in [std, url] {
            let encoded = e.encode(&padded);
            out.insert(encoded.as_bytes()[first..last].to_vec());
        }
    }
}

impl Part {
    fn new(values: Vec<String>) -> Self {
        let mut patterns: BTreeSet<Vec<u8>> = BTreeSet::new();
        for v in &values {
            patterns.insert(v.as_bytes().to_vec());
            for line in v.lines().map(str::trim).filter(|l| l.len() >= 4) {
                patterns.insert(line.as_bytes().to_vec());
            }
            base64_forms(v.as_bytes(), &mut patterns);
        }
        // Every match, overlapping ones too (secrets may share characters):
        // masking their union leaves no part of either. A contiguous NFA
        // builds in a tenth of a DFA's time and searches nearly as fast.
        let build = |p: &mut dyn Iterator<Item = &[u8]>| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(p)
                .expect("literal patterns always build")
        };
        let long: Vec<&[u8]> = values
            .iter()
            .filter(|v| v.len() >= BASE64_MIN)
            .map(|v| v.as_bytes())
            .collect();
        Part {
            all: build(&mut patterns.iter().map(Vec::as_slice)),
            long: (!long.is_empty()).then(|| build(&mut long.into_iter())),
            values,
        }
    }
}

impl Matcher {
    fn new(parts: Vec<Arc<Part>>) -> Self {
        let max_len = parts
            .iter()
            .flat_map(|p| p.values.iter().map(String::len))
            .max()
            .unwrap_or(0);
        Matcher { parts, max_len }
    }

    /// The ranges of `text` that spell a secret. A long text is searched
    /// in overlapping chunks, so that its decoded views take bounded memory.
    fn spans(&self, text: &str) -> Vec<Range<usize>> {
        let bytes = text.as_bytes();
        let mut spans = Vec::new();
        let overlap = self.max_len.saturating_mul(48).saturating_add(64);
        let mut start = 0usize;
        loop {
            let end = floor_boundary(text, start.saturating_add(CHUNK + overlap).min(bytes.len()));
            let chunk = &bytes[start..end];
            let shift = |r: Range<usize>| r.start + start..r.end + start;
            self.scan(chunk, &|r| shift(r), &mut spans);
            for view in views::views(chunk) {
                self.scan(&view.bytes, &|r| shift(view.original(r)), &mut spans);
            }
            if end == bytes.len() {
                return spans;
            }
            start = floor_boundary(text, start + CHUNK);
        }
    }

    fn scan(
        &self,
        bytes: &[u8],
        original: &dyn Fn(Range<usize>) -> Range<usize>,
        spans: &mut Vec<Range<usize>>,
    ) {
        for part in &self.parts {
            for m in part.all.find_overlapping_iter(bytes) {
                spans.push(original(m.range()));
            }
        }
        let any_long = self.parts.iter().any(|p| p.long.is_some());
        for (run, after_basic) in base64_runs(bytes) {
            if !after_basic && !any_long {
                continue;
            }
            let found = |decoded: &[u8]| {
                self.parts.iter().any(|p| match (after_basic, &p.long) {
                    (true, _) => p.all.is_match(decoded),
                    (false, Some(long)) => long.is_match(decoded),
                    (false, None) => false,
                })
            };
            if decodes_to_secret(&bytes[run.clone()], &found) {
                spans.push(original(run));
            }
        }
    }
}

/// Runs of base64 characters worth decoding, and whether each follows an
/// HTTP `Basic` scheme word (then even a short run is decoded).
fn base64_runs(bytes: &[u8]) -> Vec<(Range<usize>, bool)> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-');
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_b64(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_b64(bytes[i]) {
            i += 1;
        }
        let digits = i;
        while i < bytes.len() && bytes[i] == b'=' && i - digits < 2 {
            i += 1;
        }
        let before = bytes[..start].trim_ascii_end();
        let after_basic = before.len() < start
            && before.len() >= 5
            && before[before.len() - 5..].eq_ignore_ascii_case(b"basic")
            && (before.len() == 5 || !before[before.len() - 6].is_ascii_alphanumeric());
        if after_basic || i - start >= RUN_MIN {
            runs.push((start..i, after_basic));
        }
    }
    runs
}

fn decodes_to_secret(run: &[u8], found: &dyn Fn(&[u8]) -> bool) -> bool {
    let digits = run.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let mut digits = &run[..digits];
    let url = digits.iter().any(|b| matches!(b, b'-' | b'_'));
    let std = digits.iter().any(|b| matches!(b, b'+' | b'/'));
    if url && std {
        return false;
    }
    if digits.len() % 4 == 1 {
        digits = &digits[..digits.len() - 1];
    }
    let [_, std_engine, _, url_engine] = engines();
    let engine = if url { url_engine } else { std_engine };
    let Ok(decoded) = engine.decode(digits) else {
        return false;
    };
    if found(&decoded) {
        return true;
    }
    decoded.len() <= DECODED_VIEWS_MAX && views::views(&decoded).iter().any(|v| found(&v.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn hides_a_secret_in_every_form_it_travels_in() {
        let s = Secrets::new();
        s.add("p@ss word/1é");
        let json = serde_json::to_string("p@ss word/1é").unwrap();
        let double = serde_json::to_string(&json).unwrap();
        let texts = [
            "p@ss word/1é".to_string(),
            "p%40ss+word%2F1%C3%A9".into(),
            "p%40ss%20word%2f1%c3%a9".into(),
            json.clone(),
            double,
            r"p@ss word\/1\u00e9".into(),
            r"\u0070\u0040\u0073\u0073\u0020\u0077\u006F\u0072\u0064\u002F\u0031\u00E9".into(),
            format!("Basic {}", b64("admin:p@ss word/1é")),
            b64("p@ss word/1é"),
            b64("p@ss word/1é")
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_"),
            format!(
                "xyz{}",
                b64("{\"user\":\"a\",\"pw\":\"p@ss word/1é\",\"n\":12345}")
            ),
            "p&#64;ss word&#x2F;1&eacute;".replace("&eacute;", "é"),
        ];
        for t in &texts {
            let out = s.redact(t);
            assert!(!out.contains("word"), "{t} → {out}");
            assert!(out.contains(MASK), "{t} → {out}");
        }
    }

    #[test]
    fn overlapping_secrets_are_both_masked_whole() {
        let s = Secrets::new();
        s.add("abcd1234");
        s.add("1234wxyz");
        assert_eq!(s.redact("x abcd1234wxyz y"), "x *** y");
        let json = serde_json::to_string("abcd1234wxyz").unwrap();
        assert_eq!(s.redact(&json), "\"***\"");
    }

    #[test]
    fn secrets_registered_one_by_one_stay_in_few_compiled_parts() {
        let s = Secrets::new();
        let value = |i: usize| format!("token-{i:04}-{}", "k".repeat(i % 7));
        for i in 0..1000 {
            s.add(&value(i));
            assert_eq!(s.redact(&format!("<{}>", value(i))), "<***>");
        }
        let parts = s.read().parts.len();
        assert!(parts <= 10, "{parts} parts for 1000 secrets");
        for i in [0, 1, 511, 512, 998, 999] {
            let text = format!("a {} b {}", value(i), b64(&value(i)));
            assert_eq!(s.redact(&text), "a *** b ***", "{i}");
        }
    }

    #[test]
    fn short_secrets_are_masked_too_and_unrelated_text_is_left_alone() {
        let s = Secrets::new();
        assert!(matches!(s.redact("ab cd"), Cow::Borrowed(_)));
        s.add("ab");
        assert_eq!(s.redact("xab cd"), "x*** cd");
        s.add("longsecret");
        assert_eq!(s.redact("x longsecret y"), "x *** y");
        assert_eq!(s.redact("Basic dXNlcjpvdGhlcg=="), "Basic dXNlcjpvdGhlcg==");
        assert_eq!(s.redact("nothing here"), "nothing here");
    }

    #[test]
    fn a_secret_straddling_the_cut_is_masked_before_the_cut() {
        let s = Secrets::new();
        let secret = "0123456789abcdefghij";
        s.add(secret);
        let text = format!("{}{secret} tail", "x".repeat(95));
        let shown = s.excerpt(&text, 103);
        assert_eq!(shown, format!("{}*** tail", "x".repeat(95)));
        let shown = s.excerpt(&text, 100);
        assert_eq!(shown, format!("{}*** t…", "x".repeat(95)));
        let shown = s.excerpt(&text, 97);
        assert_eq!(shown, format!("{}**…", "x".repeat(95)));
        assert!(!shown.contains("01"));
    }

    #[test]
    fn spans_reaching_past_the_text_are_cut_to_it() {
        // Found by the fuzzer: mask_prefix keeps spans found in a longer
        // window than the text it shows.
        let (shown, used) = masked("0123456789", vec![5..18, 0..3, 12..20], usize::MAX);
        assert_eq!((shown.as_str(), used), ("***34***", 10));
    }

    #[test]
    fn multi_line_secrets_are_masked_line_by_line() {
        let s = Secrets::new();
        s.add("-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END KEY-----");
        let diff = "    - MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n";
        assert!(!s.redact(diff).contains("MIIB"));
    }

    #[test]
    fn secret_looking_keys_are_masked_in_values() {
        let s = Secrets::new();
        let v =
            serde_json::json!({"access_token":"abc","user":{"password":"x1"},"n":1,"tokens":[1]});
        assert_eq!(
            s.mask_value(&v),
            serde_json::json!({"access_token":"***","user":{"password":"***"},"n":1,"tokens":[1]})
        );
    }

    #[test]
    fn registered_secrets_are_masked_in_keys_and_values_in_place() {
        let s = Secrets::new();
        s.add("s3cr3t-value");
        let mut v = serde_json::json!({
            "s3cr3t-value": {"Api-Key": "k", "list": ["a s3cr3t-value b", 2]},
            "plain": "kept",
        });
        s.mask_in_place(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"***": {"Api-Key": "***", "list": ["a *** b", 2]}, "plain": "kept"})
        );
    }

    #[test]
    fn a_secret_value_prints_as_stars() {
        let s = Secrets::new();
        let secret = s.keep("hunter22");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "hunter22");
        assert!(s.contains("hunter22"));
    }
}
