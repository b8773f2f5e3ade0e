//! The rule grammar of llvm-jitlink's `-check` files (RuntimeDyldChecker's), parsed into
//! trees before anything is linked, so a typo is reported with its line and column.
//!
//! The grammar is not a conventional one, and check files written for llvm-jitlink depend on
//! its quirks, so we follow them:
//! - a rule is split at its first `=`;
//! - binary operators have one precedence and group to the left (`a - b + c` is
//!   `(a - b) + c`, `a + b << c` is `(a + b) << c`);
//! - the address of a load extends as far right as it can: `*{4}a + 4` reads at `a + 4`;
//! - whitespace is skipped after identifiers, operators and closing brackets but not after
//!   numbers, so `1 + 2` stops at the space after `1`.

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BinOp {
    Add,
    Sub,
    And,
    Or,
    Shl,
    Shr,
}

impl BinOp {
    pub fn apply(self, lhs: u64, rhs: u64) -> u64 {
        match self {
            BinOp::Add => lhs.wrapping_add(rhs),
            BinOp::Sub => lhs.wrapping_sub(rhs),
            BinOp::And => lhs & rhs,
            BinOp::Or => lhs | rhs,
            // llvm-jitlink shifts a uint64_t; on x86-64 hosts the count is taken mod 64.
            BinOp::Shl => lhs.wrapping_shl(rhs as u32),
            BinOp::Shr => lhs.wrapping_shr(rhs as u32),
        }
    }
}

/// An expression; `at` fields are byte offsets into the rule's text, for messages.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expr {
    Number(u64),
    Symbol {
        name: String,
        at: usize,
    },
    Binary(Box<Expr>, BinOp, Box<Expr>),
    /// Bits `high..=low` of the value, shifted down to bit 0.
    Slice {
        value: Box<Expr>,
        high: u32,
        low: u32,
    },
    /// `*{size}address`: `size` bytes of linked memory, little-endian.
    Load {
        size: u8,
        address: Box<Expr>,
        at: usize,
    },
    DecodeOperand {
        symbol: String,
        offset: u64,
        operand: u64,
        at: usize,
    },
    NextPc {
        symbol: String,
        at: usize,
    },
    StubAddr {
        file: String,
        symbol: String,
        kind: Option<String>,
        at: usize,
    },
    GotAddr {
        file: String,
        symbol: String,
        at: usize,
    },
    SectionAddr {
        file: String,
        section: String,
        at: usize,
    },
}

/// One `LHS = RHS` rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The expression as llvm-jitlink prints it: continuation lines joined, trimmed.
    pub text: String,
    pub lhs: Expr,
    pub rhs: Expr,
    /// Where each piece of `text` came from, to turn offsets into lines and columns.
    pub origin: Origin,
}

/// Maps offsets in a rule's joined text back to the check file.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// (offset in the text where a piece starts, 1-based line, 1-based column of that offset).
    pieces: Vec<(usize, usize, usize)>,
}

impl Origin {
    /// The 1-based (line, column) of `offset` in the rule's text.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let piece = self.pieces.iter().rev().find(|(start, _, _)| *start <= offset);
        match piece {
            Some(&(start, line, column)) => (line, column + (offset - start)),
            None => self.pieces.first().map_or((0, 0), |&(_, line, column)| (line, column)),
        }
    }

    pub fn line(&self) -> usize {
        self.pieces.first().map_or(0, |p| p.1)
    }
}

/// A rule that does not parse.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// The rules of a check file: lines that start (after leading blanks) with `prefix` —
/// `# jitlink-check:` unless `-check-name` says otherwise. A rule ending in `\` continues on
/// the next line that starts with the prefix; a line without it ends the rule.
pub fn parse_rules(text: &str, prefix: &str) -> (Vec<Rule>, Vec<ParseError>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    let mut joined = String::new();
    let mut origin = Origin::default();
    for (index, raw_line) in text.split(['\n', '\r']).enumerate() {
        let trimmed = raw_line.trim_start();
        let indent = raw_line.len() - trimmed.len();
        if let Some(body) = trimmed.strip_prefix(prefix) {
            let column = indent + prefix.len() + 1;
            origin.pieces.push((joined.len(), index + 1, column));
            joined.push_str(body);
        }
        if joined.is_empty() {
            continue;
        }
        if joined.ends_with('\\') {
            joined.pop();
            continue;
        }
        match parse_rule(&joined, std::mem::take(&mut origin)) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(e),
        }
        joined.clear();
    }
    if !joined.is_empty() {
        match parse_rule(&joined, origin) {
            Ok(rule) => rules.push(rule),
            Err(e) => errors.push(e),
        }
    }
    (rules, errors)
}

