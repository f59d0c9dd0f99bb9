// A typed fetch of two tensors into a three-tuple: `Fetches<(f32, f32, f32)>` is not implemented
// for a pair, so the arity mistake is a compile error, not a run-time "index out of range".
use ferroflow::prelude::*;

fn main() -> ferroflow::Result<()> {
    let g = Graph::new();
    let s = g.root();
    let loss = constant(&s, 1.0f32)?;
    let acc = constant(&s, 0.5f32)?;
    let sess = Session::new(&g);
    let (_l, _a, _extra): (f32, f32, f32) = sess.fetch((loss, acc), &[])?;
    Ok(())
}
