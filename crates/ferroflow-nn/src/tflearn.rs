//! A tflearn-style high-level API: build a network layer by layer on a [`Network`], add a
//! [`Network::regression`] head, and train it with [`DNN::fit`].
//!
//! tflearn switches dropout and batch norm between training and inference through a global
//! "is training" flag that its trainer sets. Here the flag is an explicit
//! `placeholder_with_default(false)` owned by the network ([`Network::is_training`]): `fit` feeds
//! `true`, `evaluate`/`predict` leave the default, so a model can never be evaluated in training
//! mode by accident (the tflearn trap of training in inference mode cannot happen either).
//!
//! Defaults are tflearn's: `conv_2d` (strides 1, SAME, `uniform_scaling` weights, zero bias,
//! L2 weight decay 0.001), `max_pool_2d` (strides = kernel, SAME), `local_response_normalization`
//! (depth_radius 5, bias 1, alpha 1e-4, beta 0.75), `fully_connected` (`truncated_normal`
//! stddev 0.02), `batch_normalization` (decay 0.9, epsilon 1e-5), `regression` (Adam 0.001,
//! categorical cross-entropy on the softmax output).

use crate::layers::{dense_named, Activation, BatchNormOptions, BnSpec, DenseOptions, Regularizer, UpdateMode};
use crate::training::Training;
use ferroflow_core::{
    shape, DType, Error, Graph, Operation, Result, Scope, Shape, Tensor, Value, REGULARIZATION_LOSSES,
};
use ferroflow_ops::array::{cast, flatten};
use ferroflow_ops::math::{add_n, argmax, div, equal, log, maximum, minimum, mul, neg, reduce_mean, reduce_sum};
use ferroflow_ops::nn::{self, LrnOptions, Padding};
use ferroflow_ops::random::{random_uniform, Initializer};
use ferroflow_ops::state::{
    get_variable, global_variables_initializer, placeholder, placeholder_with_default, variable_from, VariableOptions,
};
use ferroflow_session::{Fetch, Session};
use ferroflow_train::{AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, Optimizer, RMSPropOptimizer};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayBase, ArrayViewD, Axis, Data, Dimension};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// A network under construction: its graph, root scope and training flag.
pub struct Network {
    graph: Graph,
    scope: Scope,
    is_training: Tensor,
    input: Option<Tensor>,
}

impl Network {
    /// A new network in a new graph; `seed` sets the graph-level random seed.
    pub fn new(seed: Option<u64>) -> Result<Network> {
        let graph = Graph::new();
        if let Some(s) = seed {
            graph.set_random_seed(s);
        }
        let scope = graph.root();
        let f = ferroflow_ops::state::constant(&scope.with_name("is_training/default"), false)?;
        let is_training = placeholder_with_default(&scope.with_name("is_training"), f, shape![])?;
        Ok(Network { graph, scope, is_training, input: None })
    }
    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// The root scope, for adding plain ops between layers.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
    /// The bool flag dropout and batch norm follow (false unless fed).
    pub fn is_training(&self) -> Tensor {
        self.is_training
    }

    /// The input placeholder. tflearn: `input_data(shape=[None, 28, 28, 1], name='input')`.
    pub fn input_data(&mut self, shape: Shape, name: &str) -> Result<Tensor> {
        let x = placeholder(&self.scope.with_name(name), DType::F32, shape)?;
        self.input = Some(x);
        Ok(x)
    }

