//! A CQL2-text parser (OGC 21-065): a tokenizer and a small recursive-descent
//! parser with bounded input length, nesting depth and literal sizes.
//!
//! Supported: `AND`/`OR`/`NOT`, parentheses, `= <> < <= > >=`, `[NOT] LIKE`
//! (`%`, `_`, `\` escapes), `[NOT] BETWEEN … AND …`, `[NOT] IN (…)`,
//! `IS [NOT] NULL`, `ILIKE` (case-insensitive, an extension), boolean literals,
//! `DATE('…')`/`TIMESTAMP('…')` (compared as days and instants, offsets applied: see
//! [`crate::temporal`]), the temporal functions `T_AFTER`, `T_BEFORE`, `T_DURING`, …
//! with `INTERVAL(start, end)`, and the spatial functions `S_INTERSECTS`, `S_DISJOINT`, `S_WITHIN`,
//! `S_CONTAINS`, `S_EQUALS`, `S_TOUCHES`, `S_CROSSES`, `S_OVERLAPS` and the
//! extension `S_DWITHIN(a, b, distance[, units])` (metres) with WKT geometries or
//! `BBOX(minx, miny, maxx, maxy)`.
//!
//! Property names are resolved while parsing through a [`Resolver`], so a filter
//! on anything but a queryable property is refused with the character offset of
//! the name. Nothing here builds SQL: the parsed [`Expr`] is evaluated against the
//! in-memory features (see [`crate::eval`]).
//!
//! ```
//! use citygrid_cql2::text::{parse, Property, Resolver};
//! struct R;
//! impl Resolver for R {
//!     fn resolve(&self, name: &str) -> Option<Property> {
//!         match name {
//!             "name" => Some(Property::Field { index: 0, numeric: false }),
//!             "geometry" => Some(Property::Geometry),
//!             _ => None,
//!         }
//!     }
//! }
//! assert!(parse("name LIKE 'b%' AND S_INTERSECTS(geometry, BBOX(24, 60, 25, 61))", &R).is_ok());
//! let err = parse("name = 'x' AND secret = 1", &R).unwrap_err();
//! assert_eq!(err.offset, 15);
//! ```

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

pub use crate::like::LikePattern;
use crate::temporal::{self, TemporalOp};

/// The longest filter accepted (bytes of UTF-8; a filter travels in a URL).
pub const MAX_FILTER_BYTES: usize = 8 * 1024;
/// The deepest nesting of parentheses, `NOT`s and geometry collections.
pub const MAX_DEPTH: usize = 32;
/// The most items in one `IN (…)` list.
pub const MAX_IN_ITEMS: usize = 1_000;
/// The most vertices in the geometry literals of one filter.
pub const MAX_VERTICES: usize = 100_000;

/// A parse error with the character offset (0-based) where it was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid filter at character {offset}: {message}")]
pub struct Cql2Error {
    /// 0-based character offset into the filter text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, Cql2Error> {
    Err(Cql2Error {
        offset,
        message: message.into(),
    })
}

/// What a property name refers to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Property {
    /// Attribute `index` of the layer schema; `numeric` for integer/float fields.
    Field {
        /// Position in the schema.
        index: usize,
        /// Whether the field is a number.
        numeric: bool,
    },
    /// The feature id.
    Id,
    /// The feature geometry.
    Geometry,
}

/// Maps property names of a filter to the layer's queryables.
pub trait Resolver {
    /// The property called `name`, or `None` when it is not queryable.
    fn resolve(&self, name: &str) -> Option<Property>;
}

/// A scalar operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A property's value (never [`Property::Geometry`]).
    Prop(Property),
    /// A text literal.
    Text(String),
    /// A number literal.
    Number(f64),
    /// A boolean literal.
    Bool(bool),
    /// `TIMESTAMP('…')`: microseconds since the epoch, UTC.
    Timestamp(i64),
    /// `DATE('…')`: days since 1970-01-01.
    Date(i32),
}

/// One end of an `INTERVAL(…)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// `'..'`: unbounded.
    Open,
    /// A property's value.
    Prop(Property),
    /// A timestamp (µs since the epoch, UTC).
    Instant(i64),
    /// A date (days since 1970-01-01).
    Date(i32),
}

