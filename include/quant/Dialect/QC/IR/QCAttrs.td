//===- QCAttrs.td - qc dialect attributes -------------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCATTRS_TD
#define QUANT_DIALECT_QC_IR_QCATTRS_TD

include "mlir/IR/AttrTypeBase.td"
include "quant/Dialect/QC/IR/QCDialect.td"
include "quant/Dialect/QC/IR/QCEnums.td"

def QC_FormatAttr : AttrDef<QC_Dialect, "Format"> {
  let mnemonic = "format";
  let summary = "a quantized number format: bit width, signedness, float encoding";
  let description = [{
    Names the format a `qc.quantize` produces and a `qc.dequantize` reads:

    | spelling | meaning | storage element type |
    | --- | --- | --- |
    | `int1` .. `int16` | two's complement, range [-2^(b-1), 2^(b-1)-1] | `iB` |
    | `uint1` .. `uint16` | unsigned, range [0, 2^b-1] | `iB` |
    | `fp8e4m3` | OCP FP8 E4M3, no infinities, max 448 | `f8E4M3FN` |
    | `fp8e5m2` | OCP FP8 E5M2, IEEE-like, max 57344 | `f8E5M2` |
    | `fp6e3m2` | OCP MX FP6 E3M2, no inf/NaN, max 28 | `f6E3M2FN` |
    | `fp6e2m3` | OCP MX FP6 E2M3, no inf/NaN, max 7.5 | `f6E2M3FN` |
    | `fp4e2m1` | OCP MX FP4 E2M1, no inf/NaN, max 6 | `f4E2M1FN` |
    | `bitmod3`, `bitmod4` | BitMoD-style mixture of datatypes: per slot (group or channel) an integer table or a float table with a special value, chosen by a selector (the dequantize's third operand); weights only | `iB` |

    Integer storage is signless `iB`: the format, not the type, says how the
    bits are read. A mixture format's code of b bits is read through one of
    four tables: table 0 the two's complement integer, tables 1..3 a sign and
    an FP4 E2M1 magnitude {0, 0.5, 1, 1.5, 2, 3, 4, 6} (b = 4) or an E2M0 one
    {0, 1, 2, 4} (b = 3), whose negative-zero code means the table's special
    value instead: 2.5, 5, 8 (b = 4) or 3, 6, 8 (b = 3). Example:
    `#qc.format<int4>`, `#qc.format<fp8e4m3>`, `#qc.format<bitmod4>`.
  }];
  let parameters = (ins "::mlir::qc::FormatKind":$kind, "unsigned":$bits);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::mlir::qc::FormatKind":$kind), [{
      return $_get($_ctxt, kind, ::mlir::qc::getFloatFormatBits(kind));
    }]>
  ];
  let extraClassDeclaration = [{
    /// True for the FP8/FP6/FP4 formats.
    bool isFloat() const;
    /// True for the mixture formats (`bitmodN`): codes read through a
    /// table that a per-slot selector chooses.
    bool isMixture() const;
    /// True for `intN` and `uintN`.
    bool isInteger() const { return !isFloat() && !isMixture(); }
    /// The family as options spell it: `int` (signed or not), `bitmod`, or
    /// the float format's name.
    std::string getFamilyName() const;
    /// True when the format represents negative values.
    bool isSigned() const;
    /// The element type that holds values of this format.
    ::mlir::Type getStorageType() const;
    /// Integer formats: the representable range [min, max].
    int64_t getIntMin() const;
    int64_t getIntMax() const;
    /// The largest finite magnitude the format represents.
    double getMaxMagnitude() const;
  }];
}

