//! The `Collective` trait (rank, size, allreduce, allgather, broadcast, barrier), the `Local`
//! backend (one process) and the value-level helpers the graph ops use: fused (bucketed)
//! allreduce with a cross-rank dtype/shape check, allgather along axis 0, broadcast.

use ferroflow_core::{DType, Error, Result, Value};
use ndarray::IxDyn;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A borrowed flat buffer of one of the dtypes collectives move.
#[derive(Debug)]
pub enum Buf<'a> {
    /// `float32`.
    F32(&'a [f32]),
    /// `float64`.
    F64(&'a [f64]),
    /// `int32`.
    I32(&'a [i32]),
    /// `int64`.
    I64(&'a [i64]),
}

/// A mutable flat buffer of one of the dtypes collectives move.
#[derive(Debug)]
pub enum BufMut<'a> {
    /// `float32`.
    F32(&'a mut [f32]),
    /// `float64`.
    F64(&'a mut [f64]),
    /// `int32`.
    I32(&'a mut [i32]),
    /// `int64`.
    I64(&'a mut [i64]),
}

impl BufMut<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            BufMut::F32(b) => b.len(),
            BufMut::F64(b) => b.len(),
            BufMut::I32(b) => b.len(),
            BufMut::I64(b) => b.len(),
        }
    }
    /// True when the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How `allreduce` combines the ranks' tensors. Horovod: `hvd.Average`, `hvd.Sum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ReduceOp {
    /// The element-wise mean over ranks (integers: the sum divided by the size, truncated).
    #[default]
    Average,
    /// The element-wise sum over ranks.
    Sum,
}

/// Collective communication among the `size` processes of a job.
///
/// Every rank must call the same collectives in the same order with buffers of the same
/// dtype and length (allgather: the same dtype; lengths may differ). Graph ops reach a
/// collective through the handle they were built with; the session runs ops of a plan in
/// node order, so identical graphs call collectives in identical order on every rank.
///
/// Implementations: [`Local`] (size 1) and, with the `mpi` feature, `Mpi` (MPI_COMM_WORLD).
pub trait Collective: Send + Sync + fmt::Debug {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// Number of processes in the job.
    fn size(&self) -> usize;
    /// Replaces `buf` by the element-wise sum of every rank's `buf`.
    fn allreduce_sum(&self, buf: BufMut<'_>) -> Result<()>;
    /// Writes every rank's `send` into `recv`, in rank order; `counts[r]` is the number of
    /// elements rank `r` sends (`recv.len()` must be their sum; `send` and `recv` share a dtype).
    fn allgather(&self, send: Buf<'_>, recv: BufMut<'_>, counts: &[usize]) -> Result<()>;
    /// Replaces `buf` on every rank by rank `root`'s `buf`.
    fn broadcast(&self, buf: BufMut<'_>, root: usize) -> Result<()>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
    /// Ends the whole job (every rank) with exit code `code`. MPI: `MPI_Abort`.
    fn abort(&self, code: i32) -> !;
}

/// A shared collective handle, as graph ops and the optimizer hold it.
pub type CollectiveRef = Arc<dyn Collective>;

/// Something that gives a collective handle: an [`Hvd`](crate::Hvd) or a [`CollectiveRef`].
pub trait HasCollective {
    /// The collective handle.
    fn collective(&self) -> CollectiveRef;
}

impl HasCollective for CollectiveRef {
    fn collective(&self) -> CollectiveRef {
        self.clone()
    }
}

/// The single-process backend: size 1, rank 0; every collective is the identity. No system
/// dependency; what `init()` gives without the `mpi` feature.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn allreduce_sum(&self, _buf: BufMut<'_>) -> Result<()> {
        Ok(())
    }
    fn allgather(&self, send: Buf<'_>, recv: BufMut<'_>, counts: &[usize]) -> Result<()> {
        if counts.len() != 1 || counts[0] != recv.len() {
            return Err(Error::InvalidArgument(format!(
                "allgather on 1 rank: counts {counts:?} do not fit a receive buffer of {} elements",
                recv.len()
            )));
        }
        match (send, recv) {
            (Buf::F32(s), BufMut::F32(r)) if s.len() == r.len() => r.copy_from_slice(s),
            (Buf::F64(s), BufMut::F64(r)) if s.len() == r.len() => r.copy_from_slice(s),
            (Buf::I32(s), BufMut::I32(r)) if s.len() == r.len() => r.copy_from_slice(s),
            (Buf::I64(s), BufMut::I64(r)) if s.len() == r.len() => r.copy_from_slice(s),
            (s, r) => {
                return Err(Error::InvalidArgument(format!(
                    "allgather: send buffer {s:?} does not fit receive buffer of {} elements",
                    r.len()
                )))
            }
        }
        Ok(())
    }
    fn broadcast(&self, _buf: BufMut<'_>, root: usize) -> Result<()> {
        check_root(root, 1)
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// An error unless `root < size`.
pub(crate) fn check_root(root: usize, size: usize) -> Result<()> {
    if root >= size {
        return Err(Error::InvalidArgument(format!(
            "broadcast root {root} is not a rank of this job (size {size}); use a root in 0..{size}"
        )));
    }
    Ok(())
}

fn dtype_code(d: DType) -> i64 {
    match d {
        DType::F32 => 1,
        DType::F64 => 2,
        DType::I32 => 3,
        DType::I64 => 4,
        DType::Bool => 5,
        DType::String => 6,
    }
}

fn dtype_of_code(c: i64) -> String {
    match c {
        1 => "float32".into(),
        2 => "float64".into(),
        3 => "int32".into(),
        4 => "int64".into(),
        5 => "bool".into(),
        6 => "string".into(),
        other => format!("dtype#{other}"),
    }
}

/// Every rank's `mine` (lengths may differ), in rank order.
pub fn gather_i64(c: &dyn Collective, mine: &[i64]) -> Result<Vec<Vec<i64>>> {
    let size = c.size();
    let mut lens = vec![0i64; size];
    let ones = vec![1usize; size];
    c.allgather(Buf::I64(&[mine.len() as i64]), BufMut::I64(&mut lens), &ones)?;
    let counts: Vec<usize> = lens.iter().map(|&l| usize::try_from(l).unwrap_or(0)).collect();
    let mut all = vec![0i64; counts.iter().sum()];
    c.allgather(Buf::I64(mine), BufMut::I64(&mut all), &counts)?;
    let mut out = Vec::with_capacity(size);
    let mut at = 0;
    for n in counts {
        out.push(all.get(at..at + n).map(<[i64]>::to_vec).unwrap_or_default());
        at += n;
    }
    Ok(out)
}

/// 64-bit FNV-1a of a list of integers (for the cheap cross-rank check).
fn fnv(xs: impl IntoIterator<Item = i64>) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in xs {
        for b in x.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h as i64
}

fn encode_shapes(values: &[&Value]) -> Vec<i64> {
    let mut enc = Vec::new();
    for v in values {
        enc.push(dtype_code(v.dtype()));
        enc.push(v.shape().len() as i64);
        enc.extend(v.shape().iter().map(|&d| d as i64));
    }
    enc
}

fn decode_shapes(enc: &[i64]) -> Vec<(String, Vec<i64>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < enc.len() {
        let (code, nd) = (enc[i], usize::try_from(enc[i + 1]).unwrap_or(0));
        let dims = enc.get(i + 2..i + 2 + nd).map(<[i64]>::to_vec).unwrap_or_default();
        out.push((dtype_of_code(code), dims));
        i += 2 + nd;
    }
    out
}

/// Checks that every rank passes tensors of the same dtypes and shapes (`what` says which
/// collective, `names` name this rank's tensors). One 4-integer allgather when all agree; on a
/// mismatch every rank exchanges its shapes (all ranks see the mismatch, so all take this
/// path) and the error names the first differing tensor and each rank's dtype and shape.
///
/// With `ignore_dim0`, dimension 0 may differ (allgather).
pub fn check_same_specs(
    c: &dyn Collective,
    what: &str,
    names: &[String],
    values: &[&Value],
    ignore_dim0: bool,
) -> Result<()> {
    if c.size() == 1 {
        return Ok(());
    }
    let enc: Vec<i64> = if ignore_dim0 {
        values
            .iter()
            .flat_map(|v| {
                [dtype_code(v.dtype()), v.shape().len() as i64]
                    .into_iter()
                    .chain(v.shape().iter().skip(1).map(|&d| d as i64))
            })
            .collect()
    } else {
        encode_shapes(values)
    };
    let header = [values.len() as i64, enc.len() as i64, fnv(enc.iter().copied()), 0];
    let size = c.size();
    let mut all = vec![0i64; 4 * size];
    c.allgather(Buf::I64(&header), BufMut::I64(&mut all), &vec![4; size])?;
    if all.chunks(4).all(|h| h == header.as_slice()) {
        return Ok(());
    }
    let full = gather_i64(c, &encode_shapes(values))?;
    let per_rank: Vec<Vec<(String, Vec<i64>)>> = full.iter().map(|e| decode_shapes(e)).collect();
    let n = per_rank.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..n {
        let specs: Vec<Option<&(String, Vec<i64>)>> = per_rank.iter().map(|r| r.get(i)).collect();
        let same = specs.windows(2).all(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) => {
                a.0 == b.0
                    && if ignore_dim0 {
                        a.1.len() == b.1.len() && a.1.iter().skip(1).eq(b.1.iter().skip(1))
                    } else {
                        a.1 == b.1
                    }
            }
            _ => false,
        });
        if !same {
            let name = names.get(i).cloned().unwrap_or_else(|| format!("tensor #{i}"));
            let desc: Vec<String> = specs
                .iter()
                .enumerate()
                .map(|(r, s)| match s {
                    Some((d, dims)) => format!("rank {r}: {d} {dims:?}"),
                    None => format!("rank {r}: no tensor #{i}"),
                })
                .collect();
            let rule = if ignore_dim0 {
                "the same dtype and the same dims after the first"
            } else {
                "the same dtype and shape"
            };
            return Err(Error::InvalidArgument(format!(
                "{what}: '{name}' differs across ranks ({}); every rank must pass {rule} to the same collective (build the same graph and feed same-shaped batches on every rank)",
                desc.join(", ")
            )));
        }
    }
    Err(Error::InvalidArgument(format!(
        "{what}: the ranks pass different tensor lists ({} tensors here); every rank must build the same graph",
        values.len()
    )))
}

fn bool_error(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} does not support bool tensors; cast to int32 first"))
}

macro_rules! with_numeric {
    ($dtype:expr, $what:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            DType::Bool => return Err(bool_error($what)),
            DType::String => return Err(Error::InvalidArgument(format!("{} does not support string tensors", $what))),
        }
    };
}

/// A numeric element collectives can move.
pub trait Numeric: ferroflow_core::Element + Send + Sync {
    /// The mutable buffer variant for a slice of this type.
    fn buf_mut(x: &mut [Self]) -> BufMut<'_>;
    /// The buffer variant for a slice of this type.
    fn buf(x: &[Self]) -> Buf<'_>;
    /// `self / n` (float: exact division; integer: truncating).
    fn div_size(self, n: usize) -> Self;
}

macro_rules! numeric {
    ($t:ty, $v:ident, $div:expr) => {
        impl Numeric for $t {
            fn buf_mut(x: &mut [Self]) -> BufMut<'_> {
                BufMut::$v(x)
            }
            fn buf(x: &[Self]) -> Buf<'_> {
                Buf::$v(x)
            }
            fn div_size(self, n: usize) -> Self {
                let f: fn($t, usize) -> $t = $div;
                f(self, n)
            }
        }
    };
}
numeric!(f32, F32, |x, n| x / n as f32);
numeric!(f64, F64, |x, n| x / n as f64);
numeric!(i32, I32, |x, n| x / i32::try_from(n).unwrap_or(i32::MAX));
numeric!(i64, I64, |x, n| x / i64::try_from(n).unwrap_or(i64::MAX));

