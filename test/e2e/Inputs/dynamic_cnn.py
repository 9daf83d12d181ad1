"""PP-OCRv4 det/rec compiled as shipped (dynamic batch, height and width)
against onnxruntime on the same file, at several sizes and batches, on
rendered English text (bench/quant_vs_ort/quant_data.py), the input these
models are trained on (random noise drives det's sigmoid to 0 everywhere).

usage: dynamic_cnn.py check MODEL.onnx MODEL.so KEY N,H,W [N,H,W ...]
           prints "N,H,W ok (max abs error E)" or "N,H,W FAIL ..." per size
       dynamic_cnn.py samples KEY DIR COUNT SEED N,H,W [N,H,W ...]
           writes COUNT .npz samples to DIR, cycling through the sizes
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench" / "quant_vs_ort"))
import quant_data as qd  # noqa: E402


def batch(key, n, h, w, seed):
    """n different images of h x w, normalised as PP-OCR does."""
    return np.concatenate([qd.make_image(key, np.random.default_rng([seed, i]), h, w) for i in range(n)])


def check(model, so, key, sizes):
    import onnxruntime as ort
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for spec in sizes:
        n, h, w = (int(v) for v in spec.split(","))
        x = batch(key, n, h, w, seed=n * 1000 + h + w)
        ref = sess.run(None, {"x": x})[0]
        with tempfile.TemporaryDirectory() as tmp:
            np.save(os.path.join(tmp, "x.npy"), x)
            r = subprocess.run([os.environ.get("QUANT_RUN", "quant-run"), so, "-i", "x=" + tmp + "/x.npy",
                                "-o", tmp], capture_output=True, text=True)
            if r.returncode != 0:
                print(spec, "FAIL", r.stderr.strip())
                continue
            out = np.load(os.path.join(tmp, [f for f in os.listdir(tmp) if f != "x.npy"][0]))
        if out.shape != ref.shape:
            print(spec, "FAIL shape", out.shape, "expected", ref.shape)
            continue
        err = float(np.abs(out.astype(np.float64) - ref).max())
        # Probabilities in [0, 1]: an absolute bound; the outputs are not
        # all near 0 (checked, or the comparison would say nothing).
        spread = float(ref.max() - ref.min())
        ok = err <= 1e-4 and spread > 0.5
        print(spec, "ok" if ok else "FAIL", f"(max abs error {err:.2g}, output range {spread:.2f})")


def samples(key, directory, count, seed, sizes):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        n, h, w = (int(v) for v in sizes[i % len(sizes)].split(","))
        np.savez(directory / f"sample_{i:03d}.npz", x=batch(key, n, h, w, seed + i))


def main():
    if sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        samples(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:])


if __name__ == "__main__":
    main()
