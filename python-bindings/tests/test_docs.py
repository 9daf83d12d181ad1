"""docs/python.md's example runs as written, and its quantized model is as
good as 4-bit weights allow: no worse than numpy's round-to-nearest of the
same weights (GPTQ should only be better) with float activations."""

import os
import re
import runpy

import numpy as np

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "python.md")


def rtn_groups(w, bits=4, group=32):
    """Symmetric round-to-nearest of w [K, N] in groups of `group` along K."""
    qmax = 2 ** (bits - 1) - 1
    k, n = w.shape
    out = np.empty_like(w, dtype=np.float64)
    for g in range(0, k, group):
        block = w[g:g + group].astype(np.float64)
        scale = np.abs(block).max(axis=0) / qmax
        scale[scale == 0] = 1
        out[g:g + group] = np.clip(np.round(block / scale), -qmax - 1, qmax) * scale
    return out


def test_python_md_example_runs(tmp_path, monkeypatch, capsys):
    with open(DOC) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks, "docs/python.md has no python example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    monkeypatch.chdir(tmp_path)
    g = runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    sqnr = float(re.search(r"SQNR vs numpy: ([-0-9.]+) dB", out).group(1))
    assert (tmp_path / "mlp-w4a8.so").is_file()
    assert (tmp_path / "mlp-w4a8.so.json").is_file()

    x, w1, b1, w2 = (g[k].astype(np.float64) for k in ("x", "w1", "b1", "w2"))
    ref = np.maximum(x @ w1 + b1, 0) @ w2
    rtn = np.maximum(x @ rtn_groups(g["w1"]) + b1, 0) @ rtn_groups(g["w2"])
    rtn_sqnr = 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - rtn) ** 2))
    # Activations are 8-bit too, so allow 1 dB below weight-only RTN.
    print(f"example {sqnr:.2f} dB, numpy RTN weight-only {rtn_sqnr:.2f} dB")
    assert sqnr > rtn_sqnr - 1.0, (sqnr, rtn_sqnr, out)
