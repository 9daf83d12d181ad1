//===- PadTile.cpp - ONNX ops (in progress) ------------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

void mlir::qc::onnximport::registerPadTileOps(OpRegistry &) {}
