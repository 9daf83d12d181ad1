#!/usr/bin/env python3
"""ONNX node-test conformance runner for quant.

Runs every ONNX node test shipped in the installed onnx wheel
(onnx/backend/test/data/node; 1,765 tests in onnx 1.22.0) through
`quant-compile MODEL --float -o MODEL.so` and `quant-run MODEL.so -i NAME=input_K.pb ... -o OUTDIR`,
then compares OUTDIR/<output>.npy with the test's output_K.pb using numpy
(default rtol 1e-3, atol 1e-7 as in onnx's own backend tests; NaN equals NaN;
shapes and dtypes must match exactly).

Each test is classified as
  passed       every data set matched;
  unsupported  quant-compile exited 3 (an op or dtype it does not support);
  failed       anything else: compile error (exit 2), crash (any other exit
               status or a signal), timeout, quant-run failure, missing output,
               or a mismatch.

Failures are always printed with their reason; -v prints every test. The last
line is always `conformance: P passed, F failed, U unsupported`. The exit status
is 0 unless --fail-on-failure is given and F > 0 (2 for a usage error such as
missing binaries).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROG = "onnx_conformance.py"

# --scope issue3: the ops of the first float milestone and the element types
# it handles. A test is in scope when every node's op (default domain) is in
# ISSUE3_OPS and every tensor type named in the graph (inputs, outputs,
# initializers, value_info) is one of ISSUE3_DTYPES.
ISSUE3_OPS = frozenset(
    """
    Add Sub Mul Div Pow Sqrt Exp Log Neg Reciprocal Abs Erf Tanh Sigmoid Relu
    LeakyRelu Clip HardSigmoid HardSwish Gelu Softmax LogSoftmax MatMul Gemm
    Conv ConvTranspose BatchNormalization LayerNormalization
    InstanceNormalization MaxPool AveragePool GlobalAveragePool ReduceMean
    ReduceSum ReduceMax ReduceMin Reshape Transpose Flatten Squeeze Unsqueeze
    Concat Split Slice Gather Expand Tile Pad Shape Size ConstantOfShape
    Constant Cast Identity Where Equal Less Greater Not And Range Resize Einsum
    """.split()
)
SCOPES = ("all", "issue3")


def issue3_dtypes():
    from onnx import TensorProto

    return frozenset({TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL})


# ---------------------------------------------------------------------------
# Locating things
# ---------------------------------------------------------------------------


def default_node_dir() -> Path:
    import onnx

    return Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "node"


def find_tools(build_dir: Path) -> tuple[Path, Path]:
    """Returns (quant-compile, quant-run) under BUILD/bin or raises SystemExit with one line."""
    tools = []
    for name in ("quant-compile", "quant-run"):
        p = build_dir / "bin" / name
        if not (p.is_file() and os.access(p, os.X_OK)):
            print(
                f"{PROG}: error: {name} not found at {p} (build it first, or pass --build-dir)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        tools.append(p.resolve())
    return tools[0], tools[1]


def list_tests(node_dir: Path) -> list[str]:
    return sorted(d.name for d in node_dir.iterdir() if d.is_dir() and (d / "model.onnx").is_file())


def data_sets(test_dir: Path) -> list[Path]:
    def key(p: Path):
        m = re.search(r"(\d+)$", p.name)
        return int(m.group(1)) if m else -1

    return sorted((p for p in test_dir.glob("test_data_set_*") if p.is_dir()), key=key)


def numbered(ds: Path, prefix: str) -> list[Path]:
    """input_0.pb, input_1.pb, ... in numeric order."""
    files = []
    for p in ds.glob(prefix + "_*.pb"):
        m = re.fullmatch(prefix + r"_(\d+)\.pb", p.name)
        if m:
            files.append((int(m.group(1)), p))
    return [p for _, p in sorted(files)]


def sanitize_output_name(name: str, index: int) -> str:
    """File stem quant-run is expected to use for an output.

    The contract says only "<sanitized output name>.npy"; as tools/quant-run
    does it, every character outside [A-Za-z0-9._-] becomes '_' and an empty
    name becomes '_'. (find_output_file also accepts output_<index>.npy.)
    """
    s = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return s or "_"


# ---------------------------------------------------------------------------
# Scope (reads each model.onnx)
# ---------------------------------------------------------------------------


def model_facts(model_path: Path) -> dict:
    """Ops, tensor element types and non-tensor types used in a model's main graph."""
    import onnx

    m = onnx.load(str(model_path), load_external_data=False)
    g = m.graph
    ops = sorted({(n.domain or "", n.op_type) for n in g.node})
    elem_types = set()
    non_tensor = []
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        t = vi.type
        if t.HasField("tensor_type"):
            elem_types.add(t.tensor_type.elem_type)
        else:
            non_tensor.append(f"{vi.name}:{t.WhichOneof('value')}")
    for init in g.initializer:
        elem_types.add(init.data_type)
    for si in g.sparse_initializer:
        elem_types.add(si.values.data_type)
    return {"ops": ops, "elem_types": sorted(elem_types), "non_tensor": non_tensor}


