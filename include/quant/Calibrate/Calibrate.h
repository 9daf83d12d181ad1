//===- Calibrate.h - the calibration library ---------------------*- C++
//-*-===//
//
// Part of quant. Loading calibration data, running a calibration model.so
// over it, statistics, range selection and progress display; plain C++17
// (no MLIR), library QuantCalibrate.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CALIBRATE_CALIBRATE_H
#define QUANT_CALIBRATE_CALIBRATE_H

#include "quant/Calibrate/Dataset.h"
#include "quant/Calibrate/Progress.h"
#include "quant/Calibrate/RangeSelection.h"
#include "quant/Calibrate/Runner.h"
#include "quant/Calibrate/TensorStats.h"

#endif // QUANT_CALIBRATE_CALIBRATE_H
