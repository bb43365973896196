//! Lexer for Go text/template source, following `text/template/parse/lex.go`:
//! text runs, `{{`/`}}` delimiters with `-` trim markers, comments, and the
//! tokens inside actions. Lexing stops at the first error, which is returned
//! as a final [`Tok::Error`] item carrying Go's message.

/// Token kinds (Go's `itemType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Error,
    Bool,
    Char,
    CharConstant,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Tok {
    pub(crate) fn is_keyword(self) -> bool {
        matches!(
            self,
            Tok::Block
                | Tok::Break
                | Tok::Continue
                | Tok::Dot
                | Tok::Define
                | Tok::Else
                | Tok::End
                | Tok::If
                | Tok::Nil
                | Tok::Range
                | Tok::Template
                | Tok::With
        )
    }
}

/// One token: kind, byte offset, text (or error message) and 1-based line.
#[derive(Debug, Clone)]
pub(crate) struct Item<'s> {
    pub typ: Tok,
    pub pos: usize,
    pub val: std::borrow::Cow<'s, str>,
    pub line: usize,
}

impl Item<'_> {
    /// Go's `item.String()`, used in "unexpected ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self.typ {
            Tok::Eof => "EOF".to_string(),
            Tok::Error => self.val.to_string(),
            t if t.is_keyword() => format!("<{}>", self.val),
            _ => {
                if self.val.chars().count() > 10 {
                    let short: String = self.val.chars().take(10).collect();
                    format!("{}...", super::gofmt::quote(&short))
                } else {
                    super::gofmt::quote(&self.val)
                }
            }
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

struct Lexer<'s> {
    input: &'s str,
    start: usize,
    pos: usize,
    line: usize,
    start_line: usize,
    paren_depth: i32,
    items: Vec<Item<'s>>,
}

/// Lexes `input` into tokens; the last item is `Eof` or `Error`.
pub(crate) fn lex(input: &str) -> Vec<Item<'_>> {
    let mut l = Lexer {
        input,
        start: 0,
        pos: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        items: Vec::new(),
    };
    l.run();
    l.items
}

