//! Recipe text of the synthetic benchmark: title, raw ingredient lines with quantities and units
//! (Recipe1M style: "1/2 cups plain greek yogurt"), the tagger's detections (`det_ingrs.json`,
//! including true ingredients wrongly labelled invalid) and 2 to 19 instructions built from the
//! category's actions and utensils and the recipe's ingredients.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Recipe text"). Everything is drawn from the
//! one RNG the caller passes, so a recipe is a pure function of (world, category, RNG state).
//! About 80 of its lines are word lists; title, lines, detections and instructions stay together
//! because they share one ingredient set and one RNG sequence.

use rand::seq::SliceRandom;
use rand::Rng;

use super::world::{Category, Form, Measure, World};

/// One raw ingredient line and what the tagger made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct IngredientLine {
    /// The raw line (`layer1.json` `ingredients[].text`).
    pub text: String,
    /// The tagger's detected text (`det_ingrs.json` `ingredients[].text`).
    pub detected: String,
    /// The tagger's verdict (`det_ingrs.json` `valid[]`).
    pub valid: bool,
    /// The true ingredient entity (index into [`World::ingredients`]); `None` for lines that are
    /// not ingredients (section headers such as "For the glaze:").
    pub entity: Option<usize>,
}

impl IngredientLine {
    /// A true ingredient the tagger labelled invalid: what Phase I's re-examination recovers.
    pub fn mislabelled(&self) -> bool {
        self.entity.is_some() && !self.valid
    }
}

/// The text of one synthetic recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeText {
    /// Index into [`World::categories`].
    pub category: usize,
    /// The title.
    pub title: String,
    /// Raw ingredient lines, in the order they are written.
    pub lines: Vec<IngredientLine>,
    /// Instruction sentences (2 to 19).
    pub instructions: Vec<String>,
    /// The cooking actions the instructions name, as the generator chose them (the category's
    /// step actions, and "preheat", "add", "transfer", "serve" where a sentence says so):
    /// distinct, in order of first use. Not written to any file; the truth Phase I's key terms
    /// are measured against (spec/eval-phase1-truth.md).
    pub actions: Vec<&'static str>,
    /// The utensils the instructions name (the category's, and "oven" for a preheat): distinct,
    /// in order of first use.
    pub utensils: Vec<&'static str>,
}

impl RecipeText {
    /// The ingredient entities of the recipe (one per ingredient line, headers skipped).
    pub fn entities(&self) -> Vec<usize> {
        self.lines.iter().filter_map(|l| l.entity).collect()
    }
}

/// The actions the instruction templates name besides the category's own (preheating, "Add the …",
/// "… and transfer to …", "Serve …"): with the category's actions, every word
/// [`RecipeText::actions`] can hold.
pub const TEMPLATE_ACTIONS: [&str; 4] = ["preheat", "add", "transfer", "serve"];
/// The utensil the templates name besides the category's own (the preheat sentence).
pub const TEMPLATE_UTENSILS: [&str; 1] = ["oven"];

/// Most instructions a recipe may have (Recipe1M's inclusion rule keeps fewer than 20).
pub const MAX_INSTRUCTIONS: usize = 19;
/// Fewest instructions a recipe has.
pub const MIN_INSTRUCTIONS: usize = 2;
/// Most ingredient lines, headers included (the inclusion rule keeps fewer than 20 detections).
pub const MAX_LINES: usize = 19;