def in_issue3_scope(facts: dict) -> bool:
    dtypes = issue3_dtypes()
    return (
        all(dom in ("", "ai.onnx") and op in ISSUE3_OPS for dom, op in facts["ops"])
        and all(t in dtypes for t in facts["elem_types"])
        and not facts["non_tensor"]
    )


def _facts_job(path: str) -> dict:
    try:
        return model_facts(Path(path))
    except Exception as e:  # unreadable model: never in a restricted scope
        return {"ops": [], "elem_types": [], "non_tensor": [f"unreadable: {e}"]}


def select_in_scope(node_dir: Path, names: list[str], scope: str, jobs: int) -> list[str]:
    if scope == "all":
        return names
    paths = [str(node_dir / n / "model.onnx") for n in names]
    if jobs > 1 and len(paths) > 50:
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as ex:
            facts = list(ex.map(_facts_job, paths, chunksize=32))
    else:
        facts = [_facts_job(p) for p in paths]
    return [n for n, f in zip(names, facts) if in_issue3_scope(f)]


# ---------------------------------------------------------------------------
# Running one test
# ---------------------------------------------------------------------------


def run_cmd(cmd: list[str], timeout: float, cwd: str | None = None) -> tuple[int | None, str, str, float]:
    """Runs cmd in its own process group; returns (returncode or None on timeout, stdout, stderr, seconds).

    On timeout the whole process group we started is killed, so helpers that the
    tool spawned cannot keep the pipes open.
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return None, out, err, time.monotonic() - t0


def first_line(text: str, limit: int = 300) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:limit]
    return ""


def describe_exit(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    if rc >= 128:
        try:
            return f"exit {rc} ({signal.Signals(rc - 128).name}?)"
        except ValueError:
            return f"exit {rc}"
    return f"exit {rc}"


def _as_comparable(a):
    import numpy as np

    # ml_dtypes types (bfloat16, float8*, int4...) have kind 'V': compare as float32.
    if a.dtype.kind == "V":
        return a.astype(np.float32)
    return a


def compare_arrays(actual, expected, rtol: float, atol: float) -> str | None:
    """None when equal within tolerance, else a one-line reason."""
    import numpy as np

    # .npy has no bfloat16: quant-run writes bfloat16 outputs as float32
    # (exactly), so such an output is compared by value.
    bf16_as_f32 = expected.dtype.name == "bfloat16" and actual.dtype == np.float32
    if actual.dtype != expected.dtype and not bf16_as_f32:
        return f"dtype {actual.dtype} != expected {expected.dtype}"
    if actual.shape != expected.shape:
        return f"shape {list(actual.shape)} != expected {list(expected.shape)}"
    a, e = _as_comparable(actual), _as_comparable(expected)
    if e.dtype.kind in "fc":
        ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        if ok.all():
            return None
        bad = int((~ok).sum())
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
            finite = diff[np.isfinite(diff)]
            max_abs = float(finite.max()) if finite.size else float("nan")
        return (
            f"{bad}/{e.size} elements differ (rtol={rtol:g}, atol={atol:g}); max abs err {max_abs:.3g}; "
            f"first at {list(idx)}: got {a[idx]!r}, expected {e[idx]!r}"
        )
    if np.array_equal(a, e):
        return None
    ne = a != e
    bad = int(np.count_nonzero(ne))
    idx = tuple(int(i) for i in np.argwhere(ne)[0]) if a.ndim else ()
    return f"{bad}/{e.size} elements differ; first at {list(idx)}: got {a[idx]!r}, expected {e[idx]!r}"


def load_reference(path: Path):
    import onnx
    from onnx import numpy_helper

    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def find_output_file(outdir: Path, name: str, index: int) -> Path | None:
    for stem in (sanitize_output_name(name, index), f"output_{index}"):
        p = outdir / (stem + ".npy")
        if p.is_file():
            return p
    return None


def input_shape_args(graph_inputs, ds: Path) -> list[str]:
    """--input-shape NAME=dims for graph inputs whose declared shape is not fully static,
    using the shapes of the first data set (node tests compile once for all data sets)."""
    args = []
    files = numbered(ds, "input")
    for vi, f in zip(graph_inputs, files):
        t = vi.type
        if not t.HasField("tensor_type"):
            continue
        tt = t.tensor_type
        static = tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim)
        if static:
            continue
        try:
            arr = load_reference(f)
        except Exception:
            continue
        if arr.ndim == 0:
            continue  # the contract has no spelling for a rank-0 shape
        args += ["--input-shape", f"{vi.name}=" + ",".join(str(d) for d in arr.shape)]
    return args


def run_test(name: str, node_dir: str, work_dir: str, compiler: str, runner: str, opts: dict) -> dict:
    """Compiles and runs one node test; returns its result record."""
    t0 = time.monotonic()
    res = {"name": name, "status": "failed", "kind": None, "reason": "", "seconds": 0.0}

    def done(status, kind, reason):
        res.update(status=status, kind=kind, reason=reason, seconds=round(time.monotonic() - t0, 3))
        return res

    try:
        import onnx
        import numpy as np

        tdir = Path(node_dir) / name
        model_path = tdir / "model.onnx"
        wdir = Path(work_dir) / name
        if wdir.exists():
            shutil.rmtree(wdir)
        wdir.mkdir(parents=True)
        sets = data_sets(tdir)
        if not sets:
            return done("failed", "bad-test", "no test_data_set_* directory")
        try:
            model = onnx.load(str(model_path), load_external_data=False)
            init_names = {i.name for i in model.graph.initializer}
            graph_inputs = [vi for vi in model.graph.input if vi.name not in init_names]
            graph_outputs = list(model.graph.output)
        except Exception as e:
            model = None
            graph_inputs, graph_outputs = [], []
            res["note"] = f"the onnx package could not read the model: {e}"

        # --- compile -------------------------------------------------------
        so = wdir / "model.so"
        cmd = [compiler, str(model_path), "--float", "-o", str(so)]
        if opts.get("input_shapes", True) and model is not None:
            cmd += input_shape_args(graph_inputs, sets[0])
        rc, out, err, secs = run_cmd(cmd, opts["timeout"])
        res["compile_seconds"] = round(secs, 3)
        if rc is None:
            return done("failed", "timeout", f"quant-compile timed out after {opts['timeout']:g} s")
        if rc == 3:
            return done("unsupported", "unsupported", first_line(err) or "quant-compile exited 3")
        if rc == 2:
            return done("failed", "compile-error", "compile error: " + (first_line(err) or "exit 2, no message"))
        if rc != 0:
            msg = first_line(err)
            return done("failed", "crash", f"quant-compile crashed ({describe_exit(rc)})" + (f": {msg}" if msg else ""))
        if not so.is_file():
            return done("failed", "compile-error", f"quant-compile exited 0 but wrote no {so.name}")

        # --- run every data set ---------------------------------------------
        for k, ds in enumerate(sets):
            inputs = numbered(ds, "input")
            refs = numbered(ds, "output")
            if len(inputs) > len(graph_inputs) and model is not None:
                return done("failed", "bad-test", f"{ds.name}: {len(inputs)} input files for {len(graph_inputs)} graph inputs")
            outdir = wdir / f"out_{k}"
            outdir.mkdir()
            cmd = [runner, str(so)]
            for i, f in enumerate(inputs):
                iname = graph_inputs[i].name if i < len(graph_inputs) else ""
                cmd += ["-i", f"{iname}={f}"] if iname else [str(f)]
            cmd += ["-o", str(outdir)]
            if opts.get("run_threads"):
                cmd += ["--threads", str(opts["run_threads"])]
            rc, out, err, secs = run_cmd(cmd, opts["timeout"])
            res["run_seconds"] = round(res.get("run_seconds", 0.0) + secs, 3)
            if rc is None:
                return done("failed", "timeout", f"quant-run timed out after {opts['timeout']:g} s on {ds.name}")
            if rc != 0:
                msg = first_line(err) or first_line(out)
                kind = "crash" if (rc < 0 or rc >= 128) else "run-failure"
                what = "crashed" if kind == "crash" else "failed"
                return done("failed", kind, f"quant-run {what} ({describe_exit(rc)}) on {ds.name}" + (f": {msg}" if msg else ""))
            for j, ref_path in enumerate(refs):
                oname = graph_outputs[j].name if j < len(graph_outputs) else f"output_{j}"
                got_path = find_output_file(outdir, oname, j)
                if got_path is None:
                    present = sorted(p.name for p in outdir.iterdir())
                    return done(
                        "failed",
                        "missing-output",
                        f"{ds.name}: no {sanitize_output_name(oname, j)}.npy for output '{oname}' (found: {', '.join(present) or 'nothing'})",
                    )
                try:
                    expected = load_reference(ref_path)
                except Exception as e:
                    return done("failed", "bad-reference", f"{ds.name}: cannot read {ref_path.name} as a TensorProto: {e}")
                try:
                    actual = np.load(got_path, allow_pickle=False)
                except Exception as e:
                    return done("failed", "run-failure", f"{ds.name}: cannot read {got_path.name}: {e}")
                why = compare_arrays(actual, expected, opts["rtol"], opts["atol"])
                if why:
                    return done("failed", "mismatch", f"{ds.name}: output '{oname}': {why}")
        return done("passed", None, "")
    except Exception as e:  # a bug here must not take the whole run down
        return done("failed", "runner-error", f"runner error: {type(e).__name__}: {e}")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def read_list_file(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0] + "\n\n" + "\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                   help="build directory holding bin/quant-compile and bin/quant-run (default: %(default)s)")
    p.add_argument("--node-dir", type=Path, default=None,
                   help="directory of node tests (default: onnx/backend/test/data/node of the installed onnx)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="tests run in parallel, in worker processes (default: number of cores, %(default)s)")
    p.add_argument("--filter", metavar="REGEX", help="only tests whose name matches REGEX (re.search)")
    p.add_argument("--list", dest="list_file", type=Path, metavar="FILE",
                   help="only tests named in FILE (one per line, '#' starts a comment)")
    p.add_argument("--scope", choices=SCOPES, default="all",
                   help="issue3: only tests whose ops are all in the first milestone's list and whose tensors "
                        "are all float32/int32/int64/bool (default: all)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds allowed for each quant-compile and each quant-run call (default: %(default)s)")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default: %(default)g)")
    p.add_argument("--atol", type=float, default=1e-7, help="absolute tolerance (default: %(default)g)")
    p.add_argument("--run-threads", type=int, default=1,
                   help="--threads passed to quant-run (default: %(default)s, as tests run in parallel; 0 = don't pass)")
    p.add_argument("--no-input-shapes", action="store_true",
                   help="never pass --input-shape (by default it is passed for inputs with dynamic dims, from the data)")
    p.add_argument("--out-json", type=Path, metavar="PATH", help="write per-test results (status, kind, reason) here")
    p.add_argument("--work-dir", type=Path,
                   help="keep compiled models and outputs here (default: a temporary directory, removed at the end)")
    p.add_argument("--list-tests", action="store_true",
                   help="print the selected test names and their count, run nothing (needs no binaries)")
    p.add_argument("--fail-on-failure", action="store_true", help="exit 1 when any test failed")
    p.add_argument("-v", "--verbose", action="store_true", help="print one line for every test, not only failures")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    node_dir = (args.node_dir or default_node_dir()).resolve()
    if not node_dir.is_dir():
        print(f"{PROG}: error: node test directory {node_dir} does not exist", file=sys.stderr)
        return 2
    jobs = max(1, args.jobs)

    names = list_tests(node_dir)
    if args.filter:
        try:
            rx = re.compile(args.filter)
        except re.error as e:
            print(f"{PROG}: error: bad --filter regex: {e}", file=sys.stderr)
            return 2
        names = [n for n in names if rx.search(n)]
    if args.list_file:
        try:
            wanted = read_list_file(args.list_file)
        except OSError as e:
            print(f"{PROG}: error: cannot read --list file: {e}", file=sys.stderr)
            return 2
        known = set(names)
        missing = [w for w in wanted if w not in known and not (node_dir / w / "model.onnx").is_file()]
        if missing:
            print(f"{PROG}: warning: {len(missing)} test(s) in {args.list_file} not found, e.g. {missing[0]}", file=sys.stderr)
        wanted_set = set(wanted)
        names = [n for n in names if n in wanted_set]
    names = select_in_scope(node_dir, names, args.scope, jobs)

    if args.list_tests:
        for n in names:
            print(n)
        print(f"{len(names)} tests selected (scope {args.scope}) from {node_dir}")
        return 0

    compiler, runner = find_tools(args.build_dir.resolve())

    own_work = args.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="quant-conformance-")) if own_work else args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    opts = {
        "timeout": args.timeout,
        "rtol": args.rtol,
        "atol": args.atol,
        "run_threads": args.run_threads,
        "input_shapes": not args.no_input_shapes,
    }

    results = {}
    counts = {"passed": 0, "failed": 0, "unsupported": 0}
    t_start = time.monotonic()

    def report(r):
        results[r["name"]] = r
        counts[r["status"]] += 1
        if r["status"] == "failed":
            print(f"FAIL {r['name']}: {r['reason']}", flush=True)
        elif args.verbose:
            if r["status"] == "passed":
                print(f"PASS {r['name']} ({r['seconds']:.2f} s)", flush=True)
            else:
                print(f"UNSUPPORTED {r['name']}: {r['reason']}", flush=True)

    try:
        if jobs == 1:
            for n in names:
                report(run_test(n, str(node_dir), str(work_dir), str(compiler), str(runner), opts))
        else:
            with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as ex:
                futs = {
                    ex.submit(run_test, n, str(node_dir), str(work_dir), str(compiler), str(runner), opts): n
                    for n in names
                }
                for fut in concurrent.futures.as_completed(futs):
                    try:
                        r = fut.result()
                    except Exception as e:  # worker process died
                        r = {"name": futs[fut], "status": "failed", "kind": "runner-error",
                             "reason": f"runner error: {type(e).__name__}: {e}", "seconds": 0.0}
                    report(r)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        if own_work:
            shutil.rmtree(work_dir, ignore_errors=True)
        return 130

    elapsed = time.monotonic() - t_start
    if args.out_json:
        import onnx

        doc = {
            "summary": dict(counts, total=len(names), seconds=round(elapsed, 1)),
            "scope": args.scope,
            "node_dir": str(node_dir),
            "onnx_version": onnx.__version__,
            "rtol": args.rtol,
            "atol": args.atol,
            "timeout": args.timeout,
            "tests": [results[n] for n in sorted(results)],
        }
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(json.dumps(doc, indent=1) + "\n")
    if own_work:
        shutil.rmtree(work_dir, ignore_errors=True)

    print(f"conformance: {counts['passed']} passed, {counts['failed']} failed, {counts['unsupported']} unsupported")
    return 1 if (args.fail_on_failure and counts["failed"] > 0) else 0


if __name__ == "__main__":
    sys.exit(main())
