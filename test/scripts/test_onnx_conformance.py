"""Tests of scripts/onnx_conformance.py that need neither quant-compile nor quant-run.

A temporary build directory holds stub `quant-compile` / `quant-run` scripts
whose behaviour is chosen by the node test's name, so that every
classification path of the runner (passed, unsupported, compile error, crash,
timeout, run failure, missing output, mismatch) is taken on a small synthetic
node-test directory. A last test runs a few real onnx node tests through the
onnxruntime-backed stand-ins in test/scripts/fake_build.

Run from the repository root:

    .venv/bin/python -m unittest discover -s test/scripts -v
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "onnx_conformance.py"
FAKE_BUILD = Path(__file__).resolve().parent / "fake_build"

spec = importlib.util.spec_from_file_location("onnx_conformance", SCRIPT)
oc = importlib.util.module_from_spec(spec)
sys.modules["onnx_conformance"] = oc  # worker processes pickle its functions by name
spec.loader.exec_module(oc)

# Stub tools. The "compiled model" is a text file holding the model's path; the
# node test's directory name selects the behaviour.
STUB_COMPILE = r'''#!{python}
import os, signal, subprocess, sys, time
args = sys.argv[1:]
model = args[0]
assert "--float" in args, "expected --float"
out = args[args.index("-o") + 1]
name = os.path.basename(os.path.dirname(os.path.abspath(model)))
if "input_shape" in name:
    # the runner passes --input-shape for inputs with a dynamic dimension
    i = args.index("--input-shape")
    if args[i + 1] != "x=2,3":
        print("quant-compile: error: bad --input-shape " + args[i + 1], file=sys.stderr); sys.exit(2)
if "unsupported" in name:
    print("quant-compile: error: node 'n1' (Foo): unsupported op 'Foo' (domain '', opset 13)", file=sys.stderr)
    sys.exit(3)
if "compile_error" in name:
    print("quant-compile: error: malformed model", file=sys.stderr)
    sys.exit(2)
if "compile_crash" in name:
    os.kill(os.getpid(), signal.SIGSEGV)
if "compile_exit1" in name:
    sys.exit(1)
if "compile_timeout" in name:
    # a helper that keeps our stderr open: the runner must kill the whole group
    subprocess.Popen(["sleep", "30"])
    time.sleep(30)
if "no_so" in name:
    sys.exit(0)
open(out, "w").write(os.path.abspath(model))
'''

STUB_RUN = r'''#!{python}
import os, re, signal, sys, time
import numpy as np
import onnx
from onnx import numpy_helper
args = sys.argv[1:]
so = args[0]
model = open(so).read()
name = os.path.basename(os.path.dirname(model))
outdir = args[args.index("-o") + 1]
inputs = [a.split("=", 1)[1] for i, a in enumerate(args) if i and args[i - 1] == "-i"]
ds = os.path.dirname(inputs[0])
if "run_fail" in name:
    print("quant-run: error: input 'x': shape mismatch", file=sys.stderr); sys.exit(2)
if "run_crash" in name:
    os.kill(os.getpid(), signal.SIGABRT)
if "run_timeout" in name:
    time.sleep(30)
if "missing_output" in name:
    sys.exit(0)
m = onnx.load(model)
k = 0
while os.path.exists(os.path.join(ds, "output_%d.pb" % k)):
    t = onnx.TensorProto(); t.ParseFromString(open(os.path.join(ds, "output_%d.pb" % k), "rb").read())
    a = numpy_helper.to_array(t)
    if "mismatch_value" in name: a = a + 1
    if "mismatch_dtype" in name: a = a.astype(np.float64)
    if "mismatch_shape" in name: a = a.reshape(-1)
    if "within_tol" in name: a = a * (1 + 1e-4)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", m.graph.output[k].name)
    np.save(os.path.join(outdir, stem + ".npy"), a)
    k += 1
'''

# test name -> (status, kind) the runner must report
EXPECTED = {
    "test_pass": ("passed", None),
    "test_pass_nan": ("passed", None),
    "test_pass_int": ("passed", None),
    "test_pass_within_tol": ("passed", None),
    "test_pass_odd_output_name": ("passed", None),
    "test_pass_input_shape": ("passed", None),
    "test_unsupported": ("unsupported", "unsupported"),
    "test_compile_error": ("failed", "compile-error"),
    "test_compile_crash": ("failed", "crash"),
    "test_compile_exit1": ("failed", "crash"),
    "test_compile_timeout": ("failed", "timeout"),
    "test_no_so": ("failed", "compile-error"),
    "test_run_fail": ("failed", "run-failure"),
    "test_run_crash": ("failed", "crash"),
    "test_run_timeout": ("failed", "timeout"),
    "test_missing_output": ("failed", "missing-output"),
    "test_mismatch_value": ("failed", "mismatch"),
    "test_mismatch_dtype": ("failed", "mismatch"),
    "test_mismatch_shape": ("failed", "mismatch"),
}


def write_node_test(root: Path, name: str):
    """y = x + x, with x/y chosen to exercise the case."""
    d = root / name
    (d / "test_data_set_0").mkdir(parents=True)
    dtype, elem = np.float32, TensorProto.FLOAT
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    out_name = "y"
    x_shape = [2, 3]
    if name == "test_pass_int":
        dtype, elem = np.int64, TensorProto.INT64
        x = x.astype(np.int64)
    if name == "test_pass_nan":
        x[0, 1] = np.nan
    if name == "test_pass_odd_output_name":
        out_name = "out:0/y"
    if name == "test_pass_input_shape":
        x_shape = ["N", 3]
    node = helper.make_node("Add", ["x", "x"], [out_name])
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("x", elem, x_shape)],
        [helper.make_tensor_value_info(out_name, elem, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, d / "model.onnx")
    (d / "test_data_set_0" / "input_0.pb").write_bytes(numpy_helper.from_array(x, "x").SerializeToString())
    (d / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(x + x, out_name).SerializeToString())


class ConformanceRunnerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="test-onnx-conformance-"))
        cls.node_dir = cls.tmp / "node"
        for n in EXPECTED:
            write_node_test(cls.node_dir, n)
        cls.build = cls.tmp / "build"
        (cls.build / "bin").mkdir(parents=True)
        for tool, text in (("quant-compile", STUB_COMPILE), ("quant-run", STUB_RUN)):
            p = cls.build / "bin" / tool
            p.write_text(text.replace("{python}", sys.executable))
            p.chmod(0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_runner(self, *extra, env=None):
        # --timeout: the stubs start Python and import numpy and onnx, which
        # took over 3 s per case on a loaded 2-core machine (every case then
        # timed out); 10 s stays well below the 30 s the timeout stubs sleep.
        cmd = [sys.executable, str(SCRIPT), "--build-dir", str(self.build), "--node-dir", str(self.node_dir),
               "--timeout", "10", "--jobs", "4", *extra]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    def test_every_classification(self):
        js = self.tmp / "all.json"
        tmpdir = self.tmp / "tmpdir-all"
        tmpdir.mkdir()
        env = dict(os.environ, TMPDIR=str(tmpdir))
        r = self.run_runner("--out-json", str(js), env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        n_pass = sum(1 for s, _ in EXPECTED.values() if s == "passed")
        n_fail = sum(1 for s, _ in EXPECTED.values() if s == "failed")
        n_uns = sum(1 for s, _ in EXPECTED.values() if s == "unsupported")
        self.assertEqual(lines[-1], f"conformance: {n_pass} passed, {n_fail} failed, {n_uns} unsupported")
        # without -v: only failures are printed, each with its reason
        fail_lines = [l for l in lines[:-1]]
        self.assertEqual(len(fail_lines), n_fail, r.stdout)
        self.assertTrue(all(l.startswith("FAIL test_") and ": " in l for l in fail_lines), r.stdout)
        doc = json.loads(js.read_text())
        got = {t["name"]: (t["status"], t["kind"]) for t in doc["tests"]}
        self.assertEqual(got, EXPECTED)
        self.assertEqual(doc["summary"]["passed"], n_pass)
        reasons = {t["name"]: t["reason"] for t in doc["tests"]}
        self.assertIn("unsupported op 'Foo'", reasons["test_unsupported"])
        self.assertIn("SIGSEGV", reasons["test_compile_crash"])
        self.assertIn("SIGABRT", reasons["test_run_crash"])
        self.assertIn("timed out", reasons["test_compile_timeout"])
        self.assertIn("dtype float64 != expected float32", reasons["test_mismatch_dtype"])
        self.assertIn("shape [6] != expected [2, 3]", reasons["test_mismatch_shape"])
        self.assertIn("6/6 elements differ", reasons["test_mismatch_value"])
        self.assertIn("shape mismatch", reasons["test_run_fail"])
        # the temporary work directory is removed
        self.assertEqual(list(tmpdir.iterdir()), [])

    def test_verbose_and_fail_on_failure(self):
        r = self.run_runner("-v", "--fail-on-failure", "--filter", "^test_(pass|unsupported|mismatch_value)$")
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = sorted(r.stdout.strip().splitlines()[:-1])
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].startswith("FAIL test_mismatch_value: "))
        self.assertTrue(lines[1].startswith("PASS test_pass"))
        self.assertTrue(lines[2].startswith("UNSUPPORTED test_unsupported: quant-compile: error: node 'n1' (Foo): unsupported op"))
        self.assertEqual(r.stdout.strip().splitlines()[-1], "conformance: 1 passed, 1 failed, 1 unsupported")

    def test_fail_on_failure_all_green(self):
        r = self.run_runner("--fail-on-failure", "--filter", "^test_pass", "--jobs", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "conformance: 6 passed, 0 failed, 0 unsupported")

    def test_list_file_and_work_dir(self):
        lst = self.tmp / "list.txt"
        lst.write_text("# a comment\ntest_pass\ntest_run_fail  # trailing comment\n\n")
        wd = self.tmp / "kept"
        r = self.run_runner("--list", str(lst), "--work-dir", str(wd))
        self.assertEqual(r.stdout.strip().splitlines()[-1], "conformance: 1 passed, 1 failed, 0 unsupported")
        self.assertTrue((wd / "test_pass" / "model.so").is_file())
        self.assertTrue((wd / "test_pass" / "out_0" / "y.npy").is_file())

    def test_missing_binaries(self):
        empty = self.tmp / "empty-build"
        empty.mkdir(exist_ok=True)
        r = subprocess.run([sys.executable, str(SCRIPT), "--build-dir", str(empty), "--node-dir", str(self.node_dir)],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertIn("quant-compile not found", r.stderr)

    def test_list_tests_needs_no_binaries(self):
        r = subprocess.run([sys.executable, str(SCRIPT), "--build-dir", str(self.tmp / "nowhere"),
                            "--node-dir", str(self.node_dir), "--list-tests", "--filter", "mismatch"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[:3], ["test_mismatch_dtype", "test_mismatch_shape", "test_mismatch_value"])


class CompareTest(unittest.TestCase):
    def test_compare_arrays(self):
        f = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
        self.assertIsNone(oc.compare_arrays(f.copy(), f, 1e-3, 1e-7))
        self.assertIn("dtype", oc.compare_arrays(f.astype(np.float64), f, 1e-3, 1e-7))
        self.assertIn("shape", oc.compare_arrays(f.reshape(2, 2), f, 1e-3, 1e-7))
        g = f.copy()
        g[0] = 1.0005  # within rtol 1e-3
        self.assertIsNone(oc.compare_arrays(g, f, 1e-3, 1e-7))
        g[0] = 1.01
        self.assertIn("1/4 elements differ", oc.compare_arrays(g, f, 1e-3, 1e-7))
        g = f.copy()
        g[1] = 0.0  # NaN expected, number got
        self.assertIsNotNone(oc.compare_arrays(g, f, 1e-3, 1e-7))
        g = f.copy()
        g[2] = -np.inf
        self.assertIsNotNone(oc.compare_arrays(g, f, 1e-3, 1e-7))
        i = np.array([[1, 2], [3, 4]], np.int64)
        self.assertIsNone(oc.compare_arrays(i.copy(), i, 1e-3, 1e-7))
        j = i.copy()
        j[1, 0] = 4
        self.assertIn("first at [1, 0]", oc.compare_arrays(j, i, 1e-3, 1e-7))
        b = np.array(True)
        self.assertIsNone(oc.compare_arrays(np.array(True), b, 0, 0))
        self.assertIsNotNone(oc.compare_arrays(np.array(False), b, 0, 0))

    def test_sanitize(self):
        self.assertEqual(oc.sanitize_output_name("y", 0), "y")
        self.assertEqual(oc.sanitize_output_name("out:0/y", 0), "out_0_y")
        self.assertEqual(oc.sanitize_output_name("", 2), "_")
        self.assertEqual(oc.sanitize_output_name("a.b-c_D9", 0), "a.b-c_D9")


class ScopeTest(unittest.TestCase):
    def facts(self, ops, elem=TensorProto.FLOAT, domain=""):
        nodes, prev = [], "x"
        for k, op in enumerate(ops):
            nodes.append(helper.make_node(op, [prev], [f"t{k}"], domain=domain))
            prev = f"t{k}"
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, [2])],
                              [helper.make_tensor_value_info(prev, elem, [2])])
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "m.onnx"
            onnx.save(helper.make_model(g), p)
            return oc.model_facts(p)

    def test_scope(self):
        self.assertTrue(oc.in_issue3_scope(self.facts(["Relu", "Neg"])))
        self.assertTrue(oc.in_issue3_scope(self.facts(["Abs"], TensorProto.INT64)))
        self.assertFalse(oc.in_issue3_scope(self.facts(["Relu", "Sin"])))
        self.assertFalse(oc.in_issue3_scope(self.facts(["Relu"], TensorProto.FLOAT16)))
        self.assertFalse(oc.in_issue3_scope(self.facts(["Relu"], TensorProto.DOUBLE)))
        self.assertFalse(oc.in_issue3_scope(self.facts(["Relu"], domain="com.microsoft")))
        self.assertEqual(len(oc.ISSUE3_OPS), 63)

    @unittest.skipUnless(onnx.__version__ == "1.22.0", "counts are for onnx 1.22.0")
    def test_counts_onnx_1_22(self):
        node_dir = oc.default_node_dir()
        names = oc.list_tests(node_dir)
        self.assertEqual(len(names), 1765)
        self.assertEqual(len(oc.select_in_scope(node_dir, names, "issue3", 2)), 517)


@unittest.skipUnless(importlib.util.find_spec("onnxruntime"), "needs onnxruntime")
class FakeBuildTest(unittest.TestCase):
    """Real node tests through the onnxruntime-backed stand-ins: the runner's
    input passing, output naming and comparison work on real data."""

    def test_real_node_tests(self):
        r = subprocess.run(
            [sys.executable, str(SCRIPT), "--build-dir", str(FAKE_BUILD), "-v", "--jobs", "2",
             "--filter", "^test_(add|relu|softmax_axis_0|gather_0|cast_FLOAT_to_INT64|argmax_default_axis_example|"
                         "conv_with_strides_padding|bitshift_right_uint16)$"],
            capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "conformance: 6 passed, 0 failed, 1 unsupported", r.stdout)


if __name__ == "__main__":
    unittest.main()
