//! tflearn's MNIST convnet, through the tflearn-style API:
//! conv 32 (3×3, relu, L2) → max-pool 2 → LRN → conv 64 (3×3, relu, L2) → max-pool 2 → LRN →
//! fc 128 tanh → dropout 0.8 → fc 256 tanh → dropout 0.8 → fc 10 softmax; Adam 0.01,
//! categorical cross-entropy. `DNN::fit` feeds the training flag itself.
//!
//! ```sh
//! cargo run --release --example tflearn_convnet -- --steps 500 --batch-size 64
//! ```
//!
//! `--logdir DIR` writes the graph, 3 input images and the final loss/accuracies for
//! TensorBoard.

mod common;

use common::models::tflearn_convnet;
use common::Defaults;
use ferroflow::ndarray;
use ferroflow::tflearn::{FitOptions, DNN};

fn main() -> anyhow::Result<()> {
    let settings = common::settings(Defaults { steps: 300, batch_size: 64, lr: 0.01 });
    let data = common::load(&settings)?;

    // conv 32 → pool → LRN → conv 64 → pool → LRN → fc 128 → dropout → fc 256 → dropout →
    // fc 10 softmax, Adam: built in `common/models.rs`, shared with the benchmark.
    let (net, input, head) = tflearn_convnet(settings.seed, settings.lr)?;
    let model = DNN::new(net, head)?;

    let images = |a: &ndarray::Array2<f32>| -> anyhow::Result<ndarray::ArrayD<f32>> { Ok(common::nhwc(a)?.into_dyn()) };
    let (tx, ty) = (images(data.train.images())?, data.train.one_hot().clone().into_dyn());
    let (vx, vy) = (images(data.validation.images())?, data.validation.one_hot().clone().into_dyn());
    let steps_per_epoch = data.train.num_examples().div_ceil(settings.batch_size);
    let opts = FitOptions {
        n_epoch: settings.steps.div_ceil(steps_per_epoch).max(1),
        batch_size: settings.batch_size,
        show_metric: true,
        shuffle: true,
        seed: settings.seed,
        max_steps: Some(settings.steps),
        // A bar on a terminal; one plain line every 50 steps (and per epoch) in a log or pipe.
        log_every: 50,
        ..FitOptions::default()
    };
    let report = model.fit(&tx, &ty, Some((&vx, &vy)), &opts)?;
    println!("Trained {} steps, last batch loss {:.5}", report.steps, report.last_loss);
    let val_acc = model.evaluate(&vx, &vy, 500)?;
    println!("Final validation accuracy: {:>3.5}", val_acc);
    let (sx, sy) = (images(data.test.images())?, data.test.one_hot().clone().into_dyn());
    let test_acc = model.evaluate(&sx, &sy, 500)?;
    println!("Final test accuracy: {:>3.5}", test_acc);
    if let Some(dir) = &settings.logdir {
        // `fit` runs its own loop, so TensorBoard gets the final numbers at the last step.
        let pixels =
            vx.as_slice().and_then(|p| p.get(..3 * 784)).ok_or_else(|| anyhow::anyhow!("fewer than 3 images"))?;
        let first = ndarray::Array::from_shape_vec((3, 28, 28, 1), pixels.to_vec())?;
        let scalars = [("train/loss", report.last_loss), ("validation/accuracy", val_acc), ("test/accuracy", test_acc)];
        common::write_summaries(model.session(), dir, input, first.into(), &scalars, report.steps as i64)?;
    }
    Ok(())
}