def QC_SchemeAttr : AttrDef<QC_Dialect, "Scheme"> {
  let mnemonic = "scheme";
  let summary = "how one layer is quantized";
  let description = [{
    The scheme of a quantizable layer (a linear, a convolution, an embedding
    table), set as the layer's `qc.scheme` attribute by the quantization
    driver or by hand, and read by `qc-quantize` (and, later, by smoothing,
    GPTQ and mixed-precision passes):

    | field | meaning |
    | --- | --- |
    | `w = FORMAT` | weight format (`#qc.format` spelling); `intN` is symmetric, `uintN` asymmetric (zero points) |
    | `tensor`, `channel`, `group G` | one weight scale, one per output channel, or one per block of G along the reduced axis |
    | `balanced` | (after the granularity; `int2`/`int3` weights) ABQ-LLM's bit balance: the codes take the symmetric levels `[-2^(b-2), 2^(b-2)]` of the b-bit format, `2^(b-1) + 1` of them: `int3 balanced` is a 2-bit weight widened by one level, `{-2, ..., 2}`; `int2 balanced` a ternary one, `{-1, 0, 1}` |
    | `a = FORMAT` / `a = none` | activation format, or float activations (weight-only) |
    | `tensor` / `token` | one activation scale, or one per row computed at run time |
    | `static` / `dynamic` | scales fixed at compile time from calibration, or computed at run time |
    | `calib = "METHOD"` | the range selection of a static scale (`minmax`, `percentile:P`, `mse`, `kl`) |
    | `range = [LO, HI]` | the calibrated activation range of a static scale |

    `#qc.scheme<float>` keeps the layer in floating point.

    ```mlir
    #qc.scheme<w = int8 channel, a = int8 token dynamic>
    #qc.scheme<w = int4 group 128, a = none>
    #qc.scheme<w = int3 channel balanced, a = int2 token dynamic>
    #qc.scheme<w = uint8 channel, a = uint8 tensor static, calib = "minmax", range = [-1.0, 2.5]>
    #qc.scheme<float>
    ```

    The verifier requires a group size exactly for `group`, static scales
    per tensor (a per-token scale is computed at run time), a range only
    on static scales (LO <= HI, both finite), integer weights of 1..8 bits,
    `balanced` only on `int2` and `int3` weights, and integer activations
    of 2..16 bits.
  }];
  let parameters = (ins
      OptionalParameter<"::mlir::qc::FormatAttr">:$weight,
      "::mlir::qc::WeightGranularity":$weightGranularity,
      "int64_t":$groupSize,
      OptionalParameter<"::mlir::qc::FormatAttr">:$activation,
      "::mlir::qc::ActGranularity":$activationGranularity,
      "bool":$isStatic,
      StringRefParameter<"range selection method">:$calibration,
      OptionalParameter<"::mlir::FloatAttr">:$rangeMin,
      OptionalParameter<"::mlir::FloatAttr">:$rangeMax,
      DefaultValuedParameter<"bool", "false">:$balanced);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins), [{
      return $_get($_ctxt, ::mlir::qc::FormatAttr(),
                   ::mlir::qc::WeightGranularity::Tensor, 0,
                   ::mlir::qc::FormatAttr(),
                   ::mlir::qc::ActGranularity::Tensor, false, "",
                   ::mlir::FloatAttr(), ::mlir::FloatAttr(), false);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The layer stays in floating point.
    bool isFloat() const { return !getWeight(); }
    /// Weights quantized, activations in float.
    bool isWeightOnly() const { return getWeight() && !getActivation(); }
    /// In words, for reports: "W8 int per-channel sym / A8 int per-token
    /// dynamic", "float (excluded)".
    std::string describe() const;
    /// The same scheme with a calibrated range.
    SchemeAttr withRange(double lo, double hi) const;
    /// The range of the weight codes: the format's, or with `balanced`
    /// the symmetric [-2^(b-2), 2^(b-2)].
    int64_t getWeightCodeMin() const;
    int64_t getWeightCodeMax() const;
  }];
}

def QC_EncodingAttr : AttrDef<QC_Dialect, "Encoding"> {
  let mnemonic = "encoding";
  let summary = "the storage layout a target chose for a contraction";
  let description = [{
    Target-neutral passes leave contractions without a storage layout; a
    target's encoding step chooses one and says so with this attribute,
    and the passes that build or consume the layout read it instead of
    guessing from the IR's shape:

    | kind | where | meaning |
    | --- | --- | --- |
    | `kn` | `qc.weight_encoding` on a `qc.linear` | the constant weight [N, K] is stored transposed, [K, N] (N innermost); with `unroll = U` (U dividing K), [K/U, U, N] with the U steps innermost |
    | `panels` | `qc.weight_encoding` on a `qc.linear` | the constant weight is stored in panels of `panel = P` output columns, [N/P, K, P] (float weights with `unroll = U`: [N/P, K/U, U, P]); dequantized constant codes, their scales and zero points alike |
    | `dot4` | `qc.encoding` on a `linalg.generic` | an i32 += u8 x s8 contraction over groups of 4 along the reduction (x86 VNNI `vpdpbusd`): input `operand` is the unsigned one, read through `x xor 0x80` in the body with `signFlip` |
    | `bitplane` | `qc.encoding` on a `qc.quantized_linear` | computed as w x a binary contractions, `sum_ij 2^(i+j) popcount(w_i AND x_j)`, on the bit planes of the codes (set by `qc-bitplane`; the target chooses how the planes are stored) |

    The CPU target sets them (`qc-cpu-materialize-encodings`,
    `qc-cpu-lower-quantized-contractions`); `qc-convert-to-linalg` builds
    the weight layouts, `qc-cpu-vectorize-contractions` vectorises a `dot4`
    generic. Without a weight encoding a `qc.linear` keeps its [N, K]
    weight as is. Tensor-core layouts will be further kinds.

    ```mlir
    #qc.encoding<kn, unroll = 4>
    #qc.encoding<panels, panel = 64, unroll = 4>
    #qc.encoding<dot4, operand = 1>
    #qc.encoding<bitplane>
    ```
  }];
  let parameters = (ins
      EnumParameter<QC_EncodingKind>:$kind,
      DefaultValuedParameter<"int64_t", "0">:$panel,
      DefaultValuedParameter<"int64_t", "1">:$unroll,
      DefaultValuedParameter<"int64_t", "0">:$operand,
      DefaultValuedParameter<"bool", "false">:$signFlip);
  let assemblyFormat =
      "`<` $kind (`,` struct($panel, $unroll, $operand, $signFlip)^)? `>`";
  let genVerifyDecl = 1;
}

