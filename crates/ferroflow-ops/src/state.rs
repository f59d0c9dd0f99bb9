//! State: placeholders, constants, variables (`tf.Variable`, `get_variable`), `assign*`
//! and the variable initializers.

use crate::control::group;
use crate::input::IntoInput;
use crate::random::Initializer;
use ferroflow_core::typetag;
use ferroflow_core::{
    CollectionKey, DType, Error, GradCtx, InferCtx, KernelCtx, Op, Operation, Result, Scope, Shape, Tensor, TensorSpec,
    Value, Variable, GLOBAL_VARIABLES, TRAINABLE_VARIABLES,
};
use serde::{Deserialize, Serialize};

/// A value fed at run time (TF1 `tf.placeholder`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Placeholder {
    /// Element type.
    pub dtype: DType,
    /// Static shape; `None` dims accept any size.
    pub shape: Shape,
}

#[typetag::serde]
impl Op for Placeholder {
    fn type_name(&self) -> &'static str {
        "Placeholder"
    }
    fn infer(&self, _: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![TensorSpec::new(self.dtype, self.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Err(Error::PlaceholderNotFed { name: cx.node_name().to_string(), dtype: self.dtype, shape: self.shape.clone() })
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
    fn describe(&self) -> String {
        format!("{} {}", self.dtype, self.shape)
    }
}

/// A placeholder for a value fed at run time. TF1: `tf.placeholder(dtype, shape, name)`.
///
/// Name it with `s.with_name("x")`. Running anything that needs it without feeding it is an
/// error naming the placeholder, its dtype and shape.
///
/// ```
/// use ferroflow_core::{DType, Graph, shape};
/// let g = Graph::new();
/// let x = ferroflow_ops::placeholder(&g.root().with_name("x"), DType::F32, shape![None, 784]).unwrap();
/// assert_eq!(x.name(&g).unwrap(), "x:0");
/// assert_eq!(x.shape(&g).unwrap().to_string(), "[?, 784]");
/// ```
pub fn placeholder(s: &Scope, dtype: DType, shape: impl Into<Shape>) -> Result<Tensor> {
    s.add_op1(Placeholder { dtype, shape: shape.into() }, &[], "Placeholder")
}

/// Passes its default through unless fed (TF1 `tf.placeholder_with_default`).
#[derive(Debug, Serialize, Deserialize)]
pub struct PlaceholderWithDefault {
    /// The static shape callers may feed (may be less specific than the default's).
    pub shape: Shape,
}

#[typetag::serde]
impl Op for PlaceholderWithDefault {
    fn type_name(&self) -> &'static str {
        "PlaceholderWithDefault"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let d = cx.input(0)?;
        if !d.shape.is_compatible_with(&self.shape) {
            return Err(
                cx.error(format!("the default value's shape {} does not fit the shape {}", d.shape, self.shape))
            );
        }
        Ok(vec![TensorSpec::new(d.dtype, self.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![cx.take_input(0)?])
    }
    fn gradient(&self, _: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![cx.grad(0)])
    }
}

/// A placeholder that yields `default` when not fed. TF1: `tf.placeholder_with_default`.
pub fn placeholder_with_default(s: &Scope, default: impl IntoInput, shape: impl Into<Shape>) -> Result<Tensor> {
    let d = default.into_tensor(s, None)?;
    s.add_op1(PlaceholderWithDefault { shape: shape.into() }, &[d], "PlaceholderWithDefault")
}

/// A constant (TF1 `tf.constant`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Const {
    /// The value.
    pub value: Value,
}

#[typetag::serde]
impl Op for Const {
    fn type_name(&self) -> &'static str {
        "Const"
    }
    fn infer(&self, _: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![TensorSpec::new(self.value.dtype(), Shape::known(self.value.shape()))])
    }
    fn compute(&self, _: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![self.value.clone()])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
    fn describe(&self) -> String {
        if self.value.len() == 1 {
            format!("{:?}", self.value).split_whitespace().last().unwrap_or_default().to_string()
        } else {
            format!("{:?}", self.value.shape())
        }
    }
}

