#!/usr/bin/env bash
# Installs what Bulwark needs on Debian or Ubuntu: OpenBLAS, oneDNN, zlib, libpng, Open MPI
# (libopenmpi-dev to build, openmpi-bin's mpirun to run over several processes), the
# Fashion-MNIST package and WordNet (wordnet-base, for the PWWS word-substitution attack on
# text); with --for-tests also Chromium, which the report tests use to render a report
# headlessly, and iproute2, whose network namespaces the two-host MPI test runs in (both sets
# of tests are skipped without them). Swift itself must already be installed
# (https://www.swift.org/install/linux/).
set -euo pipefail
packages=(libopenblas-dev libdnnl-dev zlib1g-dev libpng-dev openmpi-bin libopenmpi-dev dataset-fashion-mnist wordnet-base)
if [ "${1:-}" = "--for-tests" ]; then packages+=(chromium iproute2); fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing ${missing[*]} …" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "Swift is not installed: see https://www.swift.org/install/linux/" >&2; exit 1; }