fn pack<T: Numeric>(values: &[&Value]) -> Result<Vec<T>> {
    let total: usize = values.iter().map(|v| v.len()).sum();
    let mut buf: Vec<T> = Vec::new();
    buf.try_reserve_exact(total)
        .map_err(|_| Error::InvalidArgument(format!("cannot allocate a fusion buffer of {total} elements")))?;
    for v in values {
        let view = v.view::<T>()?;
        // A contiguous buffer is one memcpy; element-wise iteration over a dynamic-rank view
        // cost ~3 ms per step for the conv20 gradients.
        match view.as_slice() {
            Some(flat) => buf.extend_from_slice(flat),
            None => buf.extend(view.iter().copied()),
        }
    }
    Ok(buf)
}

fn unpack<T: Numeric>(buf: Vec<T>, shapes: &[Vec<usize>]) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(shapes.len());
    let mut rest = buf;
    // Split from the back so each piece is one allocation (the buffer is consumed).
    let mut pieces = Vec::with_capacity(shapes.len());
    for shape in shapes.iter().rev() {
        let n: usize = shape.iter().product();
        let at = rest.len().saturating_sub(n);
        let piece = rest.split_off(at);
        pieces.push((shape, piece));
    }
    for (shape, piece) in pieces.into_iter().rev() {
        let a = ndarray::ArrayD::from_shape_vec(IxDyn(shape), piece)
            .map_err(|e| Error::InvalidArgument(format!("fusion buffer split: {e}")))?;
        out.push(T::into_value(a.into_shared()));
    }
    Ok(out)
}

