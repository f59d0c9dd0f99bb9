//! The one error type of ferroflow. Every variant names the node, the shapes/dtypes and a hint.

use crate::dtype::DType;
use crate::op::TensorSpec;
use crate::shape::Shape;
use std::fmt;
use std::path::PathBuf;

/// `Result` with ferroflow's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building or running a graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An op could not be added: bad shapes, dtypes or attributes, found at graph-build time.
    #[error("{op} '{node}': {message}{}", InputList(inputs))]
    Build {
        /// Full scoped name the node would have had.
        node: String,
        /// Op type, e.g. `MatMul`.
        op: String,
        /// What is wrong and what to do.
        message: String,
        /// The static dtype and shape of each input (empty where the error is not about inputs).
        inputs: Vec<TensorSpec>,
    },
    /// A kernel failed while the session ran it.
    #[error("{op} '{node}' failed at run time: {message}{}", RunInputList(inputs))]
    Kernel {
        /// Full scoped name.
        node: String,
        /// Op type.
        op: String,
        /// What is wrong and what to do.
        message: String,
        /// The run-time dtype and shape of each input (`None`: not computed, or already moved
        /// into the kernel when the error happened).
        inputs: Vec<Option<(DType, Vec<usize>)>>,
    },
    /// A placeholder needed by the fetches was not fed.
    #[error("placeholder '{name}' ({dtype}, {shape}) was not fed; add it to the feeds of this run")]
    PlaceholderNotFed {
        /// Placeholder name.
        name: String,
        /// Its dtype.
        dtype: DType,
        /// Its static shape.
        shape: Shape,
    },
    /// A fed value has the wrong dtype or a shape incompatible with the tensor.
    #[error("cannot feed a {got_dtype} value of shape {got_shape:?} to {op} '{name}', which is {expected_dtype} {expected_shape}; feed a value of that dtype and shape")]
    FeedMismatch {
        /// Fed tensor name (`x:0`).
        name: String,
        /// Type of the op producing the tensor (`Placeholder`).
        op: String,
        /// Declared dtype.
        expected_dtype: DType,
        /// Declared static shape.
        expected_shape: Shape,
        /// Dtype of the fed value.
        got_dtype: DType,
        /// Shape of the fed value.
        got_shape: Vec<usize>,
    },
    /// One tensor appears twice in the feeds of one run.
    #[error("tensor '{name}' was fed twice in one run; give each tensor one value in the feed list")]
    FedTwice {
        /// Tensor name (`x:0`).
        name: String,
    },
    /// A variable was read before anything assigned it.
    #[error("variable '{name}' was read before it was initialized; run global_variables_initializer() (or restore a checkpoint) first")]
    UninitializedVariable {
        /// Variable name.
        name: String,
    },
    /// A handle from one graph was used with another.
    #[error("{what} was built in graph #{got}, but this graph/scope/session uses graph #{expected}; handles cannot be mixed across graphs: build it in graph #{expected} or look it up there by name")]
    GraphMismatch {
        /// Which handle.
        what: String,
        /// Graph in use.
        expected: u32,
        /// Graph of the handle.
        got: u32,
    },
    /// A handle of this graph whose node index is not in it (a forged or deserialized handle).
    #[error("{what} names a node graph #{graph} does not have (it has {nodes} nodes); handles come from the graph's builders or from tensor_by_name/operation_by_name")]
    HandleOutOfRange {
        /// Which handle (ids).
        what: String,
        /// The graph asked.
        graph: u32,
        /// How many nodes it has.
        nodes: usize,
    },
    /// The two branches of a cond do not return the same structure, dtypes or ranks.
    #[error("cond '{cond}': {message}")]
    CondMismatch {
        /// Name of the cond.
        cond: String,
        /// Which outputs disagree and how.
        message: String,
    },
    /// A cond's predicate is not a scalar bool at run time.
    #[error("cond '{cond}': its predicate '{predicate}' must be a scalar bool, but in this run it is {dtype} {}; feed a scalar bool", Shape::known(shape))]
    CondPredicate {
        /// Name of the cond.
        cond: String,
        /// The predicate tensor (`is_training:0`).
        predicate: String,
        /// Its run-time dtype.
        dtype: DType,
        /// Its run-time shape.
        shape: Vec<usize>,
    },
    /// A fetched tensor was produced inside a cond branch that did not run.
    #[error("fetched tensor '{name}' was not computed: it is inside a cond branch that was not taken; fetch the cond's output instead")]
    DeadFetch {
        /// Tensor name.
        name: String,
    },
    /// No node or tensor with this name.
    #[error("the graph has no {what} named '{name}'{hint}")]
    NotFound {
        /// "operation", "tensor" or "variable".
        what: String,
        /// The name asked for.
        name: String,
        /// A hint such as a similar name.
        hint: String,
    },
    /// `gradients()` reached an op with no gradient function.
    #[error("no gradient is defined for {op} '{node}'; wrap its output in stop_gradient() if no gradient should flow through it")]
    NoGradient {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
    },
    /// A variable-scope or variable error (reuse, duplicate name).
    #[error("variable '{name}': {message}")]
    Variable {
        /// Variable name.
        name: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A training-setup error (empty var_list, no gradients).
    #[error("{0}")]
    Training(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint, meta graph or data file is damaged or incompatible.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A bad argument not yet attached to a node (contexts turn it into `Build`/`Kernel`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A tensor's buffer could not be allocated: the element count or byte size overflows, or
    /// the memory cannot be had. Raised by [`Value::try_zeros`](crate::Value::try_zeros) and
    /// the other fallible allocators; kernels attach their node with [`Error::in_node`].
    #[error("{}cannot allocate {} for a {dtype} tensor of shape {shape:?}; the shape is probably wrong (check the dims or attributes that produced it), else the machine is out of memory", node_prefix(.op, .node), fmt_bytes(*.bytes))]
    Allocation {
        /// Full scoped name of the node that allocates (empty until a kernel attaches it).
        node: String,
        /// Op type (empty until a kernel attaches it).
        op: String,
        /// Bytes asked for; `None` when the byte count itself overflows `usize`.
        bytes: Option<usize>,
        /// Element type.
        dtype: DType,
        /// The concrete shape.
        shape: Vec<usize>,
    },
}

fn node_prefix(op: &str, node: &str) -> String {
    if node.is_empty() {
        String::new()
    } else {
        format!("{op} '{node}' failed at run time: ")
    }
}

fn fmt_bytes(bytes: Option<usize>) -> String {
    match bytes {
        Some(b) if b >= 1 << 30 => format!("{b} bytes ({:.1} GiB)", b as f64 / (1u64 << 30) as f64),
        Some(b) => format!("{b} bytes"),
        None => format!("more than {} bytes (the byte count overflows usize)", usize::MAX),
    }
}

/// Writes ` (inputs: a, b, …)` after a message; nothing when there are no inputs.
fn write_inputs<I: fmt::Display>(f: &mut fmt::Formatter<'_>, items: impl ExactSizeIterator<Item = I>) -> fmt::Result {
    if items.len() == 0 {
        return Ok(());
    }
    f.write_str(" (inputs: ")?;
    for (i, x) in items.enumerate() {
        write!(f, "{}{x}", if i > 0 { ", " } else { "" })?;
    }
    f.write_str(")")
}

/// A build error's input specs: ` (inputs: float32 [?, 3], float32 [4])`.
struct InputList<'a>(&'a [TensorSpec]);

impl fmt::Display for InputList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_inputs(f, self.0.iter())
    }
}

