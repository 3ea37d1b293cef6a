#!/usr/bin/env bash
# Issue 5's Fashion-MNIST table at ε = 0.1 (L∞), smallcnn, seed 0: every training method with
# the recipe of scripts/reproduce-core.sh (Adam, batch 128, 5 epochs, cyclic learning rate
# peaking at 1e-3 at 40%, 1,000 training images held out for validation), then clean and PGD-20
# (step 0.01, random start) accuracy on the first 1,000 test images and the AutoAttack-style
# ensemble (APGD-CE, APGD-T, FAB-T, Square) on the first ENSEMBLE_COUNT (default 200; the
# ensemble costs about 1.4 s per image on a robust smallcnn).
#
#   standard  3 epochs, constant learning rate 1e-3 (as reproduce-core.sh)
#   fast      Fast-AT, α = 1.25ε from a random start
#   pgd       PGD-AT, 7 steps of 0.02
#   free      Free-AT, m = 8 replays, 2 passes (16 updates per batch: between fast's and pgd's cost)
#   trades    TRADES, β = 6, 10 steps
#   mart      MART, β = 6, 10 steps
#   awp       AWP on PGD-AT (γ = 5e-3), when this build has --method awp
#
# Usage: scripts/reproduce-fashion.sh [METHOD …]   (default: all; finished runs and evaluations
# in OUT, default runs/fashion, are kept: delete them to run again; a killed run continues from
# its last completed epoch when the script runs again).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
# BULWARK names an already built executable (for example another build directory's).
if [ -z "${BULWARK:-}" ]; then swift build -c release --product bulwark >/dev/null; fi
bulwark=${BULWARK:-.build/release/bulwark}
out=${OUT:-runs/fashion}
seed=${SEED:-0}
ensemble=${ENSEMBLE_COUNT:-200}
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(standard fast pgd free trades mart awp)
mkdir -p "$out"

for method in "${methods[@]}"; do
    case $method in
        standard) recipe=(--method standard --epochs 3 --schedule constant) ;;
        fast) recipe=(--method fast --step-size 0.125 --epochs 5 --schedule cyclic) ;;
        pgd) recipe=(--method pgd --steps 7 --step-size 0.02 --epochs 5 --schedule cyclic) ;;
        free) recipe=(--method free --replays 8 --epochs 2 --schedule cyclic) ;;
        trades) recipe=(--method trades --beta 6 --steps 10 --epochs 5 --schedule cyclic) ;;
        mart) recipe=(--method mart --beta 6 --steps 10 --epochs 5 --schedule cyclic) ;;
        awp)
            if ! $bulwark train --help | grep "awp" >/dev/null; then echo "skipping awp: this build has no --method awp"; continue; fi
            recipe=(--method awp --awp-gamma 0.005 --steps 7 --step-size 0.02 --epochs 5 --schedule cyclic) ;;
        *) echo "unknown method $method" >&2; exit 1 ;;
    esac
    # train.json is written when training ends; an interrupted run continues from its last
    # completed epoch (resume.safetensors), one that never finished an epoch starts again.
    if [ ! -e "$out/$method/train.json" ] && [ -e "$out/$method/resume.safetensors" ]; then
        $bulwark train --resume "$out/$method" --final-eval-count 0 --json "$out/$method/train.json" --quiet
    elif [ ! -e "$out/$method/train.json" ]; then
        $bulwark train --dataset fashion-mnist --architecture smallcnn --batch-size 128 --optimizer adam --learning-rate 1e-3 \
            --epsilon 0.1 --seed "$seed" --final-eval-count 0 --out "$out/$method" --json "$out/$method/train.json" \
            --quiet "${recipe[@]}"
    fi
    model=(--model "$out/$method/model.safetensors" --dataset fashion-mnist --epsilon 0.1 --seed "$seed" --quiet)
    [ -e "$out/$method-pgd20.json" ] || \
        $bulwark eval "${model[@]}" --count 1000 --attack pgd --steps 20 --step-size 0.01 --json "$out/$method-pgd20.json"
    [ -e "$out/$method-ensemble.json" ] || \
        $bulwark eval "${model[@]}" --count "$ensemble" --attack standard --json "$out/$method-ensemble.json"
done

python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
# The same recipes in PyTorch on this machine kind (issue 5): clean / PGD-20, first 1,000 test images.
pytorch = {"fast": "87.1% / 70.3%", "pgd": "85.9% / 72.6%"}
print(f"{'method':9} {'epochs':>6} {'clean':>7} {'PGD-20':>7} {'ensemble':>9} {'train s':>8}   PyTorch clean / PGD-20")
for method in ("standard", "fast", "pgd", "free", "trades", "mart", "awp"):
    pgd_file, ensemble_file = out / f"{method}-pgd20.json", out / f"{method}-ensemble.json"
    if not pgd_file.exists():
        continue
    pgd = json.loads(pgd_file.read_text())
    ensemble = json.loads(ensemble_file.read_text()) if ensemble_file.exists() else None
    epochs = [json.loads(l) for l in (out / method / "metrics.jsonl").read_text().splitlines() if l.strip()]
    seconds = sum(e["train_seconds"] for e in epochs)
    worst = f"{ensemble['robust_accuracy']*100:8.2f}%" if ensemble else "       -"
    print(f"{method:9} {len(epochs):6} {pgd['clean_accuracy']*100:6.2f}% {pgd['attacks']['pgd']['robust_accuracy']*100:6.2f}% "
          f"{worst} {seconds:8.0f}   {pytorch.get(method, '')}")
print("clean and PGD-20 on the first 1,000 test images; the ensemble on the first", end=" ")
print(json.loads(next(out.glob("*-ensemble.json")).read_text())["count"] if list(out.glob("*-ensemble.json")) else "-", "images.")
PY