const TITLE_ADJECTIVES: &[&str] = &[
    "Easy",
    "Classic",
    "Homemade",
    "Quick",
    "Best",
    "Simple",
    "Healthy",
    "Spicy",
    "Rustic",
    "Weeknight",
];
const TITLE_OWNERS: &[&str] = &["Grandma's", "Mom's", "Aunt Sue's", "Dad's", "Chef John's"];
/// Preparation words written before the name, by visual form and measure (a powder is never
/// "sliced", a liquid never "sifted").
fn pre_preps(form: Form, measure: Measure) -> &'static [&'static str] {
    match (form, measure) {
        (Form::Pieces, _) => &["chopped", "diced", "fresh", "frozen", "dried", "organic"],
        (Form::Slices, _) => &["sliced", "fresh", "thinly sliced", "large", "organic"],
        (Form::Leaves, _) => &["fresh", "chopped", "torn", "baby"],
        (Form::Sauce, _) => &["plain", "low-fat", "warm", "prepared"],
        (Form::Crumbs, _) => &["grated", "shredded", "fresh", "ground", "dried"],
        (Form::Hidden, Measure::Spice) => &["ground", "dried", "fine"],
        (Form::Hidden, Measure::Volume) => &["organic", "cold", "warm"],
        (Form::Hidden, Measure::Weight) => &["fresh", "organic", "boneless"],
        (Form::Hidden, Measure::Count) => &["large", "fresh", "whole"],
    }
}

/// Preparation notes written after the name, by visual form.
fn post_preps(form: Form) -> &'static [&'static str] {
    match form {
        Form::Pieces | Form::Slices | Form::Leaves => &[
            "chopped",
            "diced",
            "finely chopped",
            "cut into pieces",
            "divided",
        ],
        Form::Hidden => &["divided", "at room temperature", "or more to taste"],
        Form::Sauce | Form::Crumbs => &["divided", "or more to taste", "for serving"],
    }
}

const HEADERS: &[&str] = &[
    "sauce", "topping", "glaze", "crust", "filling", "dressing", "garnish",
];
const STATES: &[&str] = &[
    "golden",
    "smooth",
    "tender",
    "fragrant",
    "combined",
    "thickened",
    "bubbly",
    "crisp",
    "heated through",
    "lightly browned",
];
const SERVINGS: &[&str] = &[
    "Serve warm.",
    "Serve immediately.",
    "Serve chilled.",
    "Enjoy!",
    "Serve with a side salad.",
    "Store leftovers in the refrigerator.",
];

/// Draws one recipe of category `category`. `mislabel_rate` is the probability that a true
/// ingredient line is labelled invalid by the (simulated) tagger.
pub fn recipe_text<R: Rng>(
    world: &World,
    category: usize,
    mislabel_rate: f64,
    rng: &mut R,
) -> RecipeText {
    let cat = &world.categories[category];
    let entities = choose_ingredients(world, cat, rng);
    let title = title(world, cat, &entities, rng);
    let mut lines: Vec<IngredientLine> = entities
        .iter()
        .map(|&e| ingredient_line(world, e, rng))
        .collect();
    if rng.gen_bool(0.15) && (2..MAX_LINES).contains(&lines.len()) {
        let at = rng.gen_range(1..lines.len());
        let header = HEADERS.choose(rng).copied().unwrap_or("sauce");
        lines.insert(
            at,
            IngredientLine {
                text: format!("For the {header}:"),
                detected: format!("for the {header}"),
                valid: false,
                entity: None,
            },
        );
    }
    mislabel(&mut lines, mislabel_rate, rng);
    let Steps {
        sentences: instructions,
        actions,
        utensils,
    } = instructions(world, cat, &entities, rng);
    RecipeText {
        category,
        title,
        lines,
        instructions,
        actions,
        utensils,
    }
}

/// Core ingredients (each kept with probability 0.85, at least two), some optional ones and a
/// little of the shared pantry; distinct, shuffled, at most [`MAX_LINES`] − 1.
fn choose_ingredients<R: Rng>(world: &World, cat: &Category, rng: &mut R) -> Vec<usize> {
    let mut chosen: Vec<usize> = cat
        .core
        .iter()
        .copied()
        .filter(|_| rng.gen_bool(0.85))
        .collect();
    for &c in &cat.core {
        if chosen.len() >= 2 {
            break;
        }
        if !chosen.contains(&c) {
            chosen.push(c);
        }
    }
    let n_opt = rng.gen_range(0..=cat.optional.len().min(4));
    chosen.extend(cat.optional.choose_multiple(rng, n_opt).copied());
    let n_pantry = rng.gen_range(0..=3);
    chosen.extend(world.pantry.choose_multiple(rng, n_pantry).copied());
    let mut seen = Vec::with_capacity(chosen.len());
    chosen.retain(|e| {
        let new = !seen.contains(e);
        seen.push(*e);
        new
    });
    chosen.shuffle(rng);
    chosen.truncate(MAX_LINES - 1);
    chosen
}

