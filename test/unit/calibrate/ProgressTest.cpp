//===- ProgressTest.cpp - progress lines and bar --------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/Progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace mlir::qc::calib;

namespace {

/// What `run` writes to a stream, by lines.
template <typename Fn> std::string capture(Fn run) {
  std::FILE *f = std::tmpfile();
  EXPECT_NE(f, nullptr);
  run(f);
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[256];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
    out.append(buf, n);
  std::fclose(f);
  return out;
}

std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos;
       start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

TEST(Progress, LinesAtMostEveryTenth) {
  std::string out = capture([](std::FILE *f) {
    Progress p("calibrating", 64, Progress::Mode::Lines, f);
    for (int i = 0; i < 64; ++i)
      p.step();
    p.done();
    p.step(); // after done: nothing
  });
  std::vector<std::string> l = lines(out);
  ASSERT_EQ(l.size(), 10u) << out; // 1/10 .. 9/10, then the last
  EXPECT_EQ(l[0], "calibrating: 7/64");
  EXPECT_EQ(l[8], "calibrating: 58/64");
  EXPECT_EQ(l[9].rfind("calibrating: 64/64 (", 0), 0u) << l[9];

  // Few items: one line each at most, the destructor ends it.
  out = capture([](std::FILE *f) {
    Progress p("eval", 3, Progress::Mode::Lines, f);
    p.step();
    p.step(2);
  });
  l = lines(out);
  ASSERT_EQ(l.size(), 2u) << out;
  EXPECT_EQ(l[0], "eval: 1/3");
  EXPECT_EQ(l[1].rfind("eval: 3/3 (", 0), 0u);
}

TEST(Progress, BarAndQuiet) {
  std::string out = capture([](std::FILE *f) {
    Progress p("calibrating", 8, Progress::Mode::Bar, f);
    p.step(8);
    p.done();
  });
  EXPECT_EQ(out.front(), '\r');
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("8/8 100%"), std::string::npos) << out;
  EXPECT_NE(out.find("[##############################]"), std::string::npos);

  EXPECT_EQ(capture([](std::FILE *f) {
              Progress p("x", 8, Progress::Mode::Quiet, f);
              p.step(8);
            }),
            "");
  // Auto on a file (not a terminal) writes lines.
  EXPECT_EQ(capture([](std::FILE *f) {
              Progress p("x", 1, Progress::Mode::Auto, f);
              p.step();
            }).rfind("x: 1/1 (", 0),
            0u);
}

} // namespace
