//===- WeightUtils.h - read and write constant weights ----------*- C++ -*-===//
//
// Part of quant. Passes that rewrite weights (rotation, smoothing,
// quantization) read them through these helpers whatever their storage
// (inline dense elements or a dense_resource blob) and write the results back
// as dense_resource blobs, so large weights never enter attribute storage.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_UTILS_WEIGHTUTILS_H
#define QUANT_DIALECT_QC_UTILS_WEIGHTUTILS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"

#include <optional>
#include <vector>

namespace mlir::qc {

/// The elements of a float constant (an op with the ConstantLike trait whose
/// value is dense elements or a dense_resource blob of f16, bf16, f32 or f64)
/// widened to double, in row-major order; std::nullopt for anything else.
std::optional<std::vector<double>> readFloatConstant(Value value);

/// The element bit patterns of a constant attribute of `type` (dense
/// elements, a splat repeated, or a dense_resource blob holding each
/// element in whole bytes), row-major, zero-extended to 64 bits; any
/// integer, index or float element type. std::nullopt for anything else or
/// a blob whose data was elided.
std::optional<std::vector<uint64_t>> readConstantBits(Attribute attr,
                                                      RankedTensorType type);

/// A float constant of `type` (static shape; f16, bf16, f32 or f64 elements)
/// holding `values` rounded half-to-even to the element type, stored as a
/// dense_resource blob named after `blobName`.
Value createFloatConstant(OpBuilder &builder, Location loc,
                          RankedTensorType type, ArrayRef<double> values,
                          StringRef blobName);

/// The transpose [C, R] of a 2-D float constant [R, C] (dense elements or a
/// dense_resource blob; f16, bf16, f32 or f64) with its elements multiplied
/// by `scale` and rounded to the element type, as a new dense_resource
/// constant named after `blobName`; null when `value` is no such constant.
/// Written straight into the new blob (a scale of 1 moves bits only), so a
/// large weight costs one more copy of itself and nothing else.
///
/// With `panel` > 0 (dividing R) the transpose is cut into R / panel panels
/// of `panel` columns, each stored whole: the result is [R / panel, C,
/// panel], element [p, c, i] = value[p * panel + i, c]. A matmul kernel
/// that computes `panel` output columns at a time then reads its weight
/// panel as one contiguous stream.
Value createTransposedFloatConstant(OpBuilder &builder, Location loc,
                                    Value value, double scale,
                                    StringRef blobName, int64_t panel = 0);

/// `y`, the [lead..., N/P, P] result of a contraction over weight panels,
/// collapsed to `type` ([lead..., N]; `type`'s element type is kept from
/// `y`).
Value collapsePanels(OpBuilder &builder, Location loc, RankedTensorType type,
                     Value y);

/// A contraction's initial output: the tensor `empty` filled with `start`
/// read through `map` (from the output's dimensions: a bias broadcast over
/// rows, an integer layer's zero-point term), or with zeros when `start` is
/// null. qc-cpu-parallelize tiles either form inside the contraction's loop and
/// qc-cpu-vectorize-contractions starts its register tiles from it.
Value buildContractionInit(OpBuilder &builder, Location loc, Value empty,
                           Value start, AffineMap map);

/// Subtracts a per-output-channel constant from the float accumulator init
/// of the linalg.generic `op` (a convolution's bias): element i of `shift`
/// (row-major over the output dims `outDims`, outermost first) is taken from
/// every output element whose coordinates along `outDims` give i. Built as
/// an elementwise generic on the init, before `op`. False (nothing changed)
/// where the init is not a float tensor with static extents along
/// `outDims` whose product is shift.size().
bool subtractFromInit(OpBuilder &builder, Operation *op,
                      ArrayRef<int64_t> outDims, ArrayRef<float> shift);

/// Erases `op` when nothing uses it and, for a dense_resource constant,
/// frees its blob (the context would otherwise keep it to the end).
void eraseDeadConstant(Operation *op);

/// Frees the data of every dense_resource blob of the context's builtin
/// dialect that nothing under `root` refers to (in an attribute or a type),
/// and returns the bytes freed. The context keeps a blob until it dies,
/// whether or not an attribute still names it: after a phase replaces the
/// weights (quantization, packing) the old ones would stay resident. Only
/// for a module that is the only IR of its context: a blob that another
/// module still reads is freed as well.
size_t releaseUnusedResourceBlobs(Operation *root);

/// The transpose of a 2-D dense constant ([N, K] -> [K, N]), any element
/// type; with `panel` > 0 (dividing N), cut into N / panel panels of
/// `panel` columns: [N / panel, K, panel], element [b, k, i] = attr[b *
/// panel + i, k].
DenseElementsAttr transposeMatrixAttr(DenseElementsAttr attr,
                                      int64_t panel = 0);

/// A constant of `type` whose little-endian element bytes are `bytes`
/// (whole-byte element types), stored as a dense_resource blob.
Value createBlobConstant(OpBuilder &builder, Location loc,
                         RankedTensorType type, ArrayRef<char> bytes,
                         StringRef blobName);

} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_UTILS_WEIGHTUTILS_H
