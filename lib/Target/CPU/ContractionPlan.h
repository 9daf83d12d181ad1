//===- ContractionPlan.h - register tiles of a reduction --------*- C++ -*-===//
//
// Part of quant. What qc-cpu-vectorize-contractions decides before it emits
// code: for a linalg.generic on buffers that reduces into its output, the
// lane and row loops, the MR x NV register tile, how each input is read
// (vector loads, strided pairs, packed codes, broadcasts) and, for the dot4
// encoding, the vpdpbusd operands (ContractionPlan.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_TARGET_CPU_CONTRACTIONPLAN_H
#define QUANT_LIB_TARGET_CPU_CONTRACTIONPLAN_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::qc {

/// How an input is read inside a register tile.
struct InputPlan {
  bool lanes = false; ///< varies along the lane loop: one vector per NV
  /// Elements between adjacent lanes when read by vector loads (1, or 2:
  /// two loads and a shuffle); 0: gathered element by element.
  int64_t step = 0;
  /// Lanes per element read (step 1 only): P > 1 for an input read at
  /// lane floordiv P (packed codes, qc-cpu-pack-weights): VL / P elements
  /// loaded, each spread over P lanes.
  int64_t div = 1;
  bool rows = false; ///< varies along the row loop
};

struct Plan {
  int64_t lane = -1; ///< loop along the vector lanes (output's innermost)
  int64_t row = -1;  ///< loop along the accumulator rows; -1: none
  SmallVector<int64_t> outer, reductions;
  SmallVector<InputPlan> inputs;
  int64_t vl = 0, mr = 1, nv = 1;
  /// The dot4 form: the reduction loop of 4 inside each vpdpbusd; the
  /// input read as lane vectors and the one broadcast per row; the input
  /// zero-extended (vpdpbusd's unsigned operand), flipped by xor 0x80 first
  /// when dot4Xor.
  int64_t dot4Loop = -1;
  unsigned dot4Lanes = 0, dot4Bcast = 0, dot4Unsigned = 0;
  bool dot4Xor = false;
  /// Groups of 4 bytes between adjacent lanes (1, or 2 for stride-2
  /// convolutions: two loads and the even dwords).
  int64_t dot4Step = 1;
  /// A scale factored out of the innermost reduction loop d (a weight-only
  /// layer's dequantization): the body yields out + x * (f * s) (addf
  /// reassoc), s the block argument of input `scaleInput`, read at
  /// d floordiv `scaleGroup` (0: not along d at all, one group). A tile of
  /// few rows then sums x * f over each group of d and adds that sum
  /// times s once per group, instead of multiplying every weight by its
  /// scale (findFactoredScale).
  int64_t scaleInput = -1, scaleGroup = 0;
  Operation *scaleMul = nullptr; ///< the f * s of the body
};

/// The register tiling of `op` for vectors of `vectorBits` bits and
/// `registers` vector registers (dot4: the CPU has 4-way u8 x s8 dot
/// products, and a generic marked #qc.encoding<dot4> uses them), or failure
/// when `op` is not a reduction this pass tiles.
FailureOr<Plan> analyzeContraction(linalg::GenericOp op, int64_t vectorBits,
                                   int64_t registers, bool dot4);

/// Unit innermost stride (known statically).
bool hasUnitInnerStride(MemRefType t);

/// The indices `map` gives for loop indices `dims`: a dimension result as
/// it is, any other result through affine.apply.
SmallVector<Value> applyIndexingMap(OpBuilder &b, Location loc, AffineMap map,
                                    ValueRange dims);

/// Whether `g` (on buffers) reduces along its last loop only, which every
/// input reads as its contiguous innermost dimension, into a float output
/// with maximumf, minimumf, maxnumf, minnumf or addf (reassoc) of the
/// output and an elementwise function of the inputs
/// (VectorizeRowReductions.cpp).
bool isRowReduction(linalg::GenericOp g);

/// Replaces such a `g` by vector loops along its rows, vectors of
/// `vectorBits` bits; erases `g`.
void vectorizeRowReduction(linalg::GenericOp g, int64_t vectorBits);

/// A linalg.generic on buffers that qc.hadamard's lowering marked
/// `qc.hadamard` (n): y[..., j] = sum_k x[..., k] H[k, j] / sqrt(n).
bool isHadamardTransform(linalg::GenericOp g);

/// Replaces such a generic by a fast Walsh-Hadamard transform of each row
/// (VectorizeHadamard.cpp), which writes every output element.
void vectorizeHadamard(linalg::GenericOp g, int64_t vectorBits);

} // namespace mlir::qc

#endif // QUANT_LIB_TARGET_CPU_CONTRACTIONPLAN_H
