#!/usr/bin/env bash
# Bulwark against PyTorch + torchattacks (and TensorFlow graph mode) on this
# machine, side by side. See bench/README.md.
#
#   bench/compare.sh [--with-tensorflow] [--repetitions N] [options]
#
# Creates the peers' virtual environments if missing, builds bulwark-bench in
# release, measures the FP32 FMA peak, runs each group of workloads for every
# side in turn (Bulwark, PyTorch[, TensorFlow], then again: A B A B), prints
# one table and writes bench/results/compare-<date>.json.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

with_tf=0
repetitions=5
warmup=1
epoch_repetitions=3
epoch_warmup=0
rounds=2
models=mlp,lenet,smallcnn
workloads=w1,w2,w3,w4,w5,w6,w7
torch_venv="$BENCH/.venv-torch"
tf_venv="$BENCH/.venv-tf"
torch_spec=torch
tf_spec=tensorflow-cpu
python=${PYTHON:-python3}
build=1
out=""
scratch="$ROOT/.build-bench"
peak_seconds=0.5

usage() {
    cat <<EOF
usage: bench/compare.sh [options]

  --with-tensorflow        also run bench/tf_reference.py (W1-W4)
  --repetitions N          timed runs per W1-W4 and W7 measurement, median kept (default $repetitions)
  --warmup N               untimed runs before them (default $warmup)
  --epoch-repetitions N    timed epochs per W5/W6 measurement, median kept (default $epoch_repetitions)
  --epoch-warmup N         untimed epochs before them (default $epoch_warmup)
  --rounds N               alternating rounds, best round kept (default $rounds; at least 2 for
                           a comparison, 1 only to check that everything runs)
  --models LIST            default $models
  --workloads LIST         default $workloads
  --torch-venv DIR         PyTorch environment, created if missing (default bench/.venv-torch)
  --torch-spec SPEC        what pip installs there (default '$torch_spec': the newest on PyPI;
                           e.g. 'torch==2.13.0+cpu' for the CPU-only wheel in pip's find-links)
  --tf-venv DIR            TensorFlow environment, created if missing (default bench/.venv-tf)
  --tf-spec SPEC           default '$tf_spec'
  --python PATH            interpreter that creates the environments (default \$PYTHON or python3)
  --skip-build             use the existing $scratch build of bulwark-bench
  --out FILE               default bench/results/compare-<date>.json
  --peak-seconds S         seconds per FMA-peak trial (default $peak_seconds)
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --with-tensorflow) with_tf=1 ;;
        --repetitions) repetitions=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --epoch-repetitions) epoch_repetitions=$2; shift ;;
        --epoch-warmup) epoch_warmup=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --models) models=$2; shift ;;
        --workloads) workloads=$2; shift ;;
        --torch-venv) torch_venv=$2; shift ;;
        --torch-spec) torch_spec=$2; shift ;;
        --tf-venv) tf_venv=$2; shift ;;
        --tf-spec) tf_spec=$2; shift ;;
        --python) python=$2; shift ;;
        --skip-build) build=0 ;;
        --out) out=$2; shift ;;
        --peak-seconds) peak_seconds=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if (( rounds < 2 )); then
    echo "compare.sh: --rounds $rounds: fine for checking that everything runs, not for a comparison" >&2
fi

stamp=$(date -u +%Y%m%d-%H%M%S)
[[ -n "$out" ]] || out="$BENCH/results/compare-$stamp.json"
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

has() { [[ ",$workloads," == *",$1,"* ]]; }
say() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------- environments

ensure_venv() { # dir, import check, pip arguments...
    local dir=$1 check=$2; shift 2
    if [[ -x "$dir/bin/python" ]] && "$dir/bin/python" -c "$check" 2>/dev/null; then
        return
    fi
    say "creating $dir"
    [[ -x "$dir/bin/python" ]] || "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install "$@"
}

# torchattacks declares torchvision and an old pin of requests, neither of which
# it imports (only scipy): --no-deps keeps pip from replacing torch to satisfy
# the newest torchvision's exact torch pin.
ensure_venv "$torch_venv" "import torch, torchattacks" "$torch_spec" numpy scipy
"$torch_venv/bin/python" -c "import torchattacks" 2>/dev/null ||
    "$torch_venv/bin/python" -m pip install --no-deps torchattacks
if (( with_tf )); then
    ensure_venv "$tf_venv" "import tensorflow" "$tf_spec" numpy
fi

if [[ ! -x /usr/bin/time ]]; then
    say "installing GNU time (Debian package 'time') for peak RSS"
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        apt-get install -y time >/dev/null || { apt-get update >/dev/null && apt-get install -y time >/dev/null; } || true
    fi