impl<'s> Lexer<'s> {
    fn rest(&self) -> &'s str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line -= 1;
            }
        }
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn emit(&mut self, typ: Tok) {
        let val = &self.input[self.start..self.pos];
        self.items.push(Item {
            typ,
            pos: self.start,
            val: val.into(),
            line: self.start_line,
        });
        self.ignore();
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.start_line = self.line;
    }

    /// Moves forward `n` bytes without `next`, keeping the line count.
    fn advance(&mut self, n: usize) {
        self.line += self.input[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    fn error(&mut self, msg: String) {
        self.items.push(Item {
            typ: Tok::Error,
            pos: self.start,
            val: msg.into(),
            line: self.start_line,
        });
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if has_right_trim(r) && r[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (r.starts_with(RIGHT), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn run(&mut self) {
        loop {
            // Text.
            if let Some(x) = self.rest().find(LEFT) {
                if x > 0 {
                    let text_end = self.pos + x;
                    let delim_end = text_end + LEFT.len();
                    let mut trim = 0;
                    if has_left_trim(&self.input[delim_end..]) {
                        let text = &self.input[self.start..text_end];
                        trim = text.len() - text.trim_end_matches(is_space).len();
                    }
                    self.pos = text_end - trim;
                    self.line += self.input[self.start..self.pos].matches('\n').count();
                    let val = &self.input[self.start..self.pos];
                    if !val.is_empty() {
                        self.items.push(Item {
                            typ: Tok::Text,
                            pos: self.start,
                            val: val.into(),
                            line: self.start_line,
                        });
                    }
                    self.pos = text_end;
                    self.line += self.input[text_end - trim..text_end].matches('\n').count();
                    self.start = self.pos;
                    self.start_line = self.line;
                }
                if !self.left_delim() {
                    return;
                }
            } else {
                self.pos = self.input.len();
                if self.pos > self.start {
                    self.line += self.input[self.start..self.pos].matches('\n').count();
                    let val = &self.input[self.start..self.pos];
                    self.items.push(Item {
                        typ: Tok::Text,
                        pos: self.start,
                        val: val.into(),
                        line: self.start_line,
                    });
                    self.start = self.pos;
                    self.start_line = self.line;
                }
                self.emit(Tok::Eof);
                return;
            }
        }
    }

    /// At `{{`; returns false after an error.
    fn left_delim(&mut self) -> bool {
        self.advance(LEFT.len());
        let trim = has_left_trim(self.rest());
        let after = if trim { 2 } else { 0 };
        if self.input[self.pos + after..].starts_with("/*") {
            self.advance(after);
            self.ignore();
            return self.comment();
        }
        self.emit(Tok::LeftDelim);
        self.advance(after);
        self.ignore();
        self.paren_depth = 0;
        self.inside_action()
    }

    fn comment(&mut self) -> bool {
        self.advance(2);
        let Some(x) = self.rest().find("*/") else {
            self.error("unclosed comment".into());
            return false;
        };
        self.advance(x + 2);
        let (delim, trim) = self.at_right_delim();
        if !delim {
            self.error("comment ends before closing delimiter".into());
            return false;
        }
        if trim {
            self.advance(2);
        }
        self.advance(RIGHT.len());
        if trim {
            self.advance(self.left_trim_len());
        }
        self.ignore();
        true
    }

    fn left_trim_len(&self) -> usize {
        let r = self.rest();
        r.len() - r.trim_start_matches(is_space).len()
    }

    fn right_delim(&mut self, trim: bool) {
        if trim {
            self.advance(2);
            self.ignore();
        }
        self.advance(RIGHT.len());
        self.emit(Tok::RightDelim);
        if trim {
            self.advance(self.left_trim_len());
            self.ignore();
        }
    }

    /// Lexes the inside of an action up to and including `}}`.
    fn inside_action(&mut self) -> bool {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth == 0 {
                    self.right_delim(trim);
                    return true;
                }
                self.error("unclosed left paren".into());
                return false;
            }
            let Some(c) = self.next() else {
                self.error("unclosed action".into());
                return false;
            };
            let ok = match c {
                c if is_space(c) => {
                    self.backup(Some(c));
                    match self.space() {
                        Some(trim) => {
                            self.right_delim(trim);
                            return true;
                        }
                        None => true,
                    }
                }
                '=' => {
                    self.emit(Tok::Assign);
                    true
                }
                ':' => {
                    if self.next() != Some('=') {
                        self.error("expected :=".into());
                        false
                    } else {
                        self.emit(Tok::Declare);
                        true
                    }
                }
                '|' => {
                    self.emit(Tok::Pipe);
                    true
                }
                '"' => self.quote(),
                '`' => self.raw_quote(),
                '$' => self.field_or_variable(Tok::Variable),
                '\'' => self.char_const(),
                '.' if !matches!(self.peek(), Some('0'..='9')) => {
                    self.field_or_variable(Tok::Field)
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.backup(Some(c));
                    self.number()
                }
                c if is_alnum(c) => {
                    self.backup(Some(c));
                    self.identifier()
                }
                '(' => {
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen);
                    true
                }
                ')' => {
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        self.error("unexpected right paren".into());
                        false
                    } else {
                        self.emit(Tok::RightParen);
                        true
                    }
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.emit(Tok::Char);
                    true
                }
                c => {
                    self.error(format!(
                        "unrecognized character in action: {}",
                        super::gofmt::unicode_repr(c)
                    ));
                    false
                }
            };
            if !ok {
                return false;
            }
        }
    }

    /// Lexes a run of spaces. Returns `Some(trim)` when the spaces end at a
    /// trim-marked right delimiter that must be lexed now.
    fn space(&mut self) -> Option<bool> {
        let mut n = 0;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.next();
            n += 1;
        }
        let before = &self.input[self.pos - 1..];
        if has_right_trim(before) && before[2..].starts_with(RIGHT) {
            let last = self.input[self.pos - 1..].chars().next();
            self.backup(last);
            if n == 1 {
                return Some(true);
            }
        }
        self.emit(Tok::Space);
        None
    }

    fn identifier(&mut self) -> bool {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\0');
            self.error(format!("bad character {}", super::gofmt::unicode_repr(c)));
            return false;
        }
        let word = &self.input[self.start..self.pos];
        let typ = match word {
            "block" => Tok::Block,
            "break" => Tok::Break,
            "continue" => Tok::Continue,
            "define" => Tok::Define,
            "else" => Tok::Else,
            "end" => Tok::End,
            "if" => Tok::If,
            "range" => Tok::Range,
            "nil" => Tok::Nil,
            "template" => Tok::Template,
            "with" => Tok::With,
            "true" | "false" => Tok::Bool,
            _ => Tok::Identifier,
        };
        self.emit(typ);
        true
    }

    fn field_or_variable(&mut self, typ: Tok) -> bool {
        if self.at_terminator() {
            self.emit(if typ == Tok::Variable {
                Tok::Variable
            } else {
                Tok::Dot
            });
            return true;
        }
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or('\0');
            self.error(format!("bad character {}", super::gofmt::unicode_repr(c)));
            return false;
        }
        self.emit(typ);
        true
    }

    fn char_const(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        self.error("unterminated character constant".into());
                        return false;
                    }
                    _ => {}
                },
                None | Some('\n') => {
                    self.error("unterminated character constant".into());
                    return false;
                }
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(Tok::CharConstant);
        true
    }

    fn quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        self.error("unterminated quoted string".into());
                        return false;
                    }
                    _ => {}
                },
                None | Some('\n') => {
                    self.error("unterminated quoted string".into());
                    return false;
                }
                Some('"') => break,
                _ => {}
            }
        }
        self.emit(Tok::String);
        true
    }

    fn raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => {
                    self.error("unterminated raw quoted string".into());
                    return false;
                }
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(Tok::RawString);
        true
    }

    fn number(&mut self) -> bool {
        if !self.scan_number() {
            let text = self.input[self.start..self.pos].to_string();
            self.error(format!("bad number syntax: {}", super::gofmt::quote(&text)));
            return false;
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex constants (1+2i) are not supported; Go accepts them.
            self.scan_number();
            let text = self.input[self.start..self.pos].to_string();
            self.error(format!("bad number syntax: {}", super::gofmt::quote(&text)));
            return false;
        }
        self.emit(Tok::Number);
        true
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if self.accept("i") {
            // Imaginary numbers are not supported.
            return false;
        }
        if matches!(self.peek(), Some(c) if is_alnum(c)) {
            self.next();
            return false;
        }
        true
    }
}
