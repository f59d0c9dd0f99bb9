//! tflearn's MNIST convnet, through the tflearn-style API:
//! conv 32 (3×3, relu, L2) → max-pool 2 → LRN → conv 64 (3×3, relu, L2) → max-pool 2 → LRN →
//! fc 128 tanh → dropout 0.8 → fc 256 tanh → dropout 0.8 → fc 10 softmax; Adam 0.01,
//! categorical cross-entropy. `DNN::fit` feeds the training flag itself.
//!
//! ```sh
//! cargo run --release --example tflearn_convnet -- --steps 500 --batch-size 64
//! ```

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
    let (net, _input, head) = tflearn_convnet(settings.seed, settings.lr)?;
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
    };
    let report = model.fit(&tx, &ty, Some((&vx, &vy)), &opts)?;
    println!("Trained {} steps, last batch loss {:.5}", report.steps, report.last_loss);
    println!("Final validation accuracy: {:>3.5}", model.evaluate(&vx, &vy, 500)?);
    let (sx, sy) = (images(data.test.images())?, data.test.one_hot().clone().into_dyn());
    println!("Final test accuracy: {:>3.5}", model.evaluate(&sx, &sy, 500)?);
    Ok(())
}
