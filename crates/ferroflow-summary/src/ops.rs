//! Summary ops (TF1 `tf.summary.*`): `scalar`, `histogram`, `image`, `text`, `merge`,
//! `merge_all`. Each outputs a scalar `string` holding a serialized `Summary` protobuf, for
//! [`FileWriter::add_summary`](crate::FileWriter::add_summary). None has a gradient.

use crate::histogram::Histogram;
use crate::proto::{self, summary::value::Kind, summary::Image, summary::Value as SummaryValue, Summary};
use ferroflow_core::typetag;
use ferroflow_core::{
    DType, GradCtx, InferCtx, KernelCtx, Op, Result, Scope, Shape, Tensor, TensorSpec, Value, SUMMARIES,
};
use ferroflow_ops::IntoInput;
use prost::Message;
use serde::{Deserialize, Serialize};

/// Adds the summary op as the name scope's own node (TF1's `summary_scope`: tag = node name =
/// the unique scoped `name`) and registers it in [`SUMMARIES`].
fn add_summary_op<O: Op>(s: &Scope, name: &str, inputs: &[Tensor], make: impl FnOnce(String) -> O) -> Result<Tensor> {
    let t = s.name_scope(name, |ss| {
        let tag = ss.name_prefix().to_string();
        ss.as_op_name().add_op1(make(tag), inputs, name)
    })?;
    s.graph().add_to_collection(&SUMMARIES, t);
    Ok(t)
}

fn scalar_string() -> Vec<TensorSpec> {
    vec![TensorSpec::new(DType::String, Shape::scalar())]
}

fn encode(values: Vec<SummaryValue>) -> Value {
    Value::from_bytes(Summary { value: values }.encode_to_vec())
}

fn value(tag: &str, kind: Kind) -> SummaryValue {
    SummaryValue { tag: tag.to_string(), node_name: String::new(), metadata: None, kind: Some(kind) }
}

/// The elements of a numeric value as `f64` (an error for bool and string).
fn as_f64(cx: &KernelCtx<'_>, v: &Value) -> Result<Vec<f64>> {
    match v {
        Value::F32(a) => Ok(a.iter().map(|&x| f64::from(x)).collect()),
        Value::F64(a) => Ok(a.iter().copied().collect()),
        Value::I32(a) => Ok(a.iter().map(|&x| f64::from(x)).collect()),
        Value::I64(a) => Ok(a.iter().map(|&x| x as f64).collect()),
        other => Err(cx.error(format!("expected a numeric tensor, got {}", other.dtype()))),
    }
}

fn expect_numeric<'a>(cx: &'a InferCtx<'_>) -> Result<&'a TensorSpec> {
    let x = cx.input(0)?;
    if !x.dtype.is_numeric() {
        return Err(cx.error(format!("needs a numeric tensor (float or int), got {} {}", x.dtype, x.shape)));
    }
    Ok(x)
}

// ---------------------------------------------------------------------------------------------
// scalar

/// A summary of one scalar value.
///
/// TF1: `tf.summary.scalar(name, tensor)`. The tag is `name` under the current name scope,
/// made unique (`train/loss`, `train/loss_1`); the node gets the same name and joins the
/// [`SUMMARIES`] collection.
///
/// # Shapes
/// `tensor: []` (float or int) → `[]` string.
///
/// # Errors
/// A tensor of known non-scalar shape, or of dtype bool or string (build time); a fed value
/// that is not a scalar (run time). Each names the node.
///
/// ```
/// use ferroflow_core::{DType, Graph};
/// # fn main() -> ferroflow_core::Result<()> {
/// let g = Graph::new();
/// let s = g.root();
/// let loss = ferroflow_ops::constant(&s, 0.5f32)?;
/// let sum = ferroflow_summary::scalar(&s, "loss", loss)?;
/// assert_eq!((sum.dtype(&g).unwrap(), sum.name(&g).unwrap()), (DType::String, "loss:0".to_string()));
/// # Ok(()) }
/// ```
pub fn scalar(s: &Scope, name: &str, tensor: impl IntoInput) -> Result<Tensor> {
    let t = tensor.into_tensor(s, None)?;
    add_summary_op(s, name, &[t], |tag| ScalarSummary { tag })
}

