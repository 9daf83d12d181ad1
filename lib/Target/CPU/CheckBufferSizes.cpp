//===- CheckBufferSizes.cpp - qc-cpu-check-buffer-sizes -------------------===//
//
// Part of quant. A buffer whose extents are computed at run time (from a
// shape read out of an input: ConstantOfShape, Expand, Tile, Reshape,
// Range, ...) may ask for a negative extent or for more elements than its
// byte size can count: the allocation's size would wrap around and the
// generated code write past a small buffer. Each such allocation is
// checked first; a failed check ends the run with a status.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "quant/Dialect/Exec/IR/ExecOps.h"
#include "quant/Target/CPU/CPUTarget.h"
#include "quant/Target/CPU/Passes.h.inc"
#include "llvm/Support/FormatVariadic.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCCHECKBUFFERSIZESPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// The largest buffer a run may allocate: 2^47 bytes (128 TiB), far beyond
/// any machine's memory and far below where an element count times the
/// element size wraps around in 64 bits.
constexpr double kMaxBufferBytes = 140737488355328.0;

bool inParallelLoop(Operation *op) {
  return op->getParentOfType<scf::ForallOp>() ||
         op->getParentOfType<scf::ParallelOp>() ||
         op->getParentOfType<omp::ParallelOp>();
}

/// The bytes of the static part of `type` (f64: no wrap-around).
double staticBytes(MemRefType type) {
  unsigned bits =
      type.getElementType().isIntOrFloat() ? type.getElementTypeBitWidth() : 64;
  double bytes = std::max(1.0, bits / 8.0);
  for (int64_t d : type.getShape())
    if (!ShapedType::isDynamic(d))
      bytes *= double(d);
  return bytes;
}

std::string elementName(MemRefType type) {
  std::string element;
  llvm::raw_string_ostream os(element);
  type.getElementType().print(os);
  return element;
}

/// Fails for a static buffer past the bound (a compile-time error: no run
/// could allocate it); adds the run-time check for a dynamic one.
LogicalResult checkAllocation(memref::AllocOp alloc) {
  MemRefType type = alloc.getType();
  if (alloc.getDynamicSizes().empty()) {
    if (staticBytes(type) <= kMaxBufferBytes)
      return success();
    std::string shape;
    for (int64_t d : type.getShape())
      shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    return alloc.emitError()
           << "a buffer of shape [" << shape << "] x " << elementName(type)
           << " needs " << llvm::formatv("{0:E3}", staticBytes(type)).str()
           << " bytes, more than the 2^47 a run may "
              "allocate";
  }
  if (inParallelLoop(alloc))
    return success();
  OpBuilder b(alloc);
  Location loc = alloc.getLoc();
  Type i64 = b.getI64Type(), f64 = b.getF64Type();
  double bytes = staticBytes(type);
  std::string shape;
  SmallVector<Value> values;
  Value ok;
  Value count;
  auto dyn = alloc.getDynamicSizes().begin();
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (d)
      shape += ", ";
    if (!type.isDynamicDim(d)) {
      shape += std::to_string(type.getDimSize(d));
      continue;
    }
    shape += "{" + std::to_string(values.size()) + "}";
    Value v = arith::IndexCastOp::create(b, loc, i64, *dyn++);
    values.push_back(v);
    Value zero = arith::ConstantIntOp::create(b, loc, i64, 0);
    Value nonNegative =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, v, zero);
    ok = ok ? arith::AndIOp::create(b, loc, ok, nonNegative).getResult()
            : nonNegative;
    Value f = arith::SIToFPOp::create(b, loc, f64, v);
    count = count ? arith::MulFOp::create(b, loc, count, f).getResult() : f;
  }
  Value total = arith::MulFOp::create(
      b, loc, count,
      arith::ConstantFloatOp::create(b, loc, b.getF64Type(), APFloat(bytes)));
  Value fits = arith::CmpFOp::create(
      b, loc, arith::CmpFPredicate::OLE, total,
      arith::ConstantFloatOp::create(b, loc, b.getF64Type(),
                                     APFloat(kMaxBufferBytes)));
  ok = arith::AndIOp::create(b, loc, ok, fits);
  qexec::CheckOp::create(
      b, loc, ok,
      "a buffer of shape [" + shape + "] x " + elementName(type) +
          " computed at run time has a negative extent or exceeds 2^47 "
          "bytes (a shape read from an input is out of range)",
      values);
  return success();
}

struct QCCheckBufferSizesPass
    : mlir::qc::impl::QCCheckBufferSizesPassBase<QCCheckBufferSizesPass> {
  void runOnOperation() override {
    SmallVector<memref::AllocOp> allocs;
    getOperation().walk([&](memref::AllocOp a) { allocs.push_back(a); });
    for (memref::AllocOp a : allocs)
      if (failed(checkAllocation(a)))
        return signalPassFailure();
  }
};

} // namespace