    /// 2-D convolution. tflearn: `conv_2d(x, nb_filter, filter_size, activation, regularizer)`:
    /// strides 1, SAME padding, `uniform_scaling` weights, zero bias; `regularizer = true` adds
    /// `0.001 · l2_loss(W)` to `REGULARIZATION_LOSSES` (tflearn's "L2", weight_decay 0.001).
    pub fn conv_2d(
        &self,
        x: Tensor,
        nb_filter: usize,
        filter_size: usize,
        activation: Activation,
        regularizer: bool,
    ) -> Result<Tensor> {
        let (x_name, shape) = (x.name(&self.scope)?, x.shape(&self.scope)?);
        let cin = shape.dim(3).filter(|_| shape.rank() == Some(4)).ok_or_else(|| {
            Error::invalid(format!("conv_2d needs NHWC input with known channels, got {x_name} {shape}"))
        })?;
        self.scope.unique_variable_scope("Conv2D", |vs| {
            let wshape = [filter_size, filter_size, cin, nb_filter];
            let limit = (3.0 / (filter_size * filter_size * cin) as f64).sqrt();
            let init = random_uniform(&vs.with_name("W/uniform_scaling"), &wshape, -limit, limit, DType::F32, None)?;
            let w = variable_from(&vs.with_name("W"), init, VariableOptions::default())?;
            if regularizer {
                Regularizer::L2(0.001).apply(vs, w)?;
            }
            let b = get_variable(vs, "b", [nb_filter], Initializer::Zeros, VariableOptions::default())?;
            let y = nn::conv2d(vs, x, w.value(), [1, 1, 1, 1], Padding::Same, [1, 1, 1, 1])?;
            let y = nn::bias_add(vs, y, b.value())?;
            activation.apply(vs, y)
        })
    }

    /// Max pooling. tflearn: `max_pool_2d(x, kernel_size)` (strides = kernel size, SAME).
    pub fn max_pool_2d(&self, x: Tensor, kernel_size: usize) -> Result<Tensor> {
        self.scope.op_scope("MaxPool2D", |s| {
            nn::max_pool(s, x, [1, kernel_size, kernel_size, 1], [1, kernel_size, kernel_size, 1], Padding::Same)
        })
    }

    /// Local response normalization with tflearn's defaults (depth_radius 5, bias 1,
    /// alpha 1e-4, beta 0.75).
    pub fn local_response_normalization(&self, x: Tensor) -> Result<Tensor> {
        let o = LrnOptions { depth_radius: 5, bias: 1.0, alpha: 1e-4, beta: 0.75 };
        self.scope.op_scope("LocalResponseNormalization", |s| nn::local_response_normalization(s, x, o))
    }

    /// Fully connected layer (input flattened if needed). tflearn: `fully_connected(x,
    /// n_units, activation)` with `truncated_normal` (stddev 0.02) weights `W`, zero bias `b`.
    pub fn fully_connected(&self, x: Tensor, n_units: usize, activation: Activation) -> Result<Tensor> {
        let x = if x.shape(&self.scope)?.rank().is_some_and(|r| r > 2) { flatten(&self.scope, x)? } else { x };
        self.scope.unique_variable_scope("FullyConnected", |vs| {
            let o = DenseOptions::default().activation(activation).kernel_initializer(Initializer::TruncatedNormal {
                mean: 0.0,
                stddev: 0.02,
                seed: None,
            });
            dense_named(vs, x, n_units, &o, "W", "b")
        })
    }

    /// Dropout keeping `keep_prob` of the units, active only while training. tflearn:
    /// `dropout(x, 0.8)`.
    pub fn dropout(&self, x: Tensor, keep_prob: f64) -> Result<Tensor> {
        if !(keep_prob > 0.0 && keep_prob <= 1.0) {
            return Err(Error::invalid(format!("keep_prob must be in (0, 1], got {keep_prob}")));
        }
        self.scope.op_scope("Dropout", |s| {
            Training::Tensor(self.is_training).select(s, |ts| nn::dropout(ts, x, keep_prob, None, None), |_| Ok(x))
        })
    }

    /// Batch normalization with tflearn's defaults (decay 0.9, epsilon 1e-5); moving averages
    /// update with the output while training (tflearn updates in place).
    pub fn batch_normalization(&self, x: Tensor) -> Result<Tensor> {
        let o = BatchNormOptions::default().momentum(0.9).epsilon(1e-5).fused(false).updates(UpdateMode::InPlace);
        crate::layers::batch_norm_impl(
            &self.scope,
            x,
            Training::Tensor(self.is_training),
            &BnSpec { opts: &o, default_scope: "BatchNormalization", gamma_name: "gamma", beta_name: "beta" },
        )
    }

