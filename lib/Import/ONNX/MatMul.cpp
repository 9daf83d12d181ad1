//===- MatMul.cpp - ONNX MatMul and Gemm ----------------------------------===//
//
// Part of quant. A product with a constant 2-D right-hand side becomes
// qc.linear (the weight stored [N, K], as the quantization passes want it);
// any other product is a linalg.generic contraction with numpy batch
// broadcasting.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <map>

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

/// lhs [B..., M, K] (or [B..., K, M] with transA) times rhs [B..., K, N]
/// (or [B..., N, K] with transB), batch dims broadcast numpy-style.
FailureOr<Value> buildContraction(NodeImporter &n, Value lhs, Value rhs,
                                  bool transA, bool transB) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto rt = cast<RankedTensorType>(rhs.getType());
  Type elt = lt.getElementType();
  if (elt != rt.getElementType())
    return n.invalid("operand element types differ");
  int64_t lb = lt.getRank() - 2, rb = rt.getRank() - 2;
  int64_t batch = std::max(lb, rb);
  int64_t m = transA ? lt.getDimSize(lb + 1) : lt.getDimSize(lb);
  int64_t kL = transA ? lt.getDimSize(lb) : lt.getDimSize(lb + 1);
  int64_t kR = transB ? rt.getDimSize(rb + 1) : rt.getDimSize(rb);
  int64_t nn = transB ? rt.getDimSize(rb) : rt.getDimSize(rb + 1);
  if (!ShapedType::isDynamic(kL) && !ShapedType::isDynamic(kR) && kL != kR)
    return n.invalid("contraction sizes differ: " + Twine(kL) + " and " +
                     Twine(kR));

  MLIRContext *ctx = n.b.getContext();
  // Iteration space: batch..., m, k, n when rhs rows are contiguous in n (the
  // innermost loop is then contiguous and reduction-free, which LLVM
  // vectorises), else batch..., m, n, k.
  int64_t iDim = batch, jDim = transB ? batch + 1 : batch + 2,
          kDim = transB ? batch + 2 : batch + 1;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  SmallVector<int64_t> outShape;
  SmallVector<Value> dyn;
  SmallVector<AffineExpr> lExprs, rExprs, oExprs;
  for (int64_t i = 0; i < batch; ++i) {
    int64_t li = i - (batch - lb), ri = i - (batch - rb);
    int64_t ld = li >= 0 ? lt.getDimSize(li) : 1;
    int64_t rd = ri >= 0 ? rt.getDimSize(ri) : 1;
    int64_t od = ld == 1 ? rd : (rd == 1 ? ld : ld);
    if (!ShapedType::isDynamic(ld) && !ShapedType::isDynamic(rd) && ld != rd &&
        ld != 1 && rd != 1)
      return n.invalid("batch dimensions cannot be broadcast: " + Twine(ld) +
                       " and " + Twine(rd));
    if (ShapedType::isDynamic(od) && !ShapedType::isDynamic(rd) && rd != 1)
      od = rd;
    outShape.push_back(od);
    if (li >= 0)
      lExprs.push_back(ld == 1 && od != 1 ? getAffineConstantExpr(0, ctx)
                                          : d(i));
    if (ri >= 0)
      rExprs.push_back(rd == 1 && od != 1 ? getAffineConstantExpr(0, ctx)
                                          : d(i));
    oExprs.push_back(d(i));
    if (ShapedType::isDynamic(od))
      dyn.push_back(ShapedType::isDynamic(ld) && li >= 0
                        ? tensor::DimOp::create(n.b, n.loc, lhs, li)
                        : tensor::DimOp::create(n.b, n.loc, rhs, ri));
  }
  if (transA)
    lExprs.append({d(kDim), d(iDim)});
  else
    lExprs.append({d(iDim), d(kDim)});
  if (transB)
    rExprs.append({d(jDim), d(kDim)});
  else
    rExprs.append({d(kDim), d(jDim)});
  oExprs.append({d(iDim), d(jDim)});
  outShape.append({m, nn});
  if (ShapedType::isDynamic(m))
    dyn.push_back(tensor::DimOp::create(n.b, n.loc, lhs, transA ? lb + 1 : lb));
  if (ShapedType::isDynamic(nn))
    dyn.push_back(tensor::DimOp::create(n.b, n.loc, rhs, transB ? rb : rb + 1));

  // Half precision accumulates in f32 and rounds once, as onnxruntime and
  // the ONNX reference do (and as convolutions here do).
  bool widen = isa<FloatType>(elt) && elt.getIntOrFloatBitWidth() < 32;
  Type accElt = widen ? n.b.getF32Type() : elt;
  Value empty = tensor::EmptyOp::create(n.b, n.loc, outShape, accElt, dyn);
  Value zero = scalarConstant(n.b, n.loc, accElt, 0.0);
  Value init = linalg::FillOp::create(n.b, n.loc, zero, empty).getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::get(batch + 3, 0, lExprs, ctx),
                                 AffineMap::get(batch + 3, 0, rExprs, ctx),
                                 AffineMap::get(batch + 3, 0, oExprs, ctx)};
  SmallVector<utils::IteratorType> iters(batch + 3,
                                         utils::IteratorType::parallel);
  iters[kDim] = utils::IteratorType::reduction;
  auto g = linalg::GenericOp::create(
      n.b, n.loc, init.getType(), ValueRange{lhs, rhs}, ValueRange{init}, maps,
      iters, [&](OpBuilder &b, Location loc, ValueRange a) {
        Value x = a[0], y = a[1];
        if (widen) {
          x = arith::ExtFOp::create(b, loc, accElt, x);
          y = arith::ExtFOp::create(b, loc, accElt, y);
        }
        linalg::YieldOp::create(b, loc, buildMultiplyAdd(b, loc, a[2], x, y));
      });
  if (!widen)
    return g.getResult(0);
  return buildCast(n, g.getResult(0), elt);
}

