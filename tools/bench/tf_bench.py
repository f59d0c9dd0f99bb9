#!/usr/bin/env python3
"""TensorFlow (tf.compat.v1 graph + Session) versions of ferroflow's train_step benchmark rows.

Same networks, batch sizes, optimizers and row names as `benches/train_step.rs`; fixed random
batches; warm-up, then the median of N `session.run` calls. Both intra- and inter-op thread
pools get `--threads`.

    TF_USE_LEGACY_KERAS=1 python tools/bench/tf_bench.py --threads 2 --steps 10 [--tsv out.tsv]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import warnings  # noqa: E402

warnings.filterwarnings("ignore")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

v1 = tf.compat.v1
v1.disable_eager_execution()
v1.logging.set_verbosity(v1.logging.ERROR)


def time_ms(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(steps):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


def session(graph, threads):
    cfg = v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
    return v1.Session(graph=graph, config=cfg)


def var(value):
    return v1.Variable(value, trainable=False)


def batch(rng, shape, n):
    x = rng.random(shape, dtype=np.float32)
    y = np.zeros((n, 10), np.float32)
    y[np.arange(n), rng.integers(0, 10, n)] = 1.0
    return x, y


# ---- networks -------------------------------------------------------------------------------

def conv20(lr):
    """19 conv layers + the low-level batch norm (moments, assign, cond), Adam."""
    inputs = v1.placeholder(tf.float32, [None, 28, 28, 1], name="inputs")
    labels = v1.placeholder(tf.float32, [None, 10], name="labels")
    is_training = v1.placeholder(tf.bool, [], name="is_training")

    def batch_norm(layer, axes):
        c = layer.shape[-1]
        gamma = v1.Variable(tf.ones([c]))
        beta = v1.Variable(tf.zeros([c]))
        pop_mean = v1.Variable(tf.zeros([c]), trainable=False)
        pop_variance = v1.Variable(tf.ones([c]), trainable=False)
        eps, decay = 1e-3, 0.99

        def train():
            bm, bv = tf.nn.moments(layer, axes)
            tm = v1.assign(pop_mean, pop_mean * decay + bm * (1 - decay))
            tv = v1.assign(pop_variance, pop_variance * decay + bv * (1 - decay))
            with tf.control_dependencies([tm, tv]):
                return tf.nn.batch_normalization(layer, bm, bv, beta, gamma, eps)

        def test():
            return tf.nn.batch_normalization(layer, pop_mean, pop_variance, beta, gamma, eps)

        return v1.cond(is_training, train, test)

    layer = inputs
    for d in range(1, 20):
        strides = 2 if d % 3 == 0 else 1
        w = v1.Variable(v1.truncated_normal([3, 3, layer.shape[-1], d * 4], stddev=0.05))
        layer = tf.nn.conv2d(layer, w, [1, strides, strides, 1], "SAME")
        layer = tf.nn.relu(batch_norm(layer, [0, 1, 2]))
    flat = int(np.prod(layer.shape[1:]))
    layer = tf.reshape(layer, [-1, flat])
    w = v1.Variable(v1.truncated_normal([flat, 100], stddev=0.05))
    layer = tf.nn.relu(batch_norm(tf.matmul(layer, w), [0]))
    logits = v1.layers.dense(layer, 10)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    train_op = v1.train.AdamOptimizer(lr).minimize(loss)
    return inputs, labels, is_training, loss, train_op, [28, 28, 1]


def layers_net(lr):
    """The same net with tf.layers.batch_normalization and UPDATE_OPS, Adam."""
    inputs = v1.placeholder(tf.float32, [None, 28, 28, 1], name="inputs")
    labels = v1.placeholder(tf.float32, [None, 10], name="labels")
    is_training = v1.placeholder(tf.bool, [], name="is_training")
    layer = inputs
    for d in range(1, 20):
        strides = 2 if d % 3 == 0 else 1
        layer = v1.layers.conv2d(layer, d * 4, 3, strides, "same", use_bias=False)
        layer = tf.nn.relu(v1.layers.batch_normalization(layer, training=is_training))
    layer = v1.layers.flatten(layer)
    layer = v1.layers.dense(layer, 100, use_bias=False)
    layer = tf.nn.relu(v1.layers.batch_normalization(layer, training=is_training))
    logits = v1.layers.dense(layer, 10)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
        train_op = v1.train.AdamOptimizer(lr).minimize(loss)
    return inputs, labels, is_training, loss, train_op, [28, 28, 1]


def mlp(lr):
    """784 -> BN -> dense 1024 relu -> BN -> dense 10; softmax xent + 0.001 L2; SGD."""
    inputs = v1.placeholder(tf.float32, [None, 784], name="inputs")
    labels = v1.placeholder(tf.float32, [None, 10], name="labels")
    is_training = v1.placeholder(tf.bool, [], name="is_training")
    h = v1.layers.batch_normalization(inputs, training=is_training)
    h = v1.layers.dense(h, 1024, activation=tf.nn.relu)
    h = v1.layers.batch_normalization(h, training=is_training)
    logits = v1.layers.dense(h, 10)
    xent = tf.reduce_mean(v1.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits))
    l2 = tf.add_n([tf.nn.l2_loss(v) for v in v1.trainable_variables() if v.name.startswith("dense")])
    loss = xent + 0.001 * l2
    with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
        train_op = v1.train.GradientDescentOptimizer(lr).minimize(loss)
    return inputs, labels, is_training, loss, train_op, [784]


def tflearn_convnet(lr):
    """tflearn's MNIST convnet written with tf ops (tflearn's defaults), Adam."""
    inputs = v1.placeholder(tf.float32, [None, 28, 28, 1], name="input")
    labels = v1.placeholder(tf.float32, [None, 10], name="target")
    is_training = v1.placeholder_with_default(False, [], name="is_training")
    reg = []

    def conv(x, n):
        cin = int(x.shape[-1])
        lim = (3.0 / (9 * cin)) ** 0.5
        w = v1.Variable(v1.random_uniform([3, 3, cin, n], -lim, lim))
        reg.append(0.001 * tf.nn.l2_loss(w))
        b = v1.Variable(tf.zeros([n]))
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), b))

    def fc(x, n, act):
        if len(x.shape) > 2:
            x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
        w = v1.Variable(v1.truncated_normal([int(x.shape[-1]), n], stddev=0.02))
        b = v1.Variable(tf.zeros([n]))
        return act(tf.matmul(x, w) + b)

    def pool(x):
        return tf.nn.max_pool2d(x, 2, 2, "SAME")

    def lrn(x):
        return tf.nn.local_response_normalization(x, depth_radius=5, bias=1.0, alpha=1e-4, beta=0.75)

    def dropout(x):
        return v1.cond(is_training, lambda: v1.nn.dropout(x, rate=0.2), lambda: x)

    h = lrn(pool(conv(inputs, 32)))
    h = lrn(pool(conv(h, 64)))
    h = dropout(fc(h, 128, tf.nn.tanh))
    h = dropout(fc(h, 256, tf.nn.tanh))
    out = fc(h, 10, tf.nn.softmax)
    p = out / tf.reduce_sum(out, -1, keepdims=True)
    p = tf.clip_by_value(p, 1e-10, 1.0 - 1e-10)
    loss = tf.reduce_mean(-tf.reduce_sum(labels * tf.math.log(p), -1)) + tf.add_n(reg)
    train_op = v1.train.AdamOptimizer(lr).minimize(loss)
    return inputs, labels, is_training, loss, train_op, [28, 28, 1]


def serving_rows(sess, logits, x_ph, t_ph, a):
    """W1 serving: batch-1 p50 over 1,000 `run` calls (after 50 warm-up), and the median of
    `--steps` batch-1000 calls; the same rows as the other scripts."""
    rng = np.random.default_rng(7)
    x1, x1000 = rng.random([1, 28, 28, 1], dtype=np.float32), rng.random([1000, 28, 28, 1], dtype=np.float32)
    one = lambda: sess.run(logits, {x_ph: x1, t_ph: False})  # noqa: E731
    for _ in range(50):
        one()
    t = []
    for _ in range(1000):
        s = time.perf_counter()
        one()
        t.append((time.perf_counter() - s) * 1e3)
    big = lambda: sess.run(logits, {x_ph: x1000, t_ph: False})  # noqa: E731
    return [("infer/w1_batch1", statistics.median(t)), ("infer/w1_batch1000", time_ms(big, a.steps, a.warmup))]


NETS = [
    ("batchnorm_conv20", lambda: conv20(0.002), 64),
    ("batchnorm_layers", lambda: layers_net(0.002), 64),
    ("batchnorm_mlp", lambda: mlp(0.5), 128),
    ("tflearn_convnet", lambda: tflearn_convnet(0.01), 64),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=int(os.environ.get("FERROFLOW_BENCH_STEPS", 10)))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("FERROFLOW_BENCH_WARMUP", 3)))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("FERROFLOW_BENCH_THREADS", 2)))
    ap.add_argument("--filter", default=None)
    ap.add_argument("--tsv", default=None)
    a = ap.parse_args()
    sel = lambda row: a.filter is None or a.filter in row  # noqa: E731
    rows = []
    for name, build, n in NETS:
        tr, inf = f"train/{name}", f"infer/{name}"
        serve = name == "batchnorm_conv20" and sel("infer/w1_batch1")
        if not (sel(tr) or sel(inf) or serve):
            continue
        g = tf.Graph()
        with g.as_default():
            v1.set_random_seed(1)
            x_ph, y_ph, t_ph, loss, train_op, shape = build()
            init = v1.global_variables_initializer()
        sess = session(g, a.threads)
        sess.run(init)
        x, y = batch(np.random.default_rng(0), [n] + shape, n)
        if sel(tr):
            fd = {x_ph: x, y_ph: y, t_ph: True}
            rows.append((tr, time_ms(lambda: sess.run(train_op, fd), a.steps, a.warmup)))
        if sel(inf):
            fd = {x_ph: x, y_ph: y, t_ph: False}
            rows.append((inf, time_ms(lambda: sess.run(loss, fd), a.steps, a.warmup)))
        if serve:
            rows += serving_rows(sess, g.get_tensor_by_name("dense/BiasAdd:0"), x_ph, t_ph, a)
        sess.close()

    rng = np.random.default_rng(1)
    ops = []
    if sel("op/matmul"):
        g = tf.Graph()
        with g.as_default():
            y = tf.matmul(var(rng.standard_normal((256, 784), np.float32)), var(rng.standard_normal((784, 1024), np.float32)))
        ops.append(("op/matmul", g, [y]))
    if sel("op/conv2d_fwd_bwd"):
        g = tf.Graph()
        with g.as_default():
            x = var(rng.standard_normal((64, 28, 28, 32), np.float32))
            w = var(0.1 * rng.standard_normal((3, 3, 32, 64), np.float32))
            up = var(rng.standard_normal((64, 28, 28, 64), np.float32))
            y = tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME")
            ops.append(("op/conv2d_fwd_bwd", g, [y] + v1.gradients(y, [x, w], grad_ys=up)))
    if sel("op/fused_batch_norm_fwd_bwd"):
        g = tf.Graph()
        with g.as_default():
            x = var(rng.standard_normal((64, 28, 28, 32), np.float32))
            sc = var(rng.standard_normal(32, np.float32) + 1.5)
            of = var(rng.standard_normal(32, np.float32))
            up = var(rng.standard_normal((64, 28, 28, 32), np.float32))
            y, _, _ = v1.nn.fused_batch_norm(x, sc, of, epsilon=1e-3, is_training=True)
            ops.append(("op/fused_batch_norm_fwd_bwd", g, [y] + v1.gradients(y, [x, sc, of], grad_ys=up)))
    if sel("overhead/chain_1000_adds"):
        g = tf.Graph()
        with g.as_default():
            x0 = v1.placeholder(tf.float32, [])
            y = x0
            for _ in range(1000):
                y = y + 1.0
        sess = session(g, a.threads)
        rows.append(("overhead/chain_1000_adds", time_ms(lambda: sess.run(y, {x0: 0.0}), a.steps, a.warmup)))
        sess.close()
    for name, g, fetches in ops:
        # Inputs are variables (read every run), so Grappler cannot fold the op away.
        sess = session(g, a.threads)
        with g.as_default():
            sess.run(v1.global_variables_initializer())
        rows.append((name, time_ms(lambda: sess.run(fetches), a.steps, a.warmup)))
        sess.close()

    print(f"tensorflow {tf.__version__}: {a.steps} steps after {a.warmup} warm-up, intra=inter={a.threads} threads")
    for name, ms in rows:
        print(f"{name:<30} {ms:>12.3f}")
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.writelines(f"{n}\t{ms:.4f}\n" for n, ms in rows)


if __name__ == "__main__":
    main()
