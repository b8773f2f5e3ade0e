//! The language: function definitions over 64-bit signed integers.
//!
//! ```text
//! program  := { def }
//! def      := "def" NAME "(" [ NAME { "," NAME } ] ")" "=" expr ";"
//! expr     := term { ("+" | "-") term }
//! term     := unary { ("*" | "/") unary }
//! unary    := "-" unary | primary
//! primary  := INTEGER | NAME | NAME "(" [ expr { "," expr } ] ")" | "(" expr ")"
//!           | "if" expr CMP expr "then" expr "else" expr
//! CMP      := "<" | "<=" | ">" | ">=" | "==" | "!="
//! ```
//!
//! `#` starts a comment that runs to the end of the line. Arithmetic wraps; `x / 0` is 0 and
//! `x / -1` is `-x` (so division never traps). A function takes at most six parameters: they
//! all arrive in registers.

use std::fmt;

/// Parameters arrive in `rdi, rsi, rdx, rcx, r8, r9`; there is no stack-argument support.
pub const MAX_PARAMS: usize = 6;

const KEYWORDS: [&str; 4] = ["def", "if", "then", "else"];

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub params: Vec<String>,
    pub body: Expr,
}

impl Function {
    /// Every call in the body as (callee, number of arguments), in source order.
    pub fn calls(&self) -> Vec<(String, usize)> {
        let mut calls = Vec::new();
        self.body.collect_calls(&mut calls);
        calls
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Clone, Debug)]
pub enum Expr {
    Int(i64),
    /// The n-th parameter (resolved while parsing, so codegen never sees an unknown name).
    Param(usize),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    If {
        cmp: Cmp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

impl Expr {
    fn collect_calls(&self, out: &mut Vec<(String, usize)>) {
        match self {
            Expr::Int(_) | Expr::Param(_) => {}
            Expr::Neg(e) => e.collect_calls(out),
            Expr::Binary(_, l, r) => {
                l.collect_calls(out);
                r.collect_calls(out);
            }
            Expr::Call(name, args) => {
                out.push((name.clone(), args.len()));
                args.iter().for_each(|a| a.collect_calls(out));
            }
            Expr::If { lhs, rhs, then, otherwise, .. } => {
                for e in [lhs, rhs, then, otherwise] {
                    e.collect_calls(out);
                }
            }
        }
    }
}

/// Where the source went wrong (1-based line and column) and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Name(String),
    Int(String),
    Punct(&'static str),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Name(n) => write!(f, "`{n}`"),
            Tok::Int(i) => write!(f, "`{i}`"),
            Tok::Punct(p) => write!(f, "`{p}`"),
            Tok::End => f.write_str("the end of the input"),
        }
    }
}

struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

/// Two-character operators first, so `<=` is not read as `<` then `=`.
const PUNCTUATION: [&str; 15] = ["<=", ">=", "==", "!=", "+", "-", "*", "/", "(", ")", ",", "=", ";", "<", ">"];

fn lex(source: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    for (line_index, line) in source.lines().enumerate() {
        let line_no = line_index + 1;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (byte, c) = chars[i];
            let column = i + 1;
            if c == '#' {
                break;
            }
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            let run_end = |pred: fn(char) -> bool| {
                let mut j = i;
                while j < chars.len() && pred(chars[j].1) {
                    j += 1;
                }
                j
            };
            if c.is_ascii_alphabetic() || c == '_' {
                let end = run_end(|c| c.is_ascii_alphanumeric() || c == '_');
                let text: String = chars[i..end].iter().map(|&(_, c)| c).collect();
                tokens.push(Token { tok: Tok::Name(text), line: line_no, column });
                i = end;
            } else if c.is_ascii_digit() {
                let end = run_end(|c| c.is_ascii_alphanumeric() || c == '_');
                let text: String = chars[i..end].iter().map(|&(_, c)| c).collect();
                if !text.chars().all(|c| c.is_ascii_digit()) {
                    let message = format!("malformed number `{text}`");
                    return Err(ParseError { line: line_no, column, message });
                }
                tokens.push(Token { tok: Tok::Int(text), line: line_no, column });
                i = end;
            } else if let Some(p) = PUNCTUATION.iter().find(|p| line[byte..].starts_with(**p)) {
                tokens.push(Token { tok: Tok::Punct(p), line: line_no, column });
                i += p.len();
            } else {
                let message = format!("unexpected character `{c}`");
                return Err(ParseError { line: line_no, column, message });
            }
        }
    }
    let (line, column) = match source.lines().enumerate().last() {
        Some((n, text)) => (n + 1, text.chars().count() + 1),
        None => (1, 1),
    };
    tokens.push(Token { tok: Tok::End, line, column });
    Ok(tokens)
}