/// Reshapes a rank-1 operand to rank 2 for matmul's numpy rules.
Value expandVector(OpBuilder &b, Location loc, Value v, bool asRow) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape = asRow ? SmallVector<int64_t>{1, t.getDimSize(0)}
                                     : SmallVector<int64_t>{t.getDimSize(0), 1};
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, t.getElementType()), v,
      ArrayRef<ReassociationIndices>{{0, 1}});
}

/// A constant [K, N] right-hand side as a qc.linear weight [N, K] (scaled),
/// or null when rhs is not a float constant.
Value weightFromConstant(NodeImporter &n, Value rhs, bool transposed,
                         double scale) {
  auto rt = cast<RankedTensorType>(rhs.getType());
  if (rt.getRank() != 2 || !isa<FloatType>(rt.getElementType()))
    return {};
  if (!transposed)
    return qc::createTransposedFloatConstant(n.b, n.loc, rhs, scale,
                                             "onnx_weight");
  if (scale == 1.0) // already [N, K]: the constant itself
    return rt.hasStaticShape() && matchPattern(rhs, m_Constant()) ? rhs
                                                                  : Value();
  std::optional<std::vector<double>> w = qc::readFloatConstant(rhs);
  if (!w)
    return {};
  for (double &v : *w)
    v *= scale;
  return qc::createFloatConstant(n.b, n.loc, rt, *w, "onnx_weight");
}

} // namespace

FailureOr<Value> mlir::qc::onnximport::buildMatMul(NodeImporter &n, Value lhs,
                                                   Value rhs) {
  auto lt = cast<RankedTensorType>(lhs.getType());
  auto rt = cast<RankedTensorType>(rhs.getType());
  if (lt.getRank() == 0 || rt.getRank() == 0)
    return n.invalid("operands must have rank >= 1");
  Type elt = lt.getElementType();
  if (!isa<FloatType>(elt) && !isa<IntegerType>(elt))
    return n.unsupported("element type not supported");
  if (elt != rt.getElementType())
    return n.invalid("operand element types differ");

  if (lt.getRank() >= 2 && rt.getRank() == 2 && isa<FloatType>(elt))
    if (Value w = weightFromConstant(n, rhs, /*transposed=*/false, 1.0)) {
      auto wt = cast<RankedTensorType>(w.getType());
      SmallVector<int64_t> shape(lt.getShape());
      shape.back() = wt.getDimSize(0);
      return qc::LinearOp::create(n.b, n.loc, RankedTensorType::get(shape, elt),
                                  lhs, w, Value())
          .getResult();
    }

  bool lVec = lt.getRank() == 1, rVec = rt.getRank() == 1;
  if (lVec)
    lhs = expandVector(n.b, n.loc, lhs, /*asRow=*/true);
  if (rVec)
    rhs = expandVector(n.b, n.loc, rhs, /*asRow=*/false);
  FailureOr<Value> y = buildContraction(n, lhs, rhs, false, false);
  if (failed(y))
    return failure();
  Value out = *y;
  if (lVec || rVec) {
    // Drop the unit dimensions numpy added.
    auto t = cast<RankedTensorType>(out.getType());
    int64_t r = t.getRank();
    SmallVector<int64_t> shape(t.getShape().drop_back(2));
    SmallVector<ReassociationIndices> re;
    for (int64_t i = 0; i < r - 2; ++i)
      re.push_back({i});
    if (lVec && rVec) {
      if (re.empty()) {
        return tensor::CollapseShapeOp::create(
                   n.b, n.loc, RankedTensorType::get({}, elt), out,
                   ArrayRef<ReassociationIndices>{})
            .getResult();
      }
      re.back().append({r - 2, r - 1});
    } else if (lVec) {
      shape.push_back(t.getDimSize(r - 1));
      re.push_back({r - 2, r - 1});
    } else {
      shape.push_back(t.getDimSize(r - 2));
      re.push_back({r - 2, r - 1});
    }
    out = tensor::CollapseShapeOp::create(
        n.b, n.loc, RankedTensorType::get(shape, elt), out, re);
  }
  return out;
}

