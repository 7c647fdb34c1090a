//! The synthetic benchmark's world: dish categories (Food-101-style snake_case names), the
//! ingredients they draw from (with units, preparations, colour and visual form), and the cooking
//! actions and utensils their instructions use.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "The world"). Categories share ingredients,
//! actions and looks on purpose, so that they overlap the way Recipe1M's categories do.
//!
//! Longer than the house's 400 lines because most of it is the two data tables (ingredients and
//! categories); the code around them is short.

use std::collections::HashMap;

/// How an ingredient shows up on the plate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Small round chunks (peas, diced onion, blueberries).
    Pieces,
    /// Flat elongated slices (apple, tomato, bacon).
    Slices,
    /// Leaves (basil, spinach, lettuce).
    Leaves,
    /// A drizzle or dollop (honey, yogurt, tomato sauce).
    Sauce,
    /// Fine crumbs and flecks (parsley, grated cheese, pepper).
    Crumbs,
    /// Not visible by itself; it only tints the dish (flour, sugar, salt, oil).
    Hidden,
}

/// Which units a quantity of the ingredient is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Cups and spoons.
    Volume,
    /// Pounds, ounces.
    Weight,
    /// A count, optionally with a counted unit (cloves, slices).
    Count,
    /// Teaspoons, pinches, dashes.
    Spice,
}

/// One ingredient entity (what the tagger should detect: `greek yogurt`).
#[derive(Debug, Clone)]
pub struct Ingredient {
    /// The entity name, lower case, words separated by single spaces.
    pub name: &'static str,
    /// Its colour on the plate, sRGB.
    pub colour: [u8; 3],
    /// How it is drawn.
    pub form: Form,
    /// How it is measured in an ingredient line.
    pub measure: Measure,
}

/// The vessel the dish is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vessel {
    /// A round flat plate with a rim.
    Plate,
    /// A deep round bowl.
    Bowl,
    /// A rectangular wooden board.
    Board,
    /// A rectangular baking dish.
    Tray,
}

/// The main shape of the food.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A blob (curry, risotto, salads piled up).
    Mound,
    /// A slice of a round cake or pie.
    Wedge,
    /// A flat disc (pizza, omelette, tortilla).
    Disc,
    /// A rectangular slab (steak, fillet, lasagna, sandwich).
    Slab,
    /// Strands (spaghetti, noodles).
    Strands,
    /// A liquid filling the vessel (soups).
    Liquid,
    /// Several small rounds (meatballs, donuts, sushi, cupcakes).
    Rounds,
    /// A stack of discs seen from above (pancakes, waffles).
    Stack,
    /// Sticks (fries, wings).
    Sticks,
}

/// The surface pattern of the food.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Texture {
    /// Even colour.
    Smooth,
    /// Small flecks.
    Speckled,
    /// Grill marks or layers.
    Striped,
    /// Coarse irregular grain.
    Crumbly,
    /// A bright highlight.
    Glossy,
    /// A square grid (waffles).
    Grid,
}

/// Where the visible ingredients go on the food.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    /// Anywhere on the food.
    Scatter,
    /// On a ring near the rim.
    Ring,
    /// Piled in the centre.
    Centre,
    /// In parallel rows.
    Rows,
}

/// One dish category (a Food-101-style class).
#[derive(Debug, Clone)]
pub struct Category {
    /// Snake-case class name, as in Food-101's `classes.txt` (`apple_pie`).
    pub name: &'static str,
    /// Ingredients almost every recipe of the category has (indices into [`World::ingredients`]).
    pub core: Vec<usize>,
    /// Ingredients some recipes add.
    pub optional: Vec<usize>,
    /// Cooking actions (verbs) the instructions use.
    pub actions: Vec<&'static str>,
    /// Utensils the instructions use.
    pub utensils: Vec<&'static str>,
    /// Whether recipes start by preheating the oven.
    pub oven: bool,
    /// Typical number of instructions (the generator spreads around it, clamped to 2..=19).
    pub steps: (usize, usize),
    /// The vessel.
    pub vessel: Vessel,
    /// The food's main shape.
    pub shape: Shape,
    /// The food's base colour before ingredients tint it.
    pub base: [u8; 3],
    /// The food's surface pattern.
    pub texture: Texture,
    /// Where toppings go.
    pub arrangement: Arrangement,
}

