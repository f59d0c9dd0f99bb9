//! Kernel helpers shared by the op families: dtype dispatch, broadcasting zips, axis handling.

use ferroflow_core::shape::broadcast_dims;
use ferroflow_core::{Error, Result};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};

/// Applies `f` element-wise over `a` and `b` with NumPy broadcasting.
pub fn broadcast_zip<A: Copy, B: Copy, O>(
    a: &ArrayViewD<'_, A>,
    b: &ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> O,
) -> Result<ArrayD<O>> {
    if a.shape() == b.shape() {
        return Ok(Zip::from(a).and(b).map_collect(|&x, &y| f(x, y)));
    }
    if b.len() == 1 && b.ndim() <= a.ndim() {
        if let Some(&y) = b.iter().next() {
            return Ok(a.mapv(|x| f(x, y)));
        }
    }
    if a.len() == 1 && a.ndim() <= b.ndim() {
        if let Some(&x) = a.iter().next() {
            return Ok(b.mapv(|y| f(x, y)));
        }
    }
    // One operand repeats along the leading axes of the other (x - mean, x * scale with a
    // per-channel vector on NHWC): a flat loop over blocks instead of a strided IxDyn zip.
    if let (Some(xs), Some(ys)) = (a.as_slice(), b.as_slice()) {
        if is_trailing_block(b.shape(), a.shape()) && ys.len() > 1 {
            let mut out = Vec::with_capacity(xs.len());
            for c in xs.chunks_exact(ys.len()) {
                out.extend(c.iter().zip(ys).map(|(&x, &y)| f(x, y)));
            }
            return ArrayD::from_shape_vec(IxDyn(a.shape()), out).map_err(|e| Error::invalid(e.to_string()));
        }
        if is_trailing_block(a.shape(), b.shape()) && xs.len() > 1 {
            let mut out = Vec::with_capacity(ys.len());
            for c in ys.chunks_exact(xs.len()) {
                out.extend(xs.iter().zip(c).map(|(&x, &y)| f(x, y)));
            }
            return ArrayD::from_shape_vec(IxDyn(b.shape()), out).map_err(|e| Error::invalid(e.to_string()));
        }
    }
    let dims = broadcast_dims(a.shape(), b.shape())?;
    let av = a
        .broadcast(IxDyn(&dims))
        .ok_or_else(|| Error::invalid(format!("cannot broadcast {:?} to {dims:?}", a.shape())))?;
    let bv = b
        .broadcast(IxDyn(&dims))
        .ok_or_else(|| Error::invalid(format!("cannot broadcast {:?} to {dims:?}", b.shape())))?;
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// True when `small` broadcast to `big` is `big`'s shape with `small`'s elements repeated as
/// one contiguous block: `small` (leading 1s dropped) equals the trailing dims of `big`, and
/// `small` has no more dims than `big` (so the result has `big`'s shape).
pub fn is_trailing_block(small: &[usize], big: &[usize]) -> bool {
    if small.len() > big.len() {
        return false;
    }
    let lead = small.iter().take_while(|&&d| d == 1).count();
    let core = &small[lead..];
    let prod: usize = core.iter().product();
    big.ends_with(core) && prod > 0 && big.iter().product::<usize>() % prod == 0
}

/// Three-way broadcasting zip.
pub fn broadcast_zip3<A: Copy, B: Copy, C: Copy, O>(
    a: &ArrayViewD<'_, A>,
    b: &ArrayViewD<'_, B>,
    c: &ArrayViewD<'_, C>,
    f: impl Fn(A, B, C) -> O,
) -> Result<ArrayD<O>> {
    let dims = broadcast_dims(&broadcast_dims(a.shape(), b.shape())?, c.shape())?;
    let d = IxDyn(&dims);
    let err = |s: &[usize]| Error::invalid(format!("cannot broadcast {s:?} to {dims:?}"));
    let av = a.broadcast(d.clone()).ok_or_else(|| err(a.shape()))?;
    let bv = b.broadcast(d.clone()).ok_or_else(|| err(b.shape()))?;
    let cv = c.broadcast(d).ok_or_else(|| err(c.shape()))?;
    Ok(Zip::from(&av).and(&bv).and(&cv).map_collect(|&x, &y, &z| f(x, y, z)))
}

/// Sums `g` down to `target` (the inverse of broadcasting `target` up to `g`'s shape).
pub fn sum_to_shape<T: Copy + num_traits::Zero + std::ops::Add<Output = T>>(
    g: ArrayD<T>,
    target: &[usize],
) -> Result<ArrayD<T>> {
    if g.shape() == target {
        return Ok(g);
    }
    let nd = g.ndim();
    if target.len() > nd {
        return Err(Error::invalid(format!("cannot reduce shape {:?} to {target:?}", g.shape())));
    }
    // Target repeated as one contiguous block along g's leading axes (per-channel bias/offset
    // gradients on NHWC): accumulate block by block in one pass.
    if let Some(gs) = g.as_slice() {
        let p: usize = target.iter().product();
        if is_trailing_block(target, g.shape()) && p > 1 {
            let mut acc = vec![T::zero(); p];
            for c in gs.chunks_exact(p) {
                for (o, &v) in acc.iter_mut().zip(c) {
                    *o = *o + v;
                }
            }
            return ArrayD::from_shape_vec(IxDyn(target), acc).map_err(|e| Error::invalid(e.to_string()));
        }
    }
    let lead = nd - target.len();
    let mut out = g;
    // Sum leading axes away, then axes where the target has 1.
    for _ in 0..lead {
        out = out.sum_axis(Axis(0));
    }
    for (k, &t) in target.iter().enumerate() {
        if t == 1 && out.shape()[k] != 1 {
            out = out.sum_axis(Axis(k)).insert_axis(Axis(k));
        } else if t != out.shape()[k] {
            return Err(Error::invalid(format!("cannot reduce shape {:?} to {target:?}", out.shape())));
        }
    }
    Ok(out)
}

/// Normalizes `axis` (negative counts from the end) against `rank`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        let valid =
            if rank == 0 { "a scalar has no axes".to_string() } else { format!("valid axes are {} to {}", -r, r - 1) };
        Err(Error::invalid(format!("axis {axis} is out of range for a tensor of rank {rank}; {valid}")))
    }
}

