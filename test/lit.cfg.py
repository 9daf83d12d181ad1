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
