//! `Training`: the explicit train/inference switch of layers — a fixed bool or a bool tensor.

use ferroflow_core::{Result, Scope, Tensor};
use ferroflow_ops::control::{cond, CondOutput};

/// Whether a layer runs in training mode: fixed when the graph is built, or chosen per run by a
/// scalar bool tensor (usually an `is_training` placeholder fed in every `run`).
///
/// TF1: the `training=` / `is_training=` argument, a Python bool or a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Training {
    /// Decided at build time.
    Fixed(bool),
    /// Decided at run time by this scalar bool tensor.
    Tensor(Tensor),
}

impl From<bool> for Training {
    fn from(b: bool) -> Self {
        Training::Fixed(b)
    }
}
impl From<Tensor> for Training {
    fn from(t: Tensor) -> Self {
        Training::Tensor(t)
    }
}

impl Training {
    /// TF's `smart_cond`: calls one branch directly when fixed, builds a `cond` otherwise.
    pub fn select<T: CondOutput>(
        self,
        s: &Scope,
        train: impl FnOnce(&Scope) -> Result<T>,
        infer: impl FnOnce(&Scope) -> Result<T>,
    ) -> Result<T> {
        match self {
            Training::Fixed(true) => train(s),
            Training::Fixed(false) => infer(s),
            Training::Tensor(t) => cond(s, t, train, infer),
        }
    }

    /// The fixed value, if any.
    pub fn fixed(self) -> Option<bool> {
        match self {
            Training::Fixed(b) => Some(b),
            Training::Tensor(_) => None,
        }
    }
}