/// Parses one rule's joined text.
pub fn parse_rule(joined: &str, mut origin: Origin) -> Result<Rule, ParseError> {
    // Offsets below are into the trimmed text, as llvm-jitlink prints it.
    let lead = joined.len() - joined.trim_start().len();
    for piece in &mut origin.pieces {
        if piece.0 >= lead {
            piece.0 -= lead;
        } else {
            piece.2 += lead - piece.0;
            piece.0 = 0;
        }
    }
    let text = joined.trim().to_string();
    let error = |offset: usize, message: String| {
        let (line, column) = origin.position(offset);
        ParseError { line, column, message }
    };
    let Some(equals) = text.find('=') else {
        return Err(error(text.len(), "expected '=' between the two sides of the rule".into()));
    };
    let lhs_end = text[..equals].trim_end().len();
    let rhs_start = text.len() - text[equals + 1..].trim_start().len();
    let lhs = Parser::new(&text, 0, lhs_end).whole().map_err(|(at, m)| error(at, m))?;
    let rhs = Parser::new(&text, rhs_start, text.len()).whole().map_err(|(at, m)| error(at, m))?;
    Ok(Rule { text, lhs, rhs, origin })
}

type Parsed<T> = Result<T, (usize, String)>;

/// A cursor over one side of a rule.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
}

const SYMBOL_CHARS: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:_.$";

impl<'a> Parser<'a> {
    fn new(text: &'a str, pos: usize, end: usize) -> Self {
        Parser { text, pos, end }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..self.end).unwrap_or("")
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn unexpected<T>(&self, what: &str) -> Parsed<T> {
        let rest = self.rest();
        let token = match rest.chars().next() {
            None => return Err((self.pos, format!("unexpected end of expression, {what}"))),
            Some(c) if c.is_ascii_alphabetic() => self.peek_symbol(),
            Some(c) if c.is_ascii_digit() => self.peek_number(),
            Some(_) if rest.starts_with("<<") || rest.starts_with(">>") => &rest[..2],
            Some(c) => &rest[..c.len_utf8()],
        };
        Err((self.pos, format!("unexpected token '{token}', {what}")))
    }

    fn expect(&mut self, c: char) -> Parsed<()> {
        if self.rest().starts_with(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.unexpected(&format!("expected '{c}'"))
        }
    }

    /// The whole side: an expression and nothing after it.
    fn whole(mut self) -> Parsed<Expr> {
        let expr = self.binary()?;
        if !self.rest().is_empty() {
            return self.unexpected("expected an operator or the end of the expression");
        }
        Ok(expr)
    }

    /// Simple expressions joined by operators, grouped to the left.
    fn binary(&mut self) -> Parsed<Expr> {
        let mut lhs = self.simple()?;
        while let Some(op) = self.operator() {
            let rhs = self.simple()?;
            lhs = Expr::Binary(Box::new(lhs), op, Box::new(rhs));
        }
        Ok(lhs)
    }

    fn operator(&mut self) -> Option<BinOp> {
        let rest = self.rest();
        let (op, len) = if rest.starts_with("<<") {
            (BinOp::Shl, 2)
        } else if rest.starts_with(">>") {
            (BinOp::Shr, 2)
        } else {
            match rest.chars().next()? {
                '+' => (BinOp::Add, 1),
                '-' => (BinOp::Sub, 1),
                '&' => (BinOp::And, 1),
                '|' => (BinOp::Or, 1),
                _ => return None,
            }
        };
        self.pos += len;
        self.skip_blanks();
        Some(op)
    }

    /// A parenthesized expression, load, identifier, call or number, then an optional slice.
    fn simple(&mut self) -> Parsed<Expr> {
        let rest = self.rest();
        let expr = match rest.chars().next() {
            None => return Err((self.pos, "unexpected end of expression".into())),
            Some('(') => {
                self.pos += 1;
                self.skip_blanks();
                let inner = self.binary()?;
                self.expect(')')?;
                self.skip_blanks();
                inner
            }
            Some('*') => self.load()?,
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.identifier()?,
            Some(c) if c.is_ascii_digit() => Expr::Number(self.number()?),
            Some(_) => return self.unexpected("expected '(', '*', an identifier or a number"),
        };
        if !self.rest().starts_with('[') {
            return Ok(expr);
        }
        self.pos += 1;
        self.skip_blanks();
        let high_at = self.pos;
        let high = self.number()?;
        self.expect(':')?;
        self.skip_blanks();
        let low = self.number()?;
        self.expect(']')?;
        self.skip_blanks();
        let (Ok(high), Ok(low)) = (u32::try_from(high), u32::try_from(low)) else {
            return Err((high_at, "bit numbers of a slice must be below 64".into()));
        };
        if high < low || high > 63 {
            return Err((high_at, format!("bad slice [{high}:{low}]: bits are [high:low] with 63 >= high >= low")));
        }
        Ok(Expr::Slice { value: Box::new(expr), high, low })
    }

