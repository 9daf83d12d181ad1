# -*- Python -*-
# lit configuration of quant's test suite (FileCheck tests on .mlir files).

import os

import lit.formats

config.name = "quant"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lib", "unit"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.quant_obj_root, "test")

# Our tools first, then LLVM's (FileCheck, not, and Debian's own mlir-opt).
config.environment["PATH"] = os.pathsep.join(
    [config.quant_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ.get("PATH", ""))]
)
# Timings the compiler caches per CPU (mixed precision's cost model,
# --bitplane auto) go under the build tree, not the user's ~/.cache.
config.environment["QUANT_CACHE_DIR"] = os.path.join(config.test_exec_root, "quant-cache")
config.substitutions.append(("%quant_plugin", os.path.join(config.quant_libs_dir, "QuantPlugin" + config.shlib_ext)))
config.substitutions.append(("%quant_src", config.quant_src_root))
config.substitutions.append(("%quant_obj", config.quant_obj_root))
# The project's Python (numpy, onnx, onnxruntime) from scripts/setup.sh.
config.substitutions.append(("%{python}", os.path.join(config.quant_src_root, ".venv", "bin", "python")))

# The CUDA toolkit's ptxas (CUDA_HOME, PATH, /usr/local/cuda): tests that
# assemble the generated PTX say REQUIRES: ptxas. A usable NVIDIA GPU
# (nvidia-smi lists one): tests that run kernels say REQUIRES: cuda-gpu; CI
# has none, bench/gpu/ runs them on a lent GPU machine (docs/gpu.md).
import shutil
import subprocess

_ptxas = None
for _root in [os.environ.get(v) for v in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT")] + ["/usr/local/cuda"]:
    if _root and os.access(os.path.join(_root, "bin", "ptxas"), os.X_OK):
        _ptxas = os.path.join(_root, "bin", "ptxas")
        break
_ptxas = _ptxas or shutil.which("ptxas")
if _ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", _ptxas))
    config.environment["CUDA_HOME"] = os.path.dirname(os.path.dirname(_ptxas))
if shutil.which("nvidia-smi"):
    try:
        if subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).stdout.strip():
            config.available_features.add("cuda-gpu")
    except (OSError, subprocess.SubprocessError):
        pass

# ThreadSanitizer's runtime for clang (Debian's libclang-rt-22-dev): tests
# that build the runtime under TSan say REQUIRES: tsan.
_clangxx = shutil.which("clang++", path=config.llvm_tools_dir) or shutil.which("clang++-22")
if _clangxx:
    config.substitutions.append(("%clangxx", _clangxx))
    import tempfile
    try:
        with tempfile.TemporaryDirectory() as _d:
            _src = os.path.join(_d, "t.cpp")
            with open(_src, "w") as _f:
                _f.write("int main() { return 0; }\n")
            if subprocess.run([_clangxx, "-fsanitize=thread", _src, "-o", os.path.join(_d, "t")],
                              capture_output=True, timeout=60).returncode == 0:
                config.available_features.add("tsan")
    except (OSError, subprocess.SubprocessError):
        pass
