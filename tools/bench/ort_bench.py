#!/usr/bin/env python3
"""ONNX Runtime rows of ferroflow's benchmark: W1 (the founding conv20 net) served in inference mode.

The model is PyTorch's W1 (`torch_bench.Conv20`, low-level batch norm, eval mode) exported with
`torch.onnx.export` to a temporary file, then run by an `InferenceSession` with
`ORT_ENABLE_ALL` graph optimizations, `--threads` intra-op threads and one inter-op thread. Rows:
`infer/batchnorm_conv20` (batch 64, median of `--steps` runs), `infer/w1_batch1` (p50 of 1,000
single-image runs) and `infer/w1_batch1000` (median of `--steps` runs of 1,000 images).

    python tools/bench/ort_bench.py --threads 2 --steps 10 [--tsv out.tsv]

Needs `onnxruntime`, `onnx` and `onnxscript` beside `torch` (the PyTorch venv).
"""
import argparse
import os
import sys
import tempfile
import warnings

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import Conv20, serving_ms, time_ms, w1_serving_inputs  # noqa: E402


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
    if sel("infer/batchnorm_conv20") or sel("infer/w1_batch1"):
        torch.manual_seed(1)
        m = Conv20(True).eval()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w1.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(m, torch.zeros(1, 1, 28, 28), path, input_names=["x"], output_names=["logits"],
                                  dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}})
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.intra_op_num_threads = a.threads
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        run = lambda x: sess.run(None, {"x": x})  # noqa: E731
        if sel("infer/batchnorm_conv20"):
            x64 = np.random.default_rng(0).random([64, 1, 28, 28], dtype=np.float32)
            rows.append(("infer/batchnorm_conv20", time_ms(lambda: run(x64), a.steps, a.warmup)))
        if sel("infer/w1_batch1"):
            x1, x1000 = w1_serving_inputs()
            rows += serving_ms(lambda: run(x1), lambda: run(x1000), a.steps, a.warmup)

    print(f"onnxruntime {ort.__version__}: {a.steps} steps after {a.warmup} warm-up, intra={a.threads} threads")
    for name, ms in rows:
        print(f"{name:<30} {ms:>12.3f}")
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.writelines(f"{n}\t{ms:.4f}\n" for n, ms in rows)


if __name__ == "__main__":
    main()
