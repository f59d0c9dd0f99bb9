//! Times the convolution family through a `Session` (forward, backward, both) on the shapes
//! of the MNIST convnets, so the numbers can be compared with TF / PyTorch on the same machine.
//!
//! ```sh
//! cargo run --release -p ferroflow-ops --example conv_bench            # default: 20 timed runs
//! cargo run --release -p ferroflow-ops --example conv_bench -- 50      # more runs
//! cargo run --release -p ferroflow-ops --example conv_bench -- 20 conv2d  # only names containing "conv2d"
//! ```
//! Each cell is the median (and minimum) over the timed runs after 3 warm-up runs, in ms; on a
//! shared machine the minimum is the better estimate of the kernel's cost.
//! `RAYON_NUM_THREADS` and `MATMUL_NUM_THREADS` set the thread counts (default: all cores).

use ferroflow_core::{DType, Graph, Result, Scope, Shape, Tensor, Value};
use ferroflow_ops::nn::{self, LrnOptions, Padding};
use ferroflow_ops::placeholder;
use ferroflow_session::Session;
use ferroflow_train::gradients;
use std::time::Instant;

fn random(shape: &[usize], seed: u64) -> Value {
    let n: usize = shape.iter().product();
    let mut st = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            ((st >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Value::from_shape_vec(shape, data).unwrap_or_else(|_| Value::zeros(DType::F32, shape))
}

/// (median, min) wall time in ms.
fn time_ms(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    for _ in 0..3 {
        f()?;
    }
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok((t[t.len() / 2], t[0]))
}

struct Row {
    name: String,
    fwd: (f64, f64),
    bwd: Vec<(&'static str, (f64, f64))>,
    both: (f64, f64),
}

/// Builds `y = op(inputs)` with upstream `dy`, and times forward, each backward, and all.
fn bench(
    name: &str,
    runs: usize,
    inputs: &[(&str, Vec<usize>)],
    grads_of: &[(&'static str, usize)],
    op: impl Fn(&Scope, &[Tensor]) -> Result<Tensor>,
) -> Result<Row> {
    let g = Graph::new();
    let s = g.root();
    let mut feeds = Vec::new();
    let mut xs = Vec::new();
    for (i, (n, shape)) in inputs.iter().enumerate() {
        let x = placeholder(&s.with_name(n), DType::F32, Shape::known(shape))?;
        feeds.push((x, random(shape, i as u64 + 1)));
        xs.push(x);
    }
    let y = op(&s, &xs)?;
    let y_shape = y.shape(&s)?.as_known().unwrap_or_default();
    let dy = placeholder(&s.with_name("dy"), DType::F32, Shape::known(&y_shape))?;
    feeds.push((dy, random(&y_shape, 99)));
    let wrt: Vec<Tensor> = grads_of.iter().map(|&(_, i)| xs[i]).collect();
    let grads = gradients(&s, &[y], &wrt, Some(&[dy]))?;
    let sess = Session::new(&g);
    let fwd = time_ms(runs, || sess.run([y], &feeds).map(drop))?;
    let mut bwd = Vec::new();
    let mut all = vec![y];
    for (&(label, _), gt) in grads_of.iter().zip(&grads) {
        let Some(gt) = *gt else { continue };
        bwd.push((label, time_ms(runs, || sess.run([gt], &feeds).map(drop))?));
        all.push(gt);
    }
    let both = time_ms(runs, || sess.run(all.clone(), &feeds).map(drop))?;
    Ok(Row { name: name.to_string(), fwd, bwd, both })
}

/// Name, inputs (name, shape), gradients to time (label, input index), and the op.
type Case = (&'static str, Vec<(&'static str, Vec<usize>)>, Vec<(&'static str, usize)>, Build);
type Build = Box<dyn Fn(&Scope, &[Tensor]) -> Result<Tensor>>;

fn main() -> Result<()> {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let filter = std::env::args().nth(2).unwrap_or_default();
    let one = [1, 1, 1, 1];
    let cases: Vec<Case> = vec![
        (
            "conv2d [64,28,28,1]->32 3x3 SAME",
            vec![("x", vec![64, 28, 28, 1]), ("w", vec![3, 3, 1, 32])],
            vec![("dw", 1), ("dx", 0)],
            Box::new(move |s, t| nn::conv2d(s, t[0], t[1], one, Padding::Same, one)),
        ),
        (
            "conv2d [64,14,14,32]->64 3x3 SAME",
            vec![("x", vec![64, 14, 14, 32]), ("w", vec![3, 3, 32, 64])],
            vec![("dw", 1), ("dx", 0)],
            Box::new(move |s, t| nn::conv2d(s, t[0], t[1], one, Padding::Same, one)),
        ),
        (
            "conv2d [64,28,28,32]->32 3x3 SAME",
            vec![("x", vec![64, 28, 28, 32]), ("w", vec![3, 3, 32, 32])],
            vec![("dw", 1), ("dx", 0)],
            Box::new(move |s, t| nn::conv2d(s, t[0], t[1], one, Padding::Same, one)),
        ),
        (
            "bias_add [64,28,28,32]",
            vec![("x", vec![64, 28, 28, 32]), ("b", vec![32])],
            vec![("db", 1), ("dx", 0)],
            Box::new(|s, t| nn::bias_add(s, t[0], t[1])),
        ),
        (
            "max_pool 2x2/2 [64,28,28,32]",
            vec![("x", vec![64, 28, 28, 32])],
            vec![("dx", 0)],
            Box::new(|s, t| nn::max_pool(s, t[0], [1, 2, 2, 1], [1, 2, 2, 1], Padding::Same)),
        ),
        (
            "avg_pool 2x2/2 [64,28,28,32]",
            vec![("x", vec![64, 28, 28, 32])],
            vec![("dx", 0)],
            Box::new(|s, t| nn::avg_pool(s, t[0], [1, 2, 2, 1], [1, 2, 2, 1], Padding::Same)),
        ),
        (
            "LRN r5 b0.75 [64,14,14,64]",
            vec![("x", vec![64, 14, 14, 64])],
            vec![("dx", 0)],
            Box::new(|s, t| nn::local_response_normalization(s, t[0], LrnOptions::default().alpha(1e-4).beta(0.75))),
        ),
        (
            "LRN r5 b0.5 [64,28,28,32]",
            vec![("x", vec![64, 28, 28, 32])],
            vec![("dx", 0)],
            Box::new(|s, t| nn::local_response_normalization(s, t[0], LrnOptions::default())),
        ),
        (
            "dropout 0.8 [64,1024]",
            vec![("x", vec![64, 1024])],
            vec![("dx", 0)],
            Box::new(|s, t| nn::dropout(s, t[0], 0.8f32, None, Some(1))),
        ),
    ];
    println!(
        "ferroflow conv family, f32, through Session::run; median (min) of {runs} runs after 3 warm-ups, ms; rayon threads {}",
        rayon::current_num_threads()
    );
    println!("{:<34} {:>16} {:>22} {:>22} {:>16}", "op", "forward", "backward 1", "backward 2", "fwd+bwd");
    let cell = |(m, lo): (f64, f64)| format!("{m:.2} ({lo:.2})");
    for (name, inputs, grads, build) in cases {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let r = bench(name, runs, &inputs, &grads, build)?;
        let b = |i: usize| r.bwd.get(i).map(|(l, t)| format!("{l} {}", cell(*t))).unwrap_or_default();
        println!("{:<34} {:>16} {:>22} {:>22} {:>16}", r.name, cell(r.fwd), b(0), b(1), cell(r.both));
    }
    Ok(())
}