/// `tf.summary.scalar`'s op (TF: `ScalarSummary`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ScalarSummary {
    /// The tag.
    pub tag: String,
}

#[typetag::serde]
impl Op for ScalarSummary {
    fn type_name(&self) -> &'static str {
        "ScalarSummary"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = expect_numeric(cx)?;
        if x.shape.rank().is_some_and(|r| r != 0) {
            return Err(
                cx.error(format!("tensor must be a scalar, got shape {}; reduce it first (reduce_mean)", x.shape))
            );
        }
        Ok(scalar_string())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let v = cx.input(0)?;
        if !v.shape().is_empty() {
            return Err(cx.error(format!("tensor must be a scalar, got shape {:?}", v.shape())));
        }
        let x = as_f64(cx, v)?.first().copied().unwrap_or(0.0);
        Ok(vec![encode(vec![value(&self.tag, Kind::SimpleValue(x as f32))])])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("tag={}", self.tag)
    }
}

// ---------------------------------------------------------------------------------------------
// histogram

/// A histogram of all elements of a tensor, in TF's default exponential buckets.
///
/// TF1: `tf.summary.histogram(name, values)`. Records min, max, count, sum and sum of
/// squares; empty runs of buckets are collapsed as TF does.
///
/// # Shapes
/// `values: any` (float or int) → `[]` string.
///
/// # Errors
/// A bool or string tensor (build time); a NaN or infinite element (run time, as TF's
/// "Nan in summary histogram"). Each names the node.
pub fn histogram(s: &Scope, name: &str, values: impl IntoInput) -> Result<Tensor> {
    let t = values.into_tensor(s, None)?;
    add_summary_op(s, name, &[t], |tag| HistogramSummary { tag })
}

/// `tf.summary.histogram`'s op (TF: `HistogramSummary`).
#[derive(Debug, Serialize, Deserialize)]
pub struct HistogramSummary {
    /// The tag.
    pub tag: String,
}

#[typetag::serde]
impl Op for HistogramSummary {
    fn type_name(&self) -> &'static str {
        "HistogramSummary"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        expect_numeric(cx)?;
        Ok(scalar_string())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let xs = as_f64(cx, cx.input(0)?)?;
        let mut h = Histogram::new();
        for x in xs {
            if !x.is_finite() {
                return Err(cx.error(format!("NaN or infinity in summary histogram for '{}' ({x})", self.tag)));
            }
            h.add(x);
        }
        Ok(vec![encode(vec![value(&self.tag, Kind::Histo(h.to_proto()))])])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("tag={}", self.tag)
    }
}

// ---------------------------------------------------------------------------------------------
// image

/// PNG images of the first `max_outputs` entries of an NHWC batch.
///
/// TF1: `tf.summary.image(name, tensor, max_outputs=3)`. Tags are `name/image` when
/// `max_outputs == 1`, else `name/image/0`, `name/image/1`, …. Float pixels are scaled per image
/// as TF does: when no value is negative, `0 → 0` and the largest value `→ 255` (so images in
/// `[0, 1]` map to `[0, 255]`); otherwise `0 → 128` and the largest magnitude `→ 127`; values
/// are then truncated to `u8`, and a pixel with a non-finite channel is drawn red.
///
/// # Shapes
/// `tensor: [batch, height, width, channels]` with channels 1 (grayscale), 3 (RGB) or 4
/// (RGBA), float32 or float64 → `[]` string.
///
/// # Errors
/// Rank other than 4, channels other than 1, 3, 4, a non-float dtype, or `max_outputs == 0`
/// (build time, where shapes are known; run time otherwise), naming the node.
pub fn image(s: &Scope, name: &str, tensor: impl IntoInput, max_outputs: usize) -> Result<Tensor> {
    let t = tensor.into_tensor(s, None)?;
    add_summary_op(s, name, &[t], |tag| ImageSummary { tag, max_outputs })
}

/// `tf.summary.image`'s op (TF: `ImageSummary`).
#[derive(Debug, Serialize, Deserialize)]
pub struct ImageSummary {
    /// The base tag.
    pub tag: String,
    /// How many images of the batch to write.
    pub max_outputs: usize,
}

