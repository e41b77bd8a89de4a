//! JSON for the properties: strategies that write JSON text the way senders do (any
//! whitespace between tokens, including `\n` and `\r`; any escape in strings; integers past
//! `u64`, long fractions, exponents), mutations of bytes, and a small reference parser that
//! keeps what `serde_json::Value` loses (member order, duplicate members, the exact value of
//! every number), so a splice can be checked against "only this member changed".

use proptest::prelude::*;
use proptest::sample::Index;

/// A JSON value as written: objects keep member order and duplicates, numbers keep their
/// exact decimal value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum J {
    Null,
    Bool(bool),
    Num(Dec),
    /// Decoded; a lone surrogate escape decodes to U+FFFD.
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// An exact decimal: `(-1)^neg * digits * 10^exp`, normalised (no leading or trailing zero
/// digits; zero is `digits == ""`, `neg == false`, `exp == 0`), so `1e2 == 100 == 100.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Dec {
    neg: bool,
    digits: String,
    exp: i128,
}

impl Dec {
    pub(super) fn from_i64(n: i64) -> Dec {
        Dec::parse(&n.to_string()).unwrap_or(Dec {
            neg: false,
            digits: String::new(),
            exp: 0,
        })
    }

    fn parse(lit: &str) -> Option<Dec> {
        let (neg, rest) = match lit.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, lit),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => {
                let e = &rest[i + 1..];
                let e = e.strip_prefix('+').unwrap_or(e);
                // Saturate: an exponent with 40 digits is as good as infinite here.
                let v = e.parse::<i128>().unwrap_or(if e.starts_with('-') {
                    -(1 << 100)
                } else {
                    1 << 100
                });
                (&rest[..i], v)
            }
            None => (rest, 0),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let mut digits: String = format!("{int}{frac}");
        let mut exp = exp - frac.len() as i128;
        let lead = digits.len() - digits.trim_start_matches('0').len();
        digits.drain(..lead);
        while digits.ends_with('0') {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Some(Dec {
                neg: false,
                digits,
                exp: 0,
            });
        }
        Some(Dec { neg, digits, exp })
    }
}

impl J {
    /// The members of an object, or nothing.
    pub(super) fn members(&self) -> &[(String, J)] {
        match self {
            J::Obj(m) => m,
            _ => &[],
        }
    }

    /// An object with duplicate keys collapsed the way `serde_json::Map` does (the last value
    /// wins) and members sorted, at every level: equality of these is equality "as a map".
    pub(super) fn as_map(&self) -> J {
        match self {
            J::Obj(members) => {
                let mut out: Vec<(String, J)> = Vec::new();
                for (k, v) in members {
                    let v = v.as_map();
                    match out.iter_mut().find(|(ok, _)| ok == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k.clone(), v)),
                    }
                }
                out.sort_by(|a, b| a.0.cmp(&b.0));
                J::Obj(out)
            }
            J::Arr(items) => J::Arr(items.iter().map(J::as_map).collect()),
            other => other.clone(),
        }
    }
}

/// Parses strict JSON (RFC 8259, whitespace ` \t\n\r`, nesting up to 256); `None` if invalid.
pub(super) fn parse(text: &str) -> Option<J> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> Option<()> {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<J> {
        match self.peek()? {
            b'n' => self.eat(b"null").map(|_| J::Null),
            b't' => self.eat(b"true").map(|_| J::Bool(true)),
            b'f' => self.eat(b"false").map(|_| J::Bool(false)),
            b'"' => self.string().map(J::Str),
            b'[' => {
                self.nest()?;
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value()?);
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(J::Arr(items))
            }
            b'{' => {
                self.nest()?;
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return None;
                        }
                        let k = self.string()?;
                        self.ws();
                        self.eat(b":")?;
                        self.ws();
                        members.push((k, self.value()?));
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.depth -= 1;
                Some(J::Obj(members))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn nest(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= 256).then_some(())
    }

    fn number(&mut self) -> Option<J> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        let lit = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Dec::parse(lit).map(J::Num)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).ok()?);
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                let save = self.i;
                                let lo = if self.eat(b"\\u").is_some() {
                                    self.hex4().filter(|lo| (0xDC00..0xE000).contains(lo))
                                } else {
                                    None
                                };
                                match lo {
                                    Some(lo) => char::from_u32(
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                    ),
                                    None => {
                                        self.i = save;
                                        Some('\u{fffd}')
                                    }
                                }
                            } else {
                                Some(char::from_u32(hi).unwrap_or('\u{fffd}'))
                            };
                            out.push(c?);
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Strategies.

