//! HCL 1, the syntax Vault (and OpenBao) parse policies with: the one
//! reader of a policy's HCL text ([`super::acl`] decides what it means).
//!
//! Written here because no maintained Rust crate reads HCL 1: `hcl-rs`
//! and `hcl-edit` implement HCL 2, which refuses forms Vault accepts (two
//! attributes of a block on one line, commas between them, quoted
//! attribute names). The grammar is HCL 1's (hashicorp/hcl v1's
//! `hcl/parser`), limited to what a document of literals has:
//!
//! - a body is items, each optionally followed by a comma;
//! - an item is `KEY = VALUE`, or `KEY KEY... { BODY }` (a block: its
//!   labels are more keys); a key is an identifier (letters, digits, `_`,
//!   `-`, `.`) or a quoted string;
//! - a value is a string (`"..."` with Go's escapes, or a heredoc
//!   `<<EOF`/`<<-EOF`), a number, `true`/`false`, a list `[V, V,]`, or an
//!   object `{ BODY }`;
//! - comments are `#`, `//` and `/* */`.
//!
//! Bounded: nesting deeper than [`MAX_DEPTH`] is refused (the text itself
//! is bounded by the caller).

use serde_json::{Map, Number, Value};

use crate::error::Error;

/// Deepest nesting of lists and objects accepted.
pub const MAX_DEPTH: usize = 32;

/// One item of a body: its keys (`path "transit/*"` has two) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub keys: Vec<String>,
    pub value: Node,
}

/// A value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Str(String),
    Num(Number),
    Bool(bool),
    List(Vec<Node>),
    Object(Vec<Item>),
}