/// Allreduces `values` (all of one dtype) with one collective: packs them into one buffer,
/// reduces it, unpacks. `names` name the tensors in the cross-rank check error.
///
/// # Errors
/// Mixed dtypes, bool tensors, tensors whose dtype/shape differ across ranks (the error names
/// the tensor and each rank's dtype and shape), communication failures.
pub fn allreduce_fused(c: &dyn Collective, values: &[&Value], op: ReduceOp, names: &[String]) -> Result<Vec<Value>> {
    let Some(first) = values.first() else { return Ok(Vec::new()) };
    let dtype = first.dtype();
    if let Some(v) = values.iter().find(|v| v.dtype() != dtype) {
        return Err(Error::InvalidArgument(format!(
            "allreduce: one fusion bucket holds {dtype} and {} tensors; a bucket holds one dtype",
            v.dtype()
        )));
    }
    check_same_specs(c, "allreduce", names, values, false)?;
    if c.size() == 1 {
        if dtype == DType::Bool {
            return Err(bool_error("allreduce"));
        }
        return Ok(values.iter().map(|v| (*v).clone()).collect());
    }
    let shapes: Vec<Vec<usize>> = values.iter().map(|v| v.shape().to_vec()).collect();
    with_numeric!(dtype, "allreduce", T => {
        let mut buf = pack::<T>(values)?;
        c.allreduce_sum(T::buf_mut(&mut buf))?;
        if op == ReduceOp::Average {
            let n = c.size();
            buf.iter_mut().for_each(|x| *x = x.div_size(n));
        }
        unpack::<T>(buf, &shapes)
    })
}