/// An operand of a temporal function.
#[derive(Debug, Clone, PartialEq)]
pub enum TemporalOperand {
    /// A property's value (a date or a timestamp in text).
    Prop(Property),
    /// `TIMESTAMP('…')`.
    Instant(i64),
    /// `DATE('…')`.
    Date(i32),
    /// `INTERVAL(start, end)`.
    Interval(Bound, Bound),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A spatial relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    /// `S_INTERSECTS`
    Intersects,
    /// `S_DISJOINT`
    Disjoint,
    /// `S_WITHIN`
    Within,
    /// `S_CONTAINS`
    Contains,
    /// `S_EQUALS`
    Equals,
    /// `S_TOUCHES`
    Touches,
    /// `S_CROSSES`
    Crosses,
    /// `S_OVERLAPS`
    Overlaps,
    /// `S_DWITHIN` (distance in metres, geodesic)
    DWithin,
}

/// A geometry operand.
#[derive(Debug, Clone, PartialEq)]
pub enum GeomOperand {
    /// The feature's geometry.
    Prop,
    /// A literal (in the filter CRS until [`Expr::map_geometries`] converts it).
    Literal(Geometry<f64>),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A literal `TRUE` / `FALSE`.
    Bool(bool),
    /// A binary comparison.
    Cmp(CmpOp, Scalar, Scalar),
    /// `value [NOT] LIKE pattern`.
    Like {
        /// The tested value.
        value: Scalar,
        /// The pattern, compiled (lower case for `ILIKE`).
        pattern: LikePattern,
        /// `NOT LIKE`.
        negated: bool,
        /// `ILIKE` (an extension): case-insensitive.
        case_insensitive: bool,
    },
    /// `value [NOT] BETWEEN low AND high`.
    Between {
        /// The tested value.
        value: Scalar,
        /// Lower bound (inclusive).
        low: Scalar,
        /// Upper bound (inclusive).
        high: Scalar,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `value [NOT] IN (list)`.
    In {
        /// The tested value.
        value: Scalar,
        /// The list.
        list: Vec<Scalar>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `value IS [NOT] NULL`.
    IsNull {
        /// The tested value.
        value: Scalar,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// A spatial function.
    Spatial {
        /// The relation.
        op: SpatialOp,
        /// First argument.
        a: GeomOperand,
        /// Second argument.
        b: GeomOperand,
        /// The distance in metres of `S_DWITHIN`.
        distance_m: f64,
    },
    /// A temporal function (`T_AFTER(a, b)`, …).
    Temporal {
        /// The relation.
        op: TemporalOp,
        /// First argument.
        a: TemporalOperand,
        /// Second argument.
        b: TemporalOperand,
    },
}

impl Expr {
    /// Applies `f` to every geometry literal (e.g. to bring them into lon/lat).
    pub fn map_geometries<E>(
        &mut self,
        f: &mut impl FnMut(&mut Geometry<f64>) -> Result<(), E>,
    ) -> Result<(), E> {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter_mut().try_for_each(|e| e.map_geometries(f)),
            Expr::Not(e) => e.map_geometries(f),
            Expr::Spatial { a, b, .. } => {
                for g in [a, b] {
                    if let GeomOperand::Literal(geom) = g {
                        f(geom)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Text(String),
    Number(f64),
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    offset: usize,
}

fn tokenize(chars: &[char]) -> Result<Vec<Token>, Cql2Error> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Op(CmpOp::Eq)
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated text literal"),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                Tok::Text(s)
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated quoted property name"),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                Tok::Quoted(s)
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == '.')) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || chars[i] == '.'
                        || chars[i] == 'e'
                        || chars[i] == 'E'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Tok::Number(v),
                    _ => return err(start, format!("invalid number {text:?}")),
                }
            }
            // Property names: letters of any script first, then identifier
            // characters (`XID_Continue`, as imported column names are made of:
            // `名称`, `人口·户籍`, combining marks), `:` and `.`.
            c if c.is_alphabetic() || c == '_' => {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || unicode_ident::is_xid_continue(chars[i])
                        || matches!(chars[i], '_' | ':' | '.'))
                {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            other => return err(start, format!("unexpected character {other:?}")),
        };
        out.push(Token { tok, offset: start });
    }
    out.push(Token {
        tok: Tok::End,
        offset: chars.len(),
    });
    Ok(out)
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    vertices: usize,
    resolver: &'a dyn Resolver,
}

/// Parses a CQL2-text filter, resolving property names with `resolver`.
pub fn parse(text: &str, resolver: &dyn Resolver) -> Result<Expr, Cql2Error> {
    if text.len() > MAX_FILTER_BYTES {
        return err(0, too_long(text.len()));
    }
    let chars: Vec<char> = text.chars().collect();
    let tokens = tokenize(&chars)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        vertices: 0,
        resolver,
    };
    if p.peek() == &Tok::End {
        return err(0, "the filter is empty");
    }
    let e = p.expr()?;
    if p.peek() != &Tok::End {
        return err(p.offset(), "expected AND, OR or the end of the filter");
    }
    Ok(e)
}