def QC_TensorStatsAttr : AttrDef<QC_Dialect, "TensorStats"> {
  let mnemonic = "tensor_stats";
  let summary = "calibration statistics of one observed tensor";
  let description = [{
    What calibration accumulated for one `qc.observe` slot over the whole
    calibration set, in one pass. The module's statistics side table
    `qc.stats` (a dictionary from slot name to `#qc.tensor_stats`) holds one
    per slot; a layer names the slot of its activation input in
    `qc.act_slot`. Range selection, smoothing, GPTQ and mixed precision read
    it (`quant/Dialect/QC/Utils/Statistics.h`).

    | field | meaning |
    | --- | --- |
    | `count` | finite elements seen |
    | `nan`, `inf`, `zeros` | NaN, infinite and exactly-zero elements (default 0) |
    | `min`, `max`, `sum`, `sumSq` | of the finite elements (f64) |
    | `histRange`, `histogram` | bin counts (i64) over [-histRange, histRange] in equal bins, zeros in the centre bin |
    | `channelAxis` | the axis of the per-channel fields (negative: from the end) |
    | `channelMin`, `channelMax`, `channelSumSq` | per channel of that axis, f64 [C] |
    | `channelCount` | finite elements per channel, i64 [C] |
    | `channelSum` | sum per channel, f64 [C] (optional, with the other per-channel fields: what bias correction reads) |
    | `rows`, `secondMoment` | mean of x x^T over `rows` vectors x along the channel axis, f32 [C, C] (on request: what GPTQ reads); dense elements or, as calibration writes it, a `dense_resource` blob |
    | `patchKernel` | with `secondMoment`: the kernel extents k of a convolution's im2col vectors, whose second moment it then is, f32 [C prod(k), C prod(k)] in (c, k...) order (see `qc.observe`) |
    | `rowSample` | up to 128 of the vectors x along the last axis, drawn uniformly from the calibration set (reservoir sampling, fixed seed), f32 [R, C] (on request: what smoothing reads to model per-token dynamic activations); stored like `secondMoment` |

    ```mlir
    #qc.tensor_stats<count = 8, min = -1.0 : f64, max = 2.0 : f64,
                     sum = 3.0 : f64, sumSq = 9.5 : f64>
    ```

    The verifier requires finite extremes with `min <= max` once `count` is
    positive, a histogram with a non-negative range whose bins add up to
    `count`, per-channel fields all present or all absent and of one length
    C beside a channel axis, and a second moment exactly when `rows` is
    positive, of shape [C, C] (C prod(k) square with `patchKernel`), and a
    row sample of shape [R, C] beside the
    per-channel fields of the last axis.
  }];
  let parameters = (ins
      "uint64_t":$count,
      DefaultValuedParameter<"uint64_t", "0">:$nan,
      DefaultValuedParameter<"uint64_t", "0">:$inf,
      DefaultValuedParameter<"uint64_t", "0">:$zeros,
      "::mlir::FloatAttr":$min,
      "::mlir::FloatAttr":$max,
      "::mlir::FloatAttr":$sum,
      "::mlir::FloatAttr":$sumSq,
      OptionalParameter<"::mlir::FloatAttr">:$histRange,
      OptionalParameter<"::mlir::DenseIntElementsAttr">:$histogram,
      OptionalParameter<"std::optional<int64_t>">:$channelAxis,
      OptionalParameter<"::mlir::DenseFPElementsAttr">:$channelMin,
      OptionalParameter<"::mlir::DenseFPElementsAttr">:$channelMax,
      OptionalParameter<"::mlir::DenseFPElementsAttr">:$channelSumSq,
      OptionalParameter<"::mlir::DenseIntElementsAttr">:$channelCount,
      DefaultValuedParameter<"uint64_t", "0">:$rows,
      OptionalParameter<"::mlir::ElementsAttr">:$secondMoment,
      OptionalParameter<"::mlir::ElementsAttr">:$rowSample,
      OptionalParameter<"::mlir::DenseFPElementsAttr">:$channelSum,
      OptionalParameter<"::mlir::DenseI64ArrayAttr">:$patchKernel);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Channels of the per-channel fields (0 without them).
    int64_t getNumChannels() const;
    /// max(|min|, |max|), and the same for channel c.
    double getAbsMax() const;
    double getChannelAbsMax(int64_t c) const;
    /// The mean second moment, row-major [C, C] (empty without one or when
    /// its blob is gone).
    std::vector<float> getSecondMomentValues() const;
    /// The row sample, row-major [R, C] (empty without one or when its blob
    /// is gone), and its row count R.
    std::vector<float> getRowSampleValues() const;
    int64_t getNumSampleRows() const;
  }];
}

#endif // QUANT_DIALECT_QC_IR_QCATTRS_TD
