"""Checks the perplexity table of bench/llm/run.py (read from stdin).

usage: check_llm_table.py [--max-rel ROW=FRAC]... ROWS...
       (each row "who:scheme", e.g. quant:float)

Every named row must be there with a finite perplexity; quant's FP32 and
onnxruntime's FP32 (when both are there) must agree to 1e-4 relative, and
quant's FP32 must agree with itself on every top-1 position. Each
--max-rel ROW=FRAC bounds |ppl(ROW) / ppl(quant FP32) - 1| by FRAC: a
quality threshold derived from the float model. Prints "llm table: ok" or
what failed.
"""

import math
import sys


def main(argv):
    want, limits = [], {}
    it = iter(argv)
    for a in it:
        if a == "--max-rel":
            row, _, frac = next(it).partition("=")
            limits[row] = float(frac)
        else:
            want.append(a)
    rows = {}
    for line in sys.stdin:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("quant", "onnxruntime"):
            rows[f"{cells[0]}:{cells[1]}"] = (float(cells[2]), cells[4])
    bad = [w for w in want if w not in rows or not math.isfinite(rows[w][0])]
    if bad:
        print(f"missing or not finite: {bad} (have {sorted(rows)})")
        return 1
    if "quant:float" in rows and "onnxruntime:fp32" in rows:
        a, b = rows["quant:float"][0], rows["onnxruntime:fp32"][0]
        if abs(a - b) > 1e-4 * b:
            print(f"FP32 perplexities differ: quant {a}, onnxruntime {b}")
            return 1
    if "quant:float" in rows and rows["quant:float"][1] != "100.0%":
        print(f"quant FP32 top-1 agreement with itself is {rows['quant:float'][1]}")
        return 1
    for row, frac in limits.items():
        if row not in rows or "quant:float" not in rows:
            print(f"--max-rel {row}: the row or quant:float is missing")
            return 1
        rel = rows[row][0] / rows["quant:float"][0] - 1
        if not abs(rel) <= frac:
            print(f"{row}: perplexity {rel * 100:+.2f}% from quant FP32, beyond {frac * 100:g}%")
            return 1
    print("llm table: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
