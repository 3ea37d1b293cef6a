#!/usr/bin/env bash
# Regenerates Sources/BulwarkONNX/Generated/onnx.pb.swift from ONNX's onnx.proto.
# The generated file is committed; builds never run this script.
#
#   scripts/generate-onnx-protobuf.sh [work-directory]
#
# Steps: take onnx.proto from PyPI's onnx wheel, protoc from Debian's protobuf-compiler, and
# build swift-protobuf's protoc-gen-swift (the version Package.swift names) once in the work
# directory (default /tmp/bulwark-onnx-protobuf; the plugin build takes about 10 minutes).
set -euo pipefail

ONNX_VERSION=1.23.2
SWIFT_PROTOBUF_VERSION=1.39.0
repository="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-/tmp/bulwark-onnx-protobuf}"
mkdir -p "$work"

if ! command -v protoc >/dev/null; then
    apt-get install -y protobuf-compiler
fi

# onnx.proto from the wheel (a zip archive).
if [ ! -f "$work/onnx/onnx.proto" ]; then
    python3 -m pip download --no-deps --only-binary=:all: --dest "$work/wheel" "onnx==$ONNX_VERSION"
    python3 -m zipfile -e "$work"/wheel/onnx-*.whl "$work/unpacked"
    mkdir -p "$work/onnx"
    cp "$work/unpacked/onnx/onnx.proto" "$work/onnx/onnx.proto"
fi

# protoc-gen-swift at the version the package depends on.
plugin="$work/swift-protobuf/.build/release/protoc-gen-swift"
if [ ! -x "$plugin" ]; then
    rm -rf "$work/swift-protobuf"
    git clone --quiet https://github.com/apple/swift-protobuf "$work/swift-protobuf"
    git -C "$work/swift-protobuf" checkout --quiet "$SWIFT_PROTOBUF_VERSION"
    (cd "$work/swift-protobuf" && swift build -c release --product protoc-gen-swift)
fi

output="$repository/Sources/BulwarkONNX/Generated"
mkdir -p "$output"
protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$work" \
    --swift_opt=Visibility=Package --swift_out="$output" "$work/onnx/onnx.proto"
mv "$output/onnx/onnx.pb.swift" "$output/onnx.pb.swift"
rmdir "$output/onnx"
echo "wrote $output/onnx.pb.swift"
