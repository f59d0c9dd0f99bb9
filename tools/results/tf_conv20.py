"""The founding note's batch-norm conv net (low-level by default, `--layers` for tf.layers) ("W1": 19 conv layers + dense 100 + dense 10,
moments/assign/cond batch norm, sigmoid cross-entropy, Adam 0.002, 800 batches of 64) in real
TensorFlow (tf.compat.v1), on the same data split ferroflow uses, to record TF's accuracy band in
docs/results.md.

    TF_USE_LEGACY_KERAS=1 /path/to/venv/bin/python tools/results/tf_conv20.py --data data/mnist-10k --seed 0
"""
import argparse, gzip, os, struct, time
import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


def find(d, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise FileNotFoundError(stem)


def load(d):
    xi = read_idx(find(d, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    yi = read_idx(find(d, "train-labels-idx1-ubyte"))
    xt = read_idx(find(d, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0
    yt = read_idx(find(d, "t10k-labels-idx1-ubyte"))
    n_val = 5000 if len(xi) >= 60000 else len(xi) // 10  # TF's rule / ferroflow's for small sets
    oh = lambda y: np.eye(10, dtype=np.float32)[y]
    x4 = lambda x: x.reshape(-1, 28, 28, 1)
    return (x4(xi[n_val:]), oh(yi[n_val:])), (x4(xi[:n_val]), oh(yi[:n_val])), (x4(xt), oh(yt))


def batch_norm(layer, axes, is_training, channels):
    gamma = tf.Variable(tf.ones([channels]))
    beta = tf.Variable(tf.zeros([channels]))
    pop_mean = tf.Variable(tf.zeros([channels]), trainable=False)
    pop_variance = tf.Variable(tf.ones([channels]), trainable=False)
    epsilon = 1e-3

    def batch_norm_training():
        batch_mean, batch_variance = tf.nn.moments(layer, axes, keep_dims=False)
        decay = 0.99
        train_mean = tf.assign(pop_mean, pop_mean * decay + batch_mean * (1 - decay))
        train_variance = tf.assign(pop_variance, pop_variance * decay + batch_variance * (1 - decay))
        with tf.control_dependencies([train_mean, train_variance]):
            return tf.nn.batch_normalization(layer, batch_mean, batch_variance, beta, gamma, epsilon)

    def batch_norm_inference():
        return tf.nn.batch_normalization(layer, pop_mean, pop_variance, beta, gamma, epsilon)

    return tf.cond(is_training, batch_norm_training, batch_norm_inference)


def conv_layer(prev, depth, is_training):
    strides = 2 if depth % 3 == 0 else 1
    cin = prev.get_shape().as_list()[3]
    cout = depth * 4
    w = tf.Variable(tf.truncated_normal([3, 3, cin, cout], stddev=0.05))
    layer = tf.nn.conv2d(prev, w, strides=[1, strides, strides, 1], padding="SAME")
    return tf.nn.relu(batch_norm(layer, [0, 1, 2], is_training, cout))


def fully_connected(prev, units, is_training):
    w = tf.Variable(tf.truncated_normal([prev.get_shape().as_list()[1], units], stddev=0.05))
    layer = tf.matmul(prev, w)
    return tf.nn.relu(batch_norm(layer, [0], is_training, units))


def conv_layer_layers(prev, depth, is_training):
    strides = 2 if depth % 3 == 0 else 1
    layer = tf.layers.conv2d(prev, depth * 4, 3, strides, "same", use_bias=False, activation=None)
    layer = tf.layers.batch_normalization(layer, training=is_training)
    return tf.nn.relu(layer)


def fully_connected_layers(prev, units, is_training):
    layer = tf.layers.dense(prev, units, use_bias=False, activation=None)
    layer = tf.layers.batch_normalization(layer, training=is_training)
    return tf.nn.relu(layer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--layers", action="store_true", help="the tf.layers variant (batchnorm_layers)")
    a = ap.parse_args()
    (tx, ty), (vx, vy), (sx, sy) = load(a.data)
    tf.set_random_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    inputs = tf.placeholder(tf.float32, [None, 28, 28, 1])
    labels = tf.placeholder(tf.float32, [None, 10])
    is_training = tf.placeholder(tf.bool)
    layer = inputs
    conv = conv_layer_layers if a.layers else conv_layer
    fc = fully_connected_layers if a.layers else fully_connected
    for i in range(1, 20):
        layer = conv(layer, i, is_training)
    shp = layer.get_shape().as_list()
    layer = tf.reshape(layer, [-1, shp[1] * shp[2] * shp[3]])
    layer = fc(layer, 100, is_training)
    logits = tf.layers.dense(layer, 10)
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=logits, labels=labels))
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train_op = tf.train.AdamOptimizer(a.lr).minimize(loss)
    acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(labels, 1)), tf.float32))
    cfg = tf.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=2)
    t0 = time.time()
    with tf.Session(config=cfg) as sess:
        sess.run(tf.global_variables_initializer())
        order, pos = rng.permutation(len(tx)), 0
        for i in range(a.steps):
            if pos + a.batch_size > len(tx):
                order, pos = rng.permutation(len(tx)), 0
            idx = order[pos : pos + a.batch_size]
            pos += a.batch_size
            sess.run(train_op, {inputs: tx[idx], labels: ty[idx], is_training: True})
        va = sess.run(acc, {inputs: vx, labels: vy, is_training: False})
        te = sess.run(acc, {inputs: sx, labels: sy, is_training: False})
        c = sum(sess.run(acc, {inputs: sx[i : i + 1], labels: sy[i : i + 1], is_training: False}) for i in range(100))
    print(f"seed {a.seed}: validation {va:.5f} test {te:.5f} on100 {c / 100:.2f} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
