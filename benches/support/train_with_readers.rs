// A trainer and `readers` inference threads on one session (shared by the `train_step` bench
// row `concurrency/train_with_7_readers` and the ignored test in tests/reliability.rs).

use ferroflow::prelude::*;
use ferroflow::train::GradientDescentOptimizer;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Trainer steps per second alone, then with `readers` threads running inference on the same
/// session, each measured for `time`: a small dense model (32 → 64 relu → 10, SGD).
pub fn train_with_readers(readers: usize, time: Duration) -> (f64, f64) {
    let g = Graph::new();
    let s = g.root();
    let x = placeholder(&s.with_name("x"), DType::F32, shape![None, 32]).unwrap();
    let w1 = variable(&s.with_name("w1"), ndarray::Array2::<f32>::from_elem((32, 64), 0.01), VariableOptions::default()).unwrap();
    let w2 = variable(&s.with_name("w2"), ndarray::Array2::<f32>::from_elem((64, 10), 0.01), VariableOptions::default()).unwrap();
    let h = nn::relu(&s, math::matmul(&s, x, w1, false, false).unwrap()).unwrap();
    let y = math::matmul(&s, h, w2, false, false).unwrap();
    let loss = math::reduce_mean(&s, math::square(&s, y).unwrap(), None, false).unwrap();
    let train = GradientDescentOptimizer::new(0.01f32).minimize(&s, loss, None, None).unwrap();
    let sess = Session::new(&g);
    sess.run_ops(&[global_variables_initializer(&s).unwrap()], &[]).unwrap();
    let batch = ndarray::Array2::<f32>::from_elem((8, 32), 0.5);
    let feeds = feed_dict![x => batch];

    let trainer = |stop: &AtomicBool| -> f64 {
        let t0 = Instant::now();
        let mut n = 0usize;
        while t0.elapsed() < time {
            sess.run_ops(&[train], &feeds).unwrap();
            n += 1;
        }
        stop.store(true, Ordering::Relaxed);
        n as f64 / t0.elapsed().as_secs_f64()
    };
    let solo = trainer(&AtomicBool::new(false));
    let stop = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let shared = std::thread::scope(|t| {
        for _ in 0..readers {
            t.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    sess.run([y], &feeds).unwrap();
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        trainer(&stop)
    });
    (solo, shared)
}