    /// The training head. tflearn: `regression(net, optimizer, learning_rate, loss,
    /// name='target')`. The loss is the chosen objective plus every term in
    /// `REGULARIZATION_LOSSES` (as tflearn's trainer adds them).
    pub fn regression(
        &self,
        output: Tensor,
        optimizer: TflearnOptimizer,
        learning_rate: f64,
        loss: Objective,
    ) -> Result<Regression> {
        let s = &self.scope;
        let target = placeholder(&s.with_name("target"), DType::F32, output.shape(s)?)?;
        let base = s.name_scope("Crossentropy", |s| match loss {
            Objective::CategoricalCrossentropy => {
                // tflearn: normalize, clip to [1e-10, 1 - 1e-10], −Σ y·log(p), batch mean.
                let p = div(s, output, reduce_sum(s, output, Some(&[-1]), true)?)?;
                let p = minimum(s, maximum(s, p, 1e-10f32)?, 1.0f32 - 1e-10)?;
                let ce = neg(s, reduce_sum(s, mul(s, target, log(s, p)?)?, Some(&[-1]), false)?)?;
                reduce_mean(s, ce, None, false)
            }
            Objective::SoftmaxCategoricalCrossentropy => {
                reduce_mean(s, nn::softmax_cross_entropy_with_logits(s, target, output)?, None, false)
            }
        })?;
        let reg = self.graph.collection_tensors(&REGULARIZATION_LOSSES);
        let total = if reg.is_empty() { base } else { ferroflow_ops::math::add(s, base, add_n(s, &reg)?)? };
        let train_op = match optimizer {
            TflearnOptimizer::Adam => AdamOptimizer::new(learning_rate).minimize(s, total, None, None)?,
            TflearnOptimizer::Sgd => GradientDescentOptimizer::new(learning_rate).minimize(s, total, None, None)?,
            TflearnOptimizer::Momentum => MomentumOptimizer::new(learning_rate, 0.9).minimize(s, total, None, None)?,
            TflearnOptimizer::RmsProp => RMSPropOptimizer::new(learning_rate).minimize(s, total, None, None)?,
        };
        let correct = equal(s, argmax(s, output, -1)?, argmax(s, target, -1)?)?;
        let accuracy = reduce_mean(&s.with_name("Accuracy"), cast(s, correct, DType::F32)?, None, false)?;
        Ok(Regression { output, target, loss: total, train_op, accuracy })
    }
}

/// tflearn optimizer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TflearnOptimizer {
    /// `'adam'` (beta1 0.9, beta2 0.999, epsilon 1e-8).
    Adam,
    /// `'sgd'`.
    Sgd,
    /// `'momentum'` (0.9).
    Momentum,
    /// `'rmsprop'`.
    RmsProp,
}

/// tflearn loss names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// `'categorical_crossentropy'` on probabilities (a softmax output).
    CategoricalCrossentropy,
    /// `'softmax_categorical_crossentropy'` on logits.
    SoftmaxCategoricalCrossentropy,
}

/// The tensors of a regression head.
#[derive(Clone, Copy, Debug)]
pub struct Regression {
    /// The network output (probabilities or logits).
    pub output: Tensor,
    /// The target placeholder (`target`), one-hot labels.
    pub target: Tensor,
    /// Objective + regularization.
    pub loss: Tensor,
    /// The optimizer's train op.
    pub train_op: Operation,
    /// Mean of argmax(output) == argmax(target).
    pub accuracy: Tensor,
}

/// Options of [`DNN::fit`]; defaults follow tflearn (`n_epoch` 10, `batch_size` 64, shuffle).
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Passes over the training data.
    pub n_epoch: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Show the training accuracy beside the loss (tflearn `show_metric`).
    pub show_metric: bool,
    /// Shuffle every epoch.
    pub shuffle: bool,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Stop after this many steps in total (None: run all epochs).
    pub max_steps: Option<usize>,
    /// Evaluate on the validation set every this many steps (tflearn `snapshot_step`).
    pub snapshot_step: Option<usize>,
    /// Evaluate on the validation set at the end of every epoch (tflearn `snapshot_epoch`).
    pub snapshot_epoch: bool,
    /// How progress is shown.
    pub progress: Progress,
    /// With plain lines: one line every this many steps (and at each epoch end and the end).
    pub log_every: usize,
}

/// How [`DNN::fit`] shows progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar (loss, accuracy, elapsed, ETA) when stdout is a terminal, else plain
    /// lines (CI logs, `nohup`, a pipe).
    Auto,
    /// Always a progress bar.
    Bar,
    /// Always plain lines.
    Lines,
    /// Nothing.
    Off,
}

