//===- Passes.td - CPU code generation passes ---------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_CPU_PASSES_TD
#define QUANT_TARGET_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Encodings: the CPU's storage layouts of quantized contractions
//===----------------------------------------------------------------------===//

def QCLowerQuantizedContractionsPass
    : Pass<"qc-cpu-lower-quantized-contractions", "func::FuncOp"> {
  let summary = "Integer arithmetic, in this CPU's layouts, for the "
                "quantized contractions";
  let description = [{
    Lowers `qc.quantized_linear` and `qc.quantized_contraction` (formed by
    `qc-form-quantized-contractions` from the QDQ form) whose weight codes
    are a constant (through at most one `tensor.expand_shape`) to:

    - an integer `linalg.generic` accumulating `q_x * q_w` in i32 over the
      same loops (operands sign- or zero-extended per their format);
    - an epilogue `y = init + s_x * s_w[c] * (acc - z_x * colsum(q_w)[c])`,
      where `init` is the layer's bias or accumulator input and
      `colsum` is folded at compile time.

    The result equals the QDQ form's up to float rounding of the epilogue.
    Weight codes are stored `[K, N]` (loops `(lead..., k, n)`: the innermost
    loop runs along N, contiguous, which LLVM vectorises), and codes
    narrower than a byte are widened to i8 by a generic that fuses with
    their unpacking.

    When every sum of the reduction's products is below 2^24 in magnitude
    (e.g. depthwise and 3-channel convolutions of 8-bit codes), the codes
    accumulate in f32 instead: the same integers exactly, with FMAs; the
    epilogue converts them back to i32.

    A `qc.quantized_linear` marked `qc.encoding = #qc.encoding<bitplane>`
    (`qc-bitplane`) computes the same i32 sums on bit planes: weight planes
    `[N/P, W, ceil(K/64), P]` of 64-bit words (panels of P = 64 columns
    where they divide N), activation planes `[..., A, ceil(K/64)]` packed
    by a generic per call, one generic over the words accumulating every
    pair's `popcount(W_i AND X_j) << (i + j)` in i64 (each plane an operand
    of its own, the pairs weighed by Horner's rule), and a last one applying
    the signed codes' offsets (docs/quantization.md, "Bit-plane layers").

    The ops guarantee widths up to 8 bits and reductions below 2^16 steps,
    so the i32 accumulator cannot overflow. One whose weight is not a
    constant is left to `qc-convert-to-linalg`, which computes it in float
    on the dequantized codes.

    With `dot4-layout` (set for CPUs with 4-way u8 x s8 dot products, VNNI),
    a linear layer with signed weights and K a multiple of 4 stores its codes
    with four consecutive reduction steps of one output next to each other:
    in panels of P output columns, `[N/P, K/4, P, 4]` with P = 64, 32 or 16
    dividing N (a register tile then reads its panel's weights as one
    contiguous stream), else `[K/4, N, 4]`. It accumulates `zext(x') *
    sext(w)` where x' = x xor 0x80 (x + 128) is computed by an elementwise
    generic of its own, which `qc-cpu-fuse-elementwise` folds into the
    quantization producing x, from an initial `-128 * colsum(q_w)[n]` when
    x is signed: the same integers, in the form one `vpdpbusd` computes
    (`qc-cpu-vectorize-contractions`). Convolutions flip x in the relayout of
    their activation codes. Codes narrower than 8 bits (W4A8) keep their
    type in the relaid constant, which `qc-cpu-pack-weights` then packs, and
    are widened to i8 by an elementwise generic on each call.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
  let options = [
    Option<"dot4Layout", "dot4-layout", "bool", "false",
           "Lay out linear layers for 4-way u8 x s8 dot-product instructions">
  ];
}

def QCMaterializeEncodingsPass
    : Pass<"qc-cpu-materialize-encodings", "func::FuncOp"> {
  let summary = "Choose the CPU storage layout of every linear's constant "
                "weight";
  let description = [{
    Sets `qc.weight_encoding` (`#qc.encoding`) on each `qc.linear` whose
    weight is a float constant or the `qc.dequantize` of constant codes,
    scales and zero points, which `qc-convert-to-linalg` then builds:

    - `panels` of P = 64, 32 or 16 output columns (the widest dividing N):
      a register tile of P columns (four AVX-512 vectors at most) reads its
      weights as one contiguous stream, and threads split the panels;
    - otherwise `kn`: [K, N], so the innermost loop runs along N.

    Float weights also get `unroll = 4` (four reduction steps per update of
    an output vector, when 4 divides K). Integer layers are laid out by
    `qc-cpu-lower-quantized-contractions` (before this pass) and linears
    with a run-time weight keep [N, K].
  }];
}

def QCPackWeightsPass : Pass<"qc-cpu-pack-weights", "func::FuncOp"> {
  let summary = "Store sub-byte and small-float constants packed in bytes";
  let description = [{
    A constant tensor of `iN` (N < 8) or of an FP8/FP6/FP4 type becomes an
    one-dimensional `i8` `dense_resource` blob and a `linalg.generic` that
    unpacks it. The blob is one little-endian bit stream of the N-bit codes
    in row-major order, padded to whole bytes plus one spare byte so every
    code is read from two bytes (N * count / 8 + 2 bytes at most). FP8
    constants are stored byte for byte and bitcast. A `linalg.generic` that
    reads the constant through an indexing map reads the bytes instead
    when it can: FP8 through any map; 1-, 2- and 4-bit codes when the map's
    last result is a loop `d` alone, the rows fill whole bytes and the
    chunks qc-cpu-parallelize splits `d` into start at whole bytes (`d` is the
    output's innermost loop of a reduction, or an all-parallel generic has
    a loop of extent > 1 before `d`): the `P = 8 / N` codes of a byte are
    read at `d floordiv P` and shifted by `(d mod P) * N` in the body.
    Other reads get the unpacking generic, which fuses into its elementwise
    consumer (usually the weight's dequantization). A `tensor.extract` of
    the constant (an
    embedding's row gather) decodes its element from the blob in place, so
    a constant read only that way is never unpacked whole.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

//===----------------------------------------------------------------------===//
// Code generation
//===----------------------------------------------------------------------===//


def QCPrepareBufferizePass : Pass<"qc-cpu-prepare-bufferize", "func::FuncOp"> {
  let summary = "Make tensor IR ready for one-shot bufferization";
  let description = [{
    Decomposes `tensor.concat` into `tensor.insert_slice`s and makes each
    result of the compiled function a new allocation the runtime may free
    (never an argument, a constant or a view of another buffer). A result
    computed into a `tensor.empty` (through the destinations of
    destination-style ops and `scf.forall` outputs) and returned once is one
    already; every other result is copied into a fresh `tensor.empty`.
    A splat tensor constant of 64 KiB or more at the function's top level
    becomes a `linalg.fill` of a `tensor.empty`: filled at run time rather
    than stored in the model.so (a huge one then fails as an allocation of
    the run, with a status).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def QCStackSmallBuffersPass : Pass<"qc-cpu-stack-small-buffers", "func::FuncOp"> {
  let summary = "Put a function's small, static, local buffers on the stack";
  let description = [{
    Runs after bufferization and deallocation. A `memref.alloc` in the
    function's entry block (outside every loop) of a static shape and at
    most `max-bytes` bytes, whose buffer (through its views) is neither
    returned nor passed to a call, becomes a `memref.alloca` and its
    `memref.dealloc`s go, while the function's promoted bytes stay within
    `max-total-bytes`. A small model's run then makes no heap allocation
    for its intermediates (each was a malloc/free pair through the
    runtime's buffer cache: a quarter of a microsecond-scale run).
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
  let options = [
    Option<"maxBytes", "max-bytes", "int64_t", "4096",
           "Largest buffer put on the stack">,
    Option<"maxTotalBytes", "max-total-bytes", "int64_t", "32768",
           "Stack bytes a function may take for its buffers in all">
  ];
}

def QCCheckBufferSizesPass : Pass<"qc-cpu-check-buffer-sizes", "func::FuncOp"> {
  let summary = "Check the extents of buffers sized at run time before allocating";
  let description = [{
    Runs after bufferization. A `memref.alloc` of a static shape past 2^47
    bytes is an error (no run could allocate it). Before each one with dynamic sizes
    outside parallel loops, a `qexec.check` that every dynamic extent is
    non-negative and that the buffer's bytes, counted in f64, are at most
    2^47: an extent read from an input (ConstantOfShape, Expand, Tile,
    Reshape, Range, ...) can otherwise wrap the allocation size around and
    make the generated code write past a small buffer. A failed check ends
    the run with `QUANT_ERROR_SHAPE_MISMATCH`; an allocation within the
    bound that the system cannot serve ends it with
    `QUANT_ERROR_OUT_OF_MEMORY` (the runtime's allocator).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qexec::ExecDialect"];
}

def QCFuseElementwisePass : Pass<"qc-cpu-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse elementwise linalg producers into all-parallel consumers";
  let description = [{
    Upstream's `linalg-fuse-elementwise-ops` also fuses into reductions and
    contractions, which recomputes the producer once per reduction step (a
    GELU's erf before a matmul ran K times per element). This pass fuses only
    into consumers whose loops are all parallel, so every fused value is
    computed once, and stops where the fused body would pass 256 ops (each
    fusion copies both bodies: a chain of n elementwise nodes would cost
    O(n^2)).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def QCParallelizePass : Pass<"qc-cpu-parallelize", "func::FuncOp"> {
  let summary = "Split each large linalg op over threads with scf.forall";
  let description = [{
    Tiles one parallel loop of every linalg op with at least
    `min-iterations` iterations into an `scf.forall` of `chunks` chunks:
    for reductions (see `qc-cpu-vectorize-contractions`) a loop that keeps the
    register-tile rows whole, preferring loops of static extent (a dynamic
    one, such as the batch of a decoding LLM, may have one iteration), else
    the first parallel loop of extent > 1.
    When the iteration count depends on extents known only at run time, the
    loop's body starts with a `qexec.parallel_if` comparing the run-time count
    with `min-iterations`: a small run (a batch of one through a model
    compiled for any batch) then does not fork.
    A fill shared by several ops' outputs (CSE merges equal fills) is first
    duplicated, one per op, so bufferization writes each in place instead
    of copying the shared one before every op; a fill, or a generic that
    only copies (broadcasts) its input, that only initialises an op's
    output is then tiled inside that op's loop (a linear's bias, an
    integer layer's zero-point term). A static pad by a constant becomes a
    copy of its source into the interior and fills of the border strips;
    other pads and concatenations are decomposed into fills and slice
    insertions, and large slice insertions become `linalg.copy` into the
    destination's slice, so they are split over threads too instead of
    running as serial memset/memcpy between parallel loops. After
    bufferization the forall becomes an OpenMP
    parallel loop, which the runtime's thread pool executes (the runtime
    implements the few `__kmpc_*` entry points the translation calls; no
    libomp is needed).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::qexec::ExecDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
  let options = [
    Option<"minIterations", "min-iterations", "int64_t", "16384",
           "Ops with fewer loop iterations (static estimate) stay serial">,
    Option<"chunks", "chunks", "int64_t", "16",
           "Number of chunks the tiled loop is split into">
  ];
}

def QCVectorizeContractionsPass
    : Pass<"qc-cpu-vectorize-contractions", "func::FuncOp"> {
  let summary = "Register-tile reductions on buffers into vector code";
  let description = [{
    Rewrites each `linalg.generic` on buffers that accumulates into its
    output over reduction loops (matmul, convolution, pooling, reductions
    over outer axes; float or integer bodies of `arith`/`math` ops) whose
    output's innermost loop is parallel and read contiguously by at least
    one input. The output's innermost loop becomes `NV` vectors of
    `vector-bits / (widest element)` lanes, a second parallel loop that the
    lane-varying inputs do not read becomes `MR` rows, and the `MR x NV`
    accumulators stay in registers through all reduction loops; partial
    tiles use masked loads and stores. Each lane reduces in the generic's
    own order, so results match the scalar loops. An input read at
    `lane floordiv P` (bytes of packed codes, qc-cpu-pack-weights) loads
    `VL / P` elements per vector and spreads each over `P` lanes;
    `linalg.index` of the lane loop is each lane's own index. A body that
    dequantizes such codes thus decodes them in registers, once per lane
    vector for all rows of the tile (after CSE).

    When a `linalg.fill`, or a generic that copies one input into the whole
    output (a broadcast bias), writes the output just before the generic
    (only ops without memory effects in between), the accumulators start
    from that value (a splat, or the input's vectors) instead of loading the
    output, and the producer is erased: each output element is stored once,
    after its whole reduction.

    With `dot4`, an i32 generic `acc + zext(x') * sext(w)` (x' = x or
    x xor 0x80, i8 operands) whose weights are laid out `[..., lanes, 4]`
    over a reduction loop of 4 that x reads contiguously runs as
    `vpdpbusd`: one instruction per accumulator adds four products.
  }];
  let dependentDialects = ["::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorBits", "vector-bits", "int64_t", "256",
           "Width of the target's vector registers in bits">,
    Option<"registers", "registers", "int64_t", "16",
           "Number of vector registers (the tile keeps registers - 4 "
           "accumulators at most)">,
    Option<"dot4", "dot4", "bool", "false",
           "The target has 4-way u8 x s8 dot products (vpdpbusd): "
           "generics in the dot4 form of qc-cpu-lower-quantized-contractions "
           "use them">
  ];
}

def QCApproximateMathPass : Pass<"qc-cpu-approximate-math", "func::FuncOp"> {
  let summary = "Replace erf, exp and tanh by vectorisable polynomials";
  let description = [{
    Rewrites f32 `math.erf`, `math.exp` and `math.tanh` (scalar or vector)
    into upstream MLIR's polynomial approximations: plain `arith` code that
    the vectorisers handle, instead of one libm call per element. The
    approximations are accurate to a few ulp (checked against float64 by
    the approximate-math lit test); other math functions keep their libm
    calls.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def QCDropLoopBarriersPass : Pass<"qc-cpu-drop-loop-barriers", "func::FuncOp"> {
  let summary = "Mark an OpenMP loop that ends its parallel region nowait";
  let description = [{
    `convert-scf-to-openmp` gives every loop the implicit barrier of an
    OpenMP worksharing loop. When the loop is the last operation of its
    `omp.parallel`, that barrier only precedes the region's end, where the
    runtime's fork already waits for the whole team (runtime/Parallel.cpp).
    This pass sets `nowait` on such loops, so each parallel loop
    synchronises once instead of twice (before: a barrier per loop, in
    which the first thread to arrive slept on a condition variable).
  }];
  let dependentDialects = ["::mlir::omp::OpenMPDialect"];
}

def QCLowerParallelIfPass : Pass<"qc-cpu-lower-parallel-if", "func::FuncOp"> {
  let summary = "Turn qexec.parallel_if into the if clause of its omp.parallel";
  let description = [{
    Runs after `convert-scf-to-openmp`. Each `qexec.parallel_if` inside an
    `omp.parallel` whose condition is defined outside that region becomes
    (a conjunct of) the region's `if` clause: the translation then calls
    `__kmpc_fork_call_if`, which the runtime runs serially on the calling
    thread when the condition is false. Every `qexec.parallel_if` is erased,
    including those left outside any parallel region (a loop of one
    iteration folded away) or with a condition computed inside it.
  }];
  let dependentDialects = ["::mlir::omp::OpenMPDialect",
                           "::mlir::arith::ArithDialect"];
}

def QCOutlineParallelRegionsPass
    : Pass<"qc-cpu-outline-parallel-regions", "ModuleOp"> {
  let summary = "Move each omp.parallel into a private function of its own";
  let description = [{
    Runs after `convert-scf-to-openmp` (and the passes that finish its
    regions). Each `omp.parallel` that is not inside another becomes a call
    of a new private `func.func` (`<caller>_par<N>`, `no_inline`) holding
    it; the values it reads from outside become the function's arguments
    (the weights' `memref.get_global`s too), except constants, which are
    cloned in so that loop bounds stay constants. Regions equal up to
    those arguments (the layers of one shape, reading their own weights)
    share one function. A model's `@main` otherwise holds every layer's
    region in one function, and translating an OpenMP region to LLVM IR
    (the OpenMPIRBuilder outlines it with LLVM's CodeExtractor) costs time
    in the size of the function that holds it; and each layer's kernels
    were optimised and compiled once per layer. On SmolLM2-135M: 1418
    regions in 36 functions, translation from 77 s to 0.3 s, the compile
    from 218 s to 41 s (docs/benchmarks.md). The functions are kept out of
    line.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def QCLowerChecksPass : Pass<"qc-cpu-lower-checks", "ModuleOp"> {
  let summary = "Lower qexec.check to a branch into the runtime's failure call";
  let description = [{
    Each `qexec.check` becomes a conditional branch: when its condition is
    false, the values are stored to a stack array and the model calls
    `quant_rt_check_failed(message, count, values)`. That runtime function
    formats the message and ends the run: it returns to the session call,
    which reports `QUANT_ERROR_SHAPE_MISMATCH` and frees the buffers the run
    had allocated (runtime/ModelCall.cpp). Runs after `convert-scf-to-cf`,
    when any block may be split. A check inside an OpenMP region is an
    error: the failure call must run on the thread that started the run.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::cf::ControlFlowDialect",
                           "::mlir::arith::ArithDialect"];
}

def QCCPUEmitCInterfacePass
    : Pass<"qc-cpu-emit-c-interface", "func::FuncOp"> {
  let summary = "Ask convert-func-to-llvm for each function's C wrapper";
  let description = [{
    Sets `llvm.emit_c_interface` on every function, so `convert-func-to-llvm`
    emits `_mlir_ciface_<name>`, which takes each memref as one pointer to
    its descriptor. The entry point the emitter adds (`quant_model_entry`,
    ModelInterface.h) calls `_mlir_ciface_main`. First pass of the llvm
    phase. Changes nothing else.
  }];
}

#endif // QUANT_TARGET_CPU_PASSES_TD