/// Replaces every value by rank `root`'s, one collective for all (one dtype).
pub fn broadcast_fused(c: &dyn Collective, values: &[&Value], root: usize, names: &[String]) -> Result<Vec<Value>> {
    check_root(root, c.size())?;
    let Some(first) = values.first() else { return Ok(Vec::new()) };
    let dtype = first.dtype();
    if let Some(v) = values.iter().find(|v| v.dtype() != dtype) {
        return Err(Error::InvalidArgument(format!(
            "broadcast: one bucket holds {dtype} and {} tensors; a bucket holds one dtype",
            v.dtype()
        )));
    }
    check_same_specs(c, "broadcast", names, values, false)?;
    if c.size() == 1 {
        return Ok(values.iter().map(|v| (*v).clone()).collect());
    }
    let shapes: Vec<Vec<usize>> = values.iter().map(|v| v.shape().to_vec()).collect();
    with_numeric!(dtype, "broadcast", T => {
        let mut buf = pack::<T>(values)?;
        c.broadcast(T::buf_mut(&mut buf), root)?;
        unpack::<T>(buf, &shapes)
    })
}

/// Every rank's dimension 0 of `x` (for allgather and its gradient).
pub fn gather_dim0(c: &dyn Collective, x: &Value) -> Result<Vec<usize>> {
    let d0 = x.shape().first().copied().unwrap_or(0) as i64;
    let size = c.size();
    let mut all = vec![0i64; size];
    c.allgather(Buf::I64(&[d0]), BufMut::I64(&mut all), &vec![1; size])?;
    Ok(all.into_iter().map(|d| usize::try_from(d).unwrap_or(0)).collect())
}

