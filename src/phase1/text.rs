//! Phase I text normalisation: lower-casing, tokenisation of titles, instructions and ingredient
//! lines into words, quantities, units and punctuation (the preprocessing of §4.a in our
//! reconstruction; the rules are ours, the paper states none).
//!
//! Spec: spec/phase1-text.md (section "Normalisation and tokens").

/// A unit of measure recognised in an ingredient line (never in titles or instructions, where
/// "cup" or "clove" are ordinary words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// cup, cups, c
    Cup,
    /// tablespoon(s), tbsp, tbs, tbl
    Tablespoon,
    /// teaspoon(s), tsp
    Teaspoon,
    /// ounce(s), oz
    Ounce,
    /// pound(s), lb, lbs
    Pound,
    /// gram(s), g
    Gram,
    /// kilogram(s), kg
    Kilogram,
    /// milliliter(s), millilitre(s), ml
    Millilitre,
    /// liter(s), litre(s), l
    Litre,
    /// quart(s), qt
    Quart,
    /// pint(s), pt
    Pint,
    /// gallon(s), gal
    Gallon,
    /// pinch, pinches
    Pinch,
    /// dash, dashes
    Dash,
    /// clove, cloves — only when another word follows ("2 cloves garlic"); "ground cloves" is
    /// the spice.
    Clove,
}

impl Unit {
    /// The unit a lower-case word spells, clove(s) included (the caller applies the clove rule).
    pub fn parse(word: &str) -> Option<Unit> {
        Some(match word {
            "cup" | "cups" | "c" => Unit::Cup,
            "tablespoon" | "tablespoons" | "tbsp" | "tbsps" | "tbs" | "tbl" => Unit::Tablespoon,
            "teaspoon" | "teaspoons" | "tsp" | "tsps" => Unit::Teaspoon,
            "ounce" | "ounces" | "oz" => Unit::Ounce,
            "pound" | "pounds" | "lb" | "lbs" => Unit::Pound,
            "gram" | "grams" | "g" => Unit::Gram,
            "kilogram" | "kilograms" | "kg" => Unit::Kilogram,
            "milliliter" | "milliliters" | "millilitre" | "millilitres" | "ml" => Unit::Millilitre,
            "liter" | "liters" | "litre" | "litres" | "l" => Unit::Litre,
            "quart" | "quarts" | "qt" => Unit::Quart,
            "pint" | "pints" | "pt" => Unit::Pint,
            "gallon" | "gallons" | "gal" => Unit::Gallon,
            "pinch" | "pinches" => Unit::Pinch,
            "dash" | "dashes" => Unit::Dash,
            "clove" | "cloves" => Unit::Clove,
            _ => return None,
        })
    }

    /// The canonical (singular) name.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Cup => "cup",
            Unit::Tablespoon => "tablespoon",
            Unit::Teaspoon => "teaspoon",
            Unit::Ounce => "ounce",
            Unit::Pound => "pound",
            Unit::Gram => "gram",
            Unit::Kilogram => "kilogram",
            Unit::Millilitre => "millilitre",
            Unit::Litre => "litre",
            Unit::Quart => "quart",
            Unit::Pint => "pint",
            Unit::Gallon => "gallon",
            Unit::Pinch => "pinch",
            Unit::Dash => "dash",
            Unit::Clove => "clove",
        }
    }
}

/// One token of normalised text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Token {
    /// A lower-case word without digits; may hold inner `-`, `'` or `_` ("all-purpose",
    /// "grandma's", "greek_yogurt").
    Word(String),
    /// A quantity: any run holding a digit or a vulgar fraction ("1/2", "1.5", "2-3", "½",
    /// "8-inch", "350f"), lower-cased as written. Dropped from words.
    Quantity(String),
    /// A unit of measure (ingredient lines only).
    Unit(Unit),
    /// One punctuation character ("," "." "(" ":" …).
    Punct(char),
}

