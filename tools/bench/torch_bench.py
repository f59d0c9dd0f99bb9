#!/usr/bin/env python3
"""PyTorch (eager) versions of ferroflow's train_step benchmark rows.

Same networks, batch sizes, optimizers and row names as `benches/train_step.rs`, in PyTorch's
native NCHW layout; fixed random batches; warm-up, then the median of N steps.
`torch.set_num_threads(--threads)` (and one inter-op thread).

    python tools/bench/torch_bench.py --threads 2 --steps 10 [--tsv out.tsv]
"""
import argparse
import os
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def time_ms(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(steps):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


class LowLevelBN(nn.Module):
    """The founding note's batch norm: batch moments, running stats updated with decay 0.99."""

    def __init__(self, c, dims):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))
        self.register_buffer("pop_mean", torch.zeros(c))
        self.register_buffer("pop_var", torch.ones(c))
        self.dims, self.eps = dims, 1e-3

    def forward(self, x):
        shape = [1] * x.dim()
        shape[1] = -1
        if self.training:
            mean = x.mean(self.dims)
            var = x.var(self.dims, unbiased=False)
            with torch.no_grad():
                self.pop_mean.mul_(0.99).add_(mean * 0.01)
                self.pop_var.mul_(0.99).add_(var * 0.01)
        else:
            mean, var = self.pop_mean, self.pop_var
        inv = torch.rsqrt(var + self.eps) * self.gamma
        return (x - mean.view(shape)) * inv.view(shape) + self.beta.view(shape)


class Conv20(nn.Module):
    def __init__(self, low_level):
        super().__init__()
        layers, cin = [], 1
        for d in range(1, 20):
            s = 2 if d % 3 == 0 else 1
            layers.append(nn.Conv2d(cin, d * 4, 3, s, padding=1, bias=False))
            layers.append(LowLevelBN(d * 4, [0, 2, 3]) if low_level else nn.BatchNorm2d(d * 4, eps=1e-3, momentum=0.01))
            layers.append(nn.ReLU())
            cin = d * 4
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(76, 100, bias=False)
        self.bn = LowLevelBN(100, [0]) if low_level else nn.BatchNorm1d(100, eps=1e-3, momentum=0.01)
        self.logits = nn.Linear(100, 10)

    def forward(self, x):
        h = self.body(x).flatten(1)
        return self.logits(F.relu(self.bn(self.fc(h))))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn0 = nn.BatchNorm1d(784, eps=1e-3, momentum=0.01)
        self.d1 = nn.Linear(784, 1024)
        self.bn1 = nn.BatchNorm1d(1024, eps=1e-3, momentum=0.01)
        self.d2 = nn.Linear(1024, 10)

    def forward(self, x):
        return self.d2(self.bn1(F.relu(self.d1(self.bn0(x)))))


class TflearnConvnet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.f1 = nn.Linear(7 * 7 * 64, 128)
        self.f2 = nn.Linear(128, 256)
        self.f3 = nn.Linear(256, 10)
        self.lrn = nn.LocalResponseNorm(11, alpha=1e-4 * 11, beta=0.75, k=1.0)  # = TF depth_radius 5

    def forward(self, x):
        h = self.lrn(F.max_pool2d(F.relu(self.c1(x)), 2))
        h = self.lrn(F.max_pool2d(F.relu(self.c2(h)), 2))
        h = F.dropout(torch.tanh(self.f1(h.flatten(1))), 0.2, self.training)
        h = F.dropout(torch.tanh(self.f2(h)), 0.2, self.training)
        return F.softmax(self.f3(h), -1)


def serving_ms(fn1, fn1000, steps, warmup):
    """W1 serving rows shared by the PyTorch and ONNX Runtime scripts: batch-1 p50 over 1,000
    calls after 50 warm-up calls, and the median of `steps` batch-1000 calls."""
    for _ in range(50):
        fn1()
    t = []
    for _ in range(1000):
        s = time.perf_counter()
        fn1()
        t.append((time.perf_counter() - s) * 1e3)
    return [("infer/w1_batch1", statistics.median(t)), ("infer/w1_batch1000", time_ms(fn1000, steps, warmup))]


def w1_serving_inputs():
    rng = np.random.default_rng(7)
    return rng.random([1, 1, 28, 28], dtype=np.float32), rng.random([1000, 1, 28, 28], dtype=np.float32)


def sigmoid_xent(m, x, y):
    return F.binary_cross_entropy_with_logits(m(x), y)


def mlp_loss(m, x, y):
    l2 = sum((p * p).sum() / 2 for n, p in m.named_parameters() if n.startswith("d"))
    return -(y * F.log_softmax(m(x), -1)).sum(-1).mean() + 0.001 * l2