/// A constant tensor. TF1: `tf.constant(value)`.
pub fn constant(s: &Scope, value: impl Into<Value>) -> Result<Tensor> {
    s.add_op1(Const { value: value.into() }, &[], "Const")
}

/// Holds a variable; its output reads the current value (TF1 `VariableV2`).
#[derive(Debug, Serialize, Deserialize)]
pub struct VariableV2 {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Shape,
}

#[typetag::serde]
impl Op for VariableV2 {
    fn type_name(&self) -> &'static str {
        "VariableV2"
    }
    fn infer(&self, _: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        Ok(vec![TensorSpec::new(self.dtype, self.shape.clone())])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        Ok(vec![cx.runtime().read_variable(cx.op())?])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![])
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn is_variable(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!("{} {}", self.dtype, self.shape)
    }
}

/// How an assignment combines the old value and the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignKind {
    /// `ref = value`.
    Set,
    /// `ref += value`.
    Add,
    /// `ref -= value`.
    Sub,
}

/// Writes a variable and returns its new value (TF1 `Assign`, `AssignAdd`, `AssignSub`).
/// Input 0 is the variable (a reference: not read), input 1 the value.
///
/// The kernel validates before it writes: a failing assign leaves the variable as it was.
#[derive(Debug, Serialize, Deserialize)]
pub struct Assign {
    /// Set, add or subtract.
    pub kind: AssignKind,
    /// TF1 `validate_shape` (default `true`): the value must have the variable's shape. With
    /// `false` (`Set` only) the variable takes the value's shape.
    pub validate_shape: bool,
    /// The variable's static shape, checked at run time when `validate_shape` holds.
    pub var_shape: Shape,
}

impl Assign {
    /// The run-time check of `Set`, before anything is written: the value must fit the
    /// variable's current shape (when it holds one) and its static shape.
    fn check_set(&self, cx: &KernelCtx<'_>, var: Operation, val: &Value) -> Result<()> {
        let current = cx.runtime().read_variable(var).ok();
        if let Some(cur) = &current {
            if cur.dtype() != val.dtype() {
                return Err(cx.error(format!(
                    "cannot assign a {} value to variable '{}', which holds {}; nothing was written",
                    val.dtype(),
                    cx.runtime().node_name(var),
                    cur.dtype()
                )));
            }
        }
        if !self.validate_shape {
            return Ok(());
        }
        let fits_current = current.as_ref().is_none_or(|c| c.shape() == val.shape());
        if !fits_current || !self.var_shape.accepts(val.shape()) {
            let held = current.map(|c| format!(", holding {}", Shape::known(c.shape()))).unwrap_or_default();
            return Err(cx.error(format!(
                "cannot assign a value of shape {} to variable '{}' of shape {}{held}; nothing was written. \
                 Assign a value of the variable's shape, or use validate_shape(false) to change its shape (TF1 validate_shape=False)",
                Shape::known(val.shape()),
                cx.runtime().node_name(var),
                self.var_shape
            )));
        }
        Ok(())
    }
}