fn check_channels(c: usize) -> std::result::Result<(), String> {
    if matches!(c, 1 | 3 | 4) {
        Ok(())
    } else {
        Err(format!("images must have 1 (grayscale), 3 (RGB) or 4 (RGBA) channels, got {c}"))
    }
}

/// TF's `NormalizeFloatImage` for one image of `hw` pixels × `depth` channels.
fn normalize(pixels: &[f64], depth: usize) -> Vec<u8> {
    let finite_px = |p: &[f64]| p.iter().all(|x| x.is_finite());
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in pixels.chunks_exact(depth).filter(|p| finite_px(p)) {
        for &x in p {
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    const ZERO: f64 = 1e-6;
    let (scale, offset) = if lo < 0.0 {
        let m = lo.abs().max(hi.abs());
        (if m < ZERO { 0.0 } else { 127.0 / m }, 128.0)
    } else {
        (if hi < ZERO { 0.0 } else { 255.0 / hi }, 0.0)
    };
    let bad = [255u8, 0, 0, 255];
    let mut out = Vec::with_capacity(pixels.len());
    for p in pixels.chunks_exact(depth) {
        if finite_px(p) {
            out.extend(p.iter().map(|&x| (x * scale + offset) as u8));
        } else {
            out.extend_from_slice(&bad[..depth]);
        }
    }
    out
}

/// PNG bytes of an 8-bit image.
fn encode_png(data: &[u8], width: usize, height: usize, channels: usize) -> std::result::Result<Vec<u8>, String> {
    let color = match channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let (w, h) = (u32::try_from(width).map_err(|e| e.to_string())?, u32::try_from(height).map_err(|e| e.to_string())?);
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| format!("PNG encoding failed: {e}"))?;
    writer.write_image_data(data).map_err(|e| format!("PNG encoding failed: {e}"))?;
    writer.finish().map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(out)
}

#[typetag::serde]
impl Op for ImageSummary {
    fn type_name(&self) -> &'static str {
        "ImageSummary"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(cx.error(format!("images must be float32 or float64, got {} {}", x.dtype, x.shape)));
        }
        if self.max_outputs == 0 {
            return Err(cx.error("max_outputs must be at least 1"));
        }
        if let Some(r) = x.shape.rank() {
            if r != 4 {
                return Err(
                    cx.error(format!("images must be 4-D [batch, height, width, channels], got shape {}", x.shape))
                );
            }
            if let Some(c) = x.shape.dim(3) {
                check_channels(c).map_err(|m| cx.error(format!("{m} (shape {})", x.shape)))?;
            }
        }
        Ok(scalar_string())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let v = cx.input(0)?;
        let &[n, h, w, c] = v.shape() else {
            return Err(
                cx.error(format!("images must be 4-D [batch, height, width, channels], got shape {:?}", v.shape()))
            );
        };
        check_channels(c).map_err(|m| cx.error(m))?;
        let xs = as_f64(cx, v)?;
        let per = h * w * c;
        let count = n.min(self.max_outputs);
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            let px = normalize(&xs[i * per..(i + 1) * per], c);
            let png = encode_png(&px, w, h, c).map_err(|m| cx.error(m))?;
            let tag =
                if self.max_outputs == 1 { format!("{}/image", self.tag) } else { format!("{}/image/{i}", self.tag) };
            let img = Image {
                height: i32::try_from(h).unwrap_or(i32::MAX),
                width: i32::try_from(w).unwrap_or(i32::MAX),
                colorspace: c as i32,
                encoded_image_string: png,
            };
            values.push(value(&tag, Kind::Image(img)));
        }
        Ok(vec![encode(values)])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("tag={} max_outputs={}", self.tag, self.max_outputs)
    }
}

// ---------------------------------------------------------------------------------------------
// text

/// A text summary of a string tensor, shown by TensorBoard's Text tab (Markdown).
///
/// TF1: `tf.summary.text(name, tensor)`: a tensor summary for the `text` plugin.
///
/// # Shapes
/// `tensor: any` string → `[]` string.
///
/// # Errors
/// A non-string tensor (build time), naming the node.
pub fn text(s: &Scope, name: &str, tensor: impl IntoInput) -> Result<Tensor> {
    let t = tensor.into_tensor(s, Some(DType::String))?;
    add_summary_op(s, name, &[t], |tag| TextSummary { tag })
}