fn keyword(t: &Tok, k: &str) -> bool {
    matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(k))
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].offset
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, k: &str) -> bool {
        keyword(self.peek(), k)
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), Cql2Error> {
        if *self.peek() == want {
            self.next();
            Ok(())
        } else {
            err(self.offset(), format!("expected {what}"))
        }
    }

    fn expect_kw(&mut self, k: &str) -> Result<(), Cql2Error> {
        if self.is_kw(k) {
            self.next();
            Ok(())
        } else {
            err(self.offset(), format!("expected {k}"))
        }
    }

    fn enter(&mut self) -> Result<(), Cql2Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                self.offset(),
                format!("the filter is nested more than {MAX_DEPTH} levels deep"),
            );
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, Cql2Error> {
        let mut terms = vec![self.term()?];
        while self.is_kw("OR") {
            self.next();
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn term(&mut self) -> Result<Expr, Cql2Error> {
        let mut factors = vec![self.factor()?];
        while self.is_kw("AND") {
            self.next();
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.remove(0)
        } else {
            Expr::And(factors)
        })
    }

    fn factor(&mut self) -> Result<Expr, Cql2Error> {
        if self.is_kw("NOT") {
            self.next();
            self.enter()?;
            let inner = self.factor()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, Cql2Error> {
        if *self.peek() == Tok::LParen {
            self.next();
            self.enter()?;
            let e = self.expr()?;
            self.depth -= 1;
            self.expect(Tok::RParen, "a closing parenthesis")?;
            return Ok(e);
        }
        if let Tok::Ident(name) = self.peek().clone() {
            if let Some(op) = spatial_op(&name) {
                if *self.peek_at(1) == Tok::LParen {
                    return self.spatial(op);
                }
            }
            if let Some(op) = TemporalOp::from_name(&name) {
                if *self.peek_at(1) == Tok::LParen {
                    return self.temporal(op);
                }
            }
            let upper = name.to_ascii_uppercase();
            if (upper == "TRUE" || upper == "FALSE") && !self.followed_by_predicate(1) {
                self.next();
                return Ok(Expr::Bool(upper == "TRUE"));
            }
        }
        let start = self.offset();
        let value = self.scalar()?;
        self.predicate(value, start)
    }

    fn followed_by_predicate(&self, n: usize) -> bool {
        let t = self.peek_at(n);
        matches!(t, Tok::Op(_))
            || ["LIKE", "ILIKE", "BETWEEN", "IN", "IS", "NOT"]
                .iter()
                .any(|k| keyword(t, k))
    }

    fn predicate(&mut self, value: Scalar, start: usize) -> Result<Expr, Cql2Error> {
        if let Tok::Op(op) = *self.peek() {
            self.next();
            let at = self.offset();
            let right = self.scalar()?;
            check_comparable(&value, &right, at)?;
            return Ok(Expr::Cmp(op, value, right));
        }
        let negated = if self.is_kw("NOT") {
            self.next();
            true
        } else {
            false
        };
        if self.is_kw("LIKE") || self.is_kw("ILIKE") {
            let case_insensitive = self.is_kw("ILIKE");
            self.next();
            if matches!(value, Scalar::Prop(Property::Field { numeric: true, .. })) {
                return err(start, LIKE_NEEDS_TEXT);
            }
            let at = self.offset();
            return match self.next().tok {
                Tok::Text(pattern) => Ok(Expr::Like {
                    value,
                    pattern: if case_insensitive {
                        LikePattern::new_lowercase(&pattern)
                    } else {
                        LikePattern::new(&pattern)
                    }
                    .or_else(|e| err(at, e.to_string()))?,
                    negated,
                    case_insensitive,
                }),
                _ => err(at, "LIKE needs a quoted text pattern"),
            };
        }
        if self.is_kw("BETWEEN") {
            self.next();
            let at = self.offset();
            let low = self.scalar()?;
            check_comparable(&value, &low, at)?;
            self.expect_kw("AND")?;
            let at = self.offset();
            let high = self.scalar()?;
            check_comparable(&value, &high, at)?;
            return Ok(Expr::Between {
                value,
                low,
                high,
                negated,
            });
        }
        if self.is_kw("IN") {
            self.next();
            self.expect(Tok::LParen, "( after IN")?;
            let mut list = Vec::new();
            loop {
                let at = self.offset();
                let item = self.scalar()?;
                check_comparable(&value, &item, at)?;
                list.push(item);
                if list.len() > MAX_IN_ITEMS {
                    return err(at, format!("an IN list has at most {MAX_IN_ITEMS} items"));
                }
                if *self.peek() == Tok::Comma {
                    self.next();
                } else {
                    break;
                }
            }
            self.expect(Tok::RParen, "a closing parenthesis or a comma")?;
            return Ok(Expr::In {
                value,
                list,
                negated,
            });
        }
        if negated {
            return err(self.offset(), "expected LIKE, BETWEEN or IN after NOT");
        }
        if self.is_kw("IS") {
            self.next();
            let negated = if self.is_kw("NOT") {
                self.next();
                true
            } else {
                false
            };
            self.expect_kw("NULL")?;
            return Ok(Expr::IsNull { value, negated });
        }
        err(
            self.offset(),
            "expected a comparison (=, <>, <, <=, >, >=, LIKE, BETWEEN, IN, IS NULL)",
        )
    }

    fn scalar(&mut self) -> Result<Scalar, Cql2Error> {
        let at = self.offset();
        let t = self.next();
        match t.tok {
            Tok::Text(s) => Ok(Scalar::Text(s)),
            Tok::Number(n) => Ok(Scalar::Number(n)),
            Tok::Quoted(name) => self.property(&name, at),
            Tok::Ident(name) => {
                let upper = name.to_ascii_uppercase();
                match upper.as_str() {
                    "TRUE" => Ok(Scalar::Bool(true)),
                    "FALSE" => Ok(Scalar::Bool(false)),
                    "DATE" | "TIMESTAMP" if *self.peek() == Tok::LParen => {
                        self.next();
                        let (at, s) = self.quoted_time(&upper)?;
                        self.expect(Tok::RParen, "a closing parenthesis")?;
                        time_literal(&upper, &s, at)
                    }
                    "NULL" => err(at, "use IS NULL / IS NOT NULL to test for missing values"),
                    _ if *self.peek() == Tok::LParen => {
                        err(at, format!("unknown function {name:?}"))
                    }
                    _ => self.property(&name, at),
                }
            }
            Tok::End => err(at, "unexpected end of the filter"),
            _ => err(at, "expected a property name or a literal value"),
        }
    }

    fn property(&self, name: &str, at: usize) -> Result<Scalar, Cql2Error> {
        match self.resolver.resolve(name) {
            Some(Property::Geometry) => err(
                at,
                format!(
                    "{name:?} is the geometry: use it in a spatial function such as S_INTERSECTS"
                ),
            ),
            Some(p) => Ok(Scalar::Prop(p)),
            None => err(
                at,
                format!(
                    "{name:?} is not a queryable property of this collection (see its /queryables)"
                ),
            ),
        }
    }

    fn spatial(&mut self, op: SpatialOp) -> Result<Expr, Cql2Error> {
        self.next(); // name
        self.expect(Tok::LParen, "(")?;
        let a = self.geom_operand()?;
        self.expect(Tok::Comma, "a comma")?;
        let b = self.geom_operand()?;
        let mut distance_m = 0.0;
        if op == SpatialOp::DWithin {
            self.expect(Tok::Comma, "a comma and a distance")?;
            let at = self.offset();
            match self.next().tok {
                Tok::Number(d) if d >= 0.0 => distance_m = d,
                _ => return err(at, "S_DWITHIN needs a non-negative distance"),
            }
            if *self.peek() == Tok::Comma {
                self.next();
                let at = self.offset();
                let unit = match self.next().tok {
                    Tok::Ident(u) | Tok::Text(u) => u.to_ascii_lowercase(),
                    _ => return err(at, "expected a distance unit"),
                };
                distance_m *= match unit.as_str() {
                    "m" | "meters" | "metres" | "meter" | "metre" => 1.0,
                    "km" | "kilometers" | "kilometres" => 1000.0,
                    _ => return err(at, "distance units are meters or kilometers"),
                };
                if !distance_m.is_finite() {
                    return err(at, "the distance is too large");
                }
            }
        }
        self.expect(Tok::RParen, "a closing parenthesis")?;
        if a == GeomOperand::Prop && b == GeomOperand::Prop {
            // Allowed but trivial: a geometry relates to itself.
        }
        Ok(Expr::Spatial {
            op,
            a,
            b,
            distance_m,
        })
    }

    /// The quoted text inside `DATE(…)` / `TIMESTAMP(…)` (after the parenthesis).
    fn quoted_time(&mut self, func: &str) -> Result<(usize, String), Cql2Error> {
        let at = self.offset();
        match self.next().tok {
            Tok::Text(s) => Ok((at, s)),
            _ => err(at, format!("{func}(…) needs a quoted value")),
        }
    }

    fn temporal(&mut self, op: TemporalOp) -> Result<Expr, Cql2Error> {
        self.next(); // name
        self.expect(Tok::LParen, "(")?;
        let a = self.temporal_operand()?;
        self.expect(Tok::Comma, "a comma")?;
        let b = self.temporal_operand()?;
        self.expect(Tok::RParen, "a closing parenthesis")?;
        Ok(Expr::Temporal { op, a, b })
    }

    fn temporal_operand(&mut self) -> Result<TemporalOperand, Cql2Error> {
        let at = self.offset();
        if let Tok::Ident(name) = self.peek().clone() {
            if name.eq_ignore_ascii_case("INTERVAL") && *self.peek_at(1) == Tok::LParen {
                self.next();
                self.next();
                let start = self.interval_bound()?;
                self.expect(Tok::Comma, "a comma between the interval's start and end")?;
                let end = self.interval_bound()?;
                self.expect(Tok::RParen, "a closing parenthesis")?;
                return Ok(TemporalOperand::Interval(start, end));
            }
        }
        match self.interval_bound()? {
            Bound::Open => err(at, "'..' only goes inside INTERVAL(…)"),
            Bound::Prop(p) => Ok(TemporalOperand::Prop(p)),
            Bound::Instant(t) => Ok(TemporalOperand::Instant(t)),
            Bound::Date(d) => Ok(TemporalOperand::Date(d)),
        }
    }

    /// A property, `DATE('…')`, `TIMESTAMP('…')`, or (inside an interval) a quoted
    /// date/timestamp or `'..'`.
    fn interval_bound(&mut self) -> Result<Bound, Cql2Error> {
        let at = self.offset();
        match self.peek().clone() {
            Tok::Text(s) => {
                self.next();
                if s == ".." {
                    return Ok(Bound::Open);
                }
                if let Some(d) = temporal::parse_date(&s) {
                    return Ok(Bound::Date(d));
                }
                match temporal::parse_timestamp(&s) {
                    Some(t) => Ok(Bound::Instant(t)),
                    None => err(
                        at,
                        format!("{s:?} is not a date (YYYY-MM-DD), a timestamp (RFC 3339) or '..'"),
                    ),
                }
            }
            Tok::Ident(name) | Tok::Quoted(name) => {
                let upper = name.to_ascii_uppercase();
                if matches!(self.peek(), Tok::Ident(_))
                    && (upper == "DATE" || upper == "TIMESTAMP")
                    && *self.peek_at(1) == Tok::LParen
                {
                    self.next();
                    self.next();
                    let (at, s) = self.quoted_time(&upper)?;
                    self.expect(Tok::RParen, "a closing parenthesis")?;
                    return match time_literal(&upper, &s, at)? {
                        Scalar::Date(d) => Ok(Bound::Date(d)),
                        Scalar::Timestamp(t) => Ok(Bound::Instant(t)),
                        _ => err(at, "expected a date or a timestamp"),
                    };
                }
                self.next();
                match self.resolver.resolve(&name) {
                    Some(Property::Geometry) => {
                        err(at, format!("{name:?} is the geometry, not a time"))
                    }
                    Some(Property::Field { numeric: true, .. }) => err(
                        at,
                        format!("{name:?} is a number, not a date or a timestamp"),
                    ),
                    Some(p) => Ok(Bound::Prop(p)),
                    None => err(
                        at,
                        format!(
                            "{name:?} is not a queryable property of this collection (see its /queryables)"
                        ),
                    ),
                }
            }
            _ => err(
                at,
                "expected a time property, DATE('…'), TIMESTAMP('…') or INTERVAL(…)",
            ),
        }
    }

    fn geom_operand(&mut self) -> Result<GeomOperand, Cql2Error> {
        let at = self.offset();
        let name = match self.peek().clone() {
            Tok::Ident(n) | Tok::Quoted(n) => n,
            _ => return err(at, "expected the geometry property or a geometry literal"),
        };
        let is_quoted = matches!(self.peek(), Tok::Quoted(_));
        if !is_quoted && *self.peek_at(1) == Tok::LParen {
            return Ok(GeomOperand::Literal(self.geometry_literal()?));
        }
        self.next();
        match self.resolver.resolve(&name) {
            Some(Property::Geometry) => Ok(GeomOperand::Prop),
            Some(_) => err(at, format!("{name:?} is not a geometry")),
            None => err(
                at,
                format!("{name:?} is not a queryable property of this collection"),
            ),
        }
    }

    fn geometry_literal(&mut self) -> Result<Geometry<f64>, Cql2Error> {
        let at = self.offset();
        let Tok::Ident(name) = self.next().tok else {
            return err(at, "expected a geometry");
        };
        self.enter()?;
        let g = match name.to_ascii_uppercase().as_str() {
            "BBOX" => {
                self.expect(Tok::LParen, "(")?;
                let mut v = Vec::new();
                loop {
                    let at = self.offset();
                    match self.next().tok {
                        Tok::Number(n) => v.push(n),
                        _ => return err(at, "BBOX needs numbers"),
                    }
                    if *self.peek() == Tok::Comma {
                        self.next();
                    } else {
                        break;
                    }
                }
                self.expect(Tok::RParen, "a closing parenthesis")?;
                let (x0, y0, x1, y1) = match v.as_slice() {
                    [a, b, c, d] => (*a, *b, *c, *d),
                    [a, b, _, c, d, _] => (*a, *b, *c, *d),
                    _ => return err(at, "BBOX needs 4 (or 6) numbers"),
                };
                if x0 > x1 || y0 > y1 {
                    return err(at, "BBOX needs minx, miny, maxx, maxy with min <= max");
                }
                Geometry::Polygon(Polygon::new(
                    LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
                    vec![],
                ))
            }
            "POINT" => Geometry::Point(Point(self.point_body()?)),
            "LINESTRING" => Geometry::LineString(self.line(2)?),
            "POLYGON" => Geometry::Polygon(self.polygon()?),
            "MULTIPOINT" => {
                self.expect(Tok::LParen, "(")?;
                let mut pts = Vec::new();
                loop {
                    if *self.peek() == Tok::LParen {
                        pts.push(Point(self.point_body()?));
                    } else {
                        pts.push(Point(self.coord()?));
                    }
                    if !self.comma()? {
                        break;
                    }
                }
                Geometry::MultiPoint(MultiPoint(pts))
            }
            "MULTILINESTRING" => {
                self.expect(Tok::LParen, "(")?;
                let mut lines = Vec::new();
                loop {
                    lines.push(self.line(2)?);
                    if !self.comma()? {
                        break;
                    }
                }
                Geometry::MultiLineString(MultiLineString(lines))
            }
            "MULTIPOLYGON" => {
                self.expect(Tok::LParen, "(")?;
                let mut polys = Vec::new();
                loop {
                    polys.push(self.polygon()?);
                    if !self.comma()? {
                        break;
                    }
                }
                Geometry::MultiPolygon(MultiPolygon(polys))
            }
            "GEOMETRYCOLLECTION" => {
                self.expect(Tok::LParen, "(")?;
                let mut parts = Vec::new();
                loop {
                    parts.push(self.geometry_literal()?);
                    if !self.comma()? {
                        break;
                    }
                }
                Geometry::GeometryCollection(geo::GeometryCollection(parts))
            }
            other => return err(at, format!("unknown geometry type {other:?}")),
        };
        self.depth -= 1;
        Ok(g)
    }

    /// After an item of a list: `,` → true (more follow), `)` → false (consumed).
    fn comma(&mut self) -> Result<bool, Cql2Error> {
        match self.peek() {
            Tok::Comma => {
                self.next();
                Ok(true)
            }
            Tok::RParen => {
                self.next();
                Ok(false)
            }
            _ => err(self.offset(), "expected a comma or a closing parenthesis"),
        }
    }

    fn coord(&mut self) -> Result<Coord<f64>, Cql2Error> {
        let at = self.offset();
        let mut v = Vec::with_capacity(3);
        while let Tok::Number(n) = *self.peek() {
            self.next();
            v.push(n);
        }
        if v.len() < 2 || v.len() > 4 {
            return err(at, "a coordinate is 2 (to 4) numbers separated by spaces");
        }
        self.vertices += 1;
        if self.vertices > MAX_VERTICES {
            return err(
                at,
                format!("the filter's geometries have more than {MAX_VERTICES} vertices"),
            );
        }
        Ok(Coord { x: v[0], y: v[1] })
    }

    fn point_body(&mut self) -> Result<Coord<f64>, Cql2Error> {
        self.expect(Tok::LParen, "(")?;
        let c = self.coord()?;
        self.expect(Tok::RParen, "a closing parenthesis")?;
        Ok(c)
    }

    fn line(&mut self, min: usize) -> Result<LineString<f64>, Cql2Error> {
        let at = self.offset();
        self.expect(Tok::LParen, "(")?;
        let mut coords = Vec::new();
        loop {
            coords.push(self.coord()?);
            if !self.comma()? {
                break;
            }
        }
        if coords.len() < min {
            return err(at, format!("needs at least {min} positions"));
        }
        Ok(LineString::from(coords))
    }

    fn polygon(&mut self) -> Result<Polygon<f64>, Cql2Error> {
        self.expect(Tok::LParen, "(")?;
        let mut rings = Vec::new();
        loop {
            let at = self.offset();
            let ring = self.line(4)?;
            if ring.0.first() != ring.0.last() {
                return err(at, "a polygon ring must be closed (first = last position)");
            }
            rings.push(ring);
            if !self.comma()? {
                break;
            }
        }
        let exterior = rings.remove(0);
        Ok(Polygon::new(exterior, rings))
    }
}

fn spatial_op(name: &str) -> Option<SpatialOp> {
    Some(match name.to_ascii_uppercase().as_str() {
        "S_INTERSECTS" => SpatialOp::Intersects,
        "S_DISJOINT" => SpatialOp::Disjoint,
        "S_WITHIN" => SpatialOp::Within,
        "S_CONTAINS" => SpatialOp::Contains,
        "S_EQUALS" => SpatialOp::Equals,
        "S_TOUCHES" => SpatialOp::Touches,
        "S_CROSSES" => SpatialOp::Crosses,
        "S_OVERLAPS" => SpatialOp::Overlaps,
        "S_DWITHIN" => SpatialOp::DWithin,
        _ => return None,
    })
}

/// Whether `a` and `b` may be compared: a number (or numeric property) against text
/// (or a text property) is a type error. Shared by CQL2 text and CQL2 JSON.
pub(crate) fn comparable(a: &Scalar, b: &Scalar) -> bool {
    let numeric = |s: &Scalar| match s {
        Scalar::Number(_) | Scalar::Prop(Property::Id) => Some(true),
        Scalar::Prop(Property::Field { numeric, .. }) => Some(*numeric),
        Scalar::Text(_) | Scalar::Timestamp(_) | Scalar::Date(_) => Some(false),
        _ => None,
    };
    let time = |s: &Scalar| matches!(s, Scalar::Timestamp(_) | Scalar::Date(_));
    let boolean = |s: &Scalar| matches!(s, Scalar::Bool(_));
    if (time(a) && boolean(b)) || (boolean(a) && time(b)) {
        return false;
    }
    !matches!((numeric(a), numeric(b)), (Some(x), Some(y)) if x != y)
}

/// The value of `DATE('s')` / `TIMESTAMP('s')` (`func` in upper case), or an error
/// at `at` saying what form is expected.
pub(crate) fn time_literal(func: &str, s: &str, at: usize) -> Result<Scalar, Cql2Error> {
    if func == "DATE" {
        return temporal::parse_date(s)
            .map(Scalar::Date)
            .ok_or_else(|| Cql2Error {
                offset: at,
                message: format!("DATE({s:?}) is not a date: write DATE('YYYY-MM-DD')"),
            });
    }
    temporal::parse_timestamp(s)
        .map(Scalar::Timestamp)
        .ok_or_else(|| Cql2Error {
            offset: at,
            message: format!(
                "TIMESTAMP({s:?}) is not a timestamp: write TIMESTAMP('2024-05-01T10:00:00Z') or with an offset such as +08:00"
            ),
        })
}

/// The message for two scalars that are not [`comparable`].
/// The message for a filter over [`MAX_FILTER_BYTES`].
pub(crate) fn too_long(bytes: usize) -> String {
    format!("a filter has at most {MAX_FILTER_BYTES} bytes; this one has {bytes}")
}

pub(crate) const NOT_COMPARABLE: &str = "cannot compare a number with text (check the quotes)";

/// The message for LIKE on a numeric property.
pub(crate) const LIKE_NEEDS_TEXT: &str = "LIKE needs a text property, not a number";

/// A numeric property compared with text (or the reverse) is a type error.
fn check_comparable(a: &Scalar, b: &Scalar, at: usize) -> Result<(), Cql2Error> {
    if comparable(a, b) {
        Ok(())
    } else {
        err(at, NOT_COMPARABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R;
    impl Resolver for R {
        fn resolve(&self, name: &str) -> Option<Property> {
            match name {
                "name" => Some(Property::Field {
                    index: 0,
                    numeric: false,
                }),
                "rank" => Some(Property::Field {
                    index: 1,
                    numeric: true,
                }),
                "id" => Some(Property::Id),
                "geometry" => Some(Property::Geometry),
                _ => None,
            }
        }
    }

    #[test]
    fn property_names_in_any_script() {
        struct Chinese;
        impl Resolver for Chinese {
            fn resolve(&self, name: &str) -> Option<Property> {
                let index = ["名称", "人口·户籍", "cafe\u{301}"]
                    .iter()
                    .position(|n| *n == name)?;
                Some(Property::Field {
                    index,
                    numeric: index == 1,
                })
            }
        }
        for ok in [
            "名称 = '江岸区'",
            "人口·户籍 > 3 AND 名称 LIKE '江%'",
            "\"名称\" <> 'x'",
            "cafe\u{301} IS NULL",
        ] {
            parse(ok, &Chinese).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(parse("名字 = 'x'", &Chinese).is_err());
    }

    #[test]
    fn parses_the_basic_forms() {
        for ok in [
            "name = 'a'",
            "rank > 3 AND rank <= 5 OR NOT (name LIKE 'b%')",
            "rank BETWEEN 1 AND 3",
            "rank NOT IN (1, 2, 3)",
            "name IS NOT NULL",
            "(name ILIKE 'B%') AND (rank IS NULL)",
            "\"name\" <> 'it''s'",
            "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))",
            "s_within(geometry, BBOX(24.9, 60.1, 25.0, 60.2))",
            "S_DWITHIN(geometry, POINT(24.9 60.1), 100, meters)",
            "S_INTERSECTS(geometry, MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5))))",
            "TRUE",
            "rank = -1.5e2",
        ] {
            parse(ok, &R).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn errors_say_where() {
        let cases: &[(&str, usize)] = &[
            ("name = 'a' AND password = 'x'", 15),
            ("name = 'a' ; DROP TABLE users", 11),
            ("name = 'a", 7),
            ("rank = 'three'", 7),
            ("name LIKE 3", 10),
            ("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1)))", 31),
            ("", 0),
            ("name = 'a' OR", 13),
            ("name = 'a' name", 11),
        ];
        for (text, offset) in cases {
            let e = parse(text, &R).expect_err(text);
            assert_eq!(e.offset, *offset, "{text}: {e}");
        }
    }

    /// Found by the `cql2_text` fuzz target invariant "a parsed filter holds only
    /// finite numbers" (fuzz/regressions/cql2_text/): a huge distance in km overflowed
    /// to an infinite distance, which CQL2-JSON refuses.
    #[test]
    fn fuzz_regression_infinite_dwithin_distance() {
        let e = parse("S_DWITHIN(geometry, POINT(0 0), 1e308, km)", &R).unwrap_err();
        assert_eq!(e.offset, 39);
        assert!(parse("S_DWITHIN(geometry, POINT(0 0), 1e300, km)", &R).is_ok());
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let deep = format!("{}name = 'a'{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep, &R).unwrap_err().message.contains("nested"));
        let nots = format!("{}name = 'a'", "NOT ".repeat(100));
        assert!(parse(&nots, &R).is_err());
        let long = format!("name = '{}'", "x".repeat(MAX_FILTER_BYTES));
        assert_eq!(
            parse(&long, &R).unwrap_err().to_string(),
            "invalid filter at character 0: a filter has at most 8192 bytes; this one has 8201"
        );
        let just = format!("name = '{}'", "x".repeat(MAX_FILTER_BYTES - 9));
        assert!(parse(&just, &R).is_ok());
        // multi-byte text counts in bytes
        let wide = format!("name = '{}'", "汉".repeat(3000));
        assert!(parse(&wide, &R)
            .unwrap_err()
            .message
            .contains("at most 8192 bytes"));
        let many = format!(
            "rank IN ({})",
            (0..1001)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(parse(&many, &R)
            .unwrap_err()
            .message
            .contains("at most 1000 items"));
        // LIKE patterns: at most 256 characters, with the offset of the pattern
        let ok = format!("name LIKE '{}'", "%a".repeat(128));
        assert!(parse(&ok, &R).is_ok());
        let e = parse(&format!("name ILIKE '{}'", "a".repeat(257)), &R).unwrap_err();
        assert_eq!(e.offset, 11);
        assert_eq!(
            e.message,
            "a LIKE pattern has at most 256 characters; this one has 257"
        );
    }
}
