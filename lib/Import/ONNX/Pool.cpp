//===- Pool.cpp - ONNX ops (in progress) ------------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

void mlir::qc::onnximport::registerPoolOps(OpRegistry &) {}
