//! The global step: an int64 counter variable that `minimize(.., Some(global_step))` increments.

use ferroflow_core::{DType, Error, Result, Scope, Shape, Variable, GLOBAL_STEP, GLOBAL_VARIABLES};
use ferroflow_ops::random::Initializer;
use ferroflow_ops::state::{get_variable, VariableOptions};

/// The graph's global step, if there is one. TF1: `tf.train.get_global_step()`.
///
/// Looks in the `GLOBAL_STEP` collection, then for a variable named `global_step`.
///
/// # Errors
/// `Error::Training` when the collection holds several variables, or the found variable is
/// not an integer scalar.
pub fn get_global_step(s: &Scope) -> Result<Option<Variable>> {
    let g = s.graph();
    let in_collection = g.collection_variables(&GLOBAL_STEP);
    let found = match in_collection.as_slice() {
        [] => g.variable_by_name("global_step"),
        [v] => Some(*v),
        many => {
            let names: Vec<String> = many.iter().map(|v| v.name(s)).collect::<Result<_>>()?;
            return Err(Error::Training(format!(
                "the GLOBAL_STEP collection holds {} variables ([{}]); it must hold exactly one",
                many.len(),
                names.join(", ")
            )));
        }
    };
    if let Some(v) = found {
        let (dtype, shape) = (v.dtype(s)?, v.shape(s)?);
        if !matches!(dtype, DType::I64 | DType::I32) {
            return Err(Error::Training(format!(
                "the global step '{}' must be an integer variable, but it is {dtype}",
                v.name(s)?
            )));
        }
        if shape.rank().is_some_and(|r| r != 0) {
            return Err(Error::Training(format!(
                "the global step '{}' must be a scalar, but its shape is {shape}",
                v.name(s)?
            )));
        }
    }
    Ok(found)
}

/// Creates the global step: an int64 scalar variable `global_step`, initialized to 0,
/// non-trainable, in `GLOBAL_VARIABLES` and `GLOBAL_STEP`, at the graph's root scope.
/// TF1: `tf.train.create_global_step()`.
///
/// # Errors
/// `Error::Training` when the graph already has one.
pub fn create_global_step(s: &Scope) -> Result<Variable> {
    if let Some(v) = get_global_step(s)? {
        return Err(Error::Training(format!(
            "the graph already has a global step ('{}'); use get_or_create_global_step",
            v.name(s)?
        )));
    }
    let root = s.graph().root();
    let opts = VariableOptions {
        trainable: false,
        collections: vec![GLOBAL_VARIABLES, GLOBAL_STEP],
        dtype: DType::I64,
        ..Default::default()
    };
    get_variable(&root, "global_step", Shape::scalar(), Initializer::Zeros, opts)
}

/// The graph's global step, created first if needed. TF1: `tf.train.get_or_create_global_step()`.
///
/// ```
/// use ferroflow_core::{DType, Graph, GLOBAL_STEP};
/// use ferroflow_train::global_step::get_or_create_global_step;
/// let g = Graph::new();
/// let step = get_or_create_global_step(&g.root()).unwrap();
/// assert_eq!((step.name(&g).unwrap().as_str(), step.dtype(&g).unwrap()), ("global_step", DType::I64));
/// assert_eq!(get_or_create_global_step(&g.root()).unwrap(), step);
/// assert_eq!(g.collection_variables(&GLOBAL_STEP), vec![step]);
/// ```
///
/// # Errors
/// As [`get_global_step`].
pub fn get_or_create_global_step(s: &Scope) -> Result<Variable> {
    match get_global_step(s)? {
        Some(v) => Ok(v),
        None => create_global_step(s),
    }
}
