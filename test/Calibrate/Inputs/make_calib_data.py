"""Writes a calibration set for calib_model.mlir and numpy's reference.

usage: make_calib_data.py OUT_DIR

OUT_DIR/calib/sample_N.npz: x float32 [rows, 8] (rows vary, Student-t
tails), w float32 [4, 8]. OUT_DIR/ref.npz, per observed output NAME:
  stats_NAME  float64 [count, min, max, sum, sum of squares]
  chmax_NAME  float64 [C]: max |v| per channel of the last axis
  p99_NAME    float64 [lo, hi]: the order statistics numpy.percentile(|v|, 99)
              interpolates between
and y_N, the model output of sample N (float64).
"""

import os
import sys

import numpy as np


def hadamard4():
    h = np.array([[1, 1], [1, -1]], dtype=np.float64)
    return np.kron(h, h) / 2.0


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "calib"), exist_ok=True)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 8)).astype(np.float32)
    xs, hs, ref = [], [], {}
    for n, rows in enumerate([3, 17, 1, 40, 9, 25]):
        x = (rng.standard_t(3, (rows, 8)) * 0.5).astype(np.float32)
        np.savez(os.path.join(out, "calib", "sample_%d.npz" % n), x=x, w=w)
        h = x.astype(np.float64) @ w.T.astype(np.float64)
        xs.append(x.astype(np.float64))
        hs.append(h)
        ref["y_%d" % n] = h @ hadamard4()
    for name, parts in (("obs_x", xs), ("obs_h", hs)):
        v = np.concatenate(parts)
        ref["stats_" + name] = np.array(
            [v.size, v.min(), v.max(), v.sum(), (v * v).sum()])
        ref["chmax_" + name] = np.abs(v).max(axis=0)
        a = np.sort(np.abs(v).ravel())
        pos = 0.99 * (a.size - 1)
        ref["p99_" + name] = np.array([a[int(np.floor(pos))],
                                       a[int(np.ceil(pos))]])
    np.savez(os.path.join(out, "ref.npz"), **ref)


if __name__ == "__main__":
    main()