#[typetag::serde]
impl Op for Assign {
    fn type_name(&self) -> &'static str {
        match self.kind {
            AssignKind::Set => "Assign",
            AssignKind::Add => "AssignAdd",
            AssignKind::Sub => "AssignSub",
        }
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let (var, val) = (cx.input(0)?, cx.input(1)?);
        if var.dtype != val.dtype {
            return Err(cx.error(format!("cannot assign a {} value to a {} variable", val.dtype, var.dtype)));
        }
        if !self.validate_shape {
            if self.kind != AssignKind::Set {
                return Err(cx.error("validate_shape = false is only for assign (TF1 tf.assign); assign_add/assign_sub need the variable's shape"));
            }
            return Ok(vec![val.clone()]);
        }
        if !var.shape.is_compatible_with(&val.shape) {
            let hint = match self.kind {
                AssignKind::Set => "; use assign_any_shape to change its shape (TF1 validate_shape=False)",
                _ => "; the update must have the variable's shape (no broadcasting, as in TF1)",
            };
            return Err(cx.error(format!(
                "cannot assign a value of shape {} to a variable of shape {}{hint}",
                val.shape, var.shape
            )));
        }
        Ok(vec![var.clone()])
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let var = cx.input_handle(0)?.op();
        match self.kind {
            AssignKind::Set => {
                self.check_set(cx, var, cx.input(1)?)?;
                let val = cx.take_input(1)?;
                cx.runtime().write_variable(var, val.clone()).map_err(|e| cx.wrap(e))?;
                Ok(vec![val])
            }
            AssignKind::Add | AssignKind::Sub => {
                let sign = if self.kind == AssignKind::Add { 1.0 } else { -1.0 };
                let val = cx.input(1)?;
                let new = cx
                    .runtime()
                    .update_variable(var, &mut |cur: &Value, out: &mut Value| {
                        if cur.shape() != val.shape() || cur.dtype() != val.dtype() {
                            return Err(Error::invalid(format!(
                                "variable '{}' holds {} {} but the update is {} {}; nothing was written",
                                cx.runtime().node_name(var),
                                cur.dtype(),
                                Shape::known(cur.shape()),
                                val.dtype(),
                                Shape::known(val.shape())
                            )));
                        }
                        accumulate(out, cur, val, sign)
                    })
                    .map_err(|e| cx.wrap(e))?;
                Ok(vec![new])
            }
        }
    }
    fn is_ref_input(&self, i: usize) -> bool {
        i == 0
    }
    fn is_stateful(&self) -> bool {
        true
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None, None])
    }
}

/// `out = cur + sign * delta` (all three of one dtype and shape, checked by the caller).
fn accumulate(out: &mut Value, cur: &Value, delta: &Value, sign: f64) -> Result<()> {
    macro_rules! acc {
        ($t:ty) => {{
            let (c, d) = (cur.view::<$t>()?, delta.view::<$t>()?);
            let s = sign as $t;
            ndarray::Zip::from(out.view_mut::<$t>()?).and(&c).and(&d).for_each(|o, &c, &d| *o = c + s * d);
        }};
    }
    match cur.dtype() {
        DType::F32 => acc!(f32),
        DType::F64 => acc!(f64),
        DType::I32 => acc!(i32),
        DType::I64 => acc!(i64),
        d @ (DType::Bool | DType::String) => return Err(Error::invalid(format!("cannot add to a {d} variable"))),
    }
    Ok(())
}

fn assign_op(
    s: &Scope,
    var: Variable,
    value: impl IntoInput,
    kind: AssignKind,
    validate_shape: bool,
    name: &str,
) -> Result<Tensor> {
    let var_spec = s.graph().spec(var.value())?;
    let v = value.into_tensor(s, Some(var_spec.dtype))?;
    s.add_op1(Assign { kind, validate_shape, var_shape: var_spec.shape }, &[var.value(), v], name)
}

/// `var = value`, returning the new value. TF1: `tf.assign` / `var.assign`.
///
/// The value must have the variable's dtype and shape (TF1 `validate_shape=True`); a shape
/// known to differ is a build error, one that differs at run time fails the run and leaves
/// the variable unchanged. To change the variable's shape use [`assign_any_shape`].
pub fn assign(s: &Scope, var: Variable, value: impl IntoInput) -> Result<Tensor> {
    assign_op(s, var, value, AssignKind::Set, true, "Assign")
}

/// `var = value` where the variable takes the value's shape. TF1:
/// `tf.assign(var, value, validate_shape=False)`. Ops built on the variable's old static
/// shape may then fail at run time (naming themselves); give such a variable an unknown
/// static shape with `VariableOptions::validate_shape(false)`.
pub fn assign_any_shape(s: &Scope, var: Variable, value: impl IntoInput) -> Result<Tensor> {
    assign_op(s, var, value, AssignKind::Set, false, "Assign")
}

/// `var += value`, returning the new value. TF1: `tf.assign_add`.
pub fn assign_add(s: &Scope, var: Variable, value: impl IntoInput) -> Result<Tensor> {
    assign_op(s, var, value, AssignKind::Add, true, "AssignAdd")
}

/// `var -= value`, returning the new value. TF1: `tf.assign_sub`.
pub fn assign_sub(s: &Scope, var: Variable, value: impl IntoInput) -> Result<Tensor> {
    assign_op(s, var, value, AssignKind::Sub, true, "AssignSub")
}

