//===- Progress.h - a progress bar or progress lines on stderr --*- C++ -*-===//
//
// Part of quant. On a terminal, a bar redrawn in place with count,
// percentage, rate and ETA; elsewhere (logs, CI) a plain line at most every
// 10% and at the end, so logs stay short.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CALIBRATE_PROGRESS_H
#define QUANT_CALIBRATE_PROGRESS_H

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>

namespace mlir::qc::calib {

class Progress {
public:
  enum class Mode {
    Auto,  ///< Bar if `stream` is a terminal, else Lines.
    Bar,   ///< "\r"-redrawn bar.
    Lines, ///< "label: 8/64" lines.
    Quiet  ///< Nothing.
  };

  Progress(std::string label, size_t total, Mode mode = Mode::Auto,
           std::FILE *stream = stderr);
  ~Progress();
  Progress(const Progress &) = delete;
  Progress &operator=(const Progress &) = delete;

  /// `n` more items done.
  void step(size_t n = 1);
  /// Ends the display (a final line); later calls do nothing. Called by the
  /// destructor if not before.
  void done();

private:
  void draw(bool final);

  std::string label_;
  size_t total_, count_ = 0;
  size_t lastLineTenth_ = 0;
  Mode mode_;
  std::FILE *stream_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

} // namespace mlir::qc::calib

#endif // QUANT_CALIBRATE_PROGRESS_H