impl Default for FitOptions {
    /// tflearn's defaults (10 epochs, batch 64, `show_metric`, shuffle, validation at each
    /// epoch end); plain lines every 100 steps when not on a terminal.
    fn default() -> Self {
        FitOptions {
            n_epoch: 10,
            batch_size: 64,
            show_metric: true,
            shuffle: true,
            seed: 0,
            max_steps: None,
            snapshot_step: None,
            snapshot_epoch: true,
            progress: Progress::Auto,
            log_every: 100,
        }
    }
}

/// What `fit` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// Training steps run.
    pub steps: usize,
    /// Loss of the last batch.
    pub last_loss: f32,
    /// Validation accuracy computed at the last step (fresh: after the final update), if a
    /// validation set was given.
    pub validation_accuracy: Option<f32>,
    /// Every progress line printed (plain-lines mode; the bar's epoch lines too).
    pub lines: Vec<String>,
}

/// The progress output of one `fit`: a bar or plain lines on stdout, and the lines kept.
struct FitProgress {
    bar: Option<ProgressBar>,
    lines_mode: bool,
    lines: Vec<String>,
    started: std::time::Instant,
    total: usize,
}

impl FitProgress {
    fn new(mode: Progress, total: usize) -> Self {
        use std::io::IsTerminal;
        let bar = match mode {
            Progress::Bar => true,
            Progress::Auto => std::io::stdout().is_terminal(),
            Progress::Lines | Progress::Off => false,
        };
        let bar = bar.then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b
        });
        let lines_mode = bar.is_none() && mode != Progress::Off;
        FitProgress { bar, lines_mode, lines: Vec::new(), started: std::time::Instant::now(), total }
    }

    /// `elapsed 12.3s, 40.1 steps/s, ETA 7.2s` after `step` steps.
    fn timing(&self, step: usize) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { step as f64 / secs } else { 0.0 };
        let eta = if rate > 0.0 { self.total.saturating_sub(step) as f64 / rate } else { 0.0 };
        format!("elapsed {secs:.1}s, {rate:.1} steps/s, ETA {eta:.1}s")
    }

    fn step(&mut self, step: usize, msg: &str, force_line: bool, log_every: usize) {
        if let Some(b) = &self.bar {
            b.set_position(step as u64);
            b.set_message(msg.to_string());
        } else if self.lines_mode && (force_line || (log_every > 0 && step.is_multiple_of(log_every))) {
            let line = format!("Training Step: {step}/{} | {msg} | {}", self.total, self.timing(step));
            println!("{line}");
            self.lines.push(line);
        }
    }

    fn note(&mut self, line: String) {
        match &self.bar {
            Some(b) => b.println(&line),
            None if self.lines_mode => println!("{line}"),
            None => return,
        }
        self.lines.push(line);
    }

    fn finish(self) -> Vec<String> {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.lines
    }
}

/// A trainable model: network + regression head + session. tflearn: `tflearn.DNN(network)`.
pub struct DNN {
    net: Network,
    head: Regression,
    input: Tensor,
    session: Session,
}

impl DNN {
    /// A model with its variables initialized.
    pub fn new(net: Network, head: Regression) -> Result<DNN> {
        let input = net.input.ok_or_else(|| Error::invalid("the network has no input_data layer"))?;
        let session = Session::new(&net.graph);
        session.run_ops(&[global_variables_initializer(&net.scope)?], &[])?;
        Ok(DNN { net, head, input, session })
    }
    /// The session (e.g. for a `Saver`).
    pub fn session(&self) -> &Session {
        &self.session
    }
    /// The network.
    pub fn network(&self) -> &Network {
        &self.net
    }

    fn check_rows(&self, x: &ArrayViewD<'_, f32>, y: &ArrayViewD<'_, f32>) -> Result<()> {
        if x.shape().first() != y.shape().first() {
            return Err(Error::invalid(format!(
                "inputs have {} rows but targets have {}",
                x.shape().first().unwrap_or(&0),
                y.shape().first().unwrap_or(&0)
            )));
        }
        Ok(())
    }