impl Token {
    /// The word, if the token is one.
    pub fn word(&self) -> Option<&str> {
        match self {
            Token::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Unicode vulgar fractions (½ ¼ ¾ ⅓ ⅔ ⅛ … and the fraction slash ⁄) count as digits.
fn is_fraction(c: char) -> bool {
    matches!(c, '\u{00BC}'..='\u{00BE}' | '\u{2150}'..='\u{215F}' | '\u{2044}')
}

fn is_core(c: char) -> bool {
    c.is_alphanumeric() || is_fraction(c)
}

fn is_digitlike(c: char) -> bool {
    c.is_numeric() || is_fraction(c)
}

/// Splits `text` into tokens: lower-cased, whitespace-separated, punctuation split off. A
/// joiner stays inside a token only between two letters or digits: `-` `'` `’` `_` anywhere
/// ("all-purpose", "2-3"), `/` `.` `,` only between two digits ("1/2", "1.5", "1,000").
/// A token holding a digit or a vulgar fraction is a [`Token::Quantity`]; units are not
/// recognised (see [`tokenize_ingredient_line`]).
pub fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Token>| {
        if cur.is_empty() {
            return;
        }
        let t = std::mem::take(cur);
        if t.chars().any(is_digitlike) {
            out.push(Token::Quantity(t));
        } else {
            out.push(Token::Word(t));
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if is_core(c) {
            cur.push(c);
            continue;
        }
        let prev = cur.chars().last();
        let next = chars.get(i + 1).copied();
        let joins = match (prev, next) {
            (Some(p), Some(n)) if is_core(n) => match c {
                '-' | '\'' | '_' => true,
                '\u{2019}' => true,
                '/' | '.' | ',' => is_digitlike(p) && is_digitlike(n),
                _ => false,
            },
            _ => false,
        };
        if joins {
            cur.push(if c == '\u{2019}' { '\'' } else { c });
            continue;
        }
        flush(&mut cur, &mut out);
        if !c.is_whitespace() {
            out.push(Token::Punct(c));
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// [`tokenize`] with units recognised: a word spelling a unit becomes [`Token::Unit`], except
/// clove(s), which is a unit only when the next token is a word ("2 cloves garlic"), so that
/// "1 teaspoon ground cloves" keeps the spice.
pub fn tokenize_ingredient_line(line: &str) -> Vec<Token> {
    let tokens = tokenize(line);
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let unit = t
            .word()
            .and_then(Unit::parse)
            .filter(|&u| u != Unit::Clove || matches!(tokens.get(i + 1), Some(Token::Word(_))));
        out.push(match unit {
            Some(u) => Token::Unit(u),
            None => t.clone(),
        });
    }
    out
}

/// The words of `text` in order: [`tokenize`] without quantities and punctuation. Every word is
/// lower case and holds no digit.
pub fn words(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// An ingredient line taken apart (re-examination input).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngredientLine {
    /// The words of the name part: before the first comma (or `;`, `:`), outside parentheses,
    /// without quantities and units ("tablespoons all-purpose flour" → ["all-purpose", "flour"]).
    pub name: Vec<String>,
    /// The words of each later comma-separated segment, in order (the notes: ", or more to
    /// taste" → ["or", "more", "to", "taste"]).
    pub notes: Vec<Vec<String>>,
    /// Quantities, in order.
    pub quantities: Vec<String>,
    /// Units, in order.
    pub units: Vec<Unit>,
}

impl IngredientLine {
    /// Name and notes as segments, the name first.
    pub fn segments(&self) -> impl Iterator<Item = &[String]> {
        std::iter::once(self.name.as_slice()).chain(self.notes.iter().map(Vec::as_slice))
    }
}

/// Parses an ingredient line (raw or as detected): quantities and units are collected and
/// dropped, parenthesised text is dropped ("(8 ounce)"), and `,` `;` `:` split the words into
/// the name and the notes. Other punctuation is dropped without splitting.
pub fn parse_ingredient_line(line: &str) -> IngredientLine {
    let mut parsed = IngredientLine::default();
    let mut segment = Vec::new();
    let mut depth = 0usize;
    let mut first = true;
    let mut end = |segment: &mut Vec<String>, parsed: &mut IngredientLine| {
        let s = std::mem::take(segment);
        if first {
            parsed.name = s;
            first = false;
        } else if !s.is_empty() {
            parsed.notes.push(s);
        }
    };
    for t in tokenize_ingredient_line(line) {
        match t {
            Token::Punct('(' | '[') => depth += 1,
            Token::Punct(')' | ']') => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            Token::Punct(',' | ';' | ':') => end(&mut segment, &mut parsed),
            Token::Punct(_) => {}
            Token::Word(w) => segment.push(w),
            Token::Quantity(q) => parsed.quantities.push(q),
            Token::Unit(u) => parsed.units.push(u),
        }
    }
    end(&mut segment, &mut parsed);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joiners_stay_inside_words_and_numbers() {
        assert_eq!(
            tokenize("1 1/2 cups All-Purpose flour, ½ tsp."),
            vec![
                Token::Quantity("1".into()),
                Token::Quantity("1/2".into()),
                Token::Word("cups".into()),
                Token::Word("all-purpose".into()),
                Token::Word("flour".into()),
                Token::Punct(','),
                Token::Quantity("½".into()),
                Token::Word("tsp".into()),
                Token::Punct('.'),
            ]
        );
    }

    #[test]
    fn clove_is_a_unit_only_before_a_word() {
        let p = parse_ingredient_line("2 cloves garlic, minced");
        assert_eq!(p.name, vec!["garlic"]);
        assert_eq!(p.units, vec![Unit::Clove]);
        let p = parse_ingredient_line("1 teaspoon ground cloves");
        assert_eq!(p.name, vec!["ground", "cloves"]);
    }
}