/// `tf.summary.text`'s op (TF: `TensorSummaryV2` with the `text` plugin).
#[derive(Debug, Serialize, Deserialize)]
pub struct TextSummary {
    /// The tag.
    pub tag: String,
}

#[typetag::serde]
impl Op for TextSummary {
    fn type_name(&self) -> &'static str {
        "TensorSummaryV2"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        let x = cx.input(0)?;
        if x.dtype != DType::String {
            return Err(cx.error(format!("text summaries need a string tensor, got {} {}", x.dtype, x.shape)));
        }
        Ok(scalar_string())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let v = cx.input(0)?;
        let strings = v.as_bytes().map_err(|e| cx.wrap(e))?;
        let tensor = proto::TensorProto {
            dtype: proto::data_type::STRING,
            tensor_shape: Some(crate::graph_def::shape_proto_known(v.shape())),
            string_val: strings.iter().cloned().collect(),
        };
        let metadata = proto::SummaryMetadata {
            plugin_data: Some(proto::PluginData { plugin_name: "text".into(), content: Vec::new() }),
        };
        let mut val = value(&self.tag, Kind::Tensor(tensor));
        val.metadata = Some(metadata);
        Ok(vec![encode(vec![val])])
    }
    fn gradient(&self, _: &Scope, _: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None])
    }
    fn describe(&self) -> String {
        format!("tag={}", self.tag)
    }
}

// ---------------------------------------------------------------------------------------------
// merge

/// One summary holding the values of all `inputs` (serialized summaries).
///
/// TF1: `tf.summary.merge(inputs)`. The merged node is not added to [`SUMMARIES`].
///
/// # Shapes
/// `inputs: [] string` each → `[]` string.
///
/// # Errors
/// No inputs, a non-string or non-scalar input (build time); an input that is not a
/// serialized `Summary`, or two values with the same tag (run time, as TF). Each names the node.
pub fn merge(s: &Scope, inputs: &[Tensor]) -> Result<Tensor> {
    s.add_op1(MergeSummary, inputs, "Merge/MergeSummary")
}

/// All summaries of the graph's [`SUMMARIES`] collection merged into one, or `None` when
/// there are none. TF1: `tf.summary.merge_all()`.
///
/// # Errors
/// As [`merge`].
pub fn merge_all(s: &Scope) -> Result<Option<Tensor>> {
    let all = s.graph().collection_tensors(&SUMMARIES);
    if all.is_empty() {
        return Ok(None);
    }
    merge(s, &all).map(Some)
}

/// `tf.summary.merge`'s op (TF: `MergeSummary`).
#[derive(Debug, Serialize, Deserialize)]
pub struct MergeSummary;

