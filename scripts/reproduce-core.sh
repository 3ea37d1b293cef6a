#!/usr/bin/env bash
# Reproduces the core acceptance figures on Fashion-MNIST (smallcnn):
#   standard training (Adam 1e-3, batch 128, 3 epochs): clean accuracy on all 10,000 test
#   images and PGD-20 (ε = 0.1, step 0.01, random start) on the first 1,000;
#   Fast-AT and PGD-AT (7 × 0.02) at ε = 0.1, 5 epochs, cyclic Adam peaking at 1e-3 at 40%:
#   clean and PGD-20 accuracy on the first 1,000 test images.
# Results go to runs/core/*; a summary table is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
swift build -c release --product bulwark >/dev/null
bulwark=.build/release/bulwark
out=${OUT:-runs/core}
seed=${SEED:-0}
mkdir -p "$out"

train() { # name, extra arguments…
    local name=$1; shift
    $bulwark train --dataset fashion-mnist --architecture smallcnn --batch-size 128 --optimizer adam \
        --learning-rate 1e-3 --seed "$seed" --out "$out/$name" --force "$@"
}
evaluate() { # name, count, attack, json
    $bulwark eval --model "$out/$1/model.safetensors" --dataset fashion-mnist --count "$2" --attack "$3" \
        --epsilon 0.1 --steps 20 --step-size 0.01 --seed "$seed" --json "$out/$4"
}

train standard --method standard --epochs 3 --schedule constant
evaluate standard 10000 none standard-clean-10000.json
evaluate standard 1000 pgd standard-pgd20.json
train fast --method fast --epsilon 0.1 --step-size 0.125 --epochs 5 --schedule cyclic
evaluate fast 1000 pgd fast-pgd20.json
train pgd --method pgd --epsilon 0.1 --steps 7 --step-size 0.02 --epochs 5 --schedule cyclic
evaluate pgd 1000 pgd pgd-pgd20.json

python3 - "$out" <<'PY'
import json, sys, statistics, pathlib
out = pathlib.Path(sys.argv[1])
def load(name): return json.loads((out / name).read_text())
def epoch_seconds(run):
    lines = [json.loads(l) for l in (out / run / "metrics.jsonl").read_text().splitlines()]
    return statistics.mean(l["train_seconds"] for l in lines)
print(f"{'run':10} {'clean':>8} {'PGD-20':>8} {'s/epoch':>8} {'PGD-20 img/s':>13}")
std_clean = load("standard-clean-10000.json")["clean_accuracy"]
for run, clean_file, pgd_file in [("standard", "standard-clean-10000.json", "standard-pgd20.json"),
                                  ("fast", "fast-pgd20.json", "fast-pgd20.json"),
                                  ("pgd", "pgd-pgd20.json", "pgd-pgd20.json")]:
    clean = load(clean_file)["clean_accuracy"]
    pgd = load(pgd_file)["attacks"]["pgd"]
    print(f"{run:10} {clean*100:7.2f}% {pgd['robust_accuracy']*100:7.2f}% {epoch_seconds(run):8.1f} {pgd['images_per_second']:13.1f}")
print("standard clean accuracy is over all 10,000 test images; the rest over the first 1,000.")
PY