/// Options of [`variable`] and [`get_variable`], each default as in TF1.
#[derive(Clone, Debug)]
pub struct VariableOptions {
    /// Added to `TRAINABLE_VARIABLES` (TF1 default `True`).
    pub trainable: bool,
    /// Collections to add to (TF1 default `[GLOBAL_VARIABLES]`).
    pub collections: Vec<CollectionKey>,
    /// Element type for `get_variable` (TF1 default `float32`).
    pub dtype: DType,
    /// TF1 `validate_shape` (default `true`): the variable has the initial value's static
    /// shape. With `false` its static shape is unknown, so assigns of any shape fit it.
    pub validate_shape: bool,
}

impl Default for VariableOptions {
    fn default() -> Self {
        VariableOptions {
            trainable: true,
            collections: vec![GLOBAL_VARIABLES],
            dtype: DType::F32,
            validate_shape: true,
        }
    }
}

impl VariableOptions {
    /// Sets `trainable`.
    pub fn trainable(mut self, t: bool) -> Self {
        self.trainable = t;
        self
    }
    /// Sets the dtype.
    pub fn dtype(mut self, d: DType) -> Self {
        self.dtype = d;
        self
    }
    /// Sets `validate_shape` (TF1 `tf.Variable(…, validate_shape=False)`).
    pub fn validate_shape(mut self, v: bool) -> Self {
        self.validate_shape = v;
        self
    }
    /// Adds a collection.
    pub fn collection(mut self, k: CollectionKey) -> Self {
        self.collections.push(k);
        self
    }
}

/// Creates the `VariableV2` op named exactly `full_name`, its `Assign` initializer and
/// registers it. Variables are created outside any cond and control-dependency context, as
/// TF1's `init_scope` does.
fn create_variable(
    s: &Scope,
    full_name: &str,
    initial: impl FnOnce(&Scope) -> Result<Tensor>,
    dtype_hint: Option<DType>,
    opts: &VariableOptions,
) -> Result<Variable> {
    let s0 = s.with_cond_ctx(None).without_control_dependencies();
    let inner = s0.at_name_prefix(full_name);
    let init = initial(&inner)?;
    let spec = s.graph().spec(init)?;
    if let Some(d) = dtype_hint {
        if d != spec.dtype {
            return Err(Error::Variable {
                name: full_name.into(),
                message: format!("initializer gives {} but the variable is {d}", spec.dtype),
            });
        }
    }
    let shape = if opts.validate_shape { spec.shape.clone() } else { Shape::unknown() };
    if opts.validate_shape && spec.shape.rank().is_none() {
        return Err(Error::Variable {
            name: full_name.into(),
            message: "the initial value's shape is unknown; give a value of known shape, or set VariableOptions::validate_shape(false) (TF1 validate_shape=False)".into(),
        });
    }
    check_size(full_name, &spec.shape, spec.dtype)?;
    let var_op = s0.add_op_exact(VariableV2 { dtype: spec.dtype, shape: shape.clone() }, &[], full_name)?;
    let assign = Assign { kind: AssignKind::Set, validate_shape: opts.validate_shape, var_shape: shape };
    let init_op = inner.add_op(assign, &[var_op.output(0), init], "Assign")?;
    let v = Variable::from_parts(var_op, init_op, init);
    let g = s.graph();
    g.register_variable(v);
    for c in &opts.collections {
        g.add_to_collection(c, v);
    }
    if opts.trainable && !opts.collections.contains(&TRAINABLE_VARIABLES) {
        g.add_to_collection(&TRAINABLE_VARIABLES, v);
    }
    Ok(v)
}

/// A build error naming the variable when a `dtype` tensor of `shape` cannot exist (its element
/// count or byte size overflows); a size that merely exceeds the machine's memory builds, and
/// running the initializer reports the allocation failure.
fn check_size(name: &str, shape: &Shape, dtype: DType) -> Result<()> {
    shape
        .checked_byte_size(dtype)
        .map(|_| ())
        .map_err(|e| Error::Variable { name: name.into(), message: format!("{e}; check the shape") })
}

