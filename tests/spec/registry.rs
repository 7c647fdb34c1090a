//! The one dispatch point from a spec example's `op` to the library: a table of one-line entries,
//! each naming the operation, the page it belongs to (the file under `tests/spec/ops/` named after
//! that page) and the function that runs it. Pages name operations, never Rust signatures, so the
//! API can change without touching a page.
//!
//! Spec: spec/README.md (adding an operation).

use toml::{Table, Value};

use crate::ops;

/// One operation: its name on the pages, the page file it is filed under, and its function.
pub struct Op {
    pub name: &'static str,
    pub page: &'static str,
    pub run: fn(&Table) -> Result<Value, String>,
}

macro_rules! operations {
    ($($name:literal => $page:ident::$f:ident,)*) => {
        /// Every operation, grouped by page.
        pub const OPS: &[Op] = &[$(Op { name: $name, page: stringify!($page), run: ops::$page::$f },)*];
    };
}

operations! {
    "recipe1m_join" => data_recipe1m::join,
    "check_id" => data_recipe1m::check_id,
    "image_path" => data_images::image_path,
    "resized_size" => data_images::resized_size,
    "center_crop_origin" => data_images::center_crop_origin,
    "resize_bilinear" => data_images::resize,
    "normalize_pixel" => data_images::normalize_pixel,
    "epoch_order" => data_images::epoch_order,
    "feature_store" => data_feature_store::feature_store,
    "t7_read" => data_t7::read,
    "t7_skip_instructions" => data_t7::skip_instructions,
    "t7_sentence_store" => data_t7::sentence_store,
    "synth_world" => data_synthetic_benchmark::world,
    "synth_config" => data_synthetic_benchmark::config_op,
    "synth_recipe" => data_synthetic_benchmark::recipe,
    "synth_image" => data_synthetic_benchmark::image,
    "synth_strip_quantity" => data_synthetic_benchmark::strip_quantity,
    "synth_image_path" => data_synthetic_benchmark::image_path,
    "synth_generate" => data_synthetic_benchmark::generate,
    "checkpoint_tensors" => checkpoint_format::checkpoint_tensors,
    "checkpoint_value" => checkpoint_format::checkpoint_value,
    "seeded_uniform" => runtime::seeded_uniform,
    "parse_device" => runtime::parse_device,
    "text_words" => phase1_text::words,
    "ingredient_line" => phase1_text::ingredient_line,
    "replace_entities" => phase1_text::replace_entities,
    "reexamine" => phase1_text::reexamine,
    "reexamination_score" => phase1_text::reexamination_score,
    "key_terms" => phase1_key_terms::key_terms,
    "key_term_lexicon" => phase1_key_terms::lexicon,
    "pos_features" => phase1_pos_tagger::features,
    "pos_tag" => phase1_pos_tagger::tag,
    "pos_tag_inline_model" => phase1_pos_tagger::inline_model,
    "pos_key_terms" => phase1_pos_tagger::key_terms,
    "tfidf" => phase1_term_rating::tfidf,
    "textrank_graph" => phase1_term_rating::textrank_graph,
    "textrank" => phase1_term_rating::textrank,
    "bert_tokens" => phase1_bert_rating::tokens,
    "bert_rating" => phase1_bert_rating::rating,
    "keybert_rating" => phase1_bert_rating::keybert_rating,
    "word2vec_huffman" => phase1_word2vec::huffman,
    "word2vec_keep_probability" => phase1_word2vec::keep_probability,
    "word2vec_vocab" => phase1_word2vec::vocab,
    "word2vec_write_binary" => phase1_word2vec::write_binary,
    "word2vec_read_binary" => phase1_word2vec::read_binary,
    "term_feature" => phase1_term_feature::term_feature,
    "recipe_text" => phase1_term_feature::recipe_text_op,
    "skip_instructions_parameters" => phase1_skip_instructions::parameters,
    "skip_instructions_encode" => phase1_skip_instructions::encode,
    "skip_instructions_loss" => phase1_skip_instructions::loss,
    "cosine_lr" => phase1_categoriser_training::cosine,
    "sgd_steps" => phase1_categoriser_training::sgd_steps,
    "category_name_vector" => phase1_category_feature::class_name,
    "category_tokens" => phase1_category_labels::tokens,
    "category_bigrams" => phase1_category_labels::bigrams,
    "category_labels" => phase1_category_labels::assign_op,
    "stand_in_tokenize" => phase1_stand_in::tokenize,
    "stand_in_word_vector" => phase1_stand_in::word_vector,
    "stand_in_term_feature" => phase1_stand_in::term_feature,
    "stand_in_sentences" => phase1_stand_in::sentences,
    "stand_in_classes" => phase1_stand_in::classes,
    "stand_in_write" => phase1_stand_in::write,
    "linear_init_bounds" => phase2_layers::linear_init_bounds,
    "parameter_count" => phase2_backbones::parameter_count,
    "l2_normalize" => phase2_embedding_space::l2_normalize,
    "pairwise_distance" => phase2_embedding_space::pairwise_distance,
    "triplet_loss_from_distances" => phase2_triplet_loss::triplet_loss_from_distances,
    "triplet_loss" => phase2_triplet_loss::triplet_loss,
    "cross_entropy" => phase2_category_alignment::cross_entropy,
    "critic_loss" => phase2_discriminator_alignment::critic_loss,
    "alignment_from_scores" => phase2_discriminator_alignment::alignment_from_scores,
    "total_loss" => phase2_objective::total_loss,
    "adam_steps" => phase2_adam::adam_steps,
    "paper_config" => phase2_training_config::paper_config,
    "interpolation_weights" => phase2_training_step::interpolation_weights,
    "selection_score" => phase2_training_loop::selection_score,
    "schedule" => phase2_training_loop::schedule,
    "test_sizes" => phase2_training_loop::test_sizes,
    "eval_ranks" => eval_protocol::eval_ranks,
    "eval_permutation" => eval_protocol::eval_permutation,
    "eval_metrics" => eval_protocol::eval_metrics,
    "eval_protocol" => eval_protocol::eval_protocol,
    "cpython_getrandbits" => eval_cpython_sampling::cpython_getrandbits,
    "cpython_sample" => eval_cpython_sampling::cpython_sample,
    "cpython_shuffle" => eval_cpython_sampling::cpython_shuffle,
    "cpython_sample_method" => eval_cpython_sampling::cpython_sample_method,
    "phase1_truth_agreement" => eval_phase1_truth::phase1_truth_agreement,
}