def tflearn_loss(m, x, y):
    out = m(x)
    p = (out / out.sum(-1, keepdim=True)).clamp(1e-10, 1 - 1e-10)
    reg = 0.001 * ((m.c1.weight ** 2).sum() / 2 + (m.c2.weight ** 2).sum() / 2)
    return -(y * p.log()).sum(-1).mean() + reg


NETS = [
    ("batchnorm_conv20", lambda: Conv20(True), sigmoid_xent, lambda p: torch.optim.Adam(p, 0.002, eps=1e-8), 64, [1, 28, 28]),
    ("batchnorm_layers", lambda: Conv20(False), sigmoid_xent, lambda p: torch.optim.Adam(p, 0.002, eps=1e-8), 64, [1, 28, 28]),
    ("batchnorm_mlp", Mlp, mlp_loss, lambda p: torch.optim.SGD(p, 0.5), 128, [784]),
    ("tflearn_convnet", TflearnConvnet, tflearn_loss, lambda p: torch.optim.Adam(p, 0.01), 64, [1, 28, 28]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=int(os.environ.get("FERROFLOW_BENCH_STEPS", 10)))
    ap.add_argument("--warmup", type=int, default=int(os.environ.get("FERROFLOW_BENCH_WARMUP", 3)))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("FERROFLOW_BENCH_THREADS", 2)))
    ap.add_argument("--filter", default=None)
    ap.add_argument("--tsv", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)
    sel = lambda row: a.filter is None or a.filter in row  # noqa: E731
    rows = []
    rng = np.random.default_rng(0)
    for name, make, loss_fn, make_opt, n, shape in NETS:
        tr, inf = f"train/{name}", f"infer/{name}"
        if not (sel(tr) or sel(inf)):
            continue
        m = make()
        opt = make_opt(m.parameters())
        x = torch.from_numpy(rng.random([n] + shape, dtype=np.float32))
        y = torch.zeros(n, 10)
        y[torch.arange(n), torch.from_numpy(rng.integers(0, 10, n))] = 1.0

        def step():
            m.train()
            opt.zero_grad(set_to_none=True)
            loss_fn(m, x, y).backward()
            opt.step()

        def infer():
            m.eval()
            with torch.no_grad():
                loss_fn(m, x, y)

        if sel(tr):
            rows.append((tr, time_ms(step, a.steps, a.warmup)))
        if sel(inf):
            rows.append((inf, time_ms(infer, a.steps, a.warmup)))

    if sel("infer/w1_batch1"):
        m = Conv20(True).eval()
        x1, x1000 = (torch.from_numpy(v) for v in w1_serving_inputs())

        def run(x):
            with torch.no_grad():
                m(x)

        rows += serving_ms(lambda: run(x1), lambda: run(x1000), a.steps, a.warmup)

    g = torch.Generator().manual_seed(1)
    if sel("op/matmul"):
        A, B = torch.randn(256, 784, generator=g), torch.randn(784, 1024, generator=g)
        rows.append(("op/matmul", time_ms(lambda: A @ B, a.steps, a.warmup)))
    if sel("op/conv2d_fwd_bwd"):
        x = torch.randn(64, 32, 28, 28, generator=g, requires_grad=True)
        w = (0.1 * torch.randn(64, 32, 3, 3, generator=g)).requires_grad_()
        up = torch.randn(64, 64, 28, 28, generator=g)

        def conv():
            torch.autograd.grad(F.conv2d(x, w, padding=1), [x, w], up)

        rows.append(("op/conv2d_fwd_bwd", time_ms(conv, a.steps, a.warmup)))
    if sel("op/fused_batch_norm_fwd_bwd"):
        x = torch.randn(64, 32, 28, 28, generator=g, requires_grad=True)
        sc = (torch.randn(32, generator=g) + 1.5).requires_grad_()
        of = torch.randn(32, generator=g, requires_grad=True)
        up = torch.randn(64, 32, 28, 28, generator=g)

        def bn():
            y = F.batch_norm(x, None, None, sc, of, training=True, eps=1e-3)
            torch.autograd.grad(y, [x, sc, of], up)

        rows.append(("op/fused_batch_norm_fwd_bwd", time_ms(bn, a.steps, a.warmup)))

    if sel("overhead/chain_1000_adds"):
        x0 = torch.zeros(())

        def chain():
            y = x0
            for _ in range(1000):
                y = y + 1.0
            return y

        rows.append(("overhead/chain_1000_adds", time_ms(chain, a.steps, a.warmup)))

    print(f"pytorch {torch.__version__}: {a.steps} steps after {a.warmup} warm-up, {torch.get_num_threads()} threads")
    for name, ms in rows:
        print(f"{name:<30} {ms:>12.3f}")
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.writelines(f"{n}\t{ms:.4f}\n" for n, ms in rows)


if __name__ == "__main__":
    main()