    fn load(&mut self) -> Parsed<Expr> {
        let at = self.pos;
        self.pos += 1;
        self.skip_blanks();
        if !self.rest().starts_with('{') {
            return self.unexpected("expected '{' following '*'");
        }
        self.pos += 1;
        self.skip_blanks();
        let size_at = self.pos;
        let size = self.number()?;
        let size = match size {
            1 | 2 | 4 | 8 => size as u8,
            _ => return Err((size_at, format!("invalid size for dereference: {size} (1, 2, 4 or 8)"))),
        };
        self.expect('}')?;
        self.skip_blanks();
        let address = self.binary()?;
        Ok(Expr::Load { size, address: Box::new(address), at })
    }

    fn peek_symbol(&self) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !SYMBOL_CHARS.contains(c)).unwrap_or(rest.len());
        &rest[..len]
    }

    fn symbol(&mut self) -> String {
        let name = self.peek_symbol();
        self.pos += name.len();
        self.skip_blanks();
        name.to_string()
    }

    fn peek_number(&self) -> &'a str {
        let rest = self.rest();
        let (skip, digits): (usize, fn(char) -> bool) = match rest.starts_with("0x") {
            true => (2, |c| c.is_ascii_hexdigit()),
            false => (0, |c| c.is_ascii_digit()),
        };
        let len = rest[skip..].find(|c: char| !digits(c)).map_or(rest.len(), |n| n + skip);
        &rest[..len]
    }

    /// A decimal, `0x` hexadecimal or `0`-prefixed octal number (LLVM's radix detection).
    fn number(&mut self) -> Parsed<u64> {
        let text = self.peek_number();
        if !text.starts_with(|c: char| c.is_ascii_digit()) {
            return self.unexpected("expected a number");
        }
        let value = if let Some(hex) = text.strip_prefix("0x") {
            u64::from_str_radix(hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            u64::from_str_radix(&text[1..], 8)
        } else {
            text.parse()
        };
        let value = value.map_err(|e| (self.pos, format!("bad number '{text}': {e}")))?;
        self.pos += text.len();
        Ok(value)
    }

    /// Text up to (not including) the next `stop`, trimmed: file and section names, which
    /// may hold characters symbols can't.
    fn up_to(&mut self, stop: char) -> Parsed<String> {
        let rest = self.rest();
        let Some(len) = rest.find(stop) else {
            self.pos = self.end;
            return self.unexpected(&format!("expected '{stop}'"));
        };
        self.pos += len;
        Ok(rest[..len].trim_end().to_string())
    }

    fn identifier(&mut self) -> Parsed<Expr> {
        let at = self.pos;
        let name = self.symbol();
        match name.as_str() {
            "decode_operand" => self.decode_operand(at),
            "next_pc" => {
                self.open_call()?;
                let symbol = self.symbol();
                self.close_call()?;
                Ok(Expr::NextPc { symbol, at })
            }
            "stub_addr" | "got_addr" => {
                self.open_call()?;
                let file = self.up_to(',')?;
                self.expect(',')?;
                self.skip_blanks();
                let symbol = self.symbol();
                let mut kind = None;
                if self.rest().starts_with(',') {
                    self.pos += 1;
                    self.skip_blanks();
                    if name == "got_addr" {
                        return Err((self.pos, "got_addr takes no stub kind".into()));
                    }
                    kind = Some(self.up_to(')')?);
                }
                self.close_call()?;
                Ok(match name.as_str() {
                    "stub_addr" => Expr::StubAddr { file, symbol, kind, at },
                    _ => Expr::GotAddr { file, symbol, at },
                })
            }
            "section_addr" => {
                self.open_call()?;
                let file = self.up_to(',')?;
                self.expect(',')?;
                self.skip_blanks();
                let section = self.up_to(')')?;
                self.close_call()?;
                Ok(Expr::SectionAddr { file, section, at })
            }
            _ => Ok(Expr::Symbol { name, at }),
        }
    }

    fn open_call(&mut self) -> Parsed<()> {
        self.expect('(')?;
        self.skip_blanks();
        Ok(())
    }

    fn close_call(&mut self) -> Parsed<()> {
        self.expect(')')?;
        self.skip_blanks();
        Ok(())
    }

    /// `decode_operand(symbol[+offset], index)`.
    fn decode_operand(&mut self, at: usize) -> Parsed<Expr> {
        self.open_call()?;
        let symbol = self.symbol();
        let mut offset = 0;
        match self.operator() {
            Some(BinOp::Add) => offset = self.number()?,
            Some(_) => return self.unexpected("expected '+' for an offset or ',' if none"),
            None => {}
        }
        self.expect(',')?;
        self.skip_blanks();
        let operand = self.number()?;
        self.close_call()?;
        Ok(Expr::DecodeOperand { symbol, offset, operand, at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        let (mut rules, errors) = parse_rules(&format!("# jitlink-check: {text}\n"), "# jitlink-check:");
        assert!(errors.is_empty(), "{errors:?}");
        rules.remove(0)
    }

    fn error(file: &str) -> ParseError {
        let (_, mut errors) = parse_rules(file, "# jitlink-check:");
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.remove(0)
    }

    fn sym(name: &str, at: usize) -> Box<Expr> {
        Box::new(Expr::Symbol { name: name.into(), at })
    }

    #[test]
    fn operators_group_to_the_left_with_one_precedence() {
        let r = rule("a - b + c = 1");
        let ab = Expr::Binary(sym("a", 0), BinOp::Sub, sym("b", 4));
        assert_eq!(r.lhs, Expr::Binary(Box::new(ab), BinOp::Add, sym("c", 8)));
        let r = rule("a + b << 2 = 1");
        assert!(matches!(r.lhs, Expr::Binary(_, BinOp::Shl, _)));
    }

    #[test]
    fn loads_extend_to_the_right_and_slices_bind_tight() {
        let r = rule("*{4}a + 4 = b[31:0]");
        let Expr::Load { size: 4, address, .. } = r.lhs else { panic!("{:?}", r.lhs) };
        assert_eq!(*address, Expr::Binary(sym("a", 4), BinOp::Add, Box::new(Expr::Number(4))));
        assert_eq!(r.rhs, Expr::Slice { value: sym("b", 12), high: 31, low: 0 });
    }

    #[test]
    fn numbers_in_three_radixes() {
        assert_eq!(rule("0x1F = 010").lhs, Expr::Number(31));
        assert_eq!(rule("0x1F = 010").rhs, Expr::Number(8));
        assert_eq!(rule("0 = 12").rhs, Expr::Number(12));
    }

    #[test]
    fn calls() {
        let r = rule("decode_operand(f + 2, 4) = stub_addr(a b.o, ext, kind)");
        assert_eq!(r.lhs, Expr::DecodeOperand { symbol: "f".into(), offset: 2, operand: 4, at: 0 });
        let Expr::StubAddr { file, symbol, kind, .. } = r.rhs else { panic!() };
        assert_eq!((file.as_str(), symbol.as_str(), kind.as_deref()), ("a b.o", "ext", Some("kind")));
        let r = rule("section_addr(t.o, .text.hot) = got_addr(t.o, x) - next_pc(f)");
        assert!(matches!(r.lhs, Expr::SectionAddr { ref section, .. } if section == ".text.hot"));
    }

    #[test]
    fn continuation_lines_join_only_prefixed_lines() {
        let file = "  # jitlink-check: a = \\\n# jitlink-check:   b + \\\n# jitlink-check: c\nnop\n";
        let (rules, errors) = parse_rules(file, "# jitlink-check:");
        assert!(errors.is_empty());
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].text, "a =    b +  c");
        assert_eq!(rules[0].origin.line(), 1);
        // A continuation followed by an unprefixed line ends the rule there.
        let (rules, _) = parse_rules("# jitlink-check: a = b \\\nnop\n# jitlink-check: c = d\n", "# jitlink-check:");
        assert_eq!(rules.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), ["a = b", "c = d"]);
    }

    #[test]
    fn custom_prefix() {
        let (rules, _) = parse_rules("# jitlink-check: a = b\n# other-check: c = d\n", "# other-check:");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].text, "c = d");
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = error("nop\n# jitlink-check: a = (b + c\n");
        assert_eq!((e.line, e.column), (2, 28), "{e}");
        assert!(e.message.contains("expected ')'"), "{e}");
        let e = error("\n\n    # jitlink-check: *{3}x = 1\n");
        assert_eq!((e.line, e.column), (3, 24), "{e}");
        let e = error("# jitlink-check: a = b \\\n# jitlink-check: + ? \n");
        assert_eq!((e.line, e.column), (2, 20), "{e}");
        assert!(e.message.contains("'?'"), "{e}");
        let e = error("# jitlink-check: a b\n");
        assert!(e.message.contains("expected '='"), "{e}");
    }

    #[test]
    fn a_space_after_a_number_ends_the_expression_as_in_llvm() {
        let e = error("# jitlink-check: a = 1 + 2\n");
        assert!(e.message.contains("unexpected token ' '"), "{e}");
    }

    #[test]
    fn bad_slices_and_sizes_are_errors() {
        assert!(error("# jitlink-check: a[3:4] = 1\n").message.contains("bad slice"));
        assert!(error("# jitlink-check: a[64:0] = 1\n").message.contains("bad slice"));
        assert!(error("# jitlink-check: *{16}a = 1\n").message.contains("invalid size"));
    }
}
