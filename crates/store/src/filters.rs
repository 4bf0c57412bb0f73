//! containerd's filter syntax: `fieldpath op value` selectors joined by `,` (all must match);
//! several filter strings match if any does. Operators `==`, `!=`, `~=` (regexp), or none
//! (field present). Fields and values may be quoted with `"`, `/` or `|`, so
//! `labels."a.b"==c` and `name~=/^busy|box$/` work.

use crate::error::{Error, Result};

/// What a filter asks of an object: the value at a field path, if the object has it.
pub trait Adaptor {
    fn field(&self, path: &[String]) -> Option<String>;
}

#[derive(Debug, Clone)]
enum Op {
    Present,
    Equal(String),
    NotEqual(String),
    Matches(regex::Regex),
}

#[derive(Debug, Clone)]
struct Selector {
    path: Vec<String>,
    op: Op,
}

/// A parsed set of filter strings: matches if any string's selectors all match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    any: Vec<Vec<Selector>>,
}

impl Filter {
    /// Parses filter strings as containerd's `filters.ParseAll`; an empty list matches all.
    pub fn parse_all<S: AsRef<str>>(filters: &[S]) -> Result<Filter> {
        let mut any = Vec::new();
        for f in filters {
            let f = f.as_ref();
            if f.is_empty() {
                any.push(Vec::new());
                continue;
            }
            any.push(Parser::new(f).selectors().map_err(|msg| {
                Error::InvalidArgument(format!("filters: parse error: [{f}]: {msg}"))
            })?);
        }
        Ok(Filter { any })
    }

    pub fn matches(&self, obj: &impl Adaptor) -> bool {
        if self.any.is_empty() {
            return true;
        }
        self.any.iter().any(|all| {
            all.iter().all(|s| {
                let v = obj.field(&s.path);
                match &s.op {
                    Op::Present => v.is_some(),
                    Op::Equal(want) => v.as_deref() == Some(want.as_str()),
                    Op::NotEqual(want) => v.as_deref().unwrap_or("") != want,
                    Op::Matches(re) => re.is_match(v.as_deref().unwrap_or("")),
                }
            })
        })
    }
}

/// Looks up `labels.KEY` (the key may itself contain dots once quoted).
pub fn label_field(
    labels: &std::collections::BTreeMap<String, String>,
    rest: &[String],
) -> Option<String> {
    if rest.is_empty() {
        return None;
    }
    labels.get(&rest.join(".")).cloned()
}

#[derive(Debug, PartialEq)]
enum Tok {
    Eof,
    Quoted(String),
    Value(String),
    Field(String),
    Sep(char),
    Operator(String),
    Other(char),
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    /// After an operator the scanner reads a value, which may hold any graphic character.
    want_value: bool,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            input,
            pos: 0,
            want_value: false,
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn peek_tok(&mut self) -> std::result::Result<Tok, String> {
        let (pos, wv) = (self.pos, self.want_value);
        let t = self.scan();
        self.pos = pos;
        self.want_value = wv;
        t
    }

    fn scan(&mut self) -> std::result::Result<Tok, String> {
        while let Some(c) = self.peek_char() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let Some(c) = self.peek_char() else {
            return Ok(Tok::Eof);
        };
        let start = self.pos;
        self.pos += c.len_utf8();
        if c == '\0' {
            return Err("unexpected null".into());
        }
        if matches!(c, '"' | '/' | '|') {
            return self.quoted(c).map(Tok::Quoted);
        }
        if c == ',' || c == '.' {
            self.want_value = false;
            return Ok(Tok::Sep(c));
        }
        if matches!(c, '=' | '!' | '~') {
            while matches!(self.peek_char(), Some('=' | '!' | '~')) {
                self.pos += 1;
            }
            self.want_value = true;
            return Ok(Tok::Operator(self.input[start..self.pos].to_string()));
        }
        if self.want_value {
            while let Some(c) = self.peek_char() {
                if c == ',' || c.is_whitespace() || c.is_control() {
                    break;
                }
                self.pos += c.len_utf8();
            }
            self.want_value = false;
            return Ok(Tok::Value(self.input[start..self.pos].to_string()));
        }
        if is_field_char(c) {
            while self.peek_char().is_some_and(is_field_char) {
                self.pos += 1;
            }
            return Ok(Tok::Field(self.input[start..self.pos].to_string()));
        }
        Ok(Tok::Other(c))
    }