fn title_case(words: &str) -> String {
    words
        .split([' ', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn title<R: Rng>(world: &World, cat: &Category, entities: &[usize], rng: &mut R) -> String {
    let dish = title_case(cat.name);
    // A featured ingredient: a visible optional one, when the recipe has one.
    let featured = entities
        .iter()
        .find(|&&e| cat.optional.contains(&e) && world.ingredients[e].form != Form::Hidden)
        .map(|&e| title_case(world.ingredients[e].name));
    let roll: f64 = rng.gen();
    match featured {
        Some(f) if roll < 0.2 => format!("{f} {dish}"),
        Some(f) if roll < 0.35 => format!("{dish} with {f}"),
        _ if roll < 0.6 => format!(
            "{} {dish}",
            TITLE_ADJECTIVES.choose(rng).copied().unwrap_or("Easy")
        ),
        _ if roll < 0.7 => format!(
            "{} {dish}",
            TITLE_OWNERS.choose(rng).copied().unwrap_or("Mom's")
        ),
        _ => dish,
    }
}

fn pick<'a, R: Rng>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or("")
}

/// "1/2 cups plain greek yogurt", "2 cloves garlic, minced", "salt, to taste".
fn ingredient_line<R: Rng>(world: &World, entity: usize, rng: &mut R) -> IngredientLine {
    let g = &world.ingredients[entity];
    let amount = match g.measure {
        Measure::Volume => format!(
            "{} {}",
            pick(
                rng,
                &["1/4", "1/3", "1/2", "2/3", "3/4", "1", "1 1/2", "2", "3"]
            ),
            pick(
                rng,
                &["cup", "cups", "tablespoons", "tablespoon", "teaspoons"]
            )
        ),
        Measure::Weight => format!(
            "{} {}",
            pick(rng, &["1/2", "1", "1 1/2", "2", "8", "12", "16"]),
            pick(rng, &["pound", "pounds", "ounces", "(8 ounce) package"])
        ),
        Measure::Count if g.name == "garlic" => {
            format!("{} cloves", pick(rng, &["1", "2", "3", "4", "6"]))
        }
        Measure::Count => {
            let size = pick(rng, &["", "", "large", "medium", "small"]);
            let n = pick(rng, &["1", "2", "3", "4", "6"]);
            if size.is_empty() {
                n.to_string()
            } else {
                format!("{n} {size}")
            }
        }
        Measure::Spice => format!(
            "{} {}",
            pick(rng, &["1/4", "1/2", "1", "2"]),
            pick(
                rng,
                &["teaspoon", "teaspoons", "tablespoon", "pinch", "dash"]
            )
        ),
    };
    let pre = if rng.gen_bool(0.35) {
        format!("{} ", pick(rng, pre_preps(g.form, g.measure)))
    } else {
        String::new()
    };
    let post = match pick(rng, post_preps(g.form)) {
        // "diced kimchi, diced" reads wrong: no note repeats the word before the name.
        note if rng.gen_bool(0.3) && !pre.contains(note) => format!(", {note}"),
        _ => String::new(),
    };
    let text = if g.measure == Measure::Spice && rng.gen_bool(0.2) {
        format!("{}{}, to taste", pre, g.name)
    } else {
        format!("{amount} {pre}{}{post}", g.name)
    };
    IngredientLine {
        text,
        detected: g.name.to_string(),
        valid: true,
        entity: Some(entity),
    }
}

/// The simulated tagger's mistakes: each true ingredient line is labelled invalid with
/// probability `rate`, and then its detected text is the line without the leading quantity
/// (the tagger failed to isolate the name). At most a third of the lines are mislabelled and at
/// least one stays valid, so every recipe passes the 1 ≤ detections rule.
fn mislabel<R: Rng>(lines: &mut [IngredientLine], rate: f64, rng: &mut R) {
    let cap = (lines.len() / 3).max(usize::from(lines.len() > 1));
    let mut done = 0;
    for line in lines.iter_mut() {
        let hit = rng.gen_bool(rate);
        if hit && line.entity.is_some() && done < cap {
            line.valid = false;
            line.detected = strip_quantity(&line.text);
            done += 1;
        }
    }
}

/// What the simulated tagger detects on a line it fails on: the line in lower case with the
/// leading numbers, fractions and parenthesised amounts removed.
pub fn strip_quantity(line: &str) -> String {
    let lower = line.to_lowercase();
    let words = lower.split_whitespace();
    let mut out = Vec::new();
    let mut in_paren = false;
    for w in words {
        if out.is_empty() {
            if w.starts_with('(') {
                in_paren = !w.ends_with(')');
                continue;
            }
            if in_paren {
                in_paren = !w.ends_with(')');
                continue;
            }
            if w.chars().all(|c| c.is_ascii_digit() || c == '/') {
                continue;
            }
        }
        out.push(w);
    }
    out.join(" ")
}

fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [a] => (*a).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Instructions: an optional "preheat", then steps that walk through the category's actions in
/// order, each naming one to three of the recipe's ingredients (every ingredient is named once
/// before any is named twice) and often a utensil, then an optional serving line.
fn instructions<R: Rng>(world: &World, cat: &Category, entities: &[usize], rng: &mut R) -> Steps {
    let (lo, hi) = cat.steps;
    let spread = rng.gen_range(0..=3) + rng.gen_range(0..=3);
    let n = (rng.gen_range(lo..=hi) + spread)
        .saturating_sub(2)
        .clamp(MIN_INSTRUCTIONS, MAX_INSTRUCTIONS);
    let mut out = Vec::with_capacity(n);
    // The actions and utensils each sentence names, kept beside it so truncation drops both.
    let mut named: Vec<(Vec<&'static str>, Vec<&'static str>)> = Vec::with_capacity(n);
    if cat.oven {
        let deg = pick(rng, &["325", "350", "375", "400", "425"]);
        out.push(format!("Preheat the oven to {deg} degrees F."));
        named.push((vec![TEMPLATE_ACTIONS[0]], vec![TEMPLATE_UTENSILS[0]]));
    }
    let serve = rng.gen_bool(0.6);
    let middle = n
        .saturating_sub(out.len() + usize::from(serve))
        .max(MIN_INSTRUCTIONS.saturating_sub(out.len()));
    let mut queue: Vec<usize> = entities.to_vec();
    let mut next = 0usize;
    let mut names = |rng: &mut R, k: usize| -> Vec<&'static str> {
        (0..k)
            .map(|_| {
                if next >= queue.len() {
                    queue.shuffle(rng);
                    next = 0;
                }
                next += 1;
                world.ingredients[queue[next - 1]].name
            })
            .collect::<Vec<_>>()
    };
    for j in 0..middle {
        let action = cat.actions[(j * cat.actions.len()) / middle.max(1)];
        let utensil = pick(rng, &cat.utensils);
        let state = pick(rng, STATES);
        let minutes = rng.gen_range(2..=45);
        let k = rng.gen_range(1..=3);
        let mut ings = names(rng, k);
        ings.dedup();
        let list = join_names(&ings);
        let (sentence, words) = match rng.gen_range(0..8) {
            0 => (
                format!("{} the {list} in a {utensil}.", capitalise(action)),
                (vec![action], vec![utensil]),
            ),
            1 => (
                format!("In a {utensil}, {action} the {list}."),
                (vec![action], vec![utensil]),
            ),
            2 => (
                format!("{} the {list} until {state}.", capitalise(action)),
                (vec![action], vec![]),
            ),
            3 => (
                format!("Add the {list} to the {utensil} and {action} for {minutes} minutes."),
                (vec![TEMPLATE_ACTIONS[1], action], vec![utensil]),
            ),
            4 => (
                format!("{} the {list}, then set aside.", capitalise(action)),
                (vec![action], vec![]),
            ),
            5 => (
                format!("Using a {utensil}, {action} the {list} until {state}."),
                (vec![action], vec![utensil]),
            ),
            6 => (
                format!(
                    "{} for {minutes} minutes, or until the {list} is {state}.",
                    capitalise(action)
                ),
                (vec![action], vec![]),
            ),
            _ => (
                format!("Carefully {action} the {list} and transfer to the {utensil}."),
                (vec![action, TEMPLATE_ACTIONS[2]], vec![utensil]),
            ),
        };
        out.push(sentence);
        named.push(words);
    }
    if serve || out.len() < MIN_INSTRUCTIONS {
        let line = pick(rng, SERVINGS);
        out.push(line.to_string());
        named.push((
            if line.starts_with("Serve") {
                vec![TEMPLATE_ACTIONS[3]]
            } else {
                vec![]
            },
            vec![],
        ));
    }
    out.truncate(MAX_INSTRUCTIONS);
    named.truncate(MAX_INSTRUCTIONS);
    let (mut actions, mut utensils): (Vec<&'static str>, Vec<&'static str>) = (vec![], vec![]);
    for (a, u) in named {
        for (list, words) in [(&mut actions, a), (&mut utensils, u)] {
            for w in words {
                if !list.contains(&w) {
                    list.push(w);
                }
            }
        }
    }
    Steps {
        sentences: out,
        actions,
        utensils,
    }
}

/// What [`instructions`] wrote: the sentences and what they name.
struct Steps {
    sentences: Vec<String>,
    actions: Vec<&'static str>,
    utensils: Vec<&'static str>,
}

/// The forms of the recipe's ingredients that are visible on the plate (used by the renderer).
pub fn visible(world: &World, text: &RecipeText) -> Vec<usize> {
    text.entities()
        .into_iter()
        .filter(|&e| world.ingredients[e].form != Form::Hidden)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_recorded_actions_and_utensils_are_named_by_the_instructions() {
        let w = World::standard();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for i in 0..400 {
            let r = recipe_text(&w, i % w.categories.len(), 0.1, &mut rng);
            let cat = &w.categories[r.category];
            let text = r.instructions.join(" ").to_lowercase();
            for a in &r.actions {
                assert!(
                    cat.actions.contains(a) || TEMPLATE_ACTIONS.contains(a),
                    "{a} is neither the category's nor a template's"
                );
                assert!(text.contains(a), "{a} not in {text}");
            }
            for u in &r.utensils {
                assert!(
                    cat.utensils.contains(u) || TEMPLATE_UTENSILS.contains(u),
                    "{u}"
                );
                assert!(text.contains(u), "{u} not in {text}");
            }
            assert!(!r.actions.is_empty());
        }
    }

    #[test]
    fn strip_quantity_removes_leading_amounts() {
        assert_eq!(
            strip_quantity("5 dried, pitted dates"),
            "dried, pitted dates"
        );
        assert_eq!(
            strip_quantity("1 (8 ounce) package cream cheese"),
            "package cream cheese"
        );
        assert_eq!(strip_quantity("1 1/2 cups milk"), "cups milk");
    }

    #[test]
    fn many_recipes_respect_the_bounds() {
        let w = World::standard();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for i in 0..2000 {
            let r = recipe_text(&w, i % w.categories.len(), 0.1, &mut rng);
            assert!(
                (MIN_INSTRUCTIONS..=MAX_INSTRUCTIONS).contains(&r.instructions.len()),
                "{}",
                r.instructions.len()
            );
            assert!(r.lines.len() <= MAX_LINES);
            let valid = r.lines.iter().filter(|l| l.valid).count();
            assert!((1..20).contains(&valid));
        }
    }
}