/// A kernel error's input values: ` (inputs: float32 [2, 3], -)` (`-`: not available).
struct RunInputList<'a>(&'a [Option<(DType, Vec<usize>)>]);

impl fmt::Display for RunInputList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let specs = self.0.iter().map(|s| match s {
            Some((d, dims)) => format!("{d} {}", Shape::known(dims)),
            None => "-".to_string(),
        });
        write_inputs(f, specs)
    }
}

impl Error {
    /// A build error about node `node` of type `op`, without input specs.
    pub fn build(node: impl Into<String>, op: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Build { node: node.into(), op: op.into(), message: message.into(), inputs: Vec::new() }
    }

    /// A bad argument; node contexts attach the node name when they pass it on.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidArgument(message.into())
    }

    /// A file error naming the path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io { path: path.into(), source }
    }

    /// An allocation error not yet attached to a node (see [`Error::in_node`]).
    pub fn allocation(dtype: DType, shape: &[usize], bytes: Option<usize>) -> Error {
        Error::Allocation { node: String::new(), op: String::new(), bytes, dtype, shape: shape.to_vec() }
    }

    /// Attaches a node to an [`Error::Allocation`] that has none yet, and turns a bare
    /// [`Error::InvalidArgument`] into a [`Error::Kernel`] naming it (as `KernelCtx::wrap`);
    /// other errors pass through.
    pub fn in_node(self, node: &str, op: &str) -> Error {
        match self {
            Error::Allocation { node: n, op: _, bytes, dtype, shape } if n.is_empty() => {
                Error::Allocation { node: node.to_string(), op: op.to_string(), bytes, dtype, shape }
            }
            Error::InvalidArgument(message) => {
                Error::Kernel { node: node.to_string(), op: op.to_string(), message, inputs: Vec::new() }
            }
            other => other,
        }
    }

    /// A damaged-file error naming the path.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::Format { path: path.into(), message: message.into() }
    }
}

/// `?` on ndarray's shape errors (`Array::from_shape_vec`, `into_shape_with_order`, …) in a
/// function returning ferroflow's [`Result`]: an [`Error::InvalidArgument`] that keeps
/// ndarray's reason. ndarray's error carries no shapes, so the message says where to look.
impl From<ndarray::ShapeError> for Error {
    fn from(e: ndarray::ShapeError) -> Error {
        Error::InvalidArgument(format!(
            "ndarray shape error: {e}; check that the array's element count and shape match the shape asked for"
        ))
    }
}
