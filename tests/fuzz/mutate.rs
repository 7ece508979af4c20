//! Byte-level mutations of seed inputs, biased towards what breaks parsers
//! of this format: YAML, template, JSONPath and JSON tokens, huge numbers,
//! odd encodings, spliced pieces of other seeds.

use rand::rngs::StdRng;
use rand::Rng;

/// The largest input made.
const MAX_LEN: usize = 64 * 1024;

const DICT: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{ ",
    " }}",
    "| default('x')",
    "| tojson",
    "| b64encode",
    "| urlencode",
    " is defined",
    "range(100000)",
    "env('X')",
    "now('%Q')",
    "random_string(99999999999)",
    "uuid()",
    "auth.",
    "auths.default.",
    "$.",
    "$..",
    "[*]",
    "[?@.a > 1]",
    "['x-y']",
    "[0]",
    "[-1]",
    "[1:3]",
    ":",
    ": ",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "-",
    "? ",
    "&a ",
    "*a",
    "!!binary ",
    "!!str ",
    "<<: ",
    "|\n",
    ">\n",
    "'",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "#",
    "%",
    "{",
    "}",
    "[",
    "]",
    ",",
    "~",
    "null",
    "true",
    "no",
    "0x1F",
    "0o17",
    ".inf",
    "-.inf",
    ".nan",
    "1e400",
    "-1",
    "0",
    "18446744073709551615",
    "9223372036854775808",
    "1.5",
    "2xx",
    "6xx",
    "99",
    "500ms",
    "1e400s",
    "18446744073709551615h",
    "25h",
    "64MiB",
    "1e30GB",
    "requests:",
    "name:",
    "url:",
    "expect:",
    "json:",
    "status:",
    "headers:",
    "capture:",
    "auth:",
    "auths:",
    "type:",
    "password",
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "request",
    "environments:",
    "vars:",
    "defaults:",
    "secrets:",
    "body:",
    "form:",
    "multipart:",
    "query:",
    "ignore:",
    "timeout:",
    "delay:",
    "max_body:",
    "every:",
    "length:",
    "one_of:",
    "matches:",
    "type:",
    "eq:",
    "contains:",
    "exists:",
    "absent:",
    "regex:",
    "group:",
    "header:",
    "cookie:",
    "jsonpath:",
    "schema:",
    "openapi:",
    "login:",
    "fields:",
    "\u{FEFF}",
    "é",
    "😀",
    "\u{2028}",
    "\0",
    "\r\n",
    "\t",
    "(?P<",
    ")",
    "(",
    "*",
    "+",
    "?",
    "^",
    "$",
];

const INTERESTING: &[&str] = &[
    "0",
    "-1",
    "1e400",
    "-1e400",
    "18446744073709551615",
    "4294967296",
    "65536",
    "1e-400",
    "NaN",
    "99999999999999999999999999",
];

pub struct Mutator {
    pub rng: StdRng,
}

impl Mutator {
    /// A mutant of `seed`, now and then spliced with `other`.
    pub fn mutate(&mut self, seed: &[u8], other: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        let rounds = 1 + self.rng.random_range(0..4) * self.rng.random_range(1..4);
        for _ in 0..rounds {
            self.once(&mut data, other);
        }
        data.truncate(MAX_LEN);
        data
    }

    fn at(&mut self, data: &[u8]) -> usize {
        if data.is_empty() {
            0
        } else {
            self.rng.random_range(0..=data.len())
        }
    }

    fn once(&mut self, data: &mut Vec<u8>, other: &[u8]) {
        let at = self.at(data);
        match self.rng.random_range(0..10) {
            0 if at < data.len() => data[at] ^= 1 << self.rng.random_range(0..8),
            1 if at < data.len() => data[at] = self.rng.random(),
            2 => data.insert(at, self.rng.random()),
            3 if at < data.len() => {
                let end = (at + self.rng.random_range(1..32)).min(data.len());
                data.drain(at..end);
            }
            4 if at < data.len() => {
                let end = (at + self.rng.random_range(1..64)).min(data.len());
                let piece = data[at..end].to_vec();
                let to = self.at(data);
                data.splice(to..to, piece);
            }
            5 | 6 => {
                let token = DICT[self.rng.random_range(0..DICT.len())];
                data.splice(at..at, token.bytes());
            }
            7 if !other.is_empty() => {
                let from = self.rng.random_range(0..other.len());
                let end = (from + self.rng.random_range(1..256)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            8 => self.number(data),
            _ => self.swap_lines(data),
        }
    }

    /// Replaces a run of digits with an interesting number.
    fn number(&mut self, data: &mut Vec<u8>) {
        let starts: Vec<usize> = (0..data.len())
            .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
            .collect();
        if starts.is_empty() {
            return;
        }
        let start = starts[self.rng.random_range(0..starts.len())];
        let end = (start..data.len())
            .find(|&i| !data[i].is_ascii_digit())
            .unwrap_or(data.len());
        let n = INTERESTING[self.rng.random_range(0..INTERESTING.len())];
        data.splice(start..end, n.bytes());
    }

    fn swap_lines(&mut self, data: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(data).into_owned();
        let mut lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < 2 {
            return;
        }
        let (a, b) = (
            self.rng.random_range(0..lines.len()),
            self.rng.random_range(0..lines.len()),
        );
        lines.swap(a, b);
        *data = lines.join("\n").into_bytes();
    }
}
