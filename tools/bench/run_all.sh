#!/usr/bin/env bash
# Runs ferroflow's train_step bench, the TensorFlow and the PyTorch versions with the same thread
# count and step count, then prints one table with ferroflow/TF and ferroflow/PyTorch ratios
# (ratio > 1 = ferroflow slower).
#
#   tools/bench/run_all.sh [--threads N] [--steps N] [--filter SUBSTR]
#
# Env: TF_PYTHON (default /work/tfvenv/bin/python), TORCH_PYTHON (default: TF_PYTHON),
#      FERROFLOW_BENCH_STEPS / FERROFLOW_BENCH_THREADS (defaults 10 / 2), SKIP_TF=1, SKIP_TORCH=1,
#      BASELINE_BIN=path/to/an/older/train_step binary: also run it and add "before" columns
#      (copy target/release/deps/train_step-* aside before changing kernels).
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS="${FERROFLOW_BENCH_THREADS:-2}"
STEPS="${FERROFLOW_BENCH_STEPS:-10}"
FILTER=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --filter) FILTER=(--filter "$2"); shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
TF_PYTHON="${TF_PYTHON:-/work/tfvenv/bin/python}"
TORCH_PYTHON="${TORCH_PYTHON:-$TF_PYTHON}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# Same thread count everywhere; no OpenBLAS core-type/L2 overrides for numpy/torch.
COMMON_ENV=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
  FERROFLOW_BENCH_THREADS="$THREADS" FERROFLOW_BENCH_STEPS="$STEPS"
  MATMUL_NUM_THREADS="$THREADS" RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS")

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)  threads=$THREADS steps=$STEPS"
cargo bench --bench train_step --no-run -q
echo "== ferroflow"
env "${COMMON_ENV[@]}" cargo bench -q --bench train_step -- --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/ferroflow.tsv" "${FILTER[@]}"
if [ -n "${BASELINE_BIN:-}" ]; then
  echo "== ferroflow baseline ($BASELINE_BIN)"
  env "${COMMON_ENV[@]}" "$BASELINE_BIN" --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/baseline.tsv" "${FILTER[@]}"
fi
if [ -z "${SKIP_TF:-}" ]; then
  echo "== tensorflow"
  env "${COMMON_ENV[@]}" TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 "$TF_PYTHON" tools/bench/tf_bench.py \
    --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/tf.tsv" "${FILTER[@]}" 2> "$OUT/tf.err" || { cat "$OUT/tf.err" >&2; exit 1; }
fi
if [ -z "${SKIP_TORCH:-}" ]; then
  echo "== pytorch"
  env "${COMMON_ENV[@]}" "$TORCH_PYTHON" tools/bench/torch_bench.py \
    --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/torch.tsv" "${FILTER[@]}"
fi
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$OUT" <<'PY'
import os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return {}
    return {k: float(v) for k, v in (l.split("\t") for l in open(p).read().split("\n") if l)}
ff, tf, pt, base = load("ferroflow.tsv"), load("tf.tsv"), load("torch.tsv"), load("baseline.tsv")
fmt = lambda v: f"{v:10.2f}" if v is not None else f"{'-':>10}"
ratio = lambda a, b: f"{a / b:8.2f}" if a is not None and b else f"{'-':>8}"
print()
cols = ["row", "ferroflow ms", "TF ms", "PyTorch ms", "ff/TF", "ff/PT"]
if base:
    cols += ["before ms", "before/TF", "before/PT"]
print("| " + " | ".join(cols) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|")
for k, v in ff.items():
    t, p = tf.get(k), pt.get(k)
    cells = [f"{k:<28}", f"{v:10.2f}", fmt(t), fmt(p), ratio(v, t), ratio(v, p)]
    if base:
        b = base.get(k)
        cells += [fmt(b), ratio(b, t), ratio(b, p)]
    print("| " + " | ".join(cells) + " |")
PY
