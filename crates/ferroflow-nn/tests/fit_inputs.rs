//! `DNN::fit`/`evaluate`/`predict` take `Array2`, `Array4`, `ArrayD` and views alike, with the
//! same results; ndarray's shape errors convert with `?`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ferroflow_core::{shape, Error, Result};
use ferroflow_nn::layers::Activation;
use ferroflow_nn::tflearn::{FitOptions, Network, Objective, Progress, TflearnOptimizer, DNN};
use ndarray::{Array2, Array4, ArrayD};

/// 2x2 single-channel "images"; class 1 iff the top-left pixel is bright.
fn images(n: usize) -> (Array4<f32>, Array2<f32>) {
    let x = Array4::<f32>::from_shape_fn((n, 2, 2, 1), |(i, r, c, _)| ((i * 5 + r * 3 + c * 7) % 13) as f32 / 13.0);
    let y = Array2::<f32>::from_shape_fn((n, 2), |(i, k)| f32::from(u8::from(usize::from(x[[i, 0, 0, 0]] > 0.5) == k)));
    (x, y)
}

fn model(input: ferroflow_core::Shape) -> DNN {
    let mut net = Network::new(Some(11)).unwrap();
    let x = net.input_data(input, "input").unwrap();
    let h = net.fully_connected(x, 6, Activation::Tanh).unwrap();
    let out = net.fully_connected(h, 2, Activation::Softmax).unwrap();
    let head = net.regression(out, TflearnOptimizer::Adam, 0.05, Objective::CategoricalCrossentropy).unwrap();
    DNN::new(net, head).unwrap()
}

fn opts() -> FitOptions {
    FitOptions { n_epoch: 4, batch_size: 8, progress: Progress::Off, ..FitOptions::default() }
}

#[test]
fn array4_array2_and_arrayd_train_the_same_model_the_same_way() {
    let (x4, y) = images(40);
    let (vx4, vy) = images(16);
    // Array4 images with Array2 labels, no conversion.
    let a = model(shape![None, 2, 2, 1]);
    let ra = a.fit(&x4, &y, Some((&vx4, &vy)), &opts()).unwrap();
    // The same data as ArrayD.
    let b = model(shape![None, 2, 2, 1]);
    let (xd, yd): (ArrayD<f32>, ArrayD<f32>) = (x4.clone().into_dyn(), y.clone().into_dyn());
    let (vxd, vyd) = (vx4.clone().into_dyn(), vy.clone().into_dyn());
    let rb = b.fit(&xd, &yd, Some((&vxd, &vyd)), &opts()).unwrap();
    assert_eq!(ra.steps, 20);
    assert_eq!((ra.steps, ra.last_loss, ra.validation_accuracy), (rb.steps, rb.last_loss, rb.validation_accuracy));
    // Views work too, and evaluate/predict take the same inputs.
    assert_eq!(a.evaluate(&vx4.view(), &vy.view(), 5).unwrap(), b.evaluate(&vxd, &vyd, 5).unwrap());
    let pa = a.predict(&vx4).unwrap().to_vec::<f32>().unwrap();
    let pb = b.predict(&vxd).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(pa, pb);
    assert_eq!(pa.len(), 16 * 2);
}

#[test]
fn flat_array2_inputs_with_mixed_validation_types() {
    let (x4, y) = images(24);
    let x2 = x4.into_shape_with_order((24, 4)).unwrap();
    let m = model(shape![None, 4]);
    let yd = y.clone().into_dyn();
    // Validation as (Array2 view, ArrayD): each side may be its own type.
    let r = m.fit(&x2, &y, Some((&x2.view(), &yd)), &opts()).unwrap();
    assert_eq!(r.steps, 12);
    assert_eq!(r.validation_accuracy, Some(m.evaluate(&x2, &y, 256).unwrap()));
}

#[test]
fn row_mismatch_is_an_error_naming_both_counts() {
    let (x4, _) = images(10);
    let (_, y) = images(9);
    let m = model(shape![None, 2, 2, 1]);
    let e = m.fit(&x4, &y, None, &opts()).unwrap_err();
    assert!(e.to_string().contains("10 rows") && e.to_string().contains("9"), "{e}");
}

fn reshape_with_question_mark(v: Vec<f32>) -> Result<Array4<f32>> {
    Ok(Array4::from_shape_vec((v.len() / 4, 2, 2, 1), v)?)
}

#[test]
fn ndarray_shape_errors_convert_with_question_mark() {
    assert_eq!(reshape_with_question_mark(vec![0.0; 8]).unwrap().dim(), (2, 2, 2, 1));
    // 6 values do not fill (1, 2, 2, 1).
    let e = reshape_with_question_mark(vec![0.0; 6]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    assert!(e.to_string().contains("ndarray shape error"), "{e}");
}
