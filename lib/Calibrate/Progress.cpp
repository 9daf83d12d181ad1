//===- Progress.cpp - a progress bar or progress lines on stderr ----------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/Progress.h"

#include <unistd.h>

#include <algorithm>

using namespace mlir::qc::calib;

namespace {

/// "1:05" or "1:02:05".
std::string clock(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
                  s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

} // namespace

Progress::Progress(std::string label, size_t total, Mode mode,
                   std::FILE *stream)
    : label_(std::move(label)), total_(total), mode_(mode), stream_(stream) {
  if (mode_ == Mode::Auto)
    mode_ = stream_ && isatty(fileno(stream_)) ? Mode::Bar : Mode::Lines;
  if (!stream_)
    mode_ = Mode::Quiet;
  start_ = lastDraw_ = std::chrono::steady_clock::now();
  if (mode_ == Mode::Bar)
    draw(false);
}

Progress::~Progress() { done(); }

void Progress::step(size_t n) {
  if (finished_)
    return;
  count_ += n;
  if (mode_ == Mode::Bar) {
    // Redraw at most 10 times a second.
    auto now = std::chrono::steady_clock::now();
    if (now - lastDraw_ >= std::chrono::milliseconds(100)) {
      lastDraw_ = now;
      draw(false);
    }
  } else if (mode_ == Mode::Lines && total_ && count_ < total_) {
    size_t tenth = count_ * 10 / total_;
    if (tenth > lastLineTenth_) {
      lastLineTenth_ = tenth;
      draw(false);
    }
  }
}

void Progress::done() {
  if (finished_)
    return;
  finished_ = true;
  if (mode_ != Mode::Quiet)
    draw(true);
}

void Progress::draw(bool final) {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
          .count();
  if (mode_ == Mode::Lines) {
    if (final)
      std::fprintf(stream_, "%s: %zu/%zu (%.1f s)\n", label_.c_str(), count_,
                   total_, elapsed);
    else
      std::fprintf(stream_, "%s: %zu/%zu\n", label_.c_str(), count_, total_);
    std::fflush(stream_);
    return;
  }
  constexpr int kWidth = 30;
  double fraction =
      total_ ? std::min(1.0, static_cast<double>(count_) / total_) : 1.0;
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  double rate = elapsed > 0 ? count_ / elapsed : 0;
  std::string tail;
  if (final)
    tail = "in " + clock(elapsed);
  else if (rate > 0 && count_ < total_)
    tail = "ETA " + clock((total_ - count_) / rate);
  std::fprintf(stream_, "\r%s [%s] %zu/%zu %3d%% %.1f/s %s\033[K%s",
               label_.c_str(), bar.c_str(), count_, total_,
               static_cast<int>(fraction * 100), rate, tail.c_str(),
               final ? "\n" : "");
  std::fflush(stream_);
}