    /// Trains on `(x, y)` (first axis = examples; `y` one-hot). tflearn: `model.fit(X, Y,
    /// n_epoch, validation_set, batch_size, show_metric)`. Feeds `is_training = true`.
    ///
    /// `x`, `y` and the validation arrays are any `f32` ndarray of any rank ([`AsArrayD`]):
    /// `Array2` for flat features, `Array4` for NHWC images, `ArrayD`, or views of them.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `x` and `y` have different numbers of rows, there are no
    /// examples or `batch_size` is 0; the session's errors (e.g. a feed whose shape does not
    /// match the input placeholder).
    ///
    /// ```
    /// use ferroflow_core::shape;
    /// use ferroflow_nn::layers::Activation;
    /// use ferroflow_nn::tflearn::{FitOptions, Network, Objective, Progress, TflearnOptimizer, DNN};
    /// # fn main() -> ferroflow_core::Result<()> {
    /// let mut net = Network::new(Some(1))?;
    /// let x = net.input_data(shape![None, 2], "input")?;
    /// let out = net.fully_connected(x, 2, Activation::Softmax)?;
    /// let head = net.regression(out, TflearnOptimizer::Adam, 0.1, Objective::CategoricalCrossentropy)?;
    /// let model = DNN::new(net, head)?;
    /// // Class 1 iff the first feature is positive: Array2 inputs, no conversion needed.
    /// let xs = ndarray::arr2(&[[1.0f32, 0.0], [-1.0, 0.0], [0.5, 1.0], [-0.5, 1.0]]);
    /// let ys = ndarray::arr2(&[[0.0f32, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
    /// let opts = FitOptions { n_epoch: 50, batch_size: 4, progress: Progress::Off, ..FitOptions::default() };
    /// let report = model.fit(&xs, &ys, Some((&xs, &ys)), &opts)?;
    /// assert_eq!(report.steps, 50);
    /// assert_eq!(model.evaluate(&xs, &ys, 4)?, 1.0);
    /// # Ok(()) }
    /// ```
    pub fn fit(
        &self,
        x: &impl AsArrayD,
        y: &impl AsArrayD,
        validation_set: Option<(&dyn AsArrayD, &dyn AsArrayD)>,
        opts: &FitOptions,
    ) -> Result<FitReport> {
        let validation_set = validation_set.map(|(vx, vy)| (vx.as_array_d(), vy.as_array_d()));
        self.fit_views(&x.as_array_d(), &y.as_array_d(), validation_set.as_ref().map(|(vx, vy)| (vx, vy)), opts)
    }

