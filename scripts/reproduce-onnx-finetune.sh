#!/usr/bin/env bash
# Fine-tunes the PyTorch SmallResNet exported to ONNX (Fashion-MNIST, clean accuracy 0.8686,
# PGD-20 accuracy 0.0 at ε = 0.1) with PGD adversarial training at ε = 0.1, then checks the
# trained graph the run writes (OUT/stage2/model.onnx) in onnxruntime against Bulwark on the 10,000
# test images.
# The run's final evaluation (OUT/stage2/final-eval.json) is PGD-20 at ε = 0.1, step 2.5ε/20 = 0.0125,
# with a random start, on the first 1,000 test images: the reference's attack.
# Usage: scripts/reproduce-onnx-finetune.sh [MODEL.onnx [OUT]]; PYTHON names a Python with
# onnxruntime and NumPy for the agreement check (skipped when it has none).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-/tmp/onnx-resnet/resnet.onnx}  # written by bench/onnx_resnet.py
out=${2:-runs/onnx-finetune}
python=${PYTHON:-python3}
bulwark=${BULWARK:-.build/release/bulwark}
[ -x "$bulwark" ] || swift build -c release --product bulwark

# Two stages: PGD-AT with ε ramped up over the first epoch at a small learning rate keeps the
# clean accuracy while robustness starts; the second fine-tunes the first's model.onnx at a
# larger rate. 20,000 training images, 300 held out for validation (PGD-20), ~6 min per epoch.
common=(--method pgd --epsilon 0.1 --epochs 3 --train-count 20300 --validation-count 300 --validation-steps 20
        --final-eval-count 1000 --force)
"$bulwark" train --model "$model" "${common[@]}" --epsilon-warmup 1 --learning-rate 2e-4 --seed 0 --out "$out/stage1"
"$bulwark" train --model "$out/stage1/model.onnx" "${common[@]}" --learning-rate 5e-4 --seed 1 --out "$out/stage2"
out=$out/stage2
python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1])), indent=1)[:1500])' "$out/final-eval.json"

if "$python" -c 'import onnxruntime, numpy' 2>/dev/null; then
    swift build -c release --build-tests >/dev/null
    BULWARK_AGREEMENT_MODEL="$PWD/$out/model.onnx" BULWARK_AGREEMENT_PYTHON="$python" \
        swift test -c release --skip-build --filter ONNXRuntimeAgreementTests 2>&1 | grep -E "agreement|passed|failed"
else
    echo "onnxruntime check skipped: $python cannot import onnxruntime and numpy (PYTHON=... names another)"
fi
