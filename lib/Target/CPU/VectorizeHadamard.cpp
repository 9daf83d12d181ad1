//===- VectorizeHadamard.cpp - fast Walsh-Hadamard transforms
//--------------===//
//
// Part of quant. qc.hadamard lowers to a linalg.generic marked `qc.hadamard`
// that states the transform as its O(n^2) definition. On buffers, each row of
// n = p * m1 * m2 elements becomes a fast transform in O(n (log p + m1 +
// m2)), in the output row, which stays in L1 from the first stage to the
// last:
//
//   base stage: out[b*B + j] = sum_i x[b*B + i] * M[i, j] / sqrt(n) for each
//               block b of B elements, M the innermost Paley factor (B = m)
//               or the Sylvester matrix of order B = min(p, VL) when there
//               is none; vectorized over j with one broadcast-FMA per i and
//               constant sign vectors (a block of several pieces that
//               fits one register, 12 of 16 lanes, in that register with
//               zero signs beyond B and a masked store), or, for a
//               Sylvester block of one register read from a contiguous row,
//               in the register: log2 B levels of a lane shuffle and an FMA;
//   second Paley factor (n = p * m1 * m2): in place, over blocks of m1 * m2,
//               m1 vectors loaded and combined by additions and
//               subtractions;
//   butterflies: the remaining Sylvester factor, on the output in place,
//               up to three levels per pass (radix 8: eight vectors loaded,
//               combined, stored).
//
// Every output element is the exact sum of +-x_i / sqrt(n) (base stage
// products rounded once, then additions): the result agrees with the
// definition up to float summation order.
//
//===----------------------------------------------------------------------===//

#include "ContractionPlan.h"

#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qc;

bool mlir::qc::isHadamardTransform(linalg::GenericOp g) {
  auto n = g->getAttrOfType<IntegerAttr>("qc.hadamard");
  if (!n || !g.hasPureBufferSemantics() || g.getNumDpsInputs() != 1 ||
      g.getNumDpsInits() != 1)
    return false;
  auto in = dyn_cast<MemRefType>(g.getDpsInputs()[0].getType());
  auto out = dyn_cast<MemRefType>(g.getDpsInits()[0].getType());
  // Rows are loaded and stored as vectors: the output's rows contiguous.
  return in && out && isa<FloatType>(out.getElementType()) &&
         hasUnitInnerStride(out) &&
         in.getElementType() == out.getElementType() &&
         out.getShape().back() == n.getInt() &&
         in.getShape().back() == n.getInt() && isHadamardSize(n.getInt()) &&
         g.getNumLoops() == static_cast<unsigned>(out.getRank()) + 1;
}