/// Dispatches on a float `Value`, binding `$a` to its array and `$T` to its element type.
#[macro_export]
#[doc(hidden)]
macro_rules! float_dispatch {
    ($v:expr, $cx:expr, |$a:ident: $T:ident| $body:expr) => {
        match $v {
            ferroflow_core::Value::F32($a) => {
                #[allow(dead_code)]
                type $T = f32;
                $body
            }
            ferroflow_core::Value::F64($a) => {
                #[allow(dead_code)]
                type $T = f64;
                $body
            }
            other => return Err($cx.error(format!("expected a float input, got {}", other.dtype()))),
        }
    };
}

/// `out[i] ← g(out[i], other[i])`, `other` broadcast to `out`'s shape: flat loops for the
/// same shape, a scalar and a trailing block (a per-channel vector on NHWC), else a strided
/// zip. Errors when `other` does not broadcast to `out`.
pub fn zip_assign<T: Copy>(
    out: &mut ndarray::ArrayViewMutD<'_, T>,
    other: &ArrayViewD<'_, T>,
    g: impl Fn(T, T) -> T,
) -> Result<()> {
    let shape = out.shape().to_vec();
    if let Some(os) = out.as_slice_mut() {
        if let Some(ys) = other.as_slice() {
            if other.shape() == shape.as_slice() {
                os.iter_mut().zip(ys).for_each(|(o, &y)| *o = g(*o, y));
                return Ok(());
            }
            if ys.len() == 1 && other.ndim() <= shape.len() {
                let y = ys[0];
                os.iter_mut().for_each(|o| *o = g(*o, y));
                return Ok(());
            }
            if ys.len() > 1 && is_trailing_block(other.shape(), &shape) {
                for c in os.chunks_exact_mut(ys.len()) {
                    c.iter_mut().zip(ys).for_each(|(o, &y)| *o = g(*o, y));
                }
                return Ok(());
            }
        }
    }
    let ov = other
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| Error::invalid(format!("cannot broadcast {:?} to {shape:?}", other.shape())))?;
    Zip::from(out).and(&ov).for_each(|o, &y| *o = g(*o, y));
    Ok(())
}