    /// Reads a quoted literal whose opening `quote` was consumed; returns it unquoted.
    fn quoted(&mut self, quote: char) -> std::result::Result<String, String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err("quoted literal not terminated".into());
            };
            self.pos += c.len_utf8();
            if c == quote {
                return Ok(out);
            }
            if c == '\n' {
                return Err("quoted literal not terminated".into());
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.peek_char() else {
                return Err("quoted literal not terminated".into());
            };
            self.pos += e.len_utf8();
            match e {
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '\\' => out.push('\\'),
                e if e == quote => out.push(e),
                // Inside /regexp/ and |regexp| an unknown escape belongs to the regexp.
                e if quote != '"' => {
                    out.push('\\');
                    out.push(e);
                }
                e => return Err(format!("illegal escape sequence \\{e}")),
            }
        }
    }

    fn selectors(&mut self) -> std::result::Result<Vec<Selector>, String> {
        let mut all = vec![self.selector()?];
        loop {
            match self.peek_tok()? {
                Tok::Sep(',') => {
                    self.scan()?;
                    all.push(self.selector()?);
                }
                Tok::Eof => return Ok(all),
                t => return Err(format!("unexpected input: {t:?}")),
            }
        }
    }

    fn selector(&mut self) -> std::result::Result<Selector, String> {
        let path = self.fieldpath()?;
        match self.peek_tok()? {
            Tok::Sep(',') | Tok::Eof => {
                return Ok(Selector {
                    path,
                    op: Op::Present,
                })
            }
            _ => {}
        }
        let op = match self.scan()? {
            Tok::Operator(o) => o,
            t => {
                return Err(format!(
                    "expected an operator (\"==\"|\"!=\"|\"~=\"), got {t:?}"
                ))
            }
        };
        let value = match self.scan()? {
            Tok::Value(v) | Tok::Field(v) | Tok::Quoted(v) => v,
            Tok::Eof => return Err("unexpected end of input, expected value".into()),
            t => return Err(format!("expected value or quoted, got {t:?}")),
        };
        let op = match op.as_str() {
            "==" => Op::Equal(value),
            "!=" => Op::NotEqual(value),
            "~=" => Op::Matches(
                regex::Regex::new(&value).map_err(|e| format!("invalid regexp {value:?}: {e}"))?,
            ),
            o => return Err(format!("unsupported operator {o:?}")),
        };
        Ok(Selector { path, op })
    }

    fn fieldpath(&mut self) -> std::result::Result<Vec<String>, String> {
        let mut path = vec![self.field()?];
        while self.peek_tok()? == Tok::Sep('.') {
            self.scan()?;
            path.push(self.field()?);
        }
        Ok(path)
    }

    fn field(&mut self) -> std::result::Result<String, String> {
        match self.scan()? {
            Tok::Field(f) | Tok::Quoted(f) => Ok(f),
            t => Err(format!("expected field or quoted, got {t:?}")),
        }
    }
}

fn is_field_char(c: char) -> bool {
    c == '-' || c == '_' || c.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Obj {
        name: String,
        labels: BTreeMap<String, String>,
    }

    impl Adaptor for Obj {
        fn field(&self, path: &[String]) -> Option<String> {
            match path.first().map(String::as_str) {
                Some("name") => Some(self.name.clone()),
                Some("labels") => label_field(&self.labels, &path[1..]),
                _ => None,
            }
        }
    }

    fn obj() -> Obj {
        Obj {
            name: "docker.io/library/busybox:latest".into(),
            labels: BTreeMap::from([("a.b".into(), "c".into()), ("x".into(), "1".into())]),
        }
    }

    fn m(filters: &[&str]) -> bool {
        Filter::parse_all(filters).unwrap().matches(&obj())
    }

    #[test]
    fn operators() {
        assert!(m(&[]));
        assert!(m(&["name==docker.io/library/busybox:latest"]));
        assert!(!m(&["name!=docker.io/library/busybox:latest"]));
        assert!(m(&["name~=busybox"]));
        assert!(m(&["labels.x"]));
        assert!(!m(&["labels.y"]));
        assert!(m(&["labels.\"a.b\"==c"]));
        assert!(m(&["labels.x==1,name~=busy"]));
        assert!(!m(&["labels.x==2,name~=busy"]));
        assert!(m(&["labels.x==2", "name~=busy"]));
        assert!(m(&["name~=/^docker|^quay/"]));
        assert!(m(&["name~=|box:latest$|"]));
    }

    #[test]
    fn invalid() {
        for bad in [
            "name==",
            "==x",
            "name=x",
            "name~=(",
            "labels.\"a",
            "name==a,",
            "name?",
        ] {
            match Filter::parse_all(&[bad]) {
                Err(Error::InvalidArgument(msg)) => assert!(msg.contains(bad), "{msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