fi
[[ -x /usr/bin/time ]] || echo "compare.sh: /usr/bin/time missing: peak RSS will not be measured" >&2

# ---------------------------------------------------------------- builds

cd "$ROOT"
if (( build )); then
    say "building bulwark-bench (release, scratch path ${scratch#"$ROOT"/})"
    swift build -c release --scratch-path "$scratch" --product bulwark-bench
fi
bulwark="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/bulwark-bench"
[[ -x "$bulwark" ]] || { echo "compare.sh: $bulwark not built (drop --skip-build)" >&2; exit 1; }

mkdir -p "$scratch"
cc -O2 -mavx2 -mfma -pthread "$BENCH/peak/fma_peak.c" -o "$scratch/fma_peak"

# ---------------------------------------------------------------- runs

say "FMA peak (before)"
"$scratch/fma_peak" "$peak_seconds" 3 | tee "$work/peak-before.json"

# Workload groups: W1-W4 and W7 with --repetitions; W6 with --epoch-*; W5 per
# model in a process of its own, under /usr/bin/time for the peak RSS.
fast=()
for w in w1 w2 w3 w4 w7; do has $w && fast+=($w); done
fast_list=$(IFS=,; echo "${fast[*]-}")
tf_fast=()
for w in w1 w2 w3 w4; do has $w && tf_fast+=($w); done
tf_list=$(IFS=,; echo "${tf_fast[*]-}")
IFS=, read -r -a model_list <<< "$models"

run_side() { # side, tag, workloads, models, repetitions, warmup, [rss]
    local side=$1 tag=$2 list=$3 which=$4 reps=$5 warm=$6 rss=${7:-}
    local json="$work/$side-$tag.json" log="$work/$side-$tag.log"
    local -a cmd
    case $side in
        bulwark) cmd=("$bulwark") ;;
        torch) cmd=("$torch_venv/bin/python" "$BENCH/torch_reference.py") ;;
        tf) cmd=("$tf_venv/bin/python" "$BENCH/tf_reference.py") ;;
    esac
    cmd+=(--workloads "$list" --models "$which" --repetitions "$reps" --warmup "$warm" --json "$json")
    if [[ -n "$rss" && -x /usr/bin/time ]]; then
        cmd=(/usr/bin/time -f %M -o "$work/$side-$tag.rss" "${cmd[@]}")
    fi
    echo "-- $side: ${cmd[*]}"
    if ! "${cmd[@]}" 2>&1 | tee "$log" | sed 's/^/   /'; then
        echo "compare.sh: $side failed on $list ($which); see the lines above" >&2
    fi
}

sides=(bulwark torch)
(( with_tf )) && sides+=(tf)
for (( round = 1; round <= rounds; round++ )); do
    say "round $round of $rounds (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    if [[ -n "$fast_list" ]]; then
        for side in "${sides[@]}"; do
            if [[ $side == tf ]]; then
                [[ -n "$tf_list" ]] && run_side tf "fast-r$round" "$tf_list" "$models" "$repetitions" "$warmup"
            else
                run_side "$side" "fast-r$round" "$fast_list" "$models" "$repetitions" "$warmup"
            fi
        done
    fi
    if has w6; then
        for side in bulwark torch; do
            run_side "$side" "w6-r$round" w6 "$models" "$epoch_repetitions" "$epoch_warmup"
        done
    fi
    if has w5; then
        for model in "${model_list[@]}"; do
            for side in bulwark torch; do
                run_side "$side" "w5-$model-r$round" w5 "$model" "$epoch_repetitions" "$epoch_warmup" rss
            done
        done
    fi
done

say "FMA peak (after)"
"$scratch/fma_peak" "$peak_seconds" 3 | tee "$work/peak-after.json"

# ---------------------------------------------------------------- report