/// `out ← f(a, b)` with `a` and `b` broadcast to `out`'s shape (every element of `out` is
/// written): flat loops for the common layouts, else a strided zip.
pub fn zip_write<A: Copy, B: Copy, O>(
    out: &mut ndarray::ArrayViewMutD<'_, O>,
    a: &ArrayViewD<'_, A>,
    b: &ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> O,
) -> Result<()> {
    let shape = out.shape().to_vec();
    if let (Some(os), Some(xs), Some(ys)) = (out.as_slice_mut(), a.as_slice(), b.as_slice()) {
        let full = |s: &[usize]| s == shape.as_slice();
        if full(a.shape()) && full(b.shape()) {
            os.iter_mut().zip(xs).zip(ys).for_each(|((o, &x), &y)| *o = f(x, y));
            return Ok(());
        }
        if full(a.shape()) && ys.len() == 1 {
            let y = ys[0];
            os.iter_mut().zip(xs).for_each(|(o, &x)| *o = f(x, y));
            return Ok(());
        }
        if full(b.shape()) && xs.len() == 1 {
            let x = xs[0];
            os.iter_mut().zip(ys).for_each(|(o, &y)| *o = f(x, y));
            return Ok(());
        }
        if full(a.shape()) && ys.len() > 1 && is_trailing_block(b.shape(), &shape) {
            for (oc, xc) in os.chunks_exact_mut(ys.len()).zip(xs.chunks_exact(ys.len())) {
                oc.iter_mut().zip(xc).zip(ys).for_each(|((o, &x), &y)| *o = f(x, y));
            }
            return Ok(());
        }
        if full(b.shape()) && xs.len() > 1 && is_trailing_block(a.shape(), &shape) {
            for (oc, yc) in os.chunks_exact_mut(xs.len()).zip(ys.chunks_exact(xs.len())) {
                oc.iter_mut().zip(xs).zip(yc).for_each(|((o, &x), &y)| *o = f(x, y));
            }
            return Ok(());
        }
    }
    let err = |s: &[usize]| Error::invalid(format!("cannot broadcast {s:?} to {shape:?}"));
    let av = a.broadcast(IxDyn(&shape)).ok_or_else(|| err(a.shape()))?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or_else(|| err(b.shape()))?;
    Zip::from(out).and(&av).and(&bv).for_each(|o, &x, &y| *o = f(x, y));
    Ok(())
}

/// A binary element-wise kernel on inputs 0 and 1 (both `T`) with its output from the plan's
/// buffer pool: written in place into an operand that has the output's shape when this node
/// is that operand's last reader and nothing else holds it, else into a pooled buffer. The
/// operands the result does not live in go back to the pool.
pub fn binary_pooled<T: ferroflow_core::Element>(
    cx: &mut ferroflow_core::KernelCtx<'_>,
    f: impl Fn(T, T) -> T,
) -> Result<ferroflow_core::Value> {
    let a = cx.take_input(0)?.into_shared::<T>().map_err(|e| cx.wrap(e))?;
    let b = cx.take_input(1)?.into_shared::<T>().map_err(|e| cx.wrap(e))?;
    let dims = broadcast_dims(a.shape(), b.shape()).map_err(|e| cx.wrap(e))?;
    let reusable =
        |x: &ndarray::ArcArray<T, IxDyn>| x.shape() == dims.as_slice() && x.is_unique() && x.is_standard_layout();
    let out = if reusable(&a) {
        let mut a = a;
        zip_assign(&mut a.view_mut(), &b.view(), &f).map_err(|e| cx.wrap(e))?;
        cx.recycle(T::into_value(b));
        a
    } else if reusable(&b) {
        let mut b = b;
        zip_assign(&mut b.view_mut(), &a.view(), |y, x| f(x, y)).map_err(|e| cx.wrap(e))?;
        cx.recycle(T::into_value(a));
        b
    } else {
        let mut out = cx.alloc_output::<T>(&dims)?;
        zip_write(&mut out.view_mut(), &a.view(), &b.view(), &f).map_err(|e| cx.wrap(e))?;
        cx.recycle(T::into_value(a));
        cx.recycle(T::into_value(b));
        out
    };
    Ok(T::into_value(out))
}
