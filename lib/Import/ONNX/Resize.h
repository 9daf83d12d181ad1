//===- Resize.h - ONNX Resize, shared by its two importers ------*- C++ -*-===//
//
// Part of quant. Resize's parameters and the conversions both of its paths
// use: compile-time tables (Resize.cpp) and run-time coordinates
// (ResizeRuntime.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_IMPORT_ONNX_RESIZE_H
#define QUANT_LIB_IMPORT_ONNX_RESIZE_H

#include "NodeImporter.h"

namespace mlir::qc::onnximport::resize {

enum class Mode { Nearest, Linear, Cubic };
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil };
enum class Coord {
  HalfPixel,
  HalfPixelSymmetric,
  PytorchHalfPixel,
  AlignCorners,
  Asymmetric,
  TfHalfPixelForNN,
  TfCropAndResize
};

struct ResizeParams {
  Mode mode = Mode::Nearest;
  NearestMode nearest = NearestMode::RoundPreferFloor;
  Coord coord = Coord::HalfPixel;
  double cubicA = -0.75;
  bool excludeOutside = false;
  bool antialias = false;
  double extrapolation = 0.0;
  /// Opset 10: nearest rounds down when upsampling and up when downsampling.
  bool opset10Nearest = false;
};

/// Elements of a float constant as doubles.
SmallVector<double> floatValues(DenseElementsAttr c);

/// True when optional operand i is absent or an empty tensor.
bool absentOrEmpty(NodeImporter &n, int64_t i);

/// Converts v (of the input's element type) to the computation type.
Value toCompute(OpBuilder &b, Location loc, Value v, Type ct);

/// Converts the computed value back: floats truncate, integers round half
/// to even and saturate (numpy_helper.saturate_cast).
Value fromCompute(OpBuilder &b, Location loc, Value v, Type elt);

/// tf_crop_and_resize's extrapolation value as an `elt` constant (integers
/// round to nearest and saturate).
Value extrapolated(OpBuilder &b, Location loc, const ResizeParams &p, Type elt);

/// Resize of x along `axes` with scales (or, with `sizes`, sizes) in operand
/// `givenIdx` and roi in operand `roiIdx` (-1: none) known only at run time
/// (ResizeRuntime.cpp).
LogicalResult importResizeRuntime(NodeImporter &n, Value x,
                                  const ResizeParams &p, ArrayRef<int64_t> axes,
                                  int64_t givenIdx, bool sizes, int64_t roiIdx);

} // namespace mlir::qc::onnximport::resize

#endif // QUANT_LIB_IMPORT_ONNX_RESIZE_H