/// Parses a whole program. Nothing is returned unless every definition parses.
pub fn parse_program(source: &str) -> Result<Vec<Function>, ParseError> {
    let mut parser = Parser { tokens: lex(source)?, pos: 0, function: String::new(), params: Vec::new() };
    let mut functions: Vec<Function> = Vec::new();
    while parser.peek().tok != Tok::End {
        let (line, column) = (parser.peek().line, parser.peek().column);
        let function = parser.definition()?;
        if functions.iter().any(|f| f.name == function.name) {
            let message = format!("`{}` is defined twice", function.name);
            return Err(ParseError { line, column, message });
        }
        functions.push(function);
    }
    Ok(functions)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The definition being parsed and its parameters, to resolve names and word errors.
    function: String,
    params: Vec<String>,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn next(&mut self) -> &Token {
        let token = &self.tokens[self.pos];
        if token.tok != Tok::End {
            self.pos += 1;
        }
        token
    }

    fn error_here<T>(&self, message: String) -> Result<T, ParseError> {
        let token = self.peek();
        Err(ParseError { line: token.line, column: token.column, message })
    }

    fn expected<T>(&self, what: &str) -> Result<T, ParseError> {
        self.error_here(format!("expected {what}, found {}", self.peek().tok))
    }

    fn at_punct(&self, p: &str) -> bool {
        matches!(self.peek().tok, Tok::Punct(q) if q == p)
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Name(n) if n == keyword)
    }

    fn punct(&mut self, p: &str) -> Result<(), ParseError> {
        if !self.at_punct(p) {
            return self.expected(&format!("`{p}`"));
        }
        self.next();
        Ok(())
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), ParseError> {
        if !self.at_keyword(keyword) {
            return self.expected(&format!("`{keyword}`"));
        }
        self.next();
        Ok(())
    }

    /// A name that is not a keyword.
    fn name(&mut self, what: &str) -> Result<String, ParseError> {
        match &self.peek().tok {
            Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => {
                let n = n.clone();
                self.next();
                Ok(n)
            }
            _ => self.expected(what),
        }
    }

    fn definition(&mut self) -> Result<Function, ParseError> {
        self.keyword("def")?;
        self.function = self.name("a function name")?;
        self.params.clear();
        self.punct("(")?;
        if !self.at_punct(")") {
            loop {
                if self.params.len() == MAX_PARAMS {
                    return self.error_here(format!("`{}` has more than {MAX_PARAMS} parameters", self.function));
                }
                let param_at = self.pos;
                let param = self.name("a parameter name")?;
                if self.params.contains(&param) {
                    self.pos = param_at;
                    return self.error_here(format!("parameter `{param}` appears twice"));
                }
                self.params.push(param);
                if !self.at_punct(",") {
                    break;
                }
                self.next();
            }
        }
        self.punct(")")?;
        self.punct("=")?;
        let body = self.expr()?;
        self.punct(";")?;
        Ok(Function { name: self.function.clone(), params: std::mem::take(&mut self.params), body })
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.term()?;
        loop {
            let op = if self.at_punct("+") {
                BinOp::Add
            } else if self.at_punct("-") {
                BinOp::Sub
            } else {
                return Ok(lhs);
            };
            self.next();
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let op = if self.at_punct("*") {
                BinOp::Mul
            } else if self.at_punct("/") {
                BinOp::Div
            } else {
                return Ok(lhs);
            };
            self.next();
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.at_punct("-") {
            self.next();
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        if self.at_keyword("if") {
            return self.conditional();
        }
        if self.at_punct("(") {
            self.next();
            let inner = self.expr()?;
            self.punct(")")?;
            return Ok(inner);
        }
        match self.peek().tok.clone() {
            Tok::Int(text) => match text.parse::<i64>() {
                Ok(value) => {
                    self.next();
                    Ok(Expr::Int(value))
                }
                Err(_) => self.error_here(format!("integer `{text}` does not fit in 64 bits")),
            },
            Tok::Name(name) if !KEYWORDS.contains(&name.as_str()) => {
                let name_at = self.pos;
                self.next();
                if self.at_punct("(") {
                    return self.call(name, name_at);
                }
                match self.params.iter().position(|p| *p == name) {
                    Some(index) => Ok(Expr::Param(index)),
                    None => {
                        self.pos = name_at;
                        let params = if self.params.is_empty() { "none".to_string() } else { self.params.join(", ") };
                        self.error_here(format!("unknown name `{name}` in `{}` (parameters: {params})", self.function))
                    }
                }
            }
            _ => self.expected("an expression"),
        }
    }

    fn call(&mut self, callee: String, callee_at: usize) -> Result<Expr, ParseError> {
        self.punct("(")?;
        let mut args = Vec::new();
        if !self.at_punct(")") {
            loop {
                args.push(self.expr()?);
                if !self.at_punct(",") {
                    break;
                }
                self.next();
            }
        }
        if args.len() > MAX_PARAMS {
            self.pos = callee_at;
            return self.error_here(format!("call to `{callee}` with more than {MAX_PARAMS} arguments"));
        }
        self.punct(")")?;
        Ok(Expr::Call(callee, args))
    }

    fn conditional(&mut self) -> Result<Expr, ParseError> {
        self.keyword("if")?;
        let lhs = self.expr()?;
        let cmp = match self.peek().tok {
            Tok::Punct("<") => Cmp::Lt,
            Tok::Punct("<=") => Cmp::Le,
            Tok::Punct(">") => Cmp::Gt,
            Tok::Punct(">=") => Cmp::Ge,
            Tok::Punct("==") => Cmp::Eq,
            Tok::Punct("!=") => Cmp::Ne,
            _ => return self.expected("a comparison (`<`, `<=`, `>`, `>=`, `==`, `!=`)"),
        };
        self.next();
        let rhs = self.expr()?;
        self.keyword("then")?;
        let then = self.expr()?;
        self.keyword("else")?;
        let otherwise = self.expr()?;
        Ok(Expr::If {
            cmp,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        })
    }
}
