#!/usr/bin/env python3
"""Checks that Bulwark predicts like PyTorch on a checkpoint PyTorch saved.

For each architecture: bench/export_torch_checkpoint.py trains the nn.Sequential briefly in
PyTorch, saves its state_dict as safetensors and writes PyTorch's logits; `bulwark predict`
loads the file (with --architecture, since it has no Bulwark metadata) and writes its logits;
this script compares them. Run with the Python that has torch and safetensors:

    python bench/compare_predictions.py --bulwark .build/release/bulwark --out /tmp/interop
"""
import argparse
import json
import pathlib
import subprocess
import sys

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--bulwark", default=".build/release/bulwark")
parser.add_argument("--out", default="/tmp/bulwark-interop")
parser.add_argument("--models", default="mlp,lenet,smallcnn,fastcnn")
parser.add_argument("--count", type=int, default=100)
parser.add_argument("--tolerance", type=float, default=1e-4)
args = parser.parse_args()

out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
here = pathlib.Path(__file__).parent
failed = False
for model in args.models.split(","):
    checkpoint = out / f"{model}.safetensors"
    subprocess.run([sys.executable, str(here / "export_torch_checkpoint.py"), "--model", model,
                    "--out", str(checkpoint), "--count", str(args.count)], check=True, stdout=subprocess.DEVNULL)
    ours = out / f"{model}.bulwark.json"
    subprocess.run([args.bulwark, "predict", "--model", str(checkpoint), "--architecture", model,
                    "--count", str(args.count), "--json", str(ours)], check=True, stdout=subprocess.DEVNULL)
    torch_result = json.loads((out / f"{model}.safetensors.predictions.json").read_text())
    bulwark_result = json.loads(ours.read_text())
    difference = max(abs(a - b) for row_a, row_b in zip(torch_result["logits"], bulwark_result["logits"])
                     for a, b in zip(row_a, row_b))
    agree = sum(a == b for a, b in zip(torch_result["predictions"], bulwark_result["predictions"]))
    ok = difference <= args.tolerance and agree == args.count
    failed |= not ok
    print(f"{model:9} max |logit difference| {difference:.2e}  same prediction {agree}/{args.count}  {'ok' if ok else 'MISMATCH'}")
sys.exit(1 if failed else 0)
