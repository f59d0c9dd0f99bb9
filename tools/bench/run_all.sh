#!/usr/bin/env bash
# Runs ferroflow's train_step bench, the TensorFlow and the PyTorch versions, and ONNX Runtime for
# the inference rows of W1, with the same thread count and step count, then prints one table with
# ferroflow/TF, ferroflow/PyTorch and ferroflow/ONNX Runtime ratios (ratio > 1 = ferroflow slower).
#
#   tools/bench/run_all.sh [--threads N] [--steps N] [--rounds N] [--filter SUBSTR]
#
# Each round runs every program once (round-robin); the table gives each program's time per
# round, the ferroflow/peer ratio per round and the median ratio.
#
# Env: TF_PYTHON (default /work/tfvenv/bin/python), TORCH_PYTHON (default: TF_PYTHON),
#      ORT_PYTHON (default: TORCH_PYTHON; needs onnxruntime, onnx, onnxscript beside torch),
#      FERROFLOW_BENCH_STEPS / FERROFLOW_BENCH_THREADS (defaults 10 / 2), SKIP_TF=1, SKIP_TORCH=1,
#      SKIP_ORT=1,
#      BASELINE_BIN=path/to/an/older/train_step binary: also run it and add "before" columns
#      (copy target/release/deps/train_step-* aside before changing kernels).
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS="${FERROFLOW_BENCH_THREADS:-2}"
STEPS="${FERROFLOW_BENCH_STEPS:-10}"
ROUNDS=3
FILTER=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --filter) FILTER=(--filter "$2"); shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
TF_PYTHON="${TF_PYTHON:-/work/tfvenv/bin/python}"
TORCH_PYTHON="${TORCH_PYTHON:-$TF_PYTHON}"
ORT_PYTHON="${ORT_PYTHON:-$TORCH_PYTHON}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# Same thread count everywhere; no OpenBLAS core-type/L2 overrides for numpy/torch.
COMMON_ENV=(-u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
  FERROFLOW_BENCH_THREADS="$THREADS" FERROFLOW_BENCH_STEPS="$STEPS"
  MATMUL_NUM_THREADS="$THREADS" RAYON_NUM_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS")

echo "== cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cpus;" \
  "isa: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl)$' | tr '\n' ' ')"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)  threads=$THREADS steps=$STEPS rounds=$ROUNDS"
cargo bench --bench train_step --no-run -q
FF_BIN="$(cargo bench --bench train_step --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p' | tail -1)"
# Round-robin: every program once per round, so a load change hits all of them alike.
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: ferroflow"
  env "${COMMON_ENV[@]}" "$FF_BIN" --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/ferroflow.$r.tsv" "${FILTER[@]}" > /dev/null
  if [ -n "${BASELINE_BIN:-}" ]; then
    echo "== round $r: ferroflow baseline ($BASELINE_BIN)"
    env "${COMMON_ENV[@]}" "$BASELINE_BIN" --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/baseline.$r.tsv" "${FILTER[@]}" > /dev/null
  fi
  if [ -z "${SKIP_TF:-}" ]; then
    echo "== round $r: tensorflow"
    env "${COMMON_ENV[@]}" TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 "$TF_PYTHON" tools/bench/tf_bench.py \
      --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/tf.$r.tsv" "${FILTER[@]}" > /dev/null 2> "$OUT/tf.err" || { cat "$OUT/tf.err" >&2; exit 1; }
  fi
  if [ -z "${SKIP_TORCH:-}" ]; then
    echo "== round $r: pytorch"
    env "${COMMON_ENV[@]}" "$TORCH_PYTHON" tools/bench/torch_bench.py \
      --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/torch.$r.tsv" "${FILTER[@]}" > /dev/null
  fi
  if [ -z "${SKIP_ORT:-}" ]; then
    echo "== round $r: onnxruntime"
    env "${COMMON_ENV[@]}" "$ORT_PYTHON" tools/bench/ort_bench.py \
      --threads "$THREADS" --steps "$STEPS" --tsv "$OUT/ort.$r.tsv" "${FILTER[@]}" > /dev/null
  fi
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$OUT" "$ROUNDS" <<'PY'
import os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    res = []
    for r in range(1, rounds + 1):
        p = os.path.join(out, f"{name}.{r}.tsv")
        res.append({k: float(v) for k, v in (l.split("\t") for l in open(p).read().split("\n") if l)} if os.path.exists(p) else {})
    return res
ff, tf, pt, ort, base = load("ferroflow"), load("tf"), load("torch"), load("ort"), load("baseline")
def per_round(a, b, k):
    return [x[k] / y[k] for x, y in zip(a, b) if k in x and y.get(k)]
def cell(vals):
    return " / ".join(f"{v:.2f}" for v in vals) if vals else "-"
def med(vals):
    return f"**{statistics.median(vals):.2f}**" if vals else "-"
print()
cols = ["row", "ferroflow ms", "TF ms", "PyTorch ms", "ff/TF per round", "median", "ff/PT per round", "median"]
has_ort, has_base = any(ort), any(base)
if has_ort:
    cols += ["ORT ms", "ff/ORT per round", "median"]
if has_base:
    cols += ["before ms", "before/ff"]
print("| " + " | ".join(cols) + " |")
print("|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|")
for k in ff[0]:
    ms = lambda d: cell([x[k] for x in d if k in x])
    rt, rp = per_round(ff, tf, k), per_round(ff, pt, k)
    cells = [k, ms(ff), ms(tf), ms(pt), cell(rt), med(rt), cell(rp), med(rp)]
    if has_ort:
        ro = per_round(ff, ort, k)
        cells += [ms(ort), cell(ro), med(ro)]
    if has_base:
        cells += [ms(base), med(per_round(base, ff, k))]
    print("| " + " | ".join(cells) + " |")
PY