namespace {

LogicalResult importMatMul(NodeImporter &n) {
  FailureOr<Value> a = n.operand(0), bv = n.operand(1);
  if (failed(a) || failed(bv))
    return failure();
  FailureOr<Value> y = buildMatMul(n, *a, *bv);
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  return success();
}

LogicalResult importGemm(NodeImporter &n) {
  FailureOr<Value> a = n.operand(0), bv = n.operand(1);
  if (failed(a) || failed(bv))
    return failure();
  Value c = n.optionalOperand(2);
  auto lt = cast<RankedTensorType>((*a).getType());
  auto rt = cast<RankedTensorType>((*bv).getType());
  if (lt.getRank() != 2 || rt.getRank() != 2)
    return n.invalid("A and B must be 2-D");
  Type elt = lt.getElementType();
  if (!isa<FloatType>(elt))
    return n.unsupported("only float Gemm is supported");
  bool transA = n.attrInt("transA", 0), transB = n.attrInt("transB", 0);
  double alpha = n.attrFloat("alpha", 1.0f), beta = n.attrFloat("beta", 1.0f);

  Value y;
  if (!transA)
    if (Value w = weightFromConstant(n, *bv, transB, alpha)) {
      // A constant C of shape [N], [1, N] or scalar folds into the bias.
      Value bias;
      int64_t nOut = cast<RankedTensorType>(w.getType()).getDimSize(0);
      if (c) {
        std::optional<std::vector<double>> cv = qc::readFloatConstant(c);
        auto ct = cast<RankedTensorType>(c.getType());
        if (cv &&
            (static_cast<int64_t>(cv->size()) == nOut || cv->size() == 1) &&
            (ct.getRank() <= 1 || ct.getDimSize(0) == 1)) {
          std::vector<double> bvals(nOut);
          for (int64_t i = 0; i < nOut; ++i)
            bvals[i] = beta * (*cv)[cv->size() == 1 ? 0 : i];
          bias = qc::createFloatConstant(n.b, n.loc,
                                         RankedTensorType::get({nOut}, elt),
                                         bvals, "onnx_bias");
          c = Value();
        }
      }
      y = qc::LinearOp::create(
          n.b, n.loc, RankedTensorType::get({lt.getDimSize(0), nOut}, elt), *a,
          w, bias);
      if (!c) {
        n.setResult(0, y);
        return success();
      }
      alpha = 1.0; // already in the weight
    }
  if (!y) {
    FailureOr<Value> p = buildContraction(n, *a, *bv, transA, transB);
    if (failed(p))
      return failure();
    y = *p;
  }
  if (alpha != 1.0 || c) {
    SmallVector<Value> ins = {y};
    if (c)
      ins.push_back(c);
    FailureOr<Value> r = buildElementwise(
        n, ins, elt, [&](OpBuilder &b, Location loc, ValueRange v) {
          Value s = v[0];
          if (alpha != 1.0)
            s = arith::MulFOp::create(b, loc, s,
                                      scalarConstant(b, loc, elt, alpha));
          if (v.size() > 1) {
            Value cc = v[1];
            if (beta != 1.0)
              cc = arith::MulFOp::create(b, loc, cc,
                                         scalarConstant(b, loc, elt, beta));
            s = arith::AddFOp::create(b, loc, s, cc);
          }
          return s;
        });
    if (failed(r))
      return failure();
    y = *r;
  }
  n.setResult(0, y);
  return success();
}

/// One subscript of an Einsum term: a letter (its character) or the k-th
/// dimension of the broadcast '...' group (k, counted from the left; a
/// group is shorter than 'A', so every letter compares above it).
using EinsumSymbol = int;
constexpr EinsumSymbol kFirstLetter = 'A';

/// Parses `term` for an input of rank `rank` (-1: the output, which takes
/// the whole group) into symbols; the broadcast group has `ellipsisRank`
/// dims in all, right-aligned across inputs.
static LogicalResult parseEinsumTerm(NodeImporter &n, StringRef term,
                                     int64_t rank, int64_t ellipsisRank,
                                     SmallVectorImpl<EinsumSymbol> &out) {
  size_t dots = term.find("...");
  if (dots != StringRef::npos && term.find("...", dots + 3) != StringRef::npos)
    return n.invalid("term '" + term + "' has more than one '...'");
  int64_t letters = term.size() - (dots == StringRef::npos ? 0 : 3);
  int64_t e = dots == StringRef::npos ? 0 : rank - letters;
  if (rank < 0)
    e = dots == StringRef::npos ? 0 : ellipsisRank;
  if (e < 0 || (dots == StringRef::npos && rank >= 0 && letters != rank))
    return n.invalid("term '" + term + "' does not match input rank " +
                     Twine(rank));
  for (size_t i = 0; i < term.size(); ++i) {
    if (i == dots) {
      for (int64_t k = ellipsisRank - e; k < ellipsisRank; ++k)
        out.push_back(k);
      i += 2;
      continue;
    }
    if (!llvm::isAlpha(term[i]))
      return n.invalid("bad subscript '" + Twine(term[i]) + "'");
    out.push_back(term[i]);
  }
  return success();
}

/// Einsum: one linalg.generic whose loops are the equation's symbols,
/// output symbols first (parallel), the others summed. '...' stands for
/// broadcast dimensions (numpy's rules: right-aligned, size 1 stretches),
/// and any subscript whose dimension is 1 in one input and larger in
/// another broadcasts too: that input reads index 0 along it.
LogicalResult importEinsum(NodeImporter &n) {
  std::string eq;
  for (char c : n.attrString("equation", ""))
    if (c != ' ')
      eq.push_back(c);
  StringRef lhs = eq, rhs;
  bool explicitOut = false;
  if (size_t arrow = eq.find("->"); arrow != std::string::npos) {
    lhs = StringRef(eq).take_front(arrow);
    rhs = StringRef(eq).drop_front(arrow + 2);
    explicitOut = true;
  }
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if ((int64_t)terms.size() != n.numOperands())
    return n.invalid("the equation names " + Twine(terms.size()) +
                     " inputs, the node has " + Twine(n.numOperands()));
  SmallVector<Value> ins;
  Type elt;
  int64_t ellipsisRank = 0;
  for (auto [i, t] : llvm::enumerate(terms)) {
    FailureOr<Value> v = n.operand(i);
    if (failed(v))
      return failure();
    auto vt = cast<RankedTensorType>((*v).getType());
    if (elt && vt.getElementType() != elt)
      return n.invalid("inputs differ in element type");
    elt = vt.getElementType();
    if (t.contains("..."))
      ellipsisRank =
          std::max<int64_t>(ellipsisRank, vt.getRank() - (int64_t)t.size() + 3);
    ins.push_back(*v);
  }
  if (!isa<FloatType>(elt) && !isa<IntegerType>(elt))
    return n.unsupported("element type");
  SmallVector<SmallVector<EinsumSymbol>> syms(terms.size());
  std::map<EinsumSymbol, int64_t> counts;
  for (auto [i, t] : llvm::enumerate(terms)) {
    int64_t rank = cast<RankedTensorType>(ins[i].getType()).getRank();
    if (failed(parseEinsumTerm(n, t, rank, ellipsisRank, syms[i])))
      return failure();
    for (EinsumSymbol s : syms[i])
      ++counts[s];
  }
  // Extent of each symbol: the dimension that is not 1 (all such must
  // agree when static), else 1; dynamic when only dynamic ones say more.
  std::map<EinsumSymbol, int64_t> extent;
  std::map<EinsumSymbol, std::pair<size_t, int64_t>> source; // input, dim
  for (auto [i, s] : llvm::enumerate(syms)) {
    auto t = cast<RankedTensorType>(ins[i].getType());
    for (auto [d, sym] : llvm::enumerate(s)) {
      int64_t size = t.getDimSize(d);
      auto [it, fresh] = extent.try_emplace(sym, size);
      if (fresh) {
        source[sym] = {i, (int64_t)d};
        continue;
      }
      int64_t &have = it->second;
      if (size == 1 || size == have)
        continue;
      if (have == 1 || ShapedType::isDynamic(have)) {
        if (!ShapedType::isDynamic(size) || have == 1) {
          have = size;
          source[sym] = {i, (int64_t)d};
        }
        continue;
      }
      if (!ShapedType::isDynamic(size))
        return n.invalid("subscript dimensions differ: " + Twine(have) +
                         " and " + Twine(size));
    }
  }
  SmallVector<EinsumSymbol> out;
  if (explicitOut) {
    if (failed(parseEinsumTerm(n, rhs, -1, ellipsisRank, out)))
      return failure();
    for (EinsumSymbol s : out)
      if (!counts.count(s))
        return n.invalid("output subscript '" + Twine(char(s)) +
                         "' is not in any input");
    if (ellipsisRank > 0 && !rhs.contains("..."))
      return n.invalid("the inputs have '...' dimensions but the output "
                       "'" +
                       rhs + "' has no '...'");
  } else {
    // numpy: the broadcast dims, then the letters used once, in order.
    for (auto [s, k] : counts)
      if (s < kFirstLetter || k == 1)
        out.push_back(s);
  }
  // Loop order: output symbols, then the summed ones.
  SmallVector<EinsumSymbol> loopsOf(out);
  for (auto [s, k] : counts)
    if (!llvm::is_contained(out, s))
      loopsOf.push_back(s);
  MLIRContext *ctx = n.b.getContext();
  int64_t loops = loopsOf.size();
  auto dimOf = [&](EinsumSymbol s) {
    return getAffineDimExpr(llvm::find(loopsOf, s) - loopsOf.begin(), ctx);
  };
  SmallVector<AffineMap> maps;
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (EinsumSymbol s : out) {
    shape.push_back(extent[s]);
    if (ShapedType::isDynamic(extent[s])) {
      auto [i, d] = source[s];
      dyn.push_back(tensor::DimOp::create(n.b, n.loc, ins[i], d));
    }
  }
  for (auto [i, s] : llvm::enumerate(syms)) {
    auto t = cast<RankedTensorType>(ins[i].getType());
    SmallVector<AffineExpr> e;
    for (auto [d, sym] : llvm::enumerate(s))
      e.push_back(t.getDimSize(d) == 1 && extent[sym] != 1
                      ? getAffineConstantExpr(0, ctx)
                      : dimOf(sym));
    maps.push_back(AffineMap::get(loops, 0, e, ctx));
  }
  SmallVector<AffineExpr> oe;
  for (EinsumSymbol s : out)
    oe.push_back(dimOf(s));
  maps.push_back(AffineMap::get(loops, 0, oe, ctx));
  SmallVector<utils::IteratorType> iters;
  for (int64_t i = 0; i < loops; ++i)
    iters.push_back(i < (int64_t)out.size() ? utils::IteratorType::parallel
                                            : utils::IteratorType::reduction);
  Value empty = tensor::EmptyOp::create(n.b, n.loc, shape, elt, dyn);
  Value init = linalg::FillOp::create(
                   n.b, n.loc, scalarConstant(n.b, n.loc, elt, 0.0), empty)
                   .getResult(0);
  bool f = isa<FloatType>(elt);
  auto g = linalg::GenericOp::create(
      n.b, n.loc, init.getType(), ins, ValueRange{init}, maps, iters,
      [&](OpBuilder &b, Location loc, ValueRange a) {
        // The product of all operands; its last factor fuses with the sum.
        Value p = a[0];
        for (size_t i = 1; i + 2 < a.size(); ++i)
          p = f ? arith::MulFOp::create(b, loc, p, a[i]).getResult()
                : arith::MulIOp::create(b, loc, p, a[i]).getResult();
        Value acc =
            a.size() > 2
                ? buildMultiplyAdd(b, loc, a.back(), p, a[a.size() - 2])
                : (f ? arith::AddFOp::create(b, loc, a.back(), p).getResult()
                     : arith::AddIOp::create(b, loc, a.back(), p).getResult());
        linalg::YieldOp::create(b, loc, acc);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

} // namespace

void mlir::qc::onnximport::registerMatMulOps(OpRegistry &r) {
  r.add("", "Einsum", 12, importEinsum);
  r.add("", "MatMul", 1, importMatMul);
  r.add("", "Gemm", 7, importGemm);
}
