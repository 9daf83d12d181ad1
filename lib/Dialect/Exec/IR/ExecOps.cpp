//===- ExecOps.cpp - qexec verifiers and canonicalizers -------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/Exec/IR/ExecOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qexec;

#define GET_OP_CLASSES
#include "quant/Dialect/Exec/IR/ExecOps.cpp.inc"

#include "quant/Dialect/Exec/IR/ExecDialect.cpp.inc"

void ExecDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "quant/Dialect/Exec/IR/ExecOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// CheckOp
//===----------------------------------------------------------------------===//

LogicalResult CheckOp::verify() {
  StringRef m = getMessage();
  if (m.empty())
    return emitOpError("message must not be empty");
  for (size_t i = m.find('{'); i != StringRef::npos; i = m.find('{', i + 1)) {
    size_t close = m.find('}', i);
    unsigned index;
    if (close == StringRef::npos ||
        m.slice(i + 1, close).getAsInteger(10, index))
      return emitOpError("message has a '{' that is not a placeholder {N}");
    if (index >= getValues().size())
      return emitOpError("message names value ")
             << index << " of " << getValues().size();
  }
  return success();
}

std::string CheckOp::literal(StringRef text) {
  std::string out = text.str();
  for (char &c : out)
    c = c == '{' ? '(' : c == '}' ? ')' : c;
  return out;
}

//===----------------------------------------------------------------------===//
// ParallelIfOp
//===----------------------------------------------------------------------===//

LogicalResult ParallelIfOp::canonicalize(ParallelIfOp op,
                                         PatternRewriter &rewriter) {
  if (!matchPattern(op.getCondition(), m_One()))
    return failure();
  rewriter.eraseOp(op);
  return success();
}

LogicalResult CheckOp::canonicalize(CheckOp op, PatternRewriter &rewriter) {
  if (!matchPattern(op.getCondition(), m_One()))
    return failure();
  rewriter.eraseOp(op);
  return success();
}