impl Node {
    /// As JSON, the way HCL 1 decodes it: an object's item `a "b" = v` is
    /// `{"a": {"b": v}}`; a key given twice keeps its last value.
    pub fn to_json(&self) -> Value {
        match self {
            Node::Str(s) => Value::String(s.clone()),
            Node::Num(n) => Value::Number(n.clone()),
            Node::Bool(b) => Value::Bool(*b),
            Node::List(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Object(items) => {
                let mut map = Map::new();
                for item in items {
                    let mut value = item.value.to_json();
                    for key in item.keys.iter().skip(1).rev() {
                        value = Value::Object(Map::from_iter([(key.clone(), value)]));
                    }
                    if let Some(first) = item.keys.first() {
                        map.insert(first.clone(), value);
                    }
                }
                Value::Object(map)
            }
        }
    }
}

/// Parses a document: its top-level items. The error gives the line and
/// column, never the text.
pub fn parse(text: &str) -> Result<Vec<Item>, Error> {
    let mut p = Parser {
        chars: text.chars().collect(),
        at: 0,
        depth: 0,
    };
    let items = p.body(None)?;
    Ok(items)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.at + 1).copied()
    }

    /// Where `at` is, for an error: line and column, from 1.
    fn error(&self, what: &str) -> Error {
        let before = &self.chars[..self.at.min(self.chars.len())];
        let line = before.iter().filter(|c| **c == '\n').count() + 1;
        let column = before.iter().rev().take_while(|c| **c != '\n').count() + 1;
        Error::invalid(format!(
            "policy is not valid HCL: {what} at line {line}, column {column}"
        ))
    }

    /// Skips blanks and comments.
    fn skip(&mut self) -> Result<(), Error> {
        loop {
            match (self.peek(), self.peek2()) {
                (Some(c), _) if c.is_whitespace() => self.at += 1,
                (Some('#'), _) | (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                (Some('/'), Some('*')) => {
                    self.at += 2;
                    loop {
                        match (self.peek(), self.peek2()) {
                            (Some('*'), Some('/')) => {
                                self.at += 2;
                                break;
                            }
                            (Some(_), _) => self.at += 1,
                            (None, _) => return Err(self.error("unterminated comment")),
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn nest(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    /// Items up to `close` (or the end of the text, for the top level).
    fn body(&mut self, close: Option<char>) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        loop {
            self.skip()?;
            match self.peek() {
                None if close.is_none() => return Ok(items),
                None => return Err(self.error("missing '}'")),
                Some(c) if Some(c) == close => {
                    self.at += 1;
                    return Ok(items);
                }
                Some(',') if !items.is_empty() => {
                    self.at += 1;
                    continue;
                }
                Some(_) => items.push(self.item()?),
            }
        }
    }

    fn item(&mut self) -> Result<Item, Error> {
        let mut keys = vec![self.key()?];
        loop {
            self.skip()?;
            match self.peek() {
                Some('=') if keys.len() == 1 => {
                    self.at += 1;
                    let value = self.value()?;
                    return Ok(Item { keys, value });
                }
                Some('=') => return Err(self.error("a block's labels take no '='")),
                Some('{') => {
                    self.at += 1;
                    self.nest()?;
                    let body = self.body(Some('}'))?;
                    self.depth -= 1;
                    return Ok(Item {
                        keys,
                        value: Node::Object(body),
                    });
                }
                Some('"') => keys.push(self.string()?),
                Some(c) if is_ident(c) => keys.push(self.ident()),
                _ => return Err(self.error("expected '=' or '{' after a key")),
            }
        }
    }

    fn key(&mut self) -> Result<String, Error> {
        match self.peek() {
            Some('"') => self.string(),
            Some(c) if is_ident(c) && !c.is_ascii_digit() => Ok(self.ident()),
            _ => Err(self.error("expected a key (a name or a quoted string)")),
        }
    }

    fn ident(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(is_ident) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn value(&mut self) -> Result<Node, Error> {
        self.skip()?;
        match self.peek() {
            Some('"') => Ok(Node::Str(self.string()?)),
            Some('<') if self.peek2() == Some('<') => Ok(Node::Str(self.heredoc()?)),
            Some('[') => {
                self.at += 1;
                self.nest()?;
                let list = self.list()?;
                self.depth -= 1;
                Ok(Node::List(list))
            }
            Some('{') => {
                self.at += 1;
                self.nest()?;
                let body = self.body(Some('}'))?;
                self.depth -= 1;
                Ok(Node::Object(body))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if is_ident(c) => match self.ident().as_str() {
                "true" => Ok(Node::Bool(true)),
                "false" => Ok(Node::Bool(false)),
                _ => Err(self.error("expected a value (HCL 1 has no variables)")),
            },
            _ => Err(self.error("expected a value")),
        }
    }

    fn list(&mut self) -> Result<Vec<Node>, Error> {
        let mut items = Vec::new();
        loop {
            self.skip()?;
            if self.peek() == Some(']') {
                self.at += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            self.skip()?;
            match self.peek() {
                Some(',') => self.at += 1,
                Some(']') => {}
                _ => return Err(self.error("expected ',' or ']' in a list")),
            }
        }
    }

    fn number(&mut self) -> Result<Node, Error> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
        {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        let number = match text.strip_prefix("0x") {
            Some(hex) => i64::from_str_radix(hex, 16).ok().map(Number::from),
            None => text
                .parse::<i64>()
                .ok()
                .map(Number::from)
                .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64)),
        };
        number
            .map(Node::Num)
            .ok_or_else(|| self.error("not a number"))
    }

    /// A quoted string, with Go's escapes; `${...}` is kept as written.
    fn string(&mut self) -> Result<String, Error> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match c {
                '"' => return Ok(out),
                '\n' => return Err(self.error("a newline in a string")),
                '\\' => out.push(self.escape()?),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, Error> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated string"));
        };
        self.at += 1;
        Ok(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            '\\' => '\\',
            '"' => '"',
            '\'' => '\'',
            'u' | 'U' => {
                let n = if c == 'u' { 4 } else { 8 };
                let digits: String = self.chars.iter().skip(self.at).take(n).collect();
                self.at += n;
                u32::from_str_radix(&digits, 16)
                    .ok()
                    .filter(|_| digits.len() == n)
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error("a bad \\u escape"))?
            }
            _ => return Err(self.error("an unknown escape in a string")),
        })
    }

    /// `<<EOF` ... `EOF`, or `<<-EOF` with the lines' common indent removed.
    fn heredoc(&mut self) -> Result<String, Error> {
        self.at += 2;
        let indented = self.peek() == Some('-');
        if indented {
            self.at += 1;
        }
        let marker = self.ident();
        if marker.is_empty() || self.peek() != Some('\n') {
            return Err(self.error("a heredoc needs a marker, then a new line"));
        }
        self.at += 1;
        let mut lines: Vec<String> = Vec::new();
        loop {
            if self.peek().is_none() {
                return Err(self.error("unterminated heredoc"));
            }
            let start = self.at;
            while self.peek().is_some_and(|c| c != '\n') {
                self.at += 1;
            }
            let line: String = self.chars[start..self.at].iter().collect();
            if line.trim() == marker && (indented || line == marker) {
                break;
            }
            lines.push(line);
            if self.peek() == Some('\n') {
                self.at += 1;
            }
        }
        if indented {
            let indent = lines
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            for line in &mut lines {
                *line = line.chars().skip(indent).collect();
            }
        }
        let mut text = lines.join("\n");
        text.push('\n');
        Ok(text)
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json(text: &str) -> Value {
        Node::Object(parse(text).unwrap()).to_json()
    }

    #[test]
    fn hcl1_forms_hcl2_refuses() {
        // Two attributes on one line, with and without a comma; quoted
        // keys; a trailing comma after an item.
        let want = json!({"path": {"a/*": {"capabilities": ["read"], "policy": "read"}}});
        for text in [
            r#"path "a/*" { capabilities = ["read"] policy = "read" }"#,
            r#"path "a/*" { capabilities = ["read"], policy = "read", }"#,
            r#"path "a/*" { "capabilities" = ["read",] "policy" = "read" }"#,
            "path \"a/*\" {\n  capabilities = [\n    \"read\", # why\n  ]\n  /* old */ policy = \"read\"\n}\n",
        ] {
            assert_eq!(json(text), want, "{text}");
        }
        assert_eq!(
            json("x = 0x1f\ny = -2.5\nz = true\nh = <<-EOT\n    a\n      b\n    EOT\n"),
            json!({"x": 31, "y": -2.5, "z": true, "h": "a\n  b\n"})
        );
        assert_eq!(json(r#"s = "a\"\u00e9\n""#), json!({"s": "a\"é\n"}));
    }

    #[test]
    fn bad_text_says_where() {
        for (text, want) in [
            ("path \"a\" {", "missing '}' at line 1"),
            ("path \"a\" { x = [1 2] }", "expected ',' or ']'"),
            ("path \"a\" { x = var.y }", "no variables"),
            ("x = \"abc", "unterminated string"),
            ("x \"a\" = 1", "labels take no '='"),
            ("\n  = 1", "at line 2, column 3"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let deep = format!("x = {}{}", "[".repeat(40), "]".repeat(40));
        assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
    }
}
