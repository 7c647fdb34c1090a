//! Phase I: offline feature engineering (key terms, term rating, word2vec, sentence features,
//! image categorisation, category labels).
//!
//! Spec: spec/phase1-categoriser.md (image categorisation), spec/phase1-text.md (normalisation,
//! ingredient entities, re-examination), spec/phase1-key-terms.md (key terms by lexicon),
//! spec/phase1-pos-tagger.md (NLTK's averaged perceptron POS tagger, key terms by tagging),
//! spec/phase1-term-rating.md (term rating: TF-IDF and TextRank),
//! spec/phase1-bert-rating.md (the BERT-family term rating: a BERT encoder, KeyBERT-style
//! cosines), spec/phase1-word2vec.md
//! (word2vec as the C tool trains it, and its `-binary 1` file), spec/phase1-term-feature.md (the
//! word2vec corpus, the weighted term feature f_term, `seje features text`) and spec/phase1-stand-in.md (a
//! clearly labelled stand-in for the text features, f_cat and the category labels: hashed
//! bag-of-words vectors in the shapes Phase II reads, so Phase II runs before the real Phase I
//! exists; it is not the paper's Phase I), spec/phase1-skip-instructions.md (the skip-instructions
//! model behind the sentence features f_sent), spec/phase1-category-labels.md (the recipe
//! category labels: im2recipe's title bigrams, then the nearest f_term centroid), spec/data-recipe1m.md
//! (`split_vocabulary`: the word2vec vocabulary of im2recipe's split rule). The paper's other components get their pages as they
//! are implemented, see spec/README.md.

pub mod bert;
pub mod bert_rating;
pub mod categories;
pub mod categoriser;
pub mod categoriser_training;
pub mod category_feature;
pub mod category_files;
pub mod category_stage;
pub mod entities;
pub mod key_terms;
pub mod pos_tagger;
pub mod rating;
pub mod sentence_features;
pub mod skip_instructions;
pub mod split_vocabulary;
pub mod stand_in;
pub mod term_feature;
pub mod text;
pub mod text_features;
pub mod title_bigrams;
pub mod word2vec;