/// Whitespace between tokens: nothing, or up to three of ` `, `\t`, `\n`, `\r`.
pub(super) fn ws() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec![' ', '\t', '\n', '\r']), 0..3)
        .prop_map(|v| v.into_iter().collect())
}

/// Writes `s` as a JSON string literal, each character in a style picked by `styles`: as it
/// is (where allowed), as a short escape, or as `\uXXXX` (a surrogate pair past the BMP).
pub(super) fn render_string(s: &str, styles: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for (i, c) in s.chars().enumerate() {
        let style = styles.get(i % styles.len().max(1)).copied().unwrap_or(0) % 4;
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '/' if style == 1 => Some("\\/"),
            _ => None,
        };
        let raw_ok = c >= ' ' && c != '"' && c != '\\';
        match (style, short) {
            (0 | 1, _) if raw_ok => out.push(c),
            (0..=2, Some(e)) => out.push_str(e),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if style == 3 {
                        out.push_str(&format!("\\u{u:04X}"));
                    } else {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
    }
    out.push('"');
    out
}

/// A short string of any characters: ASCII, control characters, quotes, backslashes,
/// unicode past the BMP.
pub(super) fn any_short_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_/.]{0,8}",
        prop::collection::vec(any::<char>(), 0..8).prop_map(|v| v.into_iter().collect()),
        prop::collection::vec(
            prop::sample::select(vec![
                '"', '\\', '\n', '\r', '\t', '\0', '\u{1f}', '\u{7f}', 'é', '\u{2028}', '\u{feff}',
                '\u{fffd}', '😀', 'n', 'a', 'm', 'e',
            ]),
            0..8
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

/// A JSON string literal of `s`, escaped any way.
pub(super) fn string_literal(s: String) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 1..6).prop_map(move |styles| render_string(&s, &styles))
}

/// A JSON string literal of any short string.
pub(super) fn any_string_literal() -> impl Strategy<Value = String> {
    any_short_string().prop_flat_map(string_literal)
}

/// A number literal that `serde_json` reads as a number (exponents stay small).
pub(super) fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        // Past u64 and past f64's precision.
        "-?[1-9][0-9]{19,40}",
        "-?(0|[1-9][0-9]{0,3})\\.[0-9]{1,25}",
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,4})?[eE][+-]?[0-9]{1,2}",
        Just("-0".to_string()),
        Just("-0.0e-0".to_string()),
    ]
}

/// Any JSON text (bounded: depth 3, about 24 values), written with whitespace anywhere.
pub(super) fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        number_literal(),
        any_string_literal(),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec((ws(), inner.clone(), ws()), 0..4).prop_map(|items| {
                let body: Vec<String> = items
                    .into_iter()
                    .map(|(a, v, b)| format!("{a}{v}{b}"))
                    .collect();
                format!("[{}]", body.join(","))
            }),
            object_text(inner),
        ]
    })
}

/// An object whose values come from `values`, keys any strings, whitespace anywhere.
pub(super) fn object_text(values: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(member(values), 0..4).prop_flat_map(|members| {
        ws().prop_map(move |w| {
            if members.is_empty() {
                format!("{{{w}}}")
            } else {
                format!("{{{}}}", members.join(","))
            }
        })
    })
}

/// One member `ws "key" ws : ws value ws`.
pub(super) fn member(values: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (ws(), any_string_literal(), ws(), ws(), values, ws())
        .prop_map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"))
}

/// Any JSON object text.
pub(super) fn json_object_text() -> impl Strategy<Value = String> {
    object_text(json_text())
}

