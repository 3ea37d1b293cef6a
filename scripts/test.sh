#!/usr/bin/env bash
# Installs the dependencies (with Chromium for the report's rendering test) and runs the
# whole test suite in a release build (debug builds of numerical Swift are many times slower).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dependencies.sh --for-tests
swift build -c release --build-tests
swift test -c release --skip-build