    fn fit_views(
        &self,
        x: &ArrayViewD<'_, f32>,
        y: &ArrayViewD<'_, f32>,
        validation_set: Option<(&ArrayViewD<'_, f32>, &ArrayViewD<'_, f32>)>,
        opts: &FitOptions,
    ) -> Result<FitReport> {
        self.check_rows(x, y)?;
        let n = x.shape().first().copied().unwrap_or(0);
        if n == 0 || opts.batch_size == 0 {
            return Err(Error::invalid("fit needs at least one example and a batch size > 0"));
        }
        let steps_per_epoch = n.div_ceil(opts.batch_size);
        let total =
            opts.max_steps.map(|m| m.min(steps_per_epoch * opts.n_epoch)).unwrap_or(steps_per_epoch * opts.n_epoch);
        let mut progress = FitProgress::new(opts.progress, total);
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut step = 0;
        let mut last_loss = f32::NAN;
        let mut val_acc = None;
        let mut validated_at = None;
        let validate = || -> Result<Option<f32>> {
            match validation_set {
                Some((vx, vy)) => self.evaluate_views(vx, vy, opts.batch_size.max(256)).map(Some),
                None => Ok(None),
            }
        };
        'epochs: for epoch in 0..opts.n_epoch {
            if opts.shuffle {
                order.shuffle(&mut rng);
            }
            for chunk in order.chunks(opts.batch_size) {
                if step >= total {
                    break 'epochs;
                }
                let bx = x.select(Axis(0), chunk);
                let by = y.select(Axis(0), chunk);
                let feeds = vec![
                    (self.input, Value::from(bx)),
                    (self.head.target, Value::from(by)),
                    (self.net.is_training, Value::from(true)),
                ];
                let out = self
                    .session
                    .run([Fetch::from(self.head.loss), self.head.accuracy.into(), self.head.train_op.into()], &feeds)?;
                last_loss = out[0].scalar::<f32>()?;
                let acc = out[1].scalar::<f32>()?;
                step += 1;
                let mut msg = if opts.show_metric {
                    format!("epoch {:>3} | loss: {last_loss:.5} - acc: {acc:.4}", epoch + 1)
                } else {
                    format!("epoch {:>3} | loss: {last_loss:.5}", epoch + 1)
                };
                if opts.snapshot_step.is_some_and(|k| k > 0 && step.is_multiple_of(k)) {
                    if let Some(a) = validate()? {
                        msg.push_str(&format!(" | val_acc: {a:.4}"));
                        (val_acc, validated_at) = (Some(a), Some(step));
                    }
                    progress.step(step, &msg, true, opts.log_every);
                } else {
                    progress.step(step, &msg, step == total, opts.log_every);
                }
            }
            if opts.snapshot_epoch && validated_at != Some(step) {
                if let Some(a) = validate()? {
                    (val_acc, validated_at) = (Some(a), Some(step));
                }
            }
            let val = val_acc.filter(|_| validated_at == Some(step)).map(|a| format!(", val_acc {a:.4}"));
            progress.note(format!(
                "epoch {:>3} done at step {step}: loss {last_loss:.5}{}",
                epoch + 1,
                val.unwrap_or_default()
            ));
        }
        // Stopped inside an epoch (max_steps): report and validate at the final step too.
        if validated_at != Some(step) {
            if let Some(a) = validate()? {
                val_acc = Some(a);
                progress.note(format!("step {step} (end): loss {last_loss:.5}, val_acc {a:.4}"));
            }
        }
        let lines = progress.finish();
        Ok(FitReport { steps: step, last_loss, validation_accuracy: val_acc, lines })
    }

    /// Accuracy on `(x, y)` in inference mode, in batches of `batch_size` (at least 1).
    /// tflearn: `model.evaluate(X, Y)`. Takes the same arrays as [`fit`](Self::fit).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `x` and `y` have different numbers of rows; the
    /// session's errors.
    pub fn evaluate(&self, x: &impl AsArrayD, y: &impl AsArrayD, batch_size: usize) -> Result<f32> {
        self.evaluate_views(&x.as_array_d(), &y.as_array_d(), batch_size)
    }

    fn evaluate_views(&self, x: &ArrayViewD<'_, f32>, y: &ArrayViewD<'_, f32>, batch_size: usize) -> Result<f32> {
        self.check_rows(x, y)?;
        let n = x.shape().first().copied().unwrap_or(0);
        let mut correct = 0.0f64;
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(batch_size.max(1)) {
            let feeds = vec![
                (self.input, Value::from(x.select(Axis(0), chunk))),
                (self.head.target, Value::from(y.select(Axis(0), chunk))),
            ];
            let a = self.session.run([self.head.accuracy], &feeds)?[0].scalar::<f32>()?;
            correct += a as f64 * chunk.len() as f64;
        }
        Ok(if n == 0 { 0.0 } else { (correct / n as f64) as f32 })
    }

    /// The network output for `x` in inference mode. tflearn: `model.predict(X)`.
    ///
    /// # Errors
    /// The session's errors (e.g. `x` does not match the input placeholder's shape).
    pub fn predict(&self, x: &impl AsArrayD) -> Result<Value> {
        let out = self.session.run([self.head.output], &[(self.input, Value::from(x.as_array_d().to_owned()))])?;
        out.into_iter().next().ok_or_else(|| Error::invalid("no output"))
    }
}

/// An `f32` array that [`DNN::fit`], [`DNN::evaluate`] and [`DNN::predict`] accept: any
/// ndarray of any rank (`Array2`, `Array4`, `ArrayD`, their views), seen as a dynamic-rank
/// view without a copy.
pub trait AsArrayD {
    /// The array as a dynamic-rank view.
    fn as_array_d(&self) -> ArrayViewD<'_, f32>;
}

impl<S: Data<Elem = f32>, D: Dimension> AsArrayD for ArrayBase<S, D> {
    fn as_array_d(&self) -> ArrayViewD<'_, f32> {
        self.view().into_dyn()
    }
}