export COMPARE_WORK="$work" COMPARE_OUT="$out" COMPARE_ROUNDS="$rounds"
export COMPARE_SETTINGS="repetitions=$repetitions warmup=$warmup epoch_repetitions=$epoch_repetitions epoch_warmup=$epoch_warmup rounds=$rounds models=$models workloads=$workloads with_tensorflow=$with_tf"
export COMPARE_CPU="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
export COMPARE_NPROC="$(nproc)"
export COMPARE_OPENBLAS_ENV="$(env | grep OPENBLAS || true)"
export COMPARE_THREAD_ENV="$(env | grep -E '^(OMP_|GOMP_|KMP_|MKL_|DNNL_|ONEDNN_|TF_ENABLE_ONEDNN|TF_NUM_I)' || true)"
export COMPARE_OPENBLAS_PKG="$(dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' 'libopenblas*' 2>/dev/null | sed -n 's/^ii *//p' || true)"
export COMPARE_ONEDNN_PKG="$(dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' 'libdnnl*' 2>/dev/null | sed -n 's/^ii *//p' || true)"
# The kernel OpenBLAS picks in this environment (what Bulwark's GEMM runs).
export COMPARE_OPENBLAS_CORE="$("$python" -c 'import ctypes
lib = ctypes.CDLL("libopenblas.so.0")
lib.openblas_get_corename.restype = lib.openblas_get_config.restype = ctypes.c_char_p
print(lib.openblas_get_corename().decode(), "|", lib.openblas_get_config().decode())' 2>/dev/null || echo unknown)"
export COMPARE_SWIFT="$(swift --version 2>&1 | head -1)"
export COMPARE_TORCH="$("$torch_venv/bin/python" -c 'import torch, torchattacks; print(f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), torchattacks {torchattacks.__version__}")' 2>/dev/null || echo unknown)"
export COMPARE_TF=""
(( with_tf )) && COMPARE_TF="$("$tf_venv/bin/python" -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="2"; import tensorflow as tf; print("tensorflow", tf.__version__)' 2>/dev/null || echo unknown)"
export COMPARE_GIT="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)$( [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo ' (with uncommitted changes)')"
export COMPARE_KERNEL="$(uname -sr)"

"$python" - <<'PY'
import glob, json, os, re, time

work = os.environ["COMPARE_WORK"]
NAMES = {"bulwark": "Bulwark", "torch": "PyTorch", "tf": "TensorFlow"}

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

# side -> (workload, model) -> list of per-round entries
rounds = {}
rss = {}
for path in sorted(glob.glob(os.path.join(work, "*.json"))):
    base = os.path.basename(path)
    match = re.match(r"(bulwark|torch|tf)-(.*)-r(\d+)\.json$", base)
    if not match:
        continue
    side, tag, round_ = match.group(1), match.group(2), int(match.group(3))
    for entry in load(path) or []:
        entry = dict(entry, round=round_)
        rounds.setdefault(side, {}).setdefault((entry["workload"], entry["model"]), []).append(entry)
    rss_path = path[:-5] + ".rss"
    if os.path.exists(rss_path) and tag.startswith("w5-"):
        text = open(rss_path).read().split()
        if text and text[-1].isdigit():
            rss.setdefault(side, {}).setdefault(tag[3:], []).append(int(text[-1]))

def rate(entry):
    return entry.get("images_per_second") or entry.get("gflops")

def best(side, key):
    """The best round: the highest rate (noise only ever slows a run)."""
    entries = rounds.get(side, {}).get(key, [])
    return max(entries, key=rate) if entries else None

peaks = [load(os.path.join(work, f"peak-{w}.json")) or {} for w in ("before", "after")]
def peak_of(field):
    values = [p.get(field) for p in peaks if p.get(field)]
    return max(values) if values else None
avx2, avx512 = peak_of("avx2_fma_gflops"), peak_of("avx512_fma_gflops")

order = {"W1": 1, "W2": 2, "W3": 3, "W4": 4, "W5": 5, "W6": 6, "W7": 7}
model_order = {m: i for i, m in enumerate(["mlp", "lenet", "smallcnn", "fastcnn",
                                           "gemm1024", "gemm4096", "conv-fwd", "conv-f+b"])}
keys = sorted({k for side in rounds.values() for k in side},
              key=lambda k: (order.get(k[0], 9), model_order.get(k[1], 99), k[1]))
with_tf = "tf" in rounds or "with_tensorflow=1" in os.environ["COMPARE_SETTINGS"]

def fmt_rate(entry, kernel):
    if entry is None:
        return "-"
    value = rate(entry)
    if not kernel:
        return f"{value:,.0f}"
    text = f"{value:,.1f}"
    if avx2:
        text += f" ({100 * value / avx2:.0f}%"
        text += f"/{100 * value / avx512:.0f}%)" if avx512 else ")"
    return text

def fmt_ratio(a, b):
    return f"{rate(a) / rate(b):.2f}x" if a and b and rate(b) else "-"

header = ["workload", "model", "Bulwark", "PyTorch", "vs PyTorch"]
if with_tf:
    header += ["TensorFlow", "vs TF"]
