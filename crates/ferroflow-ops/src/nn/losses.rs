//! TF1's `tf.losses` collection helpers: register losses in `LOSSES`, read them and the
//! `REGULARIZATION_LOSSES` back, and sum them into the total loss.

use crate::control::identity;
use crate::math::add_n;
use crate::state::constant;
use ferroflow_core::{Error, Graph, Result, Scope, Tensor, LOSSES, REGULARIZATION_LOSSES};

/// Adds `loss` to the graph's `LOSSES` collection. TF1: `tf.losses.add_loss(loss)`.
pub fn add_loss(g: &Graph, loss: Tensor) {
    g.add_to_collection(&LOSSES, loss);
}

/// The tensors in `LOSSES`, in insertion order. TF1: `tf.losses.get_losses()`.
pub fn get_losses(g: &Graph) -> Vec<Tensor> {
    g.collection_tensors(&LOSSES)
}

/// The tensors in `REGULARIZATION_LOSSES`, in insertion order.
/// TF1: `tf.losses.get_regularization_losses()`.
pub fn get_regularization_losses(g: &Graph) -> Vec<Tensor> {
    g.collection_tensors(&REGULARIZATION_LOSSES)
}

fn sum_named(s: &Scope, terms: &[Tensor], name: &str) -> Result<Tensor> {
    match terms {
        [one] => identity(&s.with_name(name), *one),
        _ => add_n(&s.with_name(name), terms),
    }
}

/// The sum of the regularization losses, or a float32 `0.0` constant when there are none.
/// TF1: `tf.losses.get_regularization_loss()` (named `total_regularization_loss`).
///
/// # Errors
/// Regularization terms of different dtypes or shapes (from `add_n`).
pub fn get_regularization_loss(s: &Scope) -> Result<Tensor> {
    let terms = get_regularization_losses(s.graph());
    if terms.is_empty() {
        return constant(&s.with_name("total_regularization_loss"), 0.0f32);
    }
    sum_named(s, &terms, "total_regularization_loss")
}

/// The sum of `LOSSES` and, when `add_regularization`, of `REGULARIZATION_LOSSES`.
/// TF1: `tf.losses.get_total_loss(add_regularization_losses)` (named `total_loss`).
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::{constant, nn::losses};
/// use ferroflow_session::Session;
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// losses::add_loss(&g, constant(&s, 1.5f32)?);
/// losses::add_loss(&g, constant(&s, 2.0f32)?);
/// let total = losses::get_total_loss(&s, true)?;
/// assert_eq!(total.name(&g).unwrap(), "total_loss:0");
/// assert_eq!(Session::new(&g).run([total], &[])?[0].scalar::<f32>()?, 3.5);
/// # Ok(()) }
/// ```
///
/// # Errors
/// No losses at all (TF raises `ValueError`), or terms of different dtypes or shapes.
pub fn get_total_loss(s: &Scope, add_regularization: bool) -> Result<Tensor> {
    let mut terms = get_losses(s.graph());
    if add_regularization {
        terms.extend(get_regularization_losses(s.graph()));
    }
    if terms.is_empty() {
        return Err(Error::Training(
            "get_total_loss: no losses found in the LOSSES (or REGULARIZATION_LOSSES) collection; add them with losses::add_loss".into(),
        ));
    }
    sum_named(s, &terms, "total_loss")
}