// ---------------------------------------------------------------------------
// Mutations.

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub(super) enum Edit {
    Delete(Index, u8),
    Insert(Index, Vec<u8>),
    Replace(Index, u8),
    Duplicate(Index, u8),
    Truncate(Index),
}

/// Fragments that tend to matter to JSON, YAML and SSE readers.
pub(super) fn snippet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            &b"\""[..],
            b"\\",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b": ",
            b"\n",
            b"\r\n",
            b"\r",
            b"\t",
            b"\0",
            b"\xff",
            b"\xc3",
            b"\xef\xbb\xbf",
            b"\"\\ud800\"",
            b"\\u0000",
            b"1e999999",
            b"-",
            b"null",
            b"\"id\":1,",
            b"\"method\":\"x\",",
            b"\"jsonrpc\":\"2.0\",",
            b"\"name\":\"x\",",
            b"- ",
            b"&a ",
            b"*a",
            b"!!str ",
            b"? ",
            b"${",
            b"${X}",
            b"$$",
            b"os.environ/",
            b"data: ",
            b"event: ",
            b"id: \0",
            b"retry: 9",
            b"#",
            b"---\n",
        ])
        .prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 1..4),
    ]
}

/// Up to four edits.
pub(super) fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), 1..8u8).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), snippet()).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<Index>(), 1..16u8).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        any::<Index>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..5)
}

/// Applies `edits` to `bytes`.
pub(super) fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match e {
            Edit::Delete(i, n) => {
                if len > 0 {
                    let at = i.index(len);
                    let end = (at + usize::from(*n)).min(len);
                    bytes.drain(at..end);
                }
            }
            Edit::Insert(i, s) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, s.iter().copied());
            }
            Edit::Replace(i, b) => {
                if len > 0 {
                    let at = i.index(len);
                    bytes[at] = *b;
                }
            }
            Edit::Duplicate(i, n) => {
                if len > 0 {
                    let at = i.index(len);
                    let end = (at + usize::from(*n)).min(len);
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(end..end, copy);
                }
            }
            Edit::Truncate(i) => bytes.truncate(i.index(len + 1)),
        }
    }
    bytes
}

/// Split points for feeding `len` bytes in chunks (sorted, distinct, inside `1..len`).
pub(super) fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..8)
}

/// `bytes` cut at the points `cuts` picks.
pub(super) fn chunked(bytes: &[u8], cuts: &[Index]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return Vec::new();
    }
    chunked_at(bytes, cuts.iter().map(|c| c.index(bytes.len())).collect())
}

/// `bytes` cut at the byte offsets `at`.
pub(super) fn chunked_at(bytes: &[u8], mut at: Vec<usize>) -> Vec<Vec<u8>> {
    at.retain(|a| *a < bytes.len());
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_parser_agrees_with_serde_json_on_basics() {
        for text in [
            "{}",
            "[]",
            r#"{"a":[1,2.5,-0,1e2,"x\u00e9\ud83d\ude00"],"b":{"c":null}}"#,
            " \n\r\t 1 ",
        ] {
            assert!(parse(text).is_some(), "{text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "{text}"
            );
        }
        for text in ["", "{", "01", "1.", "[1,]", "{\"a\"}", "\"\u{1}\"", "nul"] {
            assert!(parse(text).is_none(), "{text:?}");
        }
        assert_eq!(parse("1e2"), parse("100.0"));
        assert_ne!(
            parse("12345678901234567890123"),
            parse("12345678901234567000000")
        );
        assert_eq!(
            parse(r#""\u0041\/""#),
            Some(J::Str("A/".into())),
            "escapes decode"
        );
    }

    #[test]
    fn rendered_strings_decode_to_themselves() {
        let s = "a\"\\\n\u{1}é😀/";
        for style in 0..4u8 {
            let lit = render_string(s, &[style]);
            assert_eq!(parse(&lit), Some(J::Str(s.into())), "{lit}");
            assert_eq!(
                serde_json::from_str::<String>(&lit).expect("serde reads it"),
                s
            );
        }
    }
}
