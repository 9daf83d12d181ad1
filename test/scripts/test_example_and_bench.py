"""Smoke tests of examples/mlp_example.py and bench/fp32/run.py, through the
onnxruntime-backed stand-ins in test/scripts/fake_build (no quant binaries).

    .venv/bin/python -m unittest discover -s test/scripts -v
"""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_BUILD = Path(__file__).resolve().parent / "fake_build"
MLP = REPO / "examples" / "mlp_example.py"
BENCH = REPO / "bench" / "fp32" / "run.py"


def run(*cmd):
    return subprocess.run([sys.executable, *map(str, cmd)], capture_output=True, text=True, timeout=300)


class MlpExampleTest(unittest.TestCase):
    def test_no_compile(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(MLP, "--no-compile", "--out-dir", d, "--build-dir", Path(d) / "none")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue((Path(d) / "mlp.onnx").is_file() and (Path(d) / "x.npy").is_file())
            self.assertIn("onnxruntime y[:2]", r.stdout)

    def test_fake_tools_match(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(MLP, "--out-dir", d, "--build-dir", FAKE_BUILD)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("relative L2 error: 0.000e+00", r.stdout)
            lines = r.stdout.strip().splitlines()
            self.assertIn("match: yes", lines)
            # The fake tools compile the float model whatever the scheme: the
            # quantized part then reports an exact match.
            self.assertTrue(lines[-1].startswith("W8A8 (static, 16 calibration samples): SQNR inf dB"), lines[-1])

    def test_no_quant(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(MLP, "--out-dir", d, "--build-dir", FAKE_BUILD, "--no-quant")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(r.stdout.strip().splitlines()[-1], "match: yes")

    def test_missing_binaries(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(MLP, "--out-dir", d, "--build-dir", d)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1)
            self.assertIn("quant-compile not found", r.stderr)


class BenchTest(unittest.TestCase):
    def test_mlp_with_fake_tools(self):
        r = run(BENCH, "--models", "mlp", "--runs", "3", "--build-dir", FAKE_BUILD)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [l for l in r.stdout.splitlines() if l.startswith("| mlp |")]
        self.assertEqual(len(rows), 2)
        cells = [c.strip() for c in rows[0].strip("|").split("|")]
        self.assertEqual(cells[:2], ["mlp", "1"])
        for c in cells[2:]:
            float(c)  # ours, ort, ratio, compile s are all numbers

    def test_ort_only(self):
        r = run(BENCH, "--models", "mlp", "--runs", "3", "--threads", "1", "--ort-only", "--build-dir", "/nonexistent")
        self.assertEqual(r.returncode, 0, r.stderr)
        row = [l for l in r.stdout.splitlines() if l.startswith("| mlp |")][0]
        self.assertEqual([c.strip() for c in row.strip("|").split("|")][2], "—")

    def test_parse_median(self):
        sys.path.insert(0, str(BENCH.parent))
        import importlib.util

        spec = importlib.util.spec_from_file_location("bench_fp32_run", BENCH)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        self.assertEqual(mod.parse_median_ms("bench: median 1.25 ms, min 1.1 ms"), 1.25)
        # tools/quant-run's line
        self.assertEqual(mod.parse_median_ms(
            "output 'y': float32 [1,10]\nbench: median latency 0.0123 ms over 50 runs (min 0.0100 ms, max 0.0200 ms, "
            "after 1 warm-up run)"), 0.0123)
        self.assertEqual(mod.parse_median_ms("runs 50\nmin 0.9 ms median 1.5ms"), 1.5)
        self.assertEqual(mod.parse_median_ms("latency ms: median=3e-2 ms"), 0.03)
        self.assertIsNone(mod.parse_median_ms("mean 2 ms"))
        # --min-time-ms: enough runs for the minimum time, never fewer than --runs.
        self.assertEqual(mod.runs_for(5, 50.0, 200.0), 5)  # 250 ms already
        self.assertEqual(mod.runs_for(5, 30.0, 200.0), 7)  # ceil(200 / 30)
        self.assertEqual(mod.runs_for(5, 0.001, 200.0), 200000)
        self.assertEqual(mod.runs_for(5, 1e-9, 200.0), mod.MAX_RUNS)
        self.assertEqual(mod.runs_for(5, 0.001, 0.0), 5)  # 0: exactly --runs


if __name__ == "__main__":
    unittest.main()