/// Runs operation `op` with the example's inputs; `Err` carries the library's error message, which
/// examples with `expected_error` match.
pub fn run(op: &str, ex: &Table) -> Result<Value, String> {
    seje::runtime::seed_everything(seje::runtime::PAPER_SEED, Some(1));
    match OPS.iter().find(|o| o.name == op) {
        Some(o) => (o.run)(ex),
        None => Err(format!(
            "unknown op `{op}`: write its function in tests/spec/ops/<page>.rs (the page that \
             uses it) and add one line to OPS in tests/spec/registry.rs"
        )),
    }
}

/// The spec file a page module stands for: `phase2_adam` → `phase2-adam.md`.
pub fn page_file(module: &str) -> String {
    format!("{}.md", module.replace('_', "-"))
}

/// Where the table disagrees with the pages: an operation listed twice, filed under a page that
/// does not exist or does not use it, or never used by any example. `used` maps each page file to
/// the operations its examples call.
pub fn problems(
    ops: &[Op],
    used: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for o in ops {
        if !seen.insert(o.name) {
            out.push(format!("`{}` is listed twice", o.name));
        }
        let page = page_file(o.page);
        match used.get(&page) {
            _ if !used.values().any(|u| u.contains(o.name)) => {
                out.push(format!("`{}` is used by no example", o.name));
            }
            Some(u) if u.contains(o.name) => {}
            _ => out.push(format!(
                "`{}` is filed under ops/{}.rs, but spec/{page} has no example of it",
                o.name, o.page
            )),
        }
    }
    out
}