#[typetag::serde]
impl Op for MergeSummary {
    fn type_name(&self) -> &'static str {
        "MergeSummary"
    }
    fn infer(&self, cx: &InferCtx<'_>) -> Result<Vec<TensorSpec>> {
        if cx.num_inputs() == 0 {
            return Err(cx.error("merge needs at least one summary"));
        }
        for (i, x) in cx.inputs().iter().enumerate() {
            if x.dtype != DType::String || x.shape.rank().is_some_and(|r| r != 0) {
                return Err(cx.error(format!(
                    "input {i} must be a scalar string (a summary op's output), got {} {}",
                    x.dtype, x.shape
                )));
            }
        }
        Ok(scalar_string())
    }
    fn compute(&self, cx: &mut KernelCtx<'_>) -> Result<Vec<Value>> {
        let mut values = Vec::new();
        let mut tags = std::collections::HashSet::new();
        for i in 0..cx.num_inputs() {
            let bytes = cx.input(i)?.scalar_bytes().map_err(|e| cx.wrap(e))?;
            let sum = Summary::decode(bytes)
                .map_err(|e| cx.error(format!("input {i} is not a serialized Summary protobuf: {e}")))?;
            for v in sum.value {
                if !tags.insert(v.tag.clone()) {
                    return Err(cx.error(format!("duplicate tag '{}' found in summary inputs", v.tag)));
                }
                values.push(v);
            }
        }
        Ok(vec![encode(values)])
    }
    fn gradient(&self, _: &Scope, cx: &GradCtx<'_>) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![None; cx.num_inputs()])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ferroflow_core::{shape, Graph};
    use ferroflow_ops::{constant, placeholder};
    use ferroflow_session::Session;

    fn decode(v: &Value) -> Summary {
        Summary::decode(v.scalar_bytes().unwrap()).unwrap()
    }

    #[test]
    fn scalar_value_tag_and_errors() {
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s, DType::F64, shape![]).unwrap();
        let t = s.name_scope("train", |s| scalar(s, "loss", x)).unwrap();
        let t2 = s.name_scope("train", |s| scalar(s, "loss", x)).unwrap();
        assert_eq!(t.op().name(&s).unwrap(), "train/loss");
        assert_eq!(t2.op().name(&s).unwrap(), "train_1/loss");
        assert_eq!(g.collection_tensors(&SUMMARIES), vec![t, t2]);
        let sess = Session::new(&g);
        let out = sess.run([t], &[(x, Value::from(2.5f64))]).unwrap();
        let sum = decode(&out[0]);
        assert_eq!(sum.value.len(), 1);
        assert_eq!(sum.value[0].tag, "train/loss");
        assert_eq!(sum.value[0].kind, Some(Kind::SimpleValue(2.5)));

        let v = constant(&s, Value::from(vec![1.0f32, 2.0])).unwrap();
        let e = scalar(&s, "bad", v).unwrap_err().to_string();
        assert!(e.contains("'bad'") && e.contains("must be a scalar, got shape [2]"), "{e}");
        let b = constant(&s, true).unwrap();
        let e = scalar(&s, "flag", b).unwrap_err().to_string();
        assert!(e.contains("'flag'") && e.contains("numeric"), "{e}");
        // Unknown shape: checked at run time, naming the node.
        let u = placeholder(&s, DType::F32, ferroflow_core::Shape::unknown()).unwrap();
        let su = scalar(&s, "late", u).unwrap();
        let e = sess.run([su], &[(u, Value::from(vec![1.0f32]))]).unwrap_err().to_string();
        assert!(e.contains("'late'") && e.contains("must be a scalar"), "{e}");
    }

    #[test]
    fn histogram_counts_and_nan_error() {
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s, DType::F32, shape![None]).unwrap();
        let h = histogram(&s, "w", x).unwrap();
        let sess = Session::new(&g);
        let out = sess.run([h], &[(x, Value::from(vec![1.0f32, 2.0, 3.0, -1.0]))]).unwrap();
        let Some(Kind::Histo(p)) = decode(&out[0]).value[0].kind.clone() else { panic!("not a histogram") };
        assert_eq!((p.num, p.sum, p.min, p.max, p.sum_squares), (4.0, 5.0, -1.0, 3.0, 15.0));
        assert_eq!(p.bucket.iter().sum::<f64>(), 4.0);
        let e = sess.run([h], &[(x, Value::from(vec![f32::NAN]))]).unwrap_err().to_string();
        assert!(e.contains("'w'") && e.contains("NaN or infinity"), "{e}");
        let st = constant(&s, "abc").unwrap();
        let e = histogram(&s, "str", st).unwrap_err().to_string();
        assert!(e.contains("'str'") && e.contains("got string"), "{e}");
    }

    #[test]
    fn image_shapes_and_pixels() {
        let g = Graph::new();
        let s = g.root();
        let x = placeholder(&s, DType::F32, shape![None, 2, 3, 1]).unwrap();
        let im = image(&s, "input", x, 2).unwrap();
        let one = image(&s, "first", x, 1).unwrap();
        let sess = Session::new(&g);
        let batch: Vec<f32> = (0..18).map(|i| (i % 6) as f32 / 5.0).collect();
        let feed = Value::from_shape_vec(&[3, 2, 3, 1], batch).unwrap();
        let out = sess.run([im, one], &[(x, feed)]).unwrap();
        let sum = decode(&out[0]);
        assert_eq!(sum.value.iter().map(|v| v.tag.as_str()).collect::<Vec<_>>(), ["input/image/0", "input/image/1"]);
        let Some(Kind::Image(img)) = &sum.value[0].kind else { panic!("not an image") };
        assert_eq!((img.height, img.width, img.colorspace), (2, 3, 1));
        assert_eq!(&img.encoded_image_string[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(decode(&out[1]).value[0].tag, "first/image");
        // TF's scaling: non-negative → max to 255; with negatives, 0 → 128.
        assert_eq!(normalize(&[0.0, 0.5, 1.0], 1), vec![0, 127, 255]);
        assert_eq!(normalize(&[-1.0, 0.0, 0.5], 1), vec![1, 128, 191]);
        assert_eq!(normalize(&[0.5, f64::NAN, 0.2, 0.2, 0.0, 1.0], 3), vec![255, 0, 0, 51, 0, 255]);

        let two = placeholder(&s, DType::F32, shape![1, 4, 4, 2]).unwrap();
        let e = image(&s, "ga", two, 3).unwrap_err().to_string();
        assert!(e.contains("'ga'") && e.contains("1 (grayscale), 3 (RGB) or 4 (RGBA) channels, got 2"), "{e}");
        let flat = placeholder(&s, DType::F32, shape![4, 4]).unwrap();
        let e = image(&s, "flat", flat, 3).unwrap_err().to_string();
        assert!(e.contains("'flat'") && e.contains("4-D"), "{e}");
        let u = placeholder(&s, DType::F32, ferroflow_core::Shape::unknown()).unwrap();
        let late = image(&s, "late", u, 3).unwrap();
        let e = sess.run([late], &[(u, Value::filled(&[1, 2, 2, 2], 0.5f32))]).unwrap_err().to_string();
        assert!(e.contains("'late'") && e.contains("got 2"), "{e}");
    }

    #[test]
    fn text_and_merge() {
        let g = Graph::new();
        let s = g.root();
        let msg = constant(&s, Value::from("**hello**")).unwrap();
        let t = text(&s, "notes", msg).unwrap();
        let a = scalar(&s, "a", 1.0f32).unwrap();
        let m = merge_all(&s).unwrap().unwrap();
        assert_eq!(m.op().type_name(&s).unwrap(), "MergeSummary");
        let sess = Session::new(&g);
        let out = sess.run([m], &[]).unwrap();
        let sum = decode(&out[0]);
        assert_eq!(sum.value.iter().map(|v| v.tag.as_str()).collect::<Vec<_>>(), ["notes", "a"]);
        let Some(Kind::Tensor(tp)) = &sum.value[0].kind else { panic!("not a tensor") };
        assert_eq!(tp.string_val, vec![b"**hello**".to_vec()]);
        assert_eq!(sum.value[0].metadata.as_ref().unwrap().plugin_data.as_ref().unwrap().plugin_name, "text");

        let e = text(&s, "num", constant(&s, 1.0f32).unwrap()).unwrap_err().to_string();
        assert!(e.contains("'num'") && e.contains("string tensor"), "{e}");
        let e = merge(&s, &[t, a.op().output(0), msg]).map(|_| ()).err();
        assert!(e.is_none(), "a scalar string constant is accepted at build time");
        let bad = merge(&s, &[t, msg]).unwrap();
        let e = sess.run([bad], &[]).unwrap_err().to_string();
        assert!(e.contains("MergeSummary") && e.contains("not a serialized Summary"), "{e}");
        let dup = merge(&s, &[t, t]).unwrap();
        let e = sess.run([dup], &[]).unwrap_err().to_string();
        assert!(e.contains("duplicate tag 'notes'"), "{e}");
        let e = merge(&s, &[]).unwrap_err().to_string();
        assert!(e.contains("at least one"), "{e}");
        let e = merge(&s, &[a.op().output(0), constant(&s, 1.0f32).unwrap()]).unwrap_err().to_string();
        assert!(e.contains("input 1 must be a scalar string"), "{e}");
        assert!(merge_all(&Graph::new().root()).unwrap().is_none());
    }
}
