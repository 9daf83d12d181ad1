//===- Passes.td - qc dialect passes ------------------------*- tablegen -*-===//
//
// Part of quant. Every pass flag starts with `qc-`.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD
#define QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def QCFuseHadamardPass : Pass<"qc-fuse-hadamard", "func::FuncOp"> {
  let summary = "Cancel Hadamard pairs and fuse Hadamard rotations into "
                "constant linear weights";
  let description = [{
    Removes online `qc.hadamard` transforms where the algebra allows:

    - `hadamard(hadamard(x)) -> x`: the orthonormal transform is its own
      inverse (its matrix is symmetric and orthogonal).
    - `linear(hadamard(x), W, b) -> linear(x, W H, b)` when `W` is a constant:
      `x H W^T = x (W H)^T` since `H` is symmetric. Each row of `W` is
      transformed.
    - `hadamard(linear(x, W, b)) -> linear(x, H W, b H)` when `W` (and `b`, if
      any) are constants and the linear has no other user: the transform moves
      onto the weight's rows-as-columns and onto the bias.

    Guarantee: the function's float outputs are unchanged up to rounding of
    the rewritten weights (computed in double precision, rounded once to the
    weight's element type). Rewritten weights are stored as `dense_resource`
    blobs. A `qc.hadamard` that feeds anything else stays online.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let options = [
    Option<"fuseIntoWeights", "fuse-into-weights", "bool", /*default=*/"true",
           "Fuse qc.hadamard into adjacent constant qc.linear weights "
           "(false: only cancel pairs)">
  ];
}

def QCRotatePass : Pass<"qc-rotate", "func::FuncOp"> {
  let summary = "QuaRot-style rotations: the residual stream rotated by a "
                "randomized Hadamard matrix folded into the weights, online "
                "Hadamard transforms where none can be folded";
  let description = [{
    Rotations spread outlier channels over all channels, so activations and
    weights quantize with smaller steps; the float function is unchanged
    (up to rounding of the rewritten weights, computed in double precision).
    Found from the graph, not from names:

    1. **Residual stream.** Starting from an embedding (a row gather from a
       constant `[V, H]` table), the pass collects every value that carries
       the stream by closure: a residual `add`/`sub` joins both operands and
       its result; a multiply or divide by a per-row value (RMSNorm's
       `1 / rms`) carries it on; a sum of its squares over the hidden
       dimension (RMSNorm's mean square) is invariant. Writers must be
       `qc.linear` ops with constant weights (`W -> Q^T W`, `b -> b Q`) or
       the embedding (`E -> E Q`); readers `qc.linear` ops with constant
       weights (`W -> W Q`) or a normalisation's per-channel scale `g` whose
       every user is such a linear (`W -> W diag(g) Q`, the multiply
       removed). `Q = D H / sqrt(H)` with random signs `D` (`seed`) and a
       Hadamard matrix of order H (`2^k * m` or `2^k * m1 * m2`, m in
       {12, 20, 28}: 576 = 4 * 12 * 12). Anything else that touches the
       stream leaves it unrotated, and the reason names the node: a mean
       over the hidden dimension (LayerNorm's centring, which would have to
       be folded into the writers), a model output, a non-constant weight.
    2. **Per-head transforms** (`per-head`). A
       `qc.linear` with constant weights whose output is split into heads
       of `d` elements (a view whose last extent `d` divides it) that reach,
       through views and copies (grouped-query attention's expansion), only
       products keeping that dimension and summing over another, from zero
       (the attention's `P V`), whose results reach, through views and
       copies, only views joining the heads again read by `qc.linear`s with
       constant weights: the value projection's rows of each head turn,
       `W_v -> H W_v` (and its bias), and the output projections' columns of
       each head, `W_o -> W_o H` (`P (V H) H = P V`), with `H` the
       orthonormal Hadamard matrix of order `d`. The values are then rotated
       per head at no run-time cost. A value that also leaves the function
       (a KV cache's present) is left alone.
    3. **Online transforms.** Each `qc.linear` with a constant weight whose
       input is read by nothing else, not rotated already, and of a size
       `qc.hadamard` supports (at least `min-online`) gets
       `linear(hadamard(x), W H)`: the down projection of an MLP, an
       attention output projection. Layers whose `qc.scheme` keeps them in
       float are left alone.
    4. **Convolutions** (`conv-below-bits`). An ungrouped convolution
       (weight `[M, C, k...]`, not depthwise) whose `qc.scheme` quantizes
       its weights to fewer than `conv-below-bits` bits, with `C` a size
       `qc.hadamard` supports (at least `min-online`), reads its input
       rotated over the channels: `x` (before any zero padding) moved
       channels-last, `qc.hadamard`, moved back, shared by every such
       convolution reading `x`; `W[m, :, k...] -> W[m, :, k...] H`. This is
       what spreads a few large weights of an input-channel row, the
       trouble of 4-bit weights in PP-OCRv4 (docs/benchmarks.md).

    The function gets `qc.rotation`, a dictionary: `residual` (H) and
    `folded` (weights rewritten), `stream` (H, found but left unrotated:
    `residual=false`), or `skipped` (why not; with `no_embedding` when no
    embedding starts a stream); `per_head` (value projections folded, when any);
    `online` (count); `convolutions` (count of rotated convolution inputs,
    when any).
    Rotated linears and convolutions with an online transform get
    `qc.online_hadamard`.
    Run before calibration: the statistics then describe the rotated
    activations that the quantized model will see.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qc::QCDialect"];
  let options = [
    Option<"residual", "residual", "bool", /*default=*/"true",
           "Rotate the residual stream">,
    Option<"online", "online", "bool", /*default=*/"true",
           "Insert online Hadamard transforms before linears whose input "
           "cannot be rotated offline">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "Seed of the random signs of the residual rotation">,
    Option<"perHead", "per-head", "bool", /*default=*/"true",
           "Fold a Hadamard transform per attention head into the value "
           "and output projections">,
    Option<"shared", "shared", "bool", /*default=*/"false",
           "Also put an online transform on inputs several linears read "
           "(q, k and v; gate and up), when every reader is a linear with "
           "a constant weight">,
    Option<"minOnline", "min-online", "int64_t", /*default=*/"16",
           "Smallest input size that gets an online transform">,
    Option<"requireResidual", "require-residual", "bool", /*default=*/"false",
           "Fail when the residual stream cannot be rotated">,
    Option<"onlineNeedsResidual", "online-needs-residual", "bool",
           /*default=*/"false",
           "Insert online and per-head transforms only when a "
           "transformer's residual stream was found">,
    Option<"convBelowBits", "conv-below-bits", "int64_t", /*default=*/"0",
           "Insert online Hadamard transforms over the input channels of "
           "convolutions whose weights have fewer bits than this (0: none)">
  ];
}

def QCQuantizeKVCachePass : Pass<"qc-quantize-kv-cache", "func::FuncOp"> {
  let summary = "Store a decoder's KV cache as int8 or int4 codes with "
                "per-row scales, keys and values rotated by Hadamard "
                "transforms";
  let description = [{
    A KV cache is found from the graph: a function argument (the past)
    whose only user is a `tensor.concat` appending the step's new rows
    along a dimension other than the last, the result returned (the
    present) and read by the attention. Each such pair becomes quantized
    at the function's boundary:

    - the past argument becomes its codes, `i8` of the same shape (int8),
      or two 4-bit codes per byte along the last dimension (int4: `[..., D
      / 2]`, the even element in the low nibble), followed by a new argument
      of its scales, `f32 [..., D / group]` (`group` 0: one scale per row of
      D, a token of one head);
    - the step's new rows are quantized per row (per group), with the
      scale computed at run time: symmetric `clip * max |x| / qmax`, or
      with `asym` unsigned codes, `clip * (max - min) / (2^bits - 1)` and a
      zero point (a third tensor, `NAME_zero`, int8); they are appended to
      the past codes and scales: the present is returned as codes and
      scales in place of the float tensor (outputs named `NAME`,
      `NAME_scale` and `NAME_zero`, inputs likewise);
    - the attention reads the dequantized present, so every token, the
      step's own included, attends to exactly what the cache stores: a
      prompt run in one call or in several gives the same result.

    **Rotated** (`rotate`, RotateKV), so that outlier channels spread over
    the row before its scale is taken: the new rows are multiplied by the
    orthogonal, self-inverse `qc.hadamard` before quantization, and
    - a key cache, whose last dimension is the reduced dimension of a
      multiply-accumulate (the scores `Q K^T`, reached through reshapes,
      transposes and copies such as grouped-query attention's expansion)
      whose other operand reduces its own last dimension there: that
      operand (the queries, after the rotary embedding: post-RoPE) gets
      the same transform, `(Q H)(K H)^T = Q K^T`;
    - a value cache, whose last dimension every such product keeps as its
      result's last (the context `P V`): the product's result gets it,
      `(P (V H)) H = P V`.
    Both transforms run online on the step's rows only (a decoding step:
    one row per head), never on the cache. A cache read any other way is
    quantized without rotation.

    The function gets `qc.kv_cache`, a dictionary: `bits`, `group`,
    `asym`, `clip`, `caches` (pairs quantized) and `rotated` (caches rotated). Run it
    before the graph phase's canonicalization so that input-dimension
    classes cover the new arguments.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::qc::QCDialect"];
  let options = [
    Option<"bits", "bits", "unsigned", /*default=*/"8",
           "Bits of the stored codes: 8 or 4">,
    Option<"group", "group", "int64_t", /*default=*/"0",
           "Elements of the last dimension sharing one scale (0: the whole "
           "row, one scale per token and head); must divide it">,
    Option<"rotateCache", "rotate", "bool", /*default=*/"true",
           "Rotate key caches (and the queries that read them) and value "
           "caches (and the context they make) by a Hadamard transform">,
    Option<"asym", "asym", "bool", /*default=*/"false",
           "Asymmetric codes: unsigned, with a zero point per group (an "
           "input and output NAME_zero, int8, after the scales)">,
    Option<"clip", "clip", "double", /*default=*/"1.0",
           "Scales cover this fraction of each group's range (0, 1]; "
           "values beyond it saturate">,
    Option<"requireCache", "require-cache", "bool", /*default=*/"false",
           "Fail when the function has no KV cache">
  ];
}

def QCConstrainInputDimsPass
    : Pass<"qc-constrain-input-dims", "func::FuncOp"> {
  let summary = "Make the run-time input extents the computation assumes "
                "explicit: static where they must be, equal where they meet";
  let description = [{
    Generated code reads every operand of an operation with the extents of
    its iteration space: a MatMul whose inputs are `[?, ?]` and `[?, ?]`
    loops over the first input's inner extent and reads the second with it.
    When a run's extents disagree, it reads past the end of a buffer. This
    pass finds, for each dynamic dimension of the function's arguments,
    which other dimensions the computation needs equal to it, and makes that
    contract part of the model's signature so the runtime can refuse a
    disagreeing run with an error.

    It groups tensor dimensions into classes of extents that must be equal:
    operand dimensions that a `linalg` operation indexes with the same loop,
    a result and its init, `tensor.dim` / `tensor.empty` / `tensor.cast` /
    `tensor.expand_shape` / `tensor.collapse_shape` / `tensor.concat` sizes,
    `arith.index_cast`, a `tensor.reshape` to a shape built by
    `tensor.from_elements` (the importer's Shape -> Concat -> Reshape),
    and the contraction and normalisation dimensions of `qc.linear`,
    `qc.batch_matmul`, `qc.layer_norm` and `qc.rms_norm`. Then, on the
    function:

    - an argument dimension that is dynamic but in a class with a static
      extent becomes static (the argument's type is refined; a `tensor.cast`
      back to the old type keeps the body valid). `[?, ?] x W[64, 32]` makes
      the input `[?, 64]`, and the runtime checks it like any static extent;
    - dynamic argument dimensions that share a class get one class number in
      `qc.input_dim_classes` (one `array<i64>` per argument, -1 where a
      dimension is in no such class). The runtime refuses a run in which two
      dimensions of one class differ (QUANT_ERROR_SHAPE_MISMATCH).

    A class with two different static extents is an error. Extents that are
    computed from values rather than taken from an argument (a Reshape to a
    run-time shape) are checked in the model by `qc-check-extents`.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def QCCheckExtentsPass : Pass<"qc-check-extents", "func::FuncOp"> {
  let summary = "Check at run time the dynamic extents an op computes with "
                "as one";
  let description = [{
    The relations `qc-constrain-input-dims` collects include the ones an op
    requires of its operands: two operand dimensions a `linalg` op indexes
    with one loop, a `qc.linear`'s inner extent and its weight's, the
    non-concatenated dimensions of `tensor.concat`'s inputs, a
    `tensor.cast` to a static extent. For each such pair where one side is
    dynamic, this pass puts a `qexec.check` before the op that fails the run
    when the two differ:

    ```mlir
    %0 = tensor.dim %a, %c0 : tensor<?xf32>
    %1 = tensor.dim %b, %c0 : tensor<?xf32>
    %2 = arith.cmpi eq, %0, %1 : index
    qexec.check %2, "node 'add' (Add) needs two run-time extents to be equal, but they are {0} and {1}" (%0, %1 : index, index)
    ```

    Run it after `qc-constrain-input-dims` and canonicalization:
    extents that the input check already ties together, or that
    canonicalization proves equal (`tensor.dim` of a result resolves to its
    init's size), fold to `true` and their checks disappear. What remains
    are extents computed from tensor values (a Reshape to a shape read from
    an input, meeting another input in an Add), and extents whose equality
    ONNX leaves to broadcasting at run time (a dynamic `?` against `?`,
    which the importer treats as equal).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::qexec::ExecDialect",
                           "::mlir::tensor::TensorDialect"];
}

def QCFoldLinearBiasPass : Pass<"qc-fold-linear-bias", "func::FuncOp"> {
  let summary = "Make a constant vector added to a qc.linear's output its bias";
  let description = [{
    ONNX writes a biased fully connected layer as `MatMul` + `Add`, which
    the importer brings in as a `qc.linear` without bias and an elementwise
    `linalg.generic` adding a constant. This pass rewrites
    `add(linear(x, W), b)` into `linear(x, W, b)` when `b` is a float
    constant that varies only along the last dimension (`[N]`, or
    `[1, ..., 1, N]` broadcast), the linear has no bias and the addition is
    its only user. The CPU lowering then starts each output's accumulation
    from the bias (float) or adds it in the requantisation epilogue
    (integer), instead of running another pass over the output, and the
    quantization passes see the bias as part of the layer.

    Float results may differ in the last bits: the bias is added before the
    products rather than after them.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def QCImportQuantPass : Pass<"qc-import-quant", "func::FuncOp"> {
  let summary = "Rewrite upstream quant.qcast/quant.dcast on !quant.uniform "
                "into qc.quantize/qc.dequantize";
  let description = [{
    Brings IR that other compilers express with upstream `!quant.uniform`
    types into quant's pipeline. Each `quant.qcast` becomes a `qc.quantize`
    (followed by a `quant.scast` back to the quantized type) and each
    `quant.dcast` a `qc.dequantize` (after a `quant.scast` to the storage
    type), with the type's scales and zero points as constants:

    - `!quant.uniform<i8:f32, 0.5:3>` -> per tensor, `#qc.format<int8>`;
    - `!quant.uniform<u4:f32:1, {0.5:8, 0.25:8}>` -> per channel, `axis = 1`,
      `#qc.format<uint4>`.

    Why: upstream's `lower-quant-ops` truncates `x / scale + zero_point`
    toward zero without saturating, and its folder cancels
    `dcast(qcast(x))` as if quantization were lossless. After this pass the
    casts have qc's specified semantics (round half to even, saturation;
    docs/architecture.md). Pairs of inverse `quant.scast` left behind fold
    away under `-canonicalize`.

    A type qc cannot express is an error naming the type: a storage range
    narrower than the storage type (e.g. `i8<-127:127>`), storage wider than
    16 bits, sub-channel (blockwise) types. Scalar casts are left alone.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::quant::QuantDialect",
                           "::mlir::qc::QCDialect"];
}

def QCSmoothFoldPass : Pass<"qc-smooth-fold", "ModuleOp"> {
  let summary = "Migrate activation outliers into weights (SmoothQuant / "
                "AWQ scales), folded float-exactly into producers";
  let description = [{
    For each group of `qc.linear` layers that read one activation (the
    layers sharing a `qc.act_slot`, all with constant weights) and whose
    slot in the statistics table `qc.stats` has per-channel extremes, picks
    per input channel j

        s_j = max|X_j|^alpha / max_l max_n |W_l[n, j]|^(1 - alpha)

    and rewrites `X W^T` as `(X / s) (W s)^T`: every weight's column j is
    multiplied by s_j, and `1 / s` is folded into what produces X:

    - the per-channel constant of an elementwise multiply (the weight of an
      RMSNorm or LayerNorm as the importer decomposes it; with the bias of
      `x * g + b`), or the `gamma` / `beta` of a `qc.layer_norm` /
      `qc.rms_norm`;
    - the output rows (and bias) of a preceding `qc.linear` with a constant
      weight, such as `up` before `down` in a SwiGLU MLP;
    - either factor of an elementwise product of two activations, such as
      `silu(gate) * up`, when that factor can absorb it;
    - otherwise, when the group's activations are quantized, a per-channel
      multiply inserted before the group (it fuses into the activation
      quantization); weight-only groups with nothing to absorb `1 / s` stay
      as they are.

    Every value changed has no other user, so the function computes the
    same as before up to float rounding. The table is updated to match: the
    slot's per-channel extremes, sums of squares and second moment are
    divided by s (exact), its per-tensor extremes and sum of squares follow
    from them (`sum`, which no pass reads, keeps the unsmoothed value); its
    histogram, which cannot be rescaled, is dropped (range selection that
    needs one must calibrate again).

    `alpha`: a number in [0, 1], or negative for a search per group over
    alpha in {0, 0.05, ..., 1} and no smoothing, minimising the group's
    expected output error under its layers' `qc.scheme`s (weight rounding
    error weighted by E[x_j^2], plus the activation rounding noise of the
    smoothed range times the weights' squared norms). Layers without a
    quantized `qc.scheme` contribute no error. Each smoothed layer gets
    `qc.smooth_alpha` (f64).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::qc::QCDialect"];
  let options = [
    Option<"alpha", "alpha", "double", /*default=*/"-1.0",
           "Migration strength in [0, 1]; negative: searched per group">,
    Option<"floatGroups", "float-groups", "bool", /*default=*/"false",
           "Also insert the per-channel multiply for groups whose "
           "activation stays float (nothing gained at run time: for "
           "testing that smoothing is float-exact)">,
    Option<"outlierChannels", "outlier-channels", "unsigned",
           /*default=*/"0",
           "As qc-quantize's outlier-channels: the search leaves the error "
           "of the channels a layer with quantized activations computes in "
           "float out of its loss, and takes the activation's range from "
           "the other channels">
  ];
}

def QCQuantizePass : Pass<"qc-quantize", "func::FuncOp"> {
  let summary = "Quantize the weights and activations of every layer";
  let description = [{
    Rewrites each layer (a `qc.linear`, or a multiply-accumulate
    `linalg.generic` such as a convolution, with a constant float weight;
    see `findQuantLayers`) into quantized form, in "QDQ" style:

    - the weight constant becomes a constant of the format's storage type
      and a `qc.dequantize` (scales, and zero points when asymmetric, are
      constants). Scales: per tensor, per output channel, or in groups of
      `group-size` along the reduced axis; symmetric scale = absmax / qmax,
      asymmetric = (max - min) / (2^b - 1) with an integer zero point; FP
      formats scale absmax to the format's largest finite value;
    - the activation operand becomes `qc.dequantize(qc.quantize(x))`:
      a static scale uses the calibrated range recorded in the layer's
      `qc.scheme` (`range = [LO, HI]`); a dynamic one computes the
      scale at run time, per row (token) where the layer's rows are
      independent, else per tensor;
    - an embedding (a `linalg.generic` gathering rows of a constant float
      `[V, H]` table through `tensor.extract`, as Gather imports) gets codes
      and scales with rows as channels, gathered with the original index
      arithmetic, and a `qc.dequantize` of the gathered rows only, which
      takes the layer's attributes. The activation options do not apply.

    Per-layer settings: a layer's `qc.scheme` attribute (a typed
    `#qc.scheme`, which the quantization driver sets on every layer) is its
    whole scheme; the options are the scheme of layers without one.
    `#qc.scheme<float>` keeps the layer in float.
    Each quantized layer gets `qc.weight_sqnr` (dB, f64), the weight's
    signal-to-quantization-noise ratio, for reports.

    Weight rounding: `weight-rounding=gptq` rounds the weights of each
    `qc.linear` whose input has a second moment H = E[x x^T] in the
    statistics table (`qc.stats`, gathered with `second-moment`) with GPTQ:
    column by column in order of decreasing H_ii, each rounding error
    compensated by the columns not yet rounded along the Cholesky factor of
    H^-1 (damping 1% of the mean diagonal, blocks of 128). Scales are those
    of round-to-nearest (static groups), so the IR has the same form. Layers
    without a second moment (convolutions, embeddings) round to nearest.
    `clip-search` picks, per scale slot of a weight-only `qc.linear`, the
    range-shrinking ratio that minimises sum_k (w_k - q_k)^2 E[x_k^2]
    (per-channel statistics from the table).

    Outlier channels (`outlier-channels=N`): in a `qc.linear` whose
    activation is quantized and whose input has per-channel statistics, the
    N input channels of largest calibrated magnitude leave the quantized
    product: their weight columns are zero on the grid (and excluded from
    fitting it), a float `qc.linear` over those channels (gathered with
    `tensor.extract_slice`/`tensor.concat`) is added to the output; a static
    range shrinks to the other channels' calibrated extremes where they are
    narrower, a dynamic scale is computed from the input with those
    channels zeroed. With GPTQ these columns take no rounding error and
    carry the compensation of the columns rounded before them. The layer
    gets `qc.outlier_channels`.

    Guarantee: the function computes exactly the fake-quantized model (every
    rounding as docs/quantization.md specifies); the float weights are no
    longer referenced. Lowering (`qc-cpu-lower-quantized-contractions`) turns
    integer QDQ pairs into integer arithmetic with the same result up to
    float summation order.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::qc::QCDialect"];
  let options = [
    Option<"wBits", "w-bits", "unsigned", /*default=*/"8",
           "Integer weight bits, 1..8">,
    Option<"wFormat", "w-format", "std::string", /*default=*/"\"int\"",
           "Weight format: int, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3, fp4e2m1, "
           "bitmod (w-bits 3 or 4: per-slot mixture of int and float tables)">,
    Option<"wGranularity", "w-granularity", "std::string",
           /*default=*/"\"channel\"", "Weight scales: tensor, channel, group">,
    Option<"groupSize", "group-size", "int64_t", /*default=*/"128",
           "Group size along the reduced axis for w-granularity=group">,
    Option<"aBits", "a-bits", "unsigned", /*default=*/"8",
           "Integer activation bits, 2..16; 0 keeps activations in float "
           "(weight-only)">,
    Option<"aFormat", "a-format", "std::string", /*default=*/"\"int\"",
           "Activation format (as w-format, bitmod excepted)">,
    Option<"aMode", "a-mode", "std::string", /*default=*/"\"dynamic\"",
           "Activation scales: static (calibrated) or dynamic (run time)">,
    Option<"aGranularity", "a-granularity", "std::string",
           /*default=*/"\"token\"",
           "Dynamic activation scales: token (per row where rows are "
           "independent, else per tensor) or tensor">,
    Option<"asym", "asym", "bool", /*default=*/"false",
           "Asymmetric integer quantization (zero points) of weights and "
           "activations">,
    Option<"weightRounding", "weight-rounding", "std::string",
           /*default=*/"\"rtn\"",
           "How weights round onto their grid: rtn (to nearest) or gptq "
           "(GPTQ: errors compensated along the inverse second moment of "
           "the layer's input; needs it in the statistics table)">,
    Option<"aClip", "a-clip", "double", /*default=*/"1.0",
           "Dynamic activation scales cover this fraction (0, 1] of each "
           "run-time range (values beyond saturate; QuaRot clips 4-bit "
           "activations at 0.9)">,
    Option<"biasCorrection", "bias-correction", "std::string",
           /*default=*/"\"off\"",
           "Convolutions: add to the bias the mean of the output change that "
           "weight rounding causes, -sum_k (Q(w) - w)[o, k] E[x_k], from the "
           "per-channel input means of the statistics table (layers whose "
           "table has no channelSum are left as they are): off, on, or auto "
           "(where the weight error dominates: weight-only layers and weights "
           "of fewer bits than the activations). The activations' rounding "
           "is corrected by quant-compile after this pass, measured on the "
           "quantized model">,
    Option<"clipSearch", "clip-search", "bool", /*default=*/"false",
           "Linears with integer weights: per scale slot, shrink the range "
           "by the ratio in {1, 0.95, ..., 0.5} that minimises the layer's "
           "output error on the calibration statistics (AWQ's clipping "
           "search)">,
    Option<"outlierChannels", "outlier-channels", "unsigned",
           /*default=*/"0",
           "Linears with quantized activations and calibration statistics: "
           "the input channels (at most this many) of largest calibrated "
           "magnitude are computed in float beside the quantized product "
           "(LLM.int8()/QUIK-style decomposition); the activation's scale, "
           "static or dynamic, then covers only the other channels">
  ];
}

def QCFormQuantizedContractionsPass
    : Pass<"qc-form-quantized-contractions", "func::FuncOp"> {
  let summary = "Say each integer layer as one layout-free quantized "
                "contraction op";
  let description = [{
    `qc-quantize` leaves layers in QDQ form: a float `qc.linear` or
    multiply-accumulate `linalg.generic` reading `qc.dequantize`d operands.
    Where both operands are integer codes whose product a target can sum
    exactly in i32, this pass rewrites the layer into the op that says so:

    - `qc.linear(dequantize(x), dequantize(W const), b)` ->
      `qc.quantized_linear` when x is an integer of at most 8 bits per
      tensor or per row (`axis` last, `group_size` = K), W an integer of at
      most 8 bits, symmetric, per tensor or per output channel, and
      K < 2^16;
    - a multiply-accumulate `linalg.generic` (convolutions, Einsum forms)
      reading `dequantize(x)` and `dequantize(W const)` (through at most one
      `tensor.expand_shape`) -> `qc.quantized_contraction` with the
      generic's maps, when x is per tensor, W symmetric per tensor or per
      channel (channel dims indexed by output loops), and the reduction
      static and below 2^16 steps.

    Every other layer stays as it is: weight-only, grouped weights, float
    formats and asymmetric weights compute in float after dequantization.
    The new ops carry formats, scales and zero points and no storage
    layout; every target's encoding step starts with this pass and lowers
    them to the layout it chooses (`#qc.encoding`). Dequantizations left
    without users are erased.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def QCAssignPrecisionPass : Pass<"qc-assign-precision", "func::FuncOp"> {
  let summary = "Choose each layer's scheme among measured candidates: "
                "least total sensitivity under size, bit and latency budgets";
  let description = [{
    Mixed-precision assignment as an exact multiple-choice knapsack. Each
    layer that carries `qc.candidates`, an array of dictionaries

        {scheme = #qc.scheme<...>, error = <f64> [, latency = <f64 ms>]}

    takes exactly one of them: the assignment minimises the sum of the
    chosen `error`s (a sensitivity measured on the model output with only
    that layer quantized that way; quant-compile measures it, see
    docs/quantization.md "Mixed precision") subject to every budget given:

    - `avg-wbits`: the weight code bits of the candidate layers, averaged
      over their weights (a weight of int3 codes counts 3, scales and zero
      points not at all);
    - `size-budget`: megabytes (10^6 bytes) of every layer's stored weights:
      codes packed at their bit width, one f32 scale per slot, one byte per
      zero point, as the report counts them; layers without candidates
      count what their current `qc.scheme` stores (float: 4 bytes each);
    - `latency-budget`: milliseconds, the sum of the chosen candidates'
      `latency` (every candidate must carry one).

    The 0-1 program is solved by CBC (branch and cut): the answer is
    optimal, not greedy. The chosen scheme replaces `qc.scheme`,
    `qc.candidates` is removed and the function gets `qc.precision`, a
    summary (total error, average bits, bytes, latency, layers). No
    budget: the pass only checks the candidates and removes them, keeping
    `qc.scheme`. A budget no assignment meets is an error saying what the
    cheapest assignment needs.
  }];
  let options = [
    Option<"avgWBits", "avg-wbits", "double", /*default=*/"0",
           "average weight bits of the candidate layers at most this "
           "(0: no bound)">,
    Option<"sizeBudget", "size-budget", "double", /*default=*/"0",
           "stored weights of the whole function at most this many MB "
           "(10^6 bytes; 0: no bound)">,
    Option<"latencyBudget", "latency-budget", "double", /*default=*/"0",
           "summed candidate latencies at most this many ms (0: no bound)">
  ];
}

def QCBitPlanePass : Pass<"qc-bitplane", "func::FuncOp"> {
  let summary = "Choose the integer layers computed as sums of 1-bit "
                "products (bit-plane decomposition, ABQ-LLM)";
  let description = [{
    A w-bit by a-bit integer contraction is a sum of w x a binary ones:
    with the codes read as unsigned (`u = q + 2^(b-1)` for a signed format
    of b bits, so `q = u - o`),

        sum_k w[n, k] x[m, k] = sum_i sum_j 2^(i+j) popcount(W_i[n] AND X_j[m])
                                - o_x sum_k u_w[n, k] - o_w sum_k u_x[m, k]
                                + K o_w o_x

    where `W_i` and `X_j` are the bit planes of `u_w` and `u_x` (bit `i` of
    every code along K). A zero point on the activation stays in the
    layer's epilogue, as for any integer layer. The planes pack 64 codes
    per machine word, so one AND and one population count do 64 (or, in a
    512-bit register, 512) one-bit multiply-accumulates: for few planes
    this beats a 4-way 8-bit dot product; for many it does not.

    This pass marks each `qc.quantized_linear` whose weight is a constant
    that should be computed so with `qc.encoding = #qc.encoding<bitplane>`;
    the target's lowering builds the planes in its layout (the CPU: planes
    packed along K in 64-bit words, AND + VPOPCNTQ, register-tiled) and the
    corrections. The result is exactly that of the i32 contraction.

    `mode`: `on` marks every such layer; `off` none; `auto` follows a
    layer's `qc.bitplane = true|false` where it has one (quant-compile
    times both forms of the layer on the host and records the faster), and
    elsewhere marks those where `w * a <= max-plane-products` and
    `a <= max-activation-bits` (a target sets both from its measurements:
    docs/quantization.md, "Bit-plane layers"; the activation planes are
    packed on every call).
  }];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"auto\"",
           "on, off or auto">,
    Option<"maxPlaneProducts", "max-plane-products", "int64_t",
           /*default=*/"0",
           "auto: the largest weight bits x activation bits computed as "
           "bit planes (0: none)">,
    Option<"maxActivationBits", "max-activation-bits", "int64_t",
           /*default=*/"8",
           "auto: the largest activation bits computed as bit planes">
  ];
}

def QCInsertObserversPass
    : Pass<"qc-insert-observers", "func::FuncOp"> {
  let summary = "Observe the activation input of every quantized layer";
  let description = [{
    Calibration's first step: puts a `qc.observe` on the activation input of
    each quantizable layer (`qc.linear`, convolution and Einsum contractions
    with a constant weight) whose `qc.scheme` quantizes it, whatever its
    activation mode (static, dynamic or weight-only: smoothing, GPTQ and
    mixed precision need the statistics in every mode), and names the slot
    in the layer's `qc.act_slot`. Embeddings have no activation input.

    - One observer per distinct value: layers reading one input (the q, k
      and v projections) share its slot, named after the first such layer
      in program order. A value that already has an observer keeps it and
      its slot and options.
    - The observer is per channel along the layer's input-channel axis (a
      linear's last axis, a convolution's channel axis) when it has one,
      and with `second-moment` also accumulates x x^T along it.
    - The observer sits right after the value's definition, in the
      function's entry block; layers in nested regions are not observed.

    `qc-expose-observers` turns the observers into outputs of a calibration
    model; calibration fills the module's statistics table `qc.stats`
    (`#qc.tensor_stats` per slot).
  }];
  let options = [
    Option<"secondMoment", "second-moment", "bool", /*default=*/"false",
           "Also accumulate the second moment x x^T of each input along its "
           "channel axis (C x C per slot; what GPTQ reads)">,
    Option<"allLayers", "all-layers", "bool", /*default=*/"false",
           "Observe every quantizable layer, with or without a qc.scheme "
           "(default: the layers whose qc.scheme quantizes them)">
  ];
}

def QCExposeObserversPass
    : Pass<"qc-expose-observers", "ModuleOp"> {
  let summary = "Turn qc.observe ops into extra function results (the "
                "calibration model)";
  let description = [{
    Makes each `qc.observe` of a function's entry block an extra result of
    the function, after its own results, named `qc.observe:SLOT` in
    `qc.output_names` (created with `output_N` names for the existing
    results when absent), and erases the observer. Compiled, the module is
    the calibration model: the calibration runner accumulates each such
    output into its slot's statistics. An observer elsewhere than in an
    entry block is an error.
  }];
}

#endif // QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD
