// `x * 2.0 + 1.0` is a deferred `Expr` (it carries any shape error until the next builder or
// `convert_to_tensor` reports it with `?`), not a `Tensor`: using it as one is a type error, so
// the error cannot be dropped silently.
use ferroflow::prelude::*;

fn main() -> ferroflow::Result<()> {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 4])?;
    let _y: Tensor = x * 2.0f32 + 1.0f32;
    Ok(())
}
