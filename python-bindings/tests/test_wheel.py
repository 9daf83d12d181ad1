"""The package builds as a wheel (scikit-build-core + nanobind) that works on
its own: unpacked elsewhere, it compiles and runs a model with the runtime
archive it carries."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import onnx

from conftest import make_mlp, ort_run

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wheel_builds_and_runs_unpacked(tmp_path):
    wheels = tmp_path / "wheels"
    env = dict(os.environ)
    env.setdefault("QUANT_BUILD_DIR", os.environ.get("QUANT_BUILD_DIR", ""))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), PACKAGE_DIR], check=True, env=env)
    (wheel,) = list(wheels.glob("quant-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    assert any(n.startswith("quant/_quant") and n.endswith(".so") for n in names), names
    assert "quant/libquant-compiler.so" in names
    assert "quant/lib/libQuantRuntime.a" in names
    assert "quant/__init__.py" in names

    model = make_mlp(seed=7)
    onnx.save(model, str(tmp_path / "m.onnx"))
    x = np.random.default_rng(3).standard_normal((4, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = f"""
import numpy as np, quant
assert quant.__file__.startswith({str(tmp_path / 'site')!r}), quant.__file__
m = quant.compile({str(tmp_path / 'm.onnx')!r}, float=True, progress=False)
np.save({str(tmp_path / 'y.npy')!r}, m(np.load({str(tmp_path / 'x.npy')!r})))
"""
    # A clean environment: only the unpacked wheel (and numpy's site) on the path.
    child = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    subprocess.run([sys.executable, "-c", script], check=True, env=child, cwd=tmp_path)
    (ref,) = ort_run(model, {"x": x})
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-4, atol=1e-5)