impl Category {
    /// The readable name (`apple_pie` → `Apple pie`), as in Food-101's `labels.txt`.
    pub fn label(&self) -> String {
        let words = self.name.replace('_', " ");
        let mut chars = words.chars();
        match chars.next() {
            Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }
}

/// Ingredients every category may add (the pantry), so categories overlap.
pub const PANTRY: &[&str] = &[
    "salt",
    "black pepper",
    "olive oil",
    "butter",
    "garlic",
    "onion",
    "sugar",
    "eggs",
    "parsley",
    "lemon juice",
];

/// The whole world: ingredients and categories.
#[derive(Debug, Clone)]
pub struct World {
    /// Every ingredient entity.
    pub ingredients: Vec<Ingredient>,
    /// Every category, in a fixed order (not sorted; Food-101 output sorts by name).
    pub categories: Vec<Category>,
    /// The pantry as indices into `ingredients`.
    pub pantry: Vec<usize>,
}

use Form::{Crumbs, Hidden, Leaves, Pieces, Sauce, Slices};
use Measure::{Count, Spice, Volume, Weight};

#[rustfmt::skip]
const INGREDIENTS: &[(&str, [u8; 3], Form, Measure)] = &[
    ("apples", [222, 205, 140], Slices, Count), ("cinnamon", [140, 80, 40], Hidden, Spice),
    ("lemon juice", [240, 230, 150], Hidden, Volume), ("strawberries", [200, 30, 45], Pieces, Volume),
    ("blueberries", [60, 50, 110], Pieces, Volume), ("bananas", [240, 225, 160], Slices, Count),
    ("tomatoes", [210, 45, 35], Slices, Count), ("cherry tomatoes", [225, 50, 40], Pieces, Volume),
    ("onion", [235, 225, 200], Pieces, Count), ("red onion", [150, 60, 120], Slices, Count),
    ("garlic", [245, 240, 220], Hidden, Count), ("carrots", [235, 120, 30], Pieces, Count),
    ("celery", [150, 200, 100], Pieces, Count), ("potatoes", [225, 200, 130], Pieces, Weight),
    ("broccoli", [50, 130, 50], Pieces, Volume), ("spinach", [40, 100, 40], Leaves, Volume),
    ("romaine lettuce", [120, 190, 90], Leaves, Count), ("basil", [50, 140, 50], Leaves, Volume),
    ("parsley", [60, 150, 60], Crumbs, Volume), ("cilantro", [70, 160, 70], Crumbs, Volume),
    ("green onions", [100, 180, 80], Pieces, Count), ("bell pepper", [220, 40, 30], Slices, Count),
    ("jalapeno", [60, 140, 40], Slices, Count), ("mushrooms", [160, 130, 100], Slices, Weight),
    ("zucchini", [110, 160, 70], Slices, Count), ("avocado", [150, 190, 80], Slices, Count),
    ("cucumber", [190, 220, 160], Slices, Count), ("corn", [245, 210, 70], Crumbs, Volume),
    ("black beans", [40, 30, 35], Pieces, Volume), ("peas", [110, 180, 60], Pieces, Volume),
    ("pitted dates", [90, 50, 30], Pieces, Count), ("walnuts", [150, 105, 60], Pieces, Volume),
    ("pecans", [130, 80, 45], Pieces, Volume), ("raisins", [80, 40, 40], Pieces, Volume),
    ("chocolate chips", [60, 35, 25], Pieces, Volume), ("coconut flakes", [245, 240, 230], Crumbs, Volume),
    ("chicken breast", [230, 200, 160], Slices, Weight), ("chicken thighs", [200, 150, 100], Slices, Weight),
    ("whole chicken", [200, 140, 70], Hidden, Weight), ("chicken wings", [190, 100, 50], Hidden, Weight),
    ("ground beef", [120, 70, 50], Crumbs, Weight), ("beef steak", [130, 60, 45], Hidden, Weight),
    ("pork chops", [200, 160, 120], Hidden, Count), ("bacon", [170, 60, 50], Slices, Count),
    ("salmon fillet", [240, 130, 100], Hidden, Weight), ("shrimp", [245, 150, 120], Pieces, Weight),
    ("tuna", [200, 70, 80], Slices, Weight), ("white fish", [240, 235, 220], Hidden, Weight),
    ("eggs", [250, 215, 90], Hidden, Count), ("tofu", [240, 235, 215], Pieces, Weight),
    ("ham", [230, 140, 140], Slices, Count), ("sausage", [150, 80, 60], Slices, Count),
    ("butter", [250, 235, 170], Hidden, Volume), ("milk", [250, 250, 245], Hidden, Volume),
    ("heavy cream", [250, 248, 235], Hidden, Volume), ("greek yogurt", [250, 250, 248], Sauce, Volume),
    ("sour cream", [250, 250, 245], Sauce, Volume), ("cream cheese", [250, 245, 230], Hidden, Weight),
    ("cheddar cheese", [240, 160, 40], Crumbs, Volume), ("mozzarella cheese", [250, 245, 225], Pieces, Weight),
    ("parmesan cheese", [240, 225, 170], Crumbs, Volume), ("feta cheese", [250, 250, 240], Pieces, Weight),
    ("mascarpone", [250, 245, 225], Hidden, Weight), ("all-purpose flour", [245, 240, 230], Hidden, Volume),
    ("sugar", [250, 250, 250], Hidden, Volume), ("brown sugar", [170, 110, 60], Hidden, Volume),
    ("powdered sugar", [252, 252, 252], Crumbs, Volume), ("salt", [250, 250, 250], Hidden, Spice),
    ("black pepper", [40, 35, 30], Crumbs, Spice), ("olive oil", [200, 190, 60], Hidden, Volume),
    ("vegetable oil", [230, 210, 120], Hidden, Volume), ("baking powder", [250, 250, 250], Hidden, Spice),
    ("baking soda", [250, 250, 250], Hidden, Spice), ("vanilla extract", [90, 50, 20], Hidden, Spice),
    ("honey", [220, 150, 30], Sauce, Volume), ("maple syrup", [170, 90, 30], Sauce, Volume),
    ("soy sauce", [60, 30, 15], Hidden, Volume), ("rice", [250, 248, 240], Hidden, Volume),
    ("spaghetti", [240, 215, 140], Hidden, Weight), ("rice noodles", [245, 240, 225], Hidden, Weight),
    ("elbow macaroni", [245, 205, 110], Hidden, Weight), ("lasagna noodles", [240, 210, 140], Hidden, Count),
    ("tortillas", [235, 215, 170], Hidden, Count), ("bread", [220, 180, 120], Hidden, Count),
    ("hamburger buns", [210, 150, 80], Hidden, Count), ("bread crumbs", [200, 160, 100], Crumbs, Volume),
    ("chicken broth", [230, 200, 120], Hidden, Volume), ("tomato sauce", [190, 40, 30], Sauce, Volume),
    ("pesto", [90, 140, 50], Sauce, Volume), ("dark chocolate", [70, 40, 30], Sauce, Weight),
    ("cocoa powder", [100, 60, 40], Hidden, Volume), ("rolled oats", [215, 190, 150], Crumbs, Volume),
    ("red wine", [110, 20, 40], Hidden, Volume), ("stevia", [250, 250, 250], Hidden, Spice),
    ("sesame seeds", [240, 225, 190], Crumbs, Spice), ("peanuts", [200, 150, 90], Pieces, Volume),
    ("curry powder", [220, 170, 40], Hidden, Spice), ("cumin", [150, 100, 50], Hidden, Spice),
    ("paprika", [190, 50, 30], Crumbs, Spice), ("ginger", [220, 190, 130], Hidden, Spice),
    ("chili powder", [170, 40, 25], Hidden, Spice), ("nutmeg", [140, 90, 50], Hidden, Spice),
    ("oregano", [80, 110, 50], Crumbs, Spice), ("thyme", [90, 110, 60], Crumbs, Spice),
    ("coconut milk", [250, 248, 240], Hidden, Volume), ("fish sauce", [150, 90, 40], Hidden, Volume),
    ("lime", [150, 200, 60], Slices, Count), ("mayonnaise", [250, 245, 220], Sauce, Volume),
    ("ketchup", [190, 30, 20], Sauce, Volume), ("pie crust", [225, 180, 110], Hidden, Count),
    ("pizza dough", [235, 200, 140], Hidden, Weight), ("nori", [30, 50, 35], Hidden, Count),
    ("ladyfingers", [230, 195, 130], Hidden, Count), ("espresso", [60, 35, 20], Hidden, Volume),
    ("kimchi", [210, 80, 50], Pieces, Volume), ("gochujang", [170, 30, 25], Sauce, Spice),
    ("croutons", [210, 170, 100], Pieces, Volume), ("olives", [50, 45, 40], Pieces, Volume),
    ("lentils", [170, 110, 60], Pieces, Volume), ("cabbage", [200, 220, 170], Leaves, Count),
    ("cranberries", [170, 20, 40], Pieces, Volume), ("pumpkin puree", [220, 120, 40], Hidden, Volume),
];

/// (name, vessel, shape, base colour, texture, arrangement, oven, steps, core, optional, actions,
/// utensils); lists are comma-separated.
type CategoryRow = (
    &'static str,
    Vessel,
    Shape,
    [u8; 3],
    Texture,
    Arrangement,
    bool,
    (usize, usize),
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

use Arrangement::{Centre, Ring, Rows, Scatter};
use Shape::{Disc, Liquid, Mound, Rounds, Slab, Stack, Sticks, Strands, Wedge};
use Texture::{Crumbly, Glossy, Grid, Smooth, Speckled, Striped};
use Vessel::{Board, Bowl, Plate, Tray};

#[rustfmt::skip]
const CATEGORIES: &[CategoryRow] = &[
    ("apple_pie", Plate, Wedge, [215, 165, 95], Crumbly, Centre, true, (5, 11),
     "pie crust,apples,sugar,cinnamon,butter", "lemon juice,nutmeg,brown sugar,walnuts,all-purpose flour",
     "peel,slice,toss,fill,bake,cool", "pie dish,mixing bowl,knife,oven"),
    ("carrot_cake", Plate, Wedge, [205, 130, 70], Speckled, Ring, true, (6, 13),
     "all-purpose flour,carrots,sugar,eggs,cinnamon,cream cheese", "walnuts,raisins,vegetable oil,baking soda,vanilla extract,powdered sugar",
     "grate,whisk,fold,bake,frost,cool", "cake pan,mixing bowl,whisk,grater,spatula"),
    ("cheesecake", Plate, Wedge, [245, 230, 195], Smooth, Centre, true, (6, 12),
     "cream cheese,sugar,eggs,bread crumbs,butter", "strawberries,blueberries,sour cream,vanilla extract,lemon juice,greek yogurt",
     "beat,press,pour,bake,chill,top", "springform pan,mixer,mixing bowl,spatula"),
    ("chocolate_cake", Plate, Wedge, [85, 50, 35], Glossy, Centre, true, (6, 13),
     "all-purpose flour,cocoa powder,sugar,eggs,butter,dark chocolate", "milk,vanilla extract,baking powder,raspberries,strawberries,heavy cream",
     "sift,whisk,melt,bake,frost,cool", "cake pan,mixing bowl,whisk,saucepan,spatula"),
    ("red_velvet_cake", Plate, Wedge, [170, 35, 45], Smooth, Ring, true, (6, 13),
     "all-purpose flour,cocoa powder,sugar,eggs,cream cheese,buttermilk", "vanilla extract,baking soda,vegetable oil,powdered sugar,pecans",
     "sift,whisk,bake,frost,layer,cool", "cake pan,mixing bowl,mixer,spatula"),
    ("cup_cakes", Board, Rounds, [225, 185, 130], Glossy, Centre, true, (5, 10),
     "all-purpose flour,sugar,eggs,butter,milk", "cocoa powder,vanilla extract,strawberries,chocolate chips,powdered sugar,coconut flakes",
     "whisk,fill,bake,frost,cool", "muffin tin,mixing bowl,whisk,piping bag"),
    ("donuts", Board, Rounds, [200, 140, 75], Glossy, Scatter, false, (6, 12),
     "all-purpose flour,sugar,milk,eggs,vegetable oil", "cinnamon,powdered sugar,dark chocolate,nutmeg,vanilla extract",
     "knead,roll,cut,fry,drain,glaze", "deep fryer,mixing bowl,rolling pin,cutter"),
    ("tiramisu", Tray, Slab, [200, 160, 110], Striped, Rows, false, (5, 10),
     "ladyfingers,mascarpone,espresso,eggs,sugar,cocoa powder", "heavy cream,dark chocolate,vanilla extract,red wine",
     "whisk,dip,layer,dust,chill", "baking dish,mixing bowl,whisk,sieve"),
    ("pancakes", Plate, Stack, [225, 175, 95], Smooth, Centre, false, (4, 9),
     "all-purpose flour,milk,eggs,baking powder,sugar", "blueberries,bananas,maple syrup,butter,strawberries,chocolate chips",
     "whisk,pour,flip,cook,stack,drizzle", "skillet,mixing bowl,whisk,spatula,ladle"),
    ("waffles", Plate, Stack, [215, 160, 80], Grid, Scatter, false, (4, 9),
     "all-purpose flour,milk,eggs,baking powder,butter", "strawberries,blueberries,maple syrup,powdered sugar,bananas,honey",
     "whisk,pour,cook,top,serve", "waffle iron,mixing bowl,whisk,ladle"),
    ("french_toast", Plate, Slab, [210, 150, 70], Speckled, Scatter, false, (4, 9),
     "bread,eggs,milk,cinnamon,butter", "maple syrup,strawberries,powdered sugar,vanilla extract,bananas,nutmeg",
     "whisk,dip,fry,flip,dust", "skillet,shallow dish,whisk,spatula"),
    ("omelette", Plate, Disc, [245, 205, 90], Smooth, Centre, false, (3, 8),
     "eggs,butter,salt", "cheddar cheese,ham,mushrooms,spinach,bell pepper,onion,green onions,tomatoes",
     "whisk,pour,cook,fold,slide", "skillet,mixing bowl,whisk,spatula"),
    ("pizza", Board, Disc, [225, 160, 80], Speckled, Scatter, true, (5, 11),
     "pizza dough,tomato sauce,mozzarella cheese,olive oil", "basil,pepperoni,mushrooms,bell pepper,olives,oregano,red onion,sausage,ham",
     "knead,roll,spread,sprinkle,bake,slice", "pizza stone,rolling pin,baking sheet,pizza cutter"),
    ("lasagna", Tray, Slab, [200, 90, 50], Striped, Centre, true, (8, 16),
     "lasagna noodles,ground beef,tomato sauce,mozzarella cheese,parmesan cheese", "ricotta cheese,onion,garlic,basil,oregano,spinach,mushrooms",
     "boil,brown,simmer,layer,bake,rest", "baking dish,skillet,pot,foil"),
    ("macaroni_and_cheese", Bowl, Mound, [240, 180, 60], Crumbly, Scatter, true, (5, 11),
     "elbow macaroni,cheddar cheese,milk,butter,all-purpose flour", "bread crumbs,parmesan cheese,bacon,paprika,mustard",
     "boil,drain,melt,whisk,stir,bake", "pot,saucepan,whisk,baking dish,colander"),
    ("spaghetti_bolognese", Plate, Strands, [230, 200, 130], Smooth, Centre, false, (6, 13),
     "spaghetti,ground beef,tomato sauce,onion,garlic", "carrots,celery,red wine,parmesan cheese,basil,oregano,olive oil",
     "boil,brown,simmer,drain,toss,sprinkle", "pot,skillet,colander,wooden spoon"),
    ("spaghetti_carbonara", Plate, Strands, [240, 215, 150], Speckled, Scatter, false, (5, 10),
     "spaghetti,bacon,eggs,parmesan cheese,black pepper", "garlic,heavy cream,parsley,olive oil",
     "boil,fry,whisk,toss,drain", "pot,skillet,colander,tongs"),
    ("pad_thai", Plate, Strands, [215, 150, 80], Speckled, Scatter, false, (6, 12),
     "rice noodles,shrimp,eggs,fish sauce,peanuts", "tofu,green onions,lime,cilantro,brown sugar,chili powder,garlic",
     "soak,stir-fry,toss,squeeze,sprinkle", "wok,bowl,tongs,knife"),
    ("ramen", Bowl, Liquid, [200, 140, 70], Glossy, Ring, false, (6, 13),
     "rice noodles,chicken broth,soy sauce,eggs,green onions", "pork chops,mushrooms,nori,ginger,garlic,sesame seeds,corn",
     "simmer,boil,slice,ladle,garnish", "pot,ladle,saucepan,knife"),
    ("french_onion_soup", Bowl, Liquid, [150, 90, 40], Speckled, Centre, true, (6, 12),
     "onion,butter,chicken broth,bread,parmesan cheese", "thyme,red wine,garlic,all-purpose flour,mozzarella cheese",
     "slice,caramelize,simmer,ladle,broil", "dutch oven,ladle,knife,oven"),
    ("chicken_curry", Bowl, Mound, [220, 150, 40], Speckled, Scatter, false, (6, 13),
     "chicken thighs,curry powder,onion,coconut milk,garlic", "ginger,tomatoes,cilantro,cumin,potatoes,rice,chili powder",
     "chop,saute,simmer,stir,garnish", "pot,skillet,wooden spoon,knife"),
    ("fried_rice", Bowl, Mound, [220, 190, 120], Crumbly, Scatter, false, (4, 10),
     "rice,eggs,soy sauce,green onions,peas", "carrots,shrimp,ham,garlic,sesame seeds,corn,onion",
     "scramble,stir-fry,toss,season", "wok,spatula,bowl"),
    ("risotto", Bowl, Mound, [240, 225, 180], Crumbly, Centre, false, (6, 13),
     "rice,chicken broth,parmesan cheese,butter,onion", "mushrooms,peas,red wine,garlic,thyme,spinach",
     "saute,stir,ladle,simmer,season", "saucepan,ladle,wooden spoon"),
    ("bibimbap", Bowl, Mound, [240, 235, 220], Smooth, Ring, false, (6, 14),
     "rice,ground beef,eggs,spinach,carrots,gochujang", "kimchi,mushrooms,sesame seeds,soy sauce,cucumber,green onions",
     "cook,saute,blanch,arrange,fry,top", "bowl,skillet,pot,knife"),
    ("caesar_salad", Bowl, Mound, [150, 200, 110], Crumbly, Scatter, false, (3, 8),
     "romaine lettuce,parmesan cheese,croutons,mayonnaise,lemon juice", "chicken breast,bacon,garlic,black pepper,anchovies",
     "chop,toss,whisk,sprinkle", "salad bowl,whisk,knife"),
    ("greek_salad", Bowl, Mound, [170, 200, 120], Smooth, Scatter, false, (2, 6),
     "cucumber,tomatoes,feta cheese,olives,red onion", "olive oil,oregano,bell pepper,lemon juice,romaine lettuce",
     "chop,slice,toss,drizzle", "salad bowl,knife,cutting board"),
    ("caprese_salad", Plate, Disc, [245, 240, 230], Smooth, Rows, false, (2, 5),
     "tomatoes,mozzarella cheese,basil,olive oil", "black pepper,salt,balsamic vinegar,avocado",
     "slice,arrange,drizzle,season", "platter,knife,cutting board"),
    ("guacamole", Bowl, Mound, [140, 180, 70], Crumbly, Centre, false, (2, 6),
     "avocado,lime,cilantro,red onion,salt", "tomatoes,jalapeno,garlic,cumin",
     "mash,chop,stir,season", "bowl,fork,knife"),
    ("tacos", Board, Disc, [230, 205, 150], Speckled, Rows, false, (4, 9),
     "tortillas,ground beef,cheddar cheese,romaine lettuce,tomatoes", "sour cream,avocado,cilantro,jalapeno,lime,chili powder,cumin,black beans",
     "brown,season,warm,fill,top", "skillet,knife,cutting board"),
    ("club_sandwich", Board, Slab, [220, 180, 120], Striped, Rows, false, (3, 7),
     "bread,chicken breast,bacon,romaine lettuce,tomatoes,mayonnaise", "ham,cheddar cheese,avocado,eggs",
     "toast,spread,layer,slice,skewer", "toaster,knife,cutting board"),
    ("hamburger", Plate, Rounds, [160, 100, 60], Striped, Centre, false, (4, 9),
     "ground beef,hamburger buns,cheddar cheese,onion,ketchup", "romaine lettuce,tomatoes,bacon,mustard,mayonnaise,red onion",
     "shape,grill,flip,toast,assemble", "grill,spatula,knife"),
    ("steak", Plate, Slab, [130, 60, 45], Striped, Centre, false, (3, 8),
     "beef steak,salt,black pepper,butter", "garlic,thyme,olive oil,mushrooms,potatoes,red wine",
     "season,sear,baste,rest,slice", "cast iron skillet,tongs,cutting board,knife"),
    ("pork_chop", Plate, Slab, [200, 150, 100], Striped, Scatter, false, (4, 9),
     "pork chops,salt,black pepper,olive oil", "apples,garlic,thyme,brown sugar,paprika,onion,butter",
     "season,sear,roast,baste,rest", "skillet,tongs,baking dish"),
    ("roast_chicken", Tray, Mound, [200, 130, 60], Glossy, Ring, true, (5, 12),
     "whole chicken,butter,garlic,lemon juice,thyme", "carrots,potatoes,onion,paprika,celery,rosemary",
     "season,stuff,truss,roast,baste,carve", "roasting pan,twine,knife,thermometer"),
    ("chicken_wings", Board, Sticks, [180, 80, 40], Glossy, Scatter, true, (4, 9),
     "chicken wings,butter,chili powder,salt", "honey,soy sauce,garlic,celery,sesame seeds,paprika",
     "toss,bake,fry,coat,serve", "baking sheet,bowl,tongs,deep fryer"),
    ("french_fries", Board, Sticks, [240, 200, 100], Smooth, Scatter, false, (3, 8),
     "potatoes,vegetable oil,salt", "paprika,parmesan cheese,parsley,ketchup,garlic",
     "peel,cut,soak,fry,drain,season", "deep fryer,knife,paper towels"),
    ("fish_and_chips", Board, Sticks, [225, 170, 80], Crumbly, Scatter, false, (6, 12),
     "white fish,potatoes,all-purpose flour,vegetable oil,beer", "lemon juice,salt,peas,baking powder,mayonnaise",
     "cut,whisk,dip,fry,drain", "deep fryer,mixing bowl,whisk,paper towels"),
    ("baked_salmon", Tray, Slab, [240, 130, 100], Glossy, Rows, true, (3, 8),
     "salmon fillet,olive oil,lemon juice,garlic", "dill,honey,soy sauce,black pepper,asparagus,butter,lime",
     "season,brush,bake,flake,garnish", "baking sheet,foil,brush"),
    ("grilled_salmon", Plate, Slab, [235, 120, 85], Striped, Scatter, false, (3, 8),
     "salmon fillet,olive oil,salt,black pepper", "lemon juice,dill,garlic,honey,soy sauce,lime",
     "marinate,grill,flip,rest,garnish", "grill,tongs,brush"),
    ("shrimp_and_grits", Bowl, Mound, [240, 225, 180], Speckled, Centre, false, (5, 11),
     "shrimp,grits,butter,cheddar cheese,bacon", "green onions,garlic,paprika,lemon juice,heavy cream",
     "simmer,whisk,fry,saute,spoon", "saucepan,skillet,whisk"),
    ("sushi", Board, Rounds, [245, 245, 240], Smooth, Rows, false, (5, 12),
     "rice,nori,tuna,vinegar,sugar", "avocado,cucumber,salmon fillet,sesame seeds,soy sauce,ginger",
     "rinse,cook,season,spread,roll,slice", "bamboo mat,rice cooker,knife"),
    ("deviled_eggs", Tray, Rounds, [250, 240, 220], Speckled, Rows, false, (4, 8),
     "eggs,mayonnaise,mustard,paprika", "vinegar,salt,chives,bacon,black pepper",
     "boil,peel,halve,mash,pipe,dust", "pot,bowl,fork,piping bag"),
];

/// Ingredients a category names that are not in the main table (the world adds them with a
/// neutral look, so every name resolves).
#[rustfmt::skip]
const EXTRA: &[(&str, [u8; 3], Form, Measure)] = &[
    ("raspberries", [210, 40, 80], Pieces, Volume), ("buttermilk", [250, 248, 235], Hidden, Volume),
    ("pepperoni", [180, 45, 35], Slices, Weight), ("ricotta cheese", [250, 250, 240], Pieces, Weight),
    ("mustard", [220, 180, 30], Sauce, Spice), ("anchovies", [110, 90, 70], Slices, Count),
    ("balsamic vinegar", [60, 30, 30], Sauce, Volume), ("rosemary", [70, 100, 60], Crumbs, Spice),
    ("beer", [220, 170, 60], Hidden, Volume), ("dill", [90, 150, 70], Crumbs, Spice),
    ("asparagus", [100, 150, 70], Slices, Weight), ("grits", [245, 235, 200], Hidden, Volume),
    ("vinegar", [240, 240, 230], Hidden, Volume), ("chives", [80, 150, 60], Crumbs, Spice),
];

fn split(list: &'static str) -> impl Iterator<Item = &'static str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl World {
    /// The standard world: 42 categories over 136 ingredients. Its contents are part of the
    /// benchmark's definition (changing them changes every generated byte).
    pub fn standard() -> World {
        let ingredients: Vec<Ingredient> = INGREDIENTS
            .iter()
            .chain(EXTRA)
            .map(|&(name, colour, form, measure)| Ingredient {
                name,
                colour,
                form,
                measure,
            })
            .collect();
        let index: HashMap<&str, usize> = ingredients
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name, i))
            .collect();
        // Every name in the static tables resolves: `tests::every_name_resolves` checks it, so a
        // miss here is a programming error in this file, not an input error.
        let resolve = |name: &str| -> usize {
            *index
                .get(name)
                .unwrap_or_else(|| panic!("world table names unknown ingredient `{name}`"))
        };
        let categories = CATEGORIES
            .iter()
            .map(
                |&(
                    name,
                    vessel,
                    shape,
                    base,
                    texture,
                    arrangement,
                    oven,
                    steps,
                    core,
                    opt,
                    act,
                    ut,
                )| {
                    Category {
                        name,
                        core: split(core).map(resolve).collect(),
                        optional: split(opt).map(resolve).collect(),
                        actions: split(act).collect(),
                        utensils: split(ut).collect(),
                        oven,
                        steps,
                        vessel,
                        shape,
                        base,
                        texture,
                        arrangement,
                    }
                },
            )
            .collect();
        let pantry = PANTRY.iter().map(|n| resolve(n)).collect();
        World {
            ingredients,
            categories,
            pantry,
        }
    }

    /// The category called `name`, if the world has it.
    pub fn category(&self, name: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_and_names_are_unique() {
        let w = World::standard();
        let mut names: Vec<&str> = w.ingredients.iter().map(|g| g.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), w.ingredients.len(), "duplicate ingredient");
        let mut cats: Vec<&str> = w.categories.iter().map(|c| c.name).collect();
        cats.sort_unstable();
        cats.dedup();
        assert_eq!(cats.len(), w.categories.len(), "duplicate category");
        assert!(w.categories.len() >= 30);
    }

    #[test]
    fn categories_are_snake_case_and_well_formed() {
        for c in World::standard().categories {
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{}",
                c.name
            );
            assert!(c.core.len() >= 3, "{}", c.name);
            assert!(
                !c.actions.is_empty() && !c.utensils.is_empty(),
                "{}",
                c.name
            );
            assert!(c.steps.0 >= 2 && c.steps.1 <= 19 && c.steps.0 <= c.steps.1);
        }
    }
}
