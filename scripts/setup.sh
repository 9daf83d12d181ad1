#!/usr/bin/env bash
# quant's one set-up command: takes a fresh Debian 12 machine (as root, or a
# user with sudo) to a working build. Idempotent: re-running it does only what
# is missing and finishes in seconds when nothing changed.
#
#   scripts/setup.sh            apt packages, .venv, configure, build, and the
#                               Python package (python-bindings) into .venv
#
# Environment: BUILD_DIR (default build), JOBS (default: number of cores),
# QUANT_NO_TORCH=1 to leave PyTorch (requirements-torch.txt: the Python
# package's PyTorch tests, several GB with its CUDA libraries) out.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"
LLVM_PREFIX=/usr/lib/llvm-22
STEP="starting"

step() { STEP="$1"; echo "==> $1"; }
trap 'echo "setup.sh: FAILED during: $STEP" >&2' ERR

APT_PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 lld-22
  ninja-build cmake libonnx-dev libprotobuf-dev protobuf-compiler
  libgtest-dev python3-venv libzip-dev libdlpack-dev pkg-config
  libopenblas-dev coinor-libcbc-dev debian-history debian-faq fonts-dejavu-core
  libclang-rt-22-dev
)

step "checking apt packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  step "installing apt packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "    all ${#APT_PACKAGES[@]} present"
fi

# Python: system python3 unless PYTHON says otherwise. The stamp records the
# requirements the venv was built from, so a change rebuilds it.
step "checking the Python virtual environment (.venv)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.quant-requirements"
if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$ROOT/requirements.txt" "$STAMP"; then
  step "creating .venv from requirements.txt"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt"
  cp "$ROOT/requirements.txt" "$STAMP"
else
  echo "    up to date"
fi
TORCH_STAMP="$VENV/.quant-requirements-torch"
if [[ "${QUANT_NO_TORCH:-0}" != 1 ]] && ! cmp -s "$ROOT/requirements-torch.txt" "$TORCH_STAMP"; then
  step "installing PyTorch into .venv (requirements-torch.txt)"
  (cd "$ROOT" && "$VENV/bin/python" -m pip install -q -r requirements-torch.txt)
  cp "$ROOT/requirements-torch.txt" "$TORCH_STAMP"
fi

step "configuring CMake in $BUILD_DIR"
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$LLVM_PREFIX/bin/clang" \
    -DCMAKE_CXX_COMPILER="$LLVM_PREFIX/bin/clang++" \
    -DLLVM_USE_LINKER=lld \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    -DPython3_EXECUTABLE="$VENV/bin/python"
else
  echo "    already configured (ninja re-runs CMake when a CMakeLists changes)"
fi

step "building (ninja -j$JOBS)"
ninja -C "$BUILD_DIR" -j"$JOBS" all quant-doc

step "installing the Python package (python-bindings) into .venv"
QUANT_BUILD_DIR="$BUILD_DIR" "$VENV/bin/python" -m pip install -q --no-deps \
  --no-build-isolation "$ROOT/python-bindings"

echo "==> done: tools in $BUILD_DIR/bin, plugin in $BUILD_DIR/lib/QuantPlugin.so"