rows, table = [], []
for key in keys:
    kernel = key[0] == "W7"
    b, t, f = best("bulwark", key), best("torch", key), best("tf", key)
    row = [key[0], key[1], fmt_rate(b, kernel), fmt_rate(t, kernel), fmt_ratio(b, t)]
    if with_tf:
        row += [fmt_rate(f, kernel), fmt_ratio(b, f)]
    table.append(row)
    rows.append({
        "workload": key[0], "model": key[1], "unit": "GFLOP/s" if kernel else "images/s",
        "bulwark": rate(b) if b else None, "pytorch": rate(t) if t else None,
        "tensorflow": rate(f) if f else None,
        "ratio_pytorch": rate(b) / rate(t) if b and t else None,
        "ratio_tensorflow": rate(b) / rate(f) if b and f else None,
        "fraction_of_avx2_peak": {s: rate(e) / avx2 for s, e in (("bulwark", b), ("pytorch", t)) if e and avx2} if kernel else None,
        "fraction_of_avx512_peak": {s: rate(e) / avx512 for s, e in (("bulwark", b), ("pytorch", t)) if e} if kernel and avx512 else None,
        "accuracy": {s: e.get("accuracy") for s, e in (("bulwark", b), ("pytorch", t)) if e and e.get("accuracy") is not None} or None,
        "rounds": {NAMES[s]: rounds.get(s, {}).get(key, []) for s in ("bulwark", "torch", "tf") if rounds.get(s, {}).get(key)},
    })

widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
def line(cells):
    return "  ".join(str(c).ljust(widths[i]) if i < 2 else str(c).rjust(widths[i]) for i, c in enumerate(cells))
print()
print(line(header))
print(line(["-" * w for w in widths]))
for row in table:
    print(line(row))
print()
print("images/s for W1-W6, GFLOP/s for W7 (in parentheses: % of the measured AVX2 FMA peak"
      + (", then of the AVX-512 peak" if avx512 else "") + ").")
print("ratios are Bulwark / peer (above 1: Bulwark faster). Each figure is the best of "
      f"{os.environ['COMPARE_ROUNDS']} alternating rounds of the per-round median.")
print(f"FP32 FMA peak, all {os.environ['COMPARE_NPROC']} cores: AVX2 {avx2 or '-'} GFLOP/s, AVX-512 "
      f"{avx512 if avx512 else 'not available'}{' GFLOP/s' if avx512 else ''} (best of before and after the runs).")

memory = []
for model in sorted({m for side in rss.values() for m in side}, key=lambda m: model_order.get(m, 99)):
    b, t = rss.get("bulwark", {}).get(model), rss.get("torch", {}).get(model)
    memory.append({"model": model, "bulwark_peak_rss_kib": max(b) if b else None,
                   "pytorch_peak_rss_kib": max(t) if t else None,
                   "bulwark_rounds_kib": b, "pytorch_rounds_kib": t})
if memory:
    print("\nW5 peak resident memory (own process, /usr/bin/time %M, highest of the rounds):")
    for m in memory:
        mib = lambda k: f"{k / 1024:,.0f} MiB" if k else "-"
        print(f"  {m['model']:<9} Bulwark {mib(m['bulwark_peak_rss_kib']):>10}   PyTorch {mib(m['pytorch_peak_rss_kib']):>10}")
accuracy_rows = [r for r in rows if r["accuracy"]]
if accuracy_rows:
    print("\nAccuracy on the first 256 training images after the epoch (best round's run):")
    for r in accuracy_rows:
        acc = r["accuracy"]
        pct = lambda v: f"{100 * v:.1f}%" if v is not None else "-"
        print(f"  {r['workload']} {r['model']:<9} Bulwark {pct(acc.get('bulwark')):>6}   PyTorch {pct(acc.get('pytorch')):>6}")

result = {
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "settings": os.environ["COMPARE_SETTINGS"],
    "combination": "per side and workload: the best (highest) of the rounds' medians; rounds alternate the sides",
    "machine": {
        "cpu_model": os.environ["COMPARE_CPU"], "cores": int(os.environ["COMPARE_NPROC"]),
        "kernel": os.environ["COMPARE_KERNEL"],
        "openblas_env": os.environ["COMPARE_OPENBLAS_ENV"].splitlines(),
        "openblas_core": os.environ["COMPARE_OPENBLAS_CORE"],
        "thread_env": os.environ["COMPARE_THREAD_ENV"].splitlines(),
        "openblas_packages": os.environ["COMPARE_OPENBLAS_PKG"].splitlines(),
        "onednn_packages": os.environ.get("COMPARE_ONEDNN_PKG", "").splitlines(),
        "fma_peak": {"avx2_fma_gflops": avx2, "avx512_fma_gflops": avx512, "runs": peaks},
    },
    "versions": {"bulwark_commit": os.environ["COMPARE_GIT"], "swift": os.environ["COMPARE_SWIFT"],
                 "pytorch": os.environ["COMPARE_TORCH"], "tensorflow": os.environ["COMPARE_TF"] or None},
    "table": rows,
    "w5_peak_rss": memory,
}
with open(os.environ["COMPARE_OUT"], "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(f"\nwrote {os.environ['COMPARE_OUT']}")
PY