void mlir::qc::vectorizeHadamard(linalg::GenericOp g, int64_t vectorBits) {
  Location loc = g.getLoc();
  OpBuilder b(g);
  Value x = g.getDpsInputs()[0], y = g.getDpsInits()[0];
  auto elt = cast<FloatType>(getElementTypeOrSelf(y));
  int64_t n = g->getAttrOfType<IntegerAttr>("qc.hadamard").getInt();
  HadamardFactors f = *factorHadamardSize(n);
  int64_t maxLanes = std::max<int64_t>(vectorBits / elt.getWidth(), 1);
  // A run of `len` contiguous elements as vectors (offset, lanes): whole
  // registers, then smaller powers of two (12 = 8 + 4 with 8 lanes).
  auto pieces = [&](int64_t len) {
    SmallVector<std::pair<int64_t, int64_t>> out;
    for (int64_t off = 0, w = maxLanes; off < len; w /= 2)
      for (; w >= 1 && off + w <= len; off += w)
        out.push_back({off, w});
    return out;
  };
  // The base stage's block and matrix: the innermost Paley factor, or a
  // register's width of the Sylvester factor.
  int64_t blk = f.m2 > 1 ? f.m2 : f.m1 > 1 ? f.m1 : std::min(f.p, maxLanes);
  std::vector<int8_t> mat =
      f.m1 > 1 ? getHadamardBase(blk) : getHadamardMatrix(blk);
  double norm = 1.0 / std::sqrt(static_cast<double>(n));

  SmallVector<Range> ranges =
      cast<linalg::LinalgOp>(g.getOperation()).createLoopRanges(b, loc);
  auto idx = [&](OpFoldResult r) {
    return getValueOrCreateConstantIndexOp(b, loc, r);
  };
  auto cst = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value c0 = cst(0), c1 = cst(1);
  unsigned lead = g.getNumLoops() - 2;
  SmallVector<Value> ivs;
  for (unsigned d = 0; d < lead; ++d) {
    auto loop = scf::ForOp::create(b, loc, c0, idx(ranges[d].size), c1);
    ivs.push_back(loop.getInductionVar());
    b.setInsertionPoint(loop.getBody()->getTerminator());
  }
  AffineMap xMap = g.getMatchingIndexingMap(g.getDpsInputOperand(0));
  AffineMap yMap = g.getMatchingIndexingMap(g.getDpsInitOperand(0));
  // Indices of element `col` of the row: x reads column k, y writes j.
  auto xAt = [&](Value col) {
    SmallVector<Value> dims(ivs);
    dims.append({c0, col});
    return applyIndexingMap(b, loc, xMap, dims);
  };
  auto yAt = [&](Value col) {
    SmallVector<Value> dims(ivs);
    dims.append({col, c0});
    return applyIndexingMap(b, loc, yMap, dims);
  };
  auto add = [&](Value a, int64_t off) -> Value {
    return off == 0 ? a : arith::AddIOp::create(b, loc, a, cst(off));
  };

  // The base stage: one loop over the row's blocks, `unroll` blocks an
  // iteration (each block one chain of dependent operations: independent
  // chains hide their latency), the builder left inside it and each
  // block's first column returned.
  int64_t unroll = 1;
  while (unroll < 4 && (n / blk) % (unroll * 2) == 0)
    unroll *= 2;
  auto blockLoop = [&]() {
    auto loop = scf::ForOp::create(b, loc, c0, cst(n), cst(blk * unroll));
    b.setInsertionPoint(loop.getBody()->getTerminator());
    SmallVector<Value> starts;
    for (int64_t u = 0; u < unroll; ++u)
      starts.push_back(add(loop.getInductionVar(), u * blk));
    return starts;
  };

  // A Sylvester base block that is one whole register, read from a row of
  // x that is contiguous: its transform in registers, log2(blk) levels of a
  // lane shuffle and one FMA each (y = x * sign + swap(x), the lanes whose
  // level bit is set subtracting), a quarter of the products below.
  auto xt = cast<MemRefType>(x.getType());
  bool inRegisters = f.m1 == 1 && f.m2 == 1 && blk > 1 && blk <= maxLanes &&
                     llvm::isPowerOf2_64(blk) && hasUnitInnerStride(xt) &&
                     xMap.getNumResults() > 0 &&
                     xMap.getResults().back() == b.getAffineDimExpr(lead + 1);
  if (inRegisters) {
    auto vt = VectorType::get({blk}, elt);
    SmallVector<std::pair<SmallVector<int64_t>, Value>> levels;
    for (int64_t d = 1; d < blk; d *= 2) {
      SmallVector<int64_t> mask;
      SmallVector<Attribute> sign;
      for (int64_t l = 0; l < blk; ++l) {
        mask.push_back(l ^ d);
        sign.push_back(b.getFloatAttr(elt, (l & d) ? -1.0 : 1.0));
      }
      levels.push_back(
          {mask, arith::ConstantOp::create(b, loc, vt,
                                           DenseElementsAttr::get(vt, sign))});
    }
    Value scale = arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getFloatAttr(elt, norm)));
    OpBuilder::InsertionGuard guard(b);
    for (Value at : blockLoop()) {
      Value v = vector::LoadOp::create(b, loc, vt, x, xAt(at));
      v = arith::MulFOp::create(b, loc, v, scale);
      for (auto &[mask, sign] : levels) {
        Value swapped = vector::ShuffleOp::create(b, loc, v, v, mask);
        v = vector::FMAOp::create(b, loc, v, sign, swapped);
      }
      vector::StoreOp::create(b, loc, v, y, yAt(at));
    }
  }

  // Otherwise the block's products, unrolled: a broadcast-FMA per input.
  if (!inRegisters) {
    auto parts = pieces(blk);
    // A block that needs several pieces but fits one register (12 of 16
    // lanes) takes the register, its last lanes' signs zero and its store
    // masked: one FMA per input element instead of one per piece.
    int64_t padded = int64_t(llvm::PowerOf2Ceil(blk));
    Value storeMask;
    if (parts.size() > 1 && padded <= maxLanes) {
      parts = {{0, padded}};
      auto mt = VectorType::get({padded}, b.getI1Type());
      SmallVector<bool> on;
      for (int64_t l = 0; l < padded; ++l)
        on.push_back(l < blk);
      storeMask =
          arith::ConstantOp::create(b, loc, mt, DenseElementsAttr::get(mt, on));
    }
    SmallVector<SmallVector<Value>> signs(blk);
    for (int64_t i = 0; i < blk; ++i)
      for (auto [off, w] : parts) {
        auto vt = VectorType::get({w}, elt);
        SmallVector<Attribute> lanes;
        for (int64_t l = 0; l < w; ++l)
          lanes.push_back(b.getFloatAttr(
              elt, off + l < blk ? mat[i * blk + off + l] * norm : 0.0));
        signs[i].push_back(arith::ConstantOp::create(
            b, loc, vt, DenseElementsAttr::get(vt, lanes)));
      }
    OpBuilder::InsertionGuard guard(b);
    SmallVector<Value> starts = blockLoop();
    SmallVector<SmallVector<Value>> accs(unroll,
                                         SmallVector<Value>(parts.size()));
    for (int64_t i = 0; i < blk; ++i) {
      for (int64_t u = 0; u < unroll; ++u) {
        Value xi = memref::LoadOp::create(b, loc, x, xAt(add(starts[u], i)));
        for (size_t q = 0; q < parts.size(); ++q) {
          auto vt = VectorType::get({parts[q].second}, elt);
          Value bx = vector::BroadcastOp::create(b, loc, vt, xi);
          Value &acc = accs[u][q];
          acc =
              acc ? vector::FMAOp::create(b, loc, bx, signs[i][q], acc)
                        .getResult()
                  : arith::MulFOp::create(b, loc, bx, signs[i][q]).getResult();
        }
      }
    }
    for (int64_t u = 0; u < unroll; ++u)
      for (size_t q = 0; q < parts.size(); ++q) {
        SmallVector<Value> at = yAt(add(starts[u], parts[q].first));
        if (storeMask)
          vector::MaskedStoreOp::create(b, loc, y, at, storeMask, accs[u][q]);
        else
          vector::StoreOp::create(b, loc, accs[u][q], y, at);
      }
  }

  // `body(offset, lanes)` over a run of `len` elements starting at
  // `base`: a loop of whole registers when they tile it, else its pieces
  // unrolled.
  auto overRun = [&](Value base, int64_t len,
                     function_ref<void(Value, int64_t)> body) {
    if (len % maxLanes == 0 && len > maxLanes) {
      auto inner = scf::ForOp::create(b, loc, c0, cst(len), cst(maxLanes));
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(inner.getBody()->getTerminator());
      body(arith::AddIOp::create(b, loc, base, inner.getInductionVar()),
           maxLanes);
      return;
    }
    for (auto [off, w] : pieces(len))
      body(add(base, off), w);
  };

  // `count` vectors of `w` lanes from y at base, base + stride, ...; their
  // positions in `at`.
  auto loadVectors = [&](Value base, int64_t count, int64_t stride, int64_t w,
                         SmallVector<Value> &at) {
    auto vt = VectorType::get({w}, elt);
    SmallVector<Value> v;
    for (int64_t q = 0; q < count; ++q) {
      at.push_back(add(base, q * stride));
      v.push_back(vector::LoadOp::create(b, loc, vt, y, yAt(at.back())));
    }
    return v;
  };

  // With two Paley factors, B_m1 next: in blocks of m1 * m2, element
  // (i * m2 + c) mixes over i, vectorized over c; in place, the m1
  // vectors of one c loaded first.
  int64_t start = blk;
  if (f.m2 > 1) {
    int64_t m1 = f.m1, m2 = f.m2;
    std::vector<int8_t> b1 = getHadamardBase(m1);
    auto outer = scf::ForOp::create(b, loc, c0, cst(n), cst(m1 * m2));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(outer.getBody()->getTerminator());
    overRun(outer.getInductionVar(), m2, [&](Value base, int64_t w) {
      SmallVector<Value> at, v = loadVectors(base, m1, m2, w, at);
      for (int64_t a = 0; a < m1; ++a) {
        Value acc =
            b1[a] > 0 ? v[0] : arith::NegFOp::create(b, loc, v[0]).getResult();
        for (int64_t i = 1; i < m1; ++i)
          acc = b1[i * m1 + a] > 0
                    ? arith::AddFOp::create(b, loc, acc, v[i]).getResult()
                    : arith::SubFOp::create(b, loc, acc, v[i]).getResult();
        vector::StoreOp::create(b, loc, acc, y, yAt(at[a]));
      }
    });
    start = m1 * m2;
  }

  // Butterflies over the rest of the Sylvester factor, in place in y.
  for (int64_t h = start; h < n;) {
    // Up to three levels per pass (radix 8: eight vectors in registers).
    int64_t radix = 2;
    while (radix < 8 && radix * 2 * h <= n)
      radix *= 2;
    auto outer = scf::ForOp::create(b, loc, c0, cst(n), cst(radix * h));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(outer.getBody()->getTerminator());
    overRun(outer.getInductionVar(), h, [&](Value base, int64_t w) {
      SmallVector<Value> at, v = loadVectors(base, radix, h, w, at);
      // Level s pairs vectors i and i + s (bit s of i clear).
      for (int64_t s = 1; s < radix; s *= 2)
        for (int64_t i = 0; i < radix; ++i)
          if (!(i & s)) {
            Value a = v[i], c = v[i + s];
            v[i] = arith::AddFOp::create(b, loc, a, c);
            v[i + s] = arith::SubFOp::create(b, loc, a, c);
          }
      for (int64_t q = 0; q < radix; ++q)
        vector::StoreOp::create(b, loc, v[q], y, yAt(at[q]));
    });
    h *= radix;
  }
  g.erase();
}
