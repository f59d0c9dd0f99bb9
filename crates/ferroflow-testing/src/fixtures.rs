//! Loading TensorFlow golden fixtures (`tests/fixtures/<family>.json`) as ferroflow values.
//!
//! The files are written by `tools/fixtures/gen_fixtures.py` from real TensorFlow and never
//! edited by hand; `tools/fixtures/README.md` documents the format. A file holds op cases
//! (one TF op or composite: inputs, attrs, outputs, upstream gradients and the resulting input
//! gradients) and program cases (named values recorded while a small stateful TF program ran).
//!
//! ```
//! use ferroflow_testing::fixtures;
//! let f = fixtures::load("math");
//! let case = f.op_case("matmul_ta1_tb0");
//! assert_eq!(case.op, "tf.matmul");
//! assert!(case.attr_bool("transpose_a"));
//! assert_eq!(case.outputs[0].shape(), &[3, 2]);
//! ```

use crate::close::assert_close_named;
use ferroflow_core::Value;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory holding the fixture files: `<workspace>/tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("tests").join("fixtures")
}

/// Loads `tests/fixtures/<family>.json` (e.g. `"norm"`, `"conv"`, `"optim"`).
///
/// # Panics
/// When the file is missing or malformed; the message names the file and, for a bad case, the
/// case.
pub fn load(family: &str) -> Fixtures {
    let path = fixtures_dir().join(format!("{family}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read fixture family {family:?} at {}: {e}; regenerate with tools/fixtures/gen_fixtures.py \
             (see tools/fixtures/README.md)",
            path.display()
        )
    });
    Fixtures::from_json(family, &text)
}

/// One fixture file: its cases and where they came from.
#[derive(Debug, Clone)]
pub struct Fixtures {
    family: String,
    generator: String,
    tf_version: String,
    cases: Vec<Case>,
}

/// A case of a fixture file.
#[derive(Debug, Clone)]
pub enum Case {
    /// One op (or composite) with its gradients.
    Op(OpCase),
    /// Named values recorded from a stateful/graph program.
    Program(ProgramCase),
}

impl Case {
    /// The case's unique name.
    pub fn name(&self) -> &str {
        match self {
            Case::Op(c) => &c.name,
            Case::Program(c) => &c.name,
        }
    }

    /// The op case, if this is one.
    pub fn as_op(&self) -> Option<&OpCase> {
        match self {
            Case::Op(c) => Some(c),
            Case::Program(_) => None,
        }
    }

    /// The program case, if this is one.
    pub fn as_program(&self) -> Option<&ProgramCase> {
        match self {
            Case::Program(c) => Some(c),
            Case::Op(_) => None,
        }
    }
}

/// One op run by TF: `outputs = op(*inputs, **attrs)` and
/// `input_grads = tf.gradients(sum_k reduce_sum(outputs[k] * upstream[k]), inputs)`.
#[derive(Debug, Clone)]
pub struct OpCase {
    /// Unique name within the family (`conv2d_k3_s2_same_7x7`).
    pub name: String,
    /// TF Python name of the op (`tf.nn.conv2d`); composites join names with `+`
    /// (`tf.nn.moments+tf.nn.batch_normalization`).
    pub op: String,
    /// Keyword arguments in TF terms (`strides`, `padding`, `axis`, `keepdims`, ...).
    pub attrs: Map<String, Json>,
    /// Names of the inputs in TF's argument terms (`x`, `filters`); may be empty.
    pub input_names: Vec<String>,
    /// Names of the outputs (`mean`, `variance`); may be empty.
    pub output_names: Vec<String>,
    /// The input values, in argument order.
    pub inputs: Vec<Value>,
    /// What TF computed.
    pub outputs: Vec<Value>,
    /// The upstream gradient of each output (same shape as the output).
    pub upstream: Vec<Value>,
    /// TF's gradient for each input; `None` where TF gave `None` or the input is integer.
    pub input_grads: Vec<Option<Value>>,
}

/// Named values recorded while a small TF program ran (stateful / graph semantics).
#[derive(Debug, Clone)]
pub struct ProgramCase {
    /// Unique name within the family.
    pub name: String,
    /// Short id of the program that produced the values (several cases may share one).
    pub program: String,
    /// What the program does and when each value was read.
    pub description: String,
    /// The recorded values by name.
    pub values: BTreeMap<String, Value>,
    /// Recorded name lists (variable names, UPDATE_OPS names, ...).
    pub strings: BTreeMap<String, Vec<String>>,
    /// Recorded static shapes (e.g. of variables) by name.
    pub shapes: BTreeMap<String, Vec<usize>>,
}

#[derive(Deserialize)]
struct RawFile {
    generator: String,
    tf_version: String,
    cases: Vec<Json>,
}

#[derive(Deserialize)]
struct RawTensor {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<Json>,
}

#[derive(Deserialize)]
struct RawOp {
    name: String,
    op: String,
    #[serde(default)]
    attrs: Map<String, Json>,
    #[serde(default)]
    input_names: Vec<String>,
    #[serde(default)]
    output_names: Vec<String>,
    inputs: Vec<RawTensor>,
    outputs: Vec<RawTensor>,
    upstream: Vec<RawTensor>,
    input_grads: Vec<Option<RawTensor>>,
}

#[derive(Deserialize)]
struct RawProgram {
    name: String,
    program: String,
    #[serde(default)]
    description: String,
    values: BTreeMap<String, RawTensor>,
    #[serde(default)]
    strings: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    shapes: BTreeMap<String, Vec<usize>>,
}

impl Fixtures {
    /// Parses fixture JSON text; `family` only labels panic messages.
    ///
    /// # Panics
    /// On malformed JSON, an unknown dtype, a data length that does not match the shape,
    /// mismatched list lengths, or a duplicate case name.
    pub fn from_json(family: &str, text: &str) -> Fixtures {
        let raw: RawFile =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture family {family:?}: malformed file: {e}"));
        let mut cases: Vec<Case> = Vec::with_capacity(raw.cases.len());
        for (i, c) in raw.cases.into_iter().enumerate() {
            let label = c.get("name").and_then(Json::as_str).map_or_else(|| format!("#{i}"), |n| format!("{n:?}"));
            let ctx = format!("fixture family {family:?}, case {label}");
            let case = if c.get("op").is_some() {
                let r: RawOp = serde_json::from_value(c).unwrap_or_else(|e| panic!("{ctx}: malformed op case: {e}"));
                Case::Op(op_case(&ctx, r))
            } else if c.get("program").is_some() {
                let r: RawProgram =
                    serde_json::from_value(c).unwrap_or_else(|e| panic!("{ctx}: malformed program case: {e}"));
                Case::Program(program_case(&ctx, r))
            } else {
                panic!("{ctx}: a case needs an \"op\" or a \"program\" key");
            };
            if cases.iter().any(|k| k.name() == case.name()) {
                panic!("{ctx}: duplicate case name");
            }
            cases.push(case);
        }
        Fixtures { family: family.to_string(), generator: raw.generator, tf_version: raw.tf_version, cases }
    }

    /// The family name (`"norm"`).
    pub fn family(&self) -> &str {
        &self.family
    }

    /// The script that wrote the file.
    pub fn generator(&self) -> &str {
        &self.generator
    }

    /// The TensorFlow version that produced the values.
    pub fn tf_version(&self) -> &str {
        &self.tf_version
    }

    /// All cases in file order.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// The op cases in file order.
    pub fn op_cases(&self) -> impl Iterator<Item = &OpCase> {
        self.cases.iter().filter_map(Case::as_op)
    }

    /// The op cases whose `op` is exactly `op` (`"tf.nn.max_pool"`).
    pub fn op_cases_for<'a>(&'a self, op: &'a str) -> impl Iterator<Item = &'a OpCase> + 'a {
        self.op_cases().filter(move |c| c.op == op)
    }

    /// The program cases in file order.
    pub fn programs(&self) -> impl Iterator<Item = &ProgramCase> {
        self.cases.iter().filter_map(Case::as_program)
    }

    /// The op case called `name`.
    ///
    /// # Panics
    /// When there is none (the message lists the op cases there are).
    #[track_caller]
    pub fn op_case(&self, name: &str) -> &OpCase {
        self.op_cases().find(|c| c.name == name).unwrap_or_else(|| {
            let names: Vec<&str> = self.op_cases().map(|c| c.name.as_str()).collect();
            panic!("fixture family {:?} has no op case {name:?}; op cases: {names:?}", self.family)
        })
    }

    /// The program case called `name`.
    ///
    /// # Panics
    /// When there is none (the message lists the program cases there are).
    #[track_caller]
    pub fn program(&self, name: &str) -> &ProgramCase {
        self.programs().find(|c| c.name == name).unwrap_or_else(|| {
            let names: Vec<&str> = self.programs().map(|c| c.name.as_str()).collect();
            panic!("fixture family {:?} has no program case {name:?}; program cases: {names:?}", self.family)
        })
    }
}

fn op_case(ctx: &str, r: RawOp) -> OpCase {
    let tensors = |what: &str, ts: Vec<RawTensor>| -> Vec<Value> {
        ts.into_iter().enumerate().map(|(i, t)| tensor(&format!("{ctx}, {what}[{i}]"), t)).collect()
    };
    let inputs = tensors("inputs", r.inputs);
    let outputs = tensors("outputs", r.outputs);
    let upstream = tensors("upstream", r.upstream);
    let input_grads: Vec<Option<Value>> = r
        .input_grads
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.map(|t| tensor(&format!("{ctx}, input_grads[{i}]"), t)))
        .collect();
    if input_grads.len() != inputs.len() {
        panic!("{ctx}: {} input_grads for {} inputs", input_grads.len(), inputs.len());
    }
    if upstream.len() != outputs.len() {
        panic!("{ctx}: {} upstream tensors for {} outputs", upstream.len(), outputs.len());
    }
    for (names, n, what) in
        [(&r.input_names, inputs.len(), "input_names"), (&r.output_names, outputs.len(), "output_names")]
    {
        if !names.is_empty() && names.len() != n {
            panic!("{ctx}: {what} has {} names for {n} values", names.len());
        }
    }
    OpCase {
        name: r.name,
        op: r.op,
        attrs: r.attrs,
        input_names: r.input_names,
        output_names: r.output_names,
        inputs,
        outputs,
        upstream,
        input_grads,
    }
}

fn program_case(ctx: &str, r: RawProgram) -> ProgramCase {
    let values = r.values.into_iter().map(|(k, t)| (k.clone(), tensor(&format!("{ctx}, values[{k:?}]"), t))).collect();
    ProgramCase {
        name: r.name,
        program: r.program,
        description: r.description,
        values,
        strings: r.strings,
        shapes: r.shapes,
    }
}

/// A fixture tensor as JSON (`{"dtype", "shape", "data"}`) → [`Value`].
///
/// # Errors
/// An unknown dtype, an element of the wrong kind or out of range, or a length that does not
/// match the shape.
pub fn tensor_from_json(json: &Json) -> Result<Value, String> {
    let raw = RawTensor::deserialize(json).map_err(|e| format!("not a fixture tensor: {e}"))?;
    try_tensor(raw)
}

fn tensor(ctx: &str, raw: RawTensor) -> Value {
    try_tensor(raw).unwrap_or_else(|e| panic!("{ctx}: {e}"))
}

fn try_tensor(raw: RawTensor) -> Result<Value, String> {
    fn elems<T>(data: &[Json], what: &str, f: impl Fn(&Json) -> Option<T>) -> Result<Vec<T>, String> {
        data.iter()
            .enumerate()
            .map(|(i, x)| f(x).ok_or_else(|| format!("data[{i}] = {x} is not a valid {what}")))
            .collect()
    }
    let d = &raw.data;
    let built = match raw.dtype.as_str() {
        "float32" => Value::from_shape_vec(&raw.shape, elems(d, "float32", |x| x.as_f64().map(|v| v as f32))?),
        "float64" => Value::from_shape_vec(&raw.shape, elems(d, "float64", Json::as_f64)?),
        "int32" => {
            Value::from_shape_vec(&raw.shape, elems(d, "int32", |x| x.as_i64().and_then(|v| i32::try_from(v).ok()))?)
        }
        "int64" => Value::from_shape_vec(&raw.shape, elems(d, "int64", Json::as_i64)?),
        "bool" => Value::from_shape_vec(&raw.shape, elems(d, "bool", Json::as_bool)?),
        other => return Err(format!("unknown dtype {other:?} (expected float32, float64, int32, int64 or bool)")),
    };
    built.map_err(|e| format!("{} tensor of shape {:?} with {} elements: {e}", raw.dtype, raw.shape, raw.data.len()))
}

impl OpCase {
    fn ctx(&self) -> String {
        format!("case {:?} (op {})", self.name, self.op)
    }

    /// The input whose name (see `input_names`) is `name`.
    #[track_caller]
    pub fn input_named(&self, name: &str) -> &Value {
        &self.inputs[self.input_index(name)]
    }

    /// The output whose name (see `output_names`) is `name`.
    #[track_caller]
    pub fn output_named(&self, name: &str) -> &Value {
        match self.output_names.iter().position(|n| n == name) {
            Some(i) => &self.outputs[i],
            None => panic!("{}: no output named {name:?}; outputs: {:?}", self.ctx(), self.output_names),
        }
    }

    /// TF's gradient for the input named `name` (`None` where TF gave none).
    #[track_caller]
    pub fn input_grad_named(&self, name: &str) -> Option<&Value> {
        self.input_grads[self.input_index(name)].as_ref()
    }

    #[track_caller]
    fn input_index(&self, name: &str) -> usize {
        match self.input_names.iter().position(|n| n == name) {
            Some(i) => i,
            None => panic!("{}: no input named {name:?}; inputs: {:?}", self.ctx(), self.input_names),
        }
    }

    /// True when the attr is present and not `null`.
    pub fn has_attr(&self, key: &str) -> bool {
        self.attr_opt(key).is_some()
    }

    /// The attr's JSON value, `None` when absent or `null`.
    pub fn attr_opt(&self, key: &str) -> Option<&Json> {
        self.attrs.get(key).filter(|v| !v.is_null())
    }

    /// The attr's JSON value.
    ///
    /// # Panics
    /// When absent or `null` (the message lists the attrs there are).
    #[track_caller]
    pub fn attr(&self, key: &str) -> &Json {
        self.attr_opt(key).unwrap_or_else(|| {
            let keys: Vec<&String> = self.attrs.keys().collect();
            panic!("{}: no attr {key:?} (attrs: {keys:?})", self.ctx())
        })
    }

    #[track_caller]
    fn typed<'a, T>(&'a self, key: &str, what: &str, f: impl FnOnce(&'a Json) -> Option<T>) -> T {
        let v = self.attr(key);
        f(v).unwrap_or_else(|| panic!("{}: attr {key:?} = {v} is not {what}", self.ctx()))
    }

    /// A bool attr (`transpose_a`, `keepdims`, `is_training`).
    #[track_caller]
    pub fn attr_bool(&self, key: &str) -> bool {
        self.typed(key, "a bool", Json::as_bool)
    }

    /// An integer attr.
    #[track_caller]
    pub fn attr_i64(&self, key: &str) -> i64 {
        self.typed(key, "an integer", Json::as_i64)
    }

    /// A non-negative integer attr.
    #[track_caller]
    pub fn attr_usize(&self, key: &str) -> usize {
        self.typed(key, "a non-negative integer", |v| v.as_u64().and_then(|x| usize::try_from(x).ok()))
    }

    /// A number attr (`epsilon`, `alpha`).
    #[track_caller]
    pub fn attr_f64(&self, key: &str) -> f64 {
        self.typed(key, "a number", Json::as_f64)
    }

    /// A number attr as `f32`.
    #[track_caller]
    pub fn attr_f32(&self, key: &str) -> f32 {
        self.attr_f64(key) as f32
    }

    /// A string attr (`padding`, `data_format`).
    #[track_caller]
    pub fn attr_str(&self, key: &str) -> &str {
        self.typed(key, "a string", Json::as_str)
    }

    /// A list-of-integers attr (`strides`, `ksize`, `dilations`).
    #[track_caller]
    pub fn attr_i64s(&self, key: &str) -> Vec<i64> {
        self.typed(key, "a list of integers", |v| v.as_array()?.iter().map(Json::as_i64).collect())
    }

    /// A list-of-non-negative-integers attr.
    #[track_caller]
    pub fn attr_usizes(&self, key: &str) -> Vec<usize> {
        self.typed(key, "a list of non-negative integers", |v| {
            v.as_array()?.iter().map(|x| x.as_u64().and_then(|u| usize::try_from(u).ok())).collect()
        })
    }

    /// A list-of-numbers attr.
    #[track_caller]
    pub fn attr_f64s(&self, key: &str) -> Vec<f64> {
        self.typed(key, "a list of numbers", |v| v.as_array()?.iter().map(Json::as_f64).collect())
    }

    /// An axes attr as TF takes it (`axis`, `axes`): `None` when absent or `null` (reduce over
    /// every axis), a single integer as a one-element list, or a list (may be negative).
    #[track_caller]
    pub fn attr_axes(&self, key: &str) -> Option<Vec<i64>> {
        let v = self.attr_opt(key)?;
        if let Some(i) = v.as_i64() {
            return Some(vec![i]);
        }
        Some(self.attr_i64s(key))
    }

    /// Asserts that `actual` matches TF's outputs (same count; each with [`assert_close`]).
    ///
    /// [`assert_close`]: crate::close::assert_close
    #[track_caller]
    pub fn assert_outputs_close(&self, actual: &[Value], rtol: f64, atol: f64) {
        if actual.len() != self.outputs.len() {
            panic!("{}: {} outputs computed, TF gave {}", self.ctx(), actual.len(), self.outputs.len());
        }
        for (i, (a, e)) in actual.iter().zip(&self.outputs).enumerate() {
            assert_close_named(&format!("{} output {i}{}", self.ctx(), label(&self.output_names, i)), a, e, rtol, atol);
        }
    }

    /// Asserts that `actual` matches TF's input gradients. Where TF gave `None`, `actual` must
    /// be `None` or all zeros; where TF gave a tensor, `actual` must be close to it.
    #[track_caller]
    pub fn assert_input_grads_close(&self, actual: &[Option<Value>], rtol: f64, atol: f64) {
        if actual.len() != self.input_grads.len() {
            panic!("{}: {} input gradients computed for {} inputs", self.ctx(), actual.len(), self.input_grads.len());
        }
        for (i, (a, e)) in actual.iter().zip(&self.input_grads).enumerate() {
            let what = format!("{} input_grads[{i}]{}", self.ctx(), label(&self.input_names, i));
            match (a, e) {
                (Some(a), Some(e)) => assert_close_named(&what, a, e, rtol, atol),
                (None, Some(e)) => panic!("{what}: no gradient computed, TF gave one of shape {:?}", e.shape()),
                (Some(a), None) => {
                    let zero = ferroflow_core::Value::zeros(a.dtype(), a.shape());
                    assert_close_named(&format!("{what} (TF gave None: expected None or zeros)"), a, &zero, 0.0, 0.0);
                }
                (None, None) => {}
            }
        }
    }
}

fn label(names: &[String], i: usize) -> String {
    names.get(i).map(|n| format!(" ({n})")).unwrap_or_default()
}

impl ProgramCase {
    /// The recorded value called `name`.
    ///
    /// # Panics
    /// When there is none (the message lists the recorded names).
    #[track_caller]
    pub fn value(&self, name: &str) -> &Value {
        self.values.get(name).unwrap_or_else(|| {
            let names: Vec<&String> = self.values.keys().collect();
            panic!("program case {:?} ({}) recorded no value {name:?}; values: {names:?}", self.name, self.program)
        })
    }

    /// The recorded value called `name` as flat `f32` data.
    #[track_caller]
    pub fn f32s(&self, name: &str) -> Vec<f32> {
        let v = self.value(name);
        v.to_vec::<f32>().unwrap_or_else(|e| panic!("program case {:?}: value {name:?}: {e}", self.name))
    }

    /// The recorded name list called `name` (e.g. `"global_variables"`).
    #[track_caller]
    pub fn strings(&self, name: &str) -> &[String] {
        self.strings.get(name).map(Vec::as_slice).unwrap_or_else(|| {
            let names: Vec<&String> = self.strings.keys().collect();
            panic!("program case {:?} recorded no string list {name:?}; lists: {names:?}", self.name)
        })
    }

    /// The recorded static shape called `name` (e.g. `"dense/kernel"`).
    #[track_caller]
    pub fn shape(&self, name: &str) -> &[usize] {
        self.shapes.get(name).map(Vec::as_slice).unwrap_or_else(|| {
            let names: Vec<&String> = self.shapes.keys().collect();
            panic!("program case {:?} recorded no shape {name:?}; shapes: {names:?}", self.name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "generator": "test", "tf_version": "0.0",
      "cases": [
        {"name": "mul_a", "op": "tf.multiply", "attrs": {"strides": [1, 2, 2, 1], "padding": "SAME",
          "epsilon": 0.001, "keepdims": true, "axis": null, "axes": -1, "n": 3},
         "input_names": ["x", "labels"], "output_names": ["z"],
         "inputs": [{"dtype": "float32", "shape": [2, 2], "data": [1, 2.5, -3, 4e-3]},
                    {"dtype": "int32", "shape": [2], "data": [0, 3]}],
         "outputs": [{"dtype": "float32", "shape": [2, 2], "data": [1, 2, 3, 4]}],
         "upstream": [{"dtype": "float32", "shape": [2, 2], "data": [1, 1, 1, 1]}],
         "input_grads": [{"dtype": "float32", "shape": [2, 2], "data": [0.5, 0.5, 0.5, 0.5]}, null]},
        {"name": "prog", "program": "p", "description": "d",
         "values": {"flag": {"dtype": "bool", "shape": [], "data": [true]},
                    "step": {"dtype": "int64", "shape": [2], "data": [4, 5]},
                    "w": {"dtype": "float64", "shape": [1, 2], "data": [0.1, 0.2]}},
         "strings": {"vars": ["a/b", "c"]}, "shapes": {"a/b": [3, 4]}}
      ]
    }"#;

    fn sample() -> Fixtures {
        Fixtures::from_json("sample", SAMPLE)
    }

    #[test]
    fn parses_op_cases() {
        let f = sample();
        assert_eq!((f.family(), f.generator(), f.tf_version()), ("sample", "test", "0.0"));
        assert_eq!(f.cases().len(), 2);
        let c = f.op_case("mul_a");
        assert_eq!(c.op, "tf.multiply");
        assert_eq!(c.inputs[0].to_vec::<f32>().unwrap(), vec![1.0, 2.5, -3.0, 0.004]);
        assert_eq!(c.input_named("labels").to_vec::<i32>().unwrap(), vec![0, 3]);
        assert_eq!(c.output_named("z").shape(), &[2, 2]);
        assert!(c.input_grads[1].is_none());
        assert!(c.input_grad_named("labels").is_none());
        assert_eq!(c.input_grad_named("x").map(Value::len), Some(4));
        assert_eq!(f.op_cases_for("tf.multiply").count(), 1);
    }

    #[test]
    fn attr_accessors() {
        let f = sample();
        let c = f.op_case("mul_a");
        assert_eq!(c.attr_i64s("strides"), vec![1, 2, 2, 1]);
        assert_eq!(c.attr_usizes("strides"), vec![1, 2, 2, 1]);
        assert_eq!(c.attr_str("padding"), "SAME");
        assert_eq!(c.attr_f32("epsilon"), 1e-3);
        assert!(c.attr_bool("keepdims"));
        assert_eq!(c.attr_usize("n"), 3);
        assert_eq!(c.attr_axes("axis"), None);
        assert_eq!(c.attr_axes("axes"), Some(vec![-1]));
        assert_eq!(c.attr_axes("strides"), Some(vec![1, 2, 2, 1]));
        assert!(!c.has_attr("axis"));
        assert!(c.has_attr("n"));
    }

    #[test]
    #[should_panic(expected = "case \"mul_a\" (op tf.multiply): attr \"padding\" = \"SAME\" is not a bool")]
    fn attr_type_mismatch_names_the_case() {
        sample().op_case("mul_a").attr_bool("padding");
    }

    #[test]
    #[should_panic(expected = "no attr \"missing\"")]
    fn missing_attr_panics() {
        sample().op_case("mul_a").attr("missing");
    }

    #[test]
    fn parses_program_cases() {
        let f = sample();
        let p = f.program("prog");
        assert_eq!(p.program, "p");
        assert!(p.value("flag").scalar::<bool>().unwrap());
        assert_eq!(p.value("step").to_vec::<i64>().unwrap(), vec![4, 5]);
        assert_eq!(p.value("w").shape(), &[1, 2]);
        assert_eq!(p.strings("vars"), &["a/b".to_string(), "c".to_string()]);
        assert_eq!(p.shape("a/b"), &[3, 4]);
        assert_eq!(f.programs().count(), 1);
    }

    #[test]
    #[should_panic(expected = "has no op case \"nope\"; op cases: [\"mul_a\"]")]
    fn missing_op_case_lists_names() {
        sample().op_case("nope");
    }

    #[test]
    #[should_panic(expected = "has no program case \"mul_a\"")]
    fn op_case_is_not_a_program() {
        sample().program("mul_a");
    }

    #[test]
    #[should_panic(expected = "recorded no value \"nope\"")]
    fn missing_value_panics() {
        sample().program("prog").value("nope");
    }

    #[test]
    fn tensor_errors() {
        let t = |s: &str| tensor_from_json(&serde_json::from_str(s).unwrap());
        assert!(t(r#"{"dtype": "float32", "shape": [3], "data": [1, 2]}"#).unwrap_err().contains("shape [3]"));
        assert!(t(r#"{"dtype": "int32", "shape": [1], "data": [1.5]}"#).unwrap_err().contains("not a valid int32"));
        assert!(t(r#"{"dtype": "int32", "shape": [1], "data": [3000000000]}"#).is_err());
        assert!(t(r#"{"dtype": "string", "shape": [], "data": ["a"]}"#).unwrap_err().contains("unknown dtype"));
        assert_eq!(t(r#"{"dtype": "float32", "shape": [], "data": [7]}"#).unwrap().scalar::<f32>().unwrap(), 7.0);
        assert_eq!(t(r#"{"dtype": "int64", "shape": [0, 2], "data": []}"#).unwrap().shape(), &[0, 2]);
    }

    #[test]
    #[should_panic(expected = "case \"bad\", inputs[0]: float32 tensor of shape [3] with 2 elements")]
    fn bad_tensor_names_the_case() {
        Fixtures::from_json(
            "x",
            r#"{"generator": "g", "tf_version": "v", "cases": [{"name": "bad", "op": "tf.neg",
               "inputs": [{"dtype": "float32", "shape": [3], "data": [1, 2]}], "outputs": [],
               "upstream": [], "input_grads": [null]}]}"#,
        );
    }

    #[test]
    #[should_panic(expected = "duplicate case name")]
    fn duplicate_names_rejected() {
        let case = r#"{"name": "a", "program": "p", "values": {}}"#;
        Fixtures::from_json("x", &format!(r#"{{"generator": "g", "tf_version": "v", "cases": [{case}, {case}]}}"#));
    }

    #[test]
    fn op_case_assertions() {
        let f = sample();
        let c = f.op_case("mul_a");
        c.assert_outputs_close(&c.outputs.clone(), 0.0, 0.0);
        let grads = vec![c.input_grads[0].clone(), None];
        c.assert_input_grads_close(&grads, 0.0, 0.0);
        let zero_label_grad = vec![c.input_grads[0].clone(), Some(Value::zeros(ferroflow_core::DType::F32, &[2]))];
        c.assert_input_grads_close(&zero_label_grad, 0.0, 0.0);
    }

    #[test]
    #[should_panic(expected = "case \"mul_a\" (op tf.multiply) output 0 (z)")]
    fn op_case_output_mismatch_names_output() {
        let f = sample();
        let c = f.op_case("mul_a");
        let wrong = vec![Value::from_shape_vec(&[2, 2], vec![1.0f32, 2.0, 3.0, 5.0]).unwrap()];
        c.assert_outputs_close(&wrong, 1e-5, 1e-6);
    }

    #[test]
    #[should_panic(expected = "no gradient computed")]
    fn op_case_missing_grad_fails() {
        let f = sample();
        let c = f.op_case("mul_a");
        c.assert_input_grads_close(&[None, None], 1.0, 1.0);
    }

    /// Every committed family loads and is internally consistent.
    #[test]
    fn committed_fixtures_are_consistent() {
        let families = ["norm", "graph", "math", "loss", "conv", "optim", "layers"];
        for family in families {
            let f = load(family);
            assert!(!f.cases().is_empty(), "{family}: no cases");
            assert!(f.tf_version().starts_with('2'), "{family}: tf_version {}", f.tf_version());
            for c in f.op_cases() {
                for (o, u) in c.outputs.iter().zip(&c.upstream) {
                    assert_eq!(o.shape(), u.shape(), "{family}/{}: upstream shape", c.name);
                    assert_eq!(o.dtype(), u.dtype(), "{family}/{}: upstream dtype", c.name);
                }
                for (x, g) in c.inputs.iter().zip(&c.input_grads) {
                    if let Some(g) = g {
                        assert_eq!(x.shape(), g.shape(), "{family}/{}: gradient shape", c.name);
                        assert!(x.dtype().is_float(), "{family}/{}: gradient for a non-float input", c.name);
                    }
                }
            }
        }
    }

    #[test]
    fn committed_fixture_spot_checks() {
        let norm = load("norm");
        let m = norm.op_case("moments_2d_axes0");
        assert_eq!(m.attr_axes("axes"), Some(vec![0]));
        assert_eq!(m.output_named("variance").shape(), &[5]);
        let graph = load("graph");
        let cond = graph.program("cond_inside_outside");
        assert_eq!(cond.f32s("inside_counter"), vec![1.0, 1.0, 2.0, 2.0, 2.0]);
        assert_eq!(cond.f32s("outside_counter"), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let ctrl = graph.program("control_dependency_order");
        assert_eq!(ctrl.value("second_run1").scalar::<f32>().unwrap(), 18.0);
        let layers = load("layers");
        let dense = layers.program("dense_names");
        assert_eq!(dense.shape("dense/kernel"), &[3, 4]);
        assert!(dense.strings("global_variables").contains(&"dense_1/bias".to_string()));
        let optim = load("optim");
        let adam = optim.program("minimize_adam");
        assert_eq!(adam.value("step5/global_step").scalar::<i64>().unwrap(), 5);
        assert_eq!(adam.strings("slots"), &["w/Adam".to_string(), "w/Adam_1".to_string()]);
        // Adam's beta1_power after 5 steps is 0.9^6 (it starts at 0.9 and is multiplied each step).
        let p = adam.value("step5/beta1_power").scalar::<f32>().unwrap();
        assert!((p - 0.9f32.powi(6)).abs() < 1e-6, "{p}");
    }
}