/// Concatenates every rank's `x` along dimension 0 (the other dims must agree). Horovod:
/// `hvd.allgather`.
pub fn allgather_value(c: &dyn Collective, x: &Value, name: &str) -> Result<Value> {
    if x.shape().is_empty() {
        return Err(Error::InvalidArgument(format!(
            "allgather: '{name}' is a scalar; allgather concatenates along dimension 0, so pass a tensor of rank >= 1"
        )));
    }
    check_same_specs(c, "allgather", &[name.to_string()], &[x], true)?;
    let d0s = gather_dim0(c, x)?;
    let row: usize = x.shape().iter().skip(1).product();
    let counts: Vec<usize> = d0s.iter().map(|d| d * row).collect();
    let mut shape = x.shape().to_vec();
    shape[0] = d0s.iter().sum();
    with_numeric!(x.dtype(), "allgather", T => {
        let send = pack::<T>(&[x])?;
        let mut recv = vec![T::default(); counts.iter().sum()];
        c.allgather(T::buf(&send), T::buf_mut(&mut recv), &counts)?;
        unpack::<T>(recv, &[shape]).map(|mut v| v.remove(0))
    })
}

/// This rank's rows of an allgathered tensor's gradient: the sum over ranks of `grad`, rows
/// `offset..offset + d0` where `offset` is the sum of the lower ranks' dim 0 of `x`.
pub fn allgather_grad_value(c: &dyn Collective, grad: &Value, x: &Value, name: &str) -> Result<Value> {
    let summed = allreduce_fused(c, &[grad], ReduceOp::Sum, &[format!("gradient of {name}")])?.remove(0);
    let d0s = gather_dim0(c, x)?;
    let offset: usize = d0s.iter().take(c.rank()).sum();
    let mine = d0s.get(c.rank()).copied().unwrap_or(0);
    if summed.shape().first().copied().unwrap_or(0) < offset + mine {
        return Err(Error::InvalidArgument(format!(
            "allgather gradient: the gradient has shape {:?} but the gathered rows are {d0s:?}",
            summed.shape()
        )));
    }
    let row: usize = x.shape().iter().skip(1).product();
    let shape = x.shape().to_vec();
    with_numeric!(summed.dtype(), "allgather", T => {
        let flat = pack::<T>(&[&summed])?;
        let part = flat.get(offset * row..(offset + mine) * row).map(<[T]>::to_vec).unwrap_or_default();
        unpack::<T>(part, &[shape]).map(|mut v| v.remove(0))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn local_is_identity() {
        let c = Local;
        let a = Value::from(vec![1.0f32, 2.0, 3.0]);
        let b = Value::from(vec![4.0f32]);
        let out = allreduce_fused(&c, &[&a, &b], ReduceOp::Average, &["a".into(), "b".into()]).unwrap();
        assert_eq!(out, vec![a.clone(), b.clone()]);
        assert_eq!(allgather_value(&c, &a, "a").unwrap(), a);
        assert_eq!(broadcast_fused(&c, &[&a], 0, &["a".into()]).unwrap(), vec![a.clone()]);
        assert!(broadcast_fused(&c, &[&a], 1, &["a".into()]).unwrap_err().to_string().contains("root 1"));
        assert!(allgather_value(&c, &Value::from(1.0f32), "s").unwrap_err().to_string().contains("scalar"));
    }

    #[test]
    fn pack_unpack_round_trip_with_empty_and_odd_sizes() {
        let a = Value::from(vec![1i64, 2, 3]);
        let e = Value::zeros(DType::I64, &[0, 4]);
        let m = Value::from_shape_vec(&[1, 5], vec![5i64, 6, 7, 8, 9]).unwrap();
        let buf = pack::<i64>(&[&a, &e, &m]).unwrap();
        let out = unpack::<i64>(buf, &[vec![3], vec![0, 4], vec![1, 5]]).unwrap();
        assert_eq!(out, vec![a, e, m]);
    }

    #[test]
    fn mixed_dtypes_in_a_bucket_are_an_error() {
        let a = Value::from(vec![1.0f32]);
        let b = Value::from(vec![1.0f64]);
        let e = allreduce_fused(&Local, &[&a, &b], ReduceOp::Sum, &[]).unwrap_err().to_string();
        assert!(e.contains("float32 and float64"), "{e}");
    }

    #[test]
    fn shape_codec_round_trips() {
        let a = Value::zeros(DType::F32, &[2, 3]);
        let b = Value::zeros(DType::I32, &[]);
        let d = decode_shapes(&encode_shapes(&[&a, &b]));
        assert_eq!(d, vec![("float32".to_string(), vec![2, 3]), ("int32".to_string(), vec![])]);
    }
}
