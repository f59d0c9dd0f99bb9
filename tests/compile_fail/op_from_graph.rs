// Ops are made through a `Scope` (name prefix, control dependencies, cond branch), never from the
// `Graph` itself, so an op cannot escape the context it was written in (TF1's default-graph
// `with` blocks).
use ferroflow::prelude::*;

fn main() -> ferroflow::Result<()> {
    let g = Graph::new();
    let _x = placeholder(&g, DType::F32, shape![None, 4])?;
    Ok(())
}
