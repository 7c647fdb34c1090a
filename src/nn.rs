//! Shared neural-network building blocks that both phases use: PyTorch-initialised layers, the
//! ResNet-family backbones, and the Adam and SGD optimisers. Phase I trains its sentence encoder
//! and its categoriser with them, Phase II its joint embedding; neither phase imports the other
//! for them.
//!
//! Spec: spec/phase2-layers.md, spec/phase2-backbones.md, spec/phase2-adam.md and
//! spec/phase1-categoriser-training.md (SGD); the pages keep the names of the phase that first
//! needed them.

pub mod adam;
pub mod adam_kernels;
pub mod backbone;
pub mod layers;
pub mod sgd;
