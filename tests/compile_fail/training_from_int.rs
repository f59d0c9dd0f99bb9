// TF1 code often passes `is_training=1` (Python truthiness). `Training` is a bool tensor or a
// fixed bool: an integer is not accepted.
use ferroflow::prelude::*;

fn main() -> ferroflow::Result<()> {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s, DType::F32, shape![None, 4])?;
    let _y = layers::dropout(&s, x, 0.5, 1, None)?;
    Ok(())
}
