//! The protobuf messages TensorBoard reads, hand-declared with `prost` derives (the one place
//! they live). Field numbers and types follow TensorFlow's `.proto` files (`event.proto`,
//! `summary.proto`, `tensor.proto`, `tensor_shape.proto`, `graph.proto`, `node_def.proto`,
//! `attr_value.proto`, `versions.proto`); only the fields ferroflow writes are declared, which
//! a reader sees as the same message with the other fields unset.

use std::collections::HashMap;

/// TF's `DataType` enum values (`types.proto`).
pub mod data_type {
    /// `DT_FLOAT`
    pub const FLOAT: i32 = 1;
    /// `DT_DOUBLE`
    pub const DOUBLE: i32 = 2;
    /// `DT_INT32`
    pub const INT32: i32 = 3;
    /// `DT_STRING`
    pub const STRING: i32 = 7;
    /// `DT_INT64`
    pub const INT64: i32 = 9;
    /// `DT_BOOL`
    pub const BOOL: i32 = 10;
}

/// One record of an event file (`event.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// What the event holds.
    #[prost(oneof = "event::What", tags = "3, 4, 5")]
    pub what: Option<event::What>,
}

/// The `what` oneof of [`Event`].
pub mod event {
    /// What one event holds.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum What {
        /// `"brain.Event:2"`, in the first event of a file.
        #[prost(string, tag = "3")]
        FileVersion(String),
        /// A serialized [`GraphDef`](super::GraphDef).
        #[prost(bytes, tag = "4")]
        GraphDef(Vec<u8>),
        /// Summary values.
        #[prost(message, tag = "5")]
        Summary(super::Summary),
    }
}

/// A set of summary values (`summary.proto`): what summary ops output, serialized.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// The values, one per tag.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<summary::Value>,
}

/// Nested messages of [`Summary`].
pub mod summary {
    /// One tagged value.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        /// The tag TensorBoard groups by (`"train/loss"`).
        #[prost(string, tag = "1")]
        pub tag: String,
        /// The producing node (tensor summaries).
        #[prost(string, tag = "7")]
        pub node_name: String,
        /// Which plugin reads a tensor summary.
        #[prost(message, optional, tag = "9")]
        pub metadata: Option<super::SummaryMetadata>,
        /// The payload.
        #[prost(oneof = "value::Kind", tags = "2, 4, 5, 8")]
        pub kind: Option<value::Kind>,
    }

    /// The `value` oneof of [`Value`].
    pub mod value {
        /// The payload of a summary value.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Kind {
            /// A scalar (`tf.summary.scalar`).
            #[prost(float, tag = "2")]
            SimpleValue(f32),
            /// An encoded image (`tf.summary.image`).
            #[prost(message, tag = "4")]
            Image(super::Image),
            /// A histogram (`tf.summary.histogram`).
            #[prost(message, tag = "5")]
            Histo(super::super::HistogramProto),
            /// A tensor (`tf.summary.text`: a string tensor for the text plugin).
            #[prost(message, tag = "8")]
            Tensor(super::super::TensorProto),
        }
    }

    /// An encoded image.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        /// Height in pixels.
        #[prost(int32, tag = "1")]
        pub height: i32,
        /// Width in pixels.
        #[prost(int32, tag = "2")]
        pub width: i32,
        /// 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA.
        #[prost(int32, tag = "3")]
        pub colorspace: i32,
        /// The PNG bytes.
        #[prost(bytes, tag = "4")]
        pub encoded_image_string: Vec<u8>,
    }
}

/// Which plugin reads a summary value (`summary.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryMetadata {
    /// The plugin and its data.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// A plugin's name and data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PluginData {
    /// `"text"` for text summaries.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// Plugin-specific bytes.
    #[prost(bytes, tag = "2")]
    pub content: Vec<u8>,
}

/// A histogram (`summary.proto`): bucket `i` counts values in `[bucket_limit[i-1], bucket_limit[i])`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramProto {
    /// Smallest value.
    #[prost(double, tag = "1")]
    pub min: f64,
    /// Largest value.
    #[prost(double, tag = "2")]
    pub max: f64,
    /// Number of values.
    #[prost(double, tag = "3")]
    pub num: f64,
    /// Sum of the values.
    #[prost(double, tag = "4")]
    pub sum: f64,
    /// Sum of the squares.
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    /// Right edge of each bucket.
    #[prost(double, repeated, tag = "6")]
    pub bucket_limit: Vec<f64>,
    /// Count of each bucket.
    #[prost(double, repeated, tag = "7")]
    pub bucket: Vec<f64>,
}

/// A tensor's shape (`tensor_shape.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// The dims (size -1: unknown).
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<tensor_shape_proto::Dim>,
    /// True when the rank is unknown.
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

/// Nested messages of [`TensorShapeProto`].
pub mod tensor_shape_proto {
    /// One dim.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dim {
        /// Its size, -1 when unknown.
        #[prost(int64, tag = "1")]
        pub size: i64,
    }
}

/// A tensor (`tensor.proto`); ferroflow writes string tensors through `string_val`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// A [`data_type`] value.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// The shape.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// The elements of a string tensor, row-major.
    #[prost(bytes = "vec", repeated, tag = "8")]
    pub string_val: Vec<Vec<u8>>,
}

/// A graph (`graph.proto`) for TensorBoard's graph tab.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphDef {
    /// The nodes, inputs before consumers.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeDef>,
    /// Producer version.
    #[prost(message, optional, tag = "4")]
    pub versions: Option<VersionDef>,
}

/// One node (`node_def.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeDef {
    /// Full scoped name (`"conv_1/BatchNorm/moments/mean"`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Op type (`"Conv2D"`).
    #[prost(string, tag = "2")]
    pub op: String,
    /// `"node"`, `"node:1"` for output 1, `"^node"` for a control input.
    #[prost(string, repeated, tag = "3")]
    pub input: Vec<String>,
    /// Device (empty).
    #[prost(string, tag = "4")]
    pub device: String,
    /// Attributes (`T`, `dtype`, `shape`, `_output_shapes`).
    #[prost(map = "string, message", tag = "5")]
    pub attr: HashMap<String, AttrValue>,
}

/// A node attribute (`attr_value.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttrValue {
    /// The value.
    #[prost(oneof = "attr_value::Value", tags = "1, 2, 3, 5, 6, 7")]
    pub value: Option<attr_value::Value>,
}

/// Nested types of [`AttrValue`].
pub mod attr_value {
    /// A list attribute.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListValue {
        /// Shapes (`_output_shapes`).
        #[prost(message, repeated, tag = "7")]
        pub shape: Vec<super::TensorShapeProto>,
    }

    /// The value of an attribute.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A list.
        #[prost(message, tag = "1")]
        List(ListValue),
        /// Bytes.
        #[prost(bytes, tag = "2")]
        S(Vec<u8>),
        /// An integer.
        #[prost(int64, tag = "3")]
        I(i64),
        /// A bool.
        #[prost(bool, tag = "5")]
        B(bool),
        /// A [`data_type`](super::data_type) value.
        #[prost(int32, tag = "6")]
        Type(i32),
        /// A shape.
        #[prost(message, tag = "7")]
        Shape(super::TensorShapeProto),
    }
}

/// Graph versions (`versions.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionDef {
    /// The producer's GraphDef version.
    #[prost(int32, tag = "1")]
    pub producer: i32,
}
