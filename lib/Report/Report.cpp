//===- Report.cpp - writing a report to a file ----------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Report/Report.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

bool mlir::qc::writeReport(const QuantReport &report, StringRef path,
                           std::string &error) {
  std::string ext = sys::path::extension(path).lower();
  std::string text;
  if (ext == ".json") {
    text = renderReportJSON(report);
  } else if (ext == ".html" || ext == ".htm") {
    text = renderReportHTML(report);
  } else {
    error = ("cannot tell the report format of '" + path +
             "': use a .json, .html or .htm extension")
                .str();
    return false;
  }
  // writeToOutput goes through a temporary file and renames it into place.
  Error err = writeToOutput(path, [&](raw_ostream &os) {
    os << text;
    return Error::success();
  });
  if (!err)
    return true;
  // The message already names the file.
  error = "cannot write the report: " + toString(std::move(err));
  return false;
}
