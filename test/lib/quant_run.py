"""Running a compiled model.so from the e2e checks through quant-run."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np


def run_so(so: str, sample: Path, output: str = "y") -> np.ndarray:
    """The output `output` of `so` on the inputs of `sample` (.npz), through
    quant-run ($QUANT_RUN, else the one on PATH), as float64; a failed run
    ends the check with a FAIL line."""
    runner = os.environ.get("QUANT_RUN", "quant-run")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([runner, so, str(sample), "-o", tmp], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"FAIL: quant-run {so}: exit {r.returncode}: {r.stderr.strip()}")
        return np.load(Path(tmp) / f"{output}.npy").astype(np.float64)


def finish(fails: list[str], ok: str) -> int:
    """Prints each failure as a FAIL line, or `ok` when there is none; the
    exit status."""
    for f in fails:
        print("FAIL:", f)
    if not fails:
        print(ok)
    return 1 if fails else 0