/// A new variable initialized from `initial_value`. TF1: `tf.Variable(initial_value,
/// trainable=…, name=…)`. The name comes from `s.with_name(..)` (default `"Variable"`) and is
/// made unique; the initial value is evaluated when the initializer runs.
///
/// ```
/// use ferroflow_core::Graph;
/// use ferroflow_ops::state::{variable, VariableOptions};
/// let g = Graph::new();
/// let s = g.root();
/// let w = variable(&s.with_name("w"), ndarray::arr1(&[1.0f32, 2.0]), VariableOptions::default()).unwrap();
/// assert_eq!(w.name(&g).unwrap(), "w");
/// ```
pub fn variable(s: &Scope, initial_value: impl Into<Value>, opts: VariableOptions) -> Result<Variable> {
    let v = initial_value.into();
    let base = s.explicit_name().unwrap_or("Variable").to_string();
    let full = s.graph().unique_name(&join(s.name_prefix(), &base));
    create_variable(s, &full, |inner| constant(&inner.with_name("initial_value"), v), None, &opts)
}

/// A new variable whose initial value is the tensor `init` (e.g. a random op).
pub fn variable_from(s: &Scope, init: Tensor, opts: VariableOptions) -> Result<Variable> {
    let base = s.explicit_name().unwrap_or("Variable").to_string();
    let full = s.graph().unique_name(&join(s.name_prefix(), &base));
    create_variable(s, &full, |_| Ok(init), None, &opts)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Gets or creates a variable in the current variable scope. TF1: `tf.get_variable`.
///
/// Name is `var_scope/name`. In a scope with `reuse = true` the variable must exist (and is
/// returned); otherwise it must not exist. Initializer ops go under `name/Initializer/`.
///
/// The initializer allocates the value only when it runs, in the variable's dtype (see
/// [`Initializer::build`]): a variable too large for the machine builds, and running its
/// initializer returns an `Error::Allocation` naming the initializer node and the byte count.
///
/// # Errors
/// Reuse of a missing variable, re-creation of an existing one without reuse, a reused
/// variable whose shape/dtype differ from the request, or a shape whose element count or
/// byte size overflows (`[2^33, 2^33]`), all naming the variable.
pub fn get_variable(
    s: &Scope,
    name: &str,
    shape: impl Into<Shape>,
    init: Initializer,
    opts: VariableOptions,
) -> Result<Variable> {
    let full = s.variable_name(name);
    let shape: Shape = shape.into();
    let g = s.graph();
    if let Some(existing) = g.variable_by_name(&full) {
        if !s.reuse() {
            return Err(Error::Variable {
                name: full,
                message: "already exists; to share it, open the variable scope with reuse = true (TF1: reuse=True)"
                    .into(),
            });
        }
        let (es, ed) = (existing.shape(s)?, existing.dtype(s)?);
        if !es.is_compatible_with(&shape) || ed != opts.dtype {
            return Err(Error::Variable {
                name: full,
                message: format!("exists as {ed} {es} but was requested as {} {shape}", opts.dtype),
            });
        }
        return Ok(existing);
    }
    if s.reuse() {
        return Err(Error::Variable {
            name: full,
            message: "does not exist, so it cannot be reused; create it first or open the scope without reuse".into(),
        });
    }
    let dims = shape.as_known().ok_or_else(|| Error::Variable {
        name: full.clone(),
        message: format!("needs a fully known shape, got {shape}"),
    })?;
    let dtype = opts.dtype;
    check_size(&full, &shape, dtype)?;
    create_variable(
        s,
        &full,
        |inner| inner.name_scope("Initializer", |is| init.build(is, dtype, &dims)),
        Some(dtype),
        &opts,
    )
}

/// One op that runs every listed variable's initializer. TF1: `tf.variables_initializer`.
pub fn variables_initializer(s: &Scope, vars: &[Variable]) -> Result<Operation> {
    let ops: Vec<Operation> = vars.iter().map(|v| v.initializer()).collect();
    group(&s.with_name(s.explicit_name().unwrap_or("init")), &ops)
}

/// Initializes every global variable. TF1: `tf.global_variables_initializer()`.
pub fn global_variables_initializer(s: &Scope) -> Result<Operation> {
    let vars = s.graph().global_variables();
    variables_initializer(s, &vars)
}
