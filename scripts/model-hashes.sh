#!/usr/bin/env bash
# Trains short seeded runs of standard training, Fast-AT, PGD-AT, TRADES (Fashion-MNIST,
# smallcnn, 2,000 images, one epoch) and FreeLB (MR, TextCNN, one epoch) and prints a SHA-256
# of each final model's tensors (names, dtypes, shapes and bytes, sorted by name; the metadata
# is left out). The same build, seed and core count give the same hashes, so two builds that
# should train identically can be compared: run it on each and diff the output.
# Usage: scripts/model-hashes.sh [MR_DIR]   (MR_DIR holds rt-polarity.pos and .neg; without it
# FreeLB is skipped). BULWARK=path/to/bulwark uses another build; OUT=DIR keeps the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bulwark=${BULWARK:-.build/release/bulwark}
[ -x "$bulwark" ] || swift build -c release --product bulwark
out=${OUT:-$(mktemp -d)}
mr=${1:-}

hash_tensors() { # a .safetensors file
    python3 - "$1" <<'PYTHON'
import hashlib, json, struct, sys
data = open(sys.argv[1], "rb").read()
length = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + length])
digest = hashlib.sha256()
for name in sorted(key for key in header if key != "__metadata__"):
    entry = header[name]
    begin, end = entry["data_offsets"]
    digest.update(f"{name} {entry['dtype']} {entry['shape']}\n".encode())
    digest.update(data[8 + length + begin:8 + length + end])
print(digest.hexdigest())
PYTHON
}

image=(--dataset fashion-mnist --architecture smallcnn --epsilon 0.1 --epochs 1 --train-count 2000
       --validation-count 500 --validation-steps 0 --final-eval-count 0 --seed 0 --quiet --force)
for method in standard fast pgd trades; do
    "$bulwark" train "${image[@]}" --method "$method" --out "$out/$method" >/dev/null
    echo "$method $(hash_tensors "$out/$method/model.safetensors")"
done
if [ -n "$mr" ]; then
    "$bulwark" train --task text --dataset mr --data-dir "$mr" --architecture textcnn --method freelb --epsilon 1 \
        --epochs 1 --seed 0 --quiet --force --out "$out/freelb" >/dev/null
    echo "freelb $(hash_tensors "$out/freelb/model.safetensors")"
fi
