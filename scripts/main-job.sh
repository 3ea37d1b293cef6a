#!/usr/bin/env bash
# The main job: installs the dependencies, builds Bulwark in release, adversarially trains
# the smallcnn on Fashion-MNIST with Fast-AT (ε = 0.1 L∞, 5 epochs, cyclic Adam), then
# reports clean and robust accuracy (FGSM and PGD-20) on the first 1,000 test images, a
# robustness curve over ε, 100 adversarial examples (also as PNGs), and ends by writing the
# HTML report into the run directory and printing its path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh
swift build -c release --product bulwark
bulwark=.build/release/bulwark
# The job owns its run directory: a second run replaces it (--force); OUT=DIR keeps an earlier one.
out=${OUT:-runs/main}
$bulwark train --dataset fashion-mnist --architecture smallcnn --method fast --epsilon 0.1 --step-size 0.125 \
    --epochs 5 --batch-size 128 --optimizer adam --learning-rate 1e-3 --schedule cyclic --seed 0 --out "$out" --force
$bulwark eval --model "$out/model.safetensors" --dataset fashion-mnist --count 1000 --attack fgsm pgd \
    --epsilon 0.1 --steps 20 --step-size 0.01 --seed 0 --json "$out/evaluation.json"
$bulwark eval --model "$out/model.safetensors" --dataset fashion-mnist --count 1000 --attack fgsm pgd \
    --epsilons 0,0.025,0.05,0.1,0.15,0.2,0.3 --steps 20 --seed 0 --quiet --json "$out/robustness-curve.json"
$bulwark attack --model "$out/model.safetensors" --dataset fashion-mnist --count 100 --attack pgd \
    --epsilon 0.1 --steps 20 --step-size 0.01 --seed 0 --out "$out/adversarial-examples.safetensors" \
    --png "$out/adversarial-examples"
echo "Results: $out/evaluation.json; model: $out/model.safetensors; per-epoch metrics: $out/metrics.jsonl"
report=$($bulwark report "$out" --quiet)
echo "Report: $report"
