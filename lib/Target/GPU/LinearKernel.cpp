//===- LinearKernel.cpp - tensor-core kernels for linear layers -----------===//
//
// Part of quant. Builds the `gpu.func` that computes one linear layer on
// tensor cores: a block stages an A tile (activation rows) and a B tile
// (weight rows, [N, K] as the layer stores them: mma's "col" operand) in
// shared memory, each warp reads its mma.sync fragments from there and
// accumulates a (warp rows x warp columns) tile, the epilogue applies the
// scales and bias. Fragment layouts are PTX's (ISA, "Matrix fragments for
// mma.m16n8k16" and "mma.m16n8k32"): lane = 4 g + t, rows g and g + 8,
// columns 2t (f16) or 4t (s8) within each 8 (f16) or 16 (s8) wide half.
//
//===----------------------------------------------------------------------===//

#include "quant/Target/GPU/GPUTarget.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::qc;

std::string LinearKernelSpec::name() const {
  std::string s = kind == Kind::S8 ? "linear_s8" : "linear_f16";
  s += llvm::formatv("_n{0}_k{1}", n, k).str();
  if (kind == Kind::S8) {
    s += inputScalePerRow ? "_xrow" : "_xtensor";
    if (inputZeroPoint)
      s += "_xzp";
    if (inputUnsigned8)
      s += "_xu8";
    s += weightScalePerChannel ? "_wchannel" : "_wtensor";
  }
  if (bias)
    s += "_bias";
  s += llvm::formatv("_b{0}x{1}x{2}_w{3}x{4}", blockM, blockN, blockK, warpsM,
                     warpsN)
           .str();
  return s;
}

void mlir::qc::chooseLinearTiles(LinearKernelSpec &spec, bool fewRows) {
  // One mma step covers 32 bytes of K per row (k16 f16, k32 s8); a block
  // stages two of them (64 bytes of each row) per trip through shared memory.
  spec.blockK = spec.kind == LinearKernelSpec::Kind::S8 ? 64 : 32;
  if (fewRows) {
    // Decode: one 16-row mma tile, four warps of 16 columns each, so that a
    // block reads 64 weight rows and the grid spreads N over the SMs.
    spec.blockM = 16;
    spec.blockN = 64;
    spec.warpsM = 1;
    spec.warpsN = 4;
    return;
  }
  // Rows: warps of 32 x 32 (2 x 4 mma tiles, 8 accumulators of 4 values),
  // two warps along M, one per 32 columns of the smallest block width
  // (32, 64, 128) covering N.
  spec.blockM = 64;
  spec.blockN = spec.n <= 32 ? 32 : spec.n <= 64 ? 64 : 128;
  spec.warpsM = 2;
  spec.warpsN = spec.blockN / 32;
}

namespace {

struct KernelBuilder {
  ImplicitLocOpBuilder &b;
  const LinearKernelSpec &spec;
  bool s8;
  Type elemType;    // i8 or f16
  int64_t esize;    // bytes per element
  int64_t mmaK;     // 32 (s8) or 16 (f16)
  int64_t padElems; // shared-memory row padding (16 bytes)
  int64_t vecElems; // elements per global load

  KernelBuilder(ImplicitLocOpBuilder &b, const LinearKernelSpec &spec)
      : b(b), spec(spec), s8(spec.kind == LinearKernelSpec::Kind::S8) {
    elemType = s8 ? Type(b.getI8Type()) : Type(b.getF16Type());
    esize = s8 ? 1 : 2;
    mmaK = s8 ? 32 : 16;
    padElems = 16 / esize;
    // The widest load (up to 16 bytes) that every row start allows: rows
    // begin at multiples of K * esize bytes.
    int64_t rowBytes = spec.k * esize;
    int64_t vecBytes = 16;
    while (vecBytes > esize && rowBytes % vecBytes != 0)
      vecBytes /= 2;
    vecElems = vecBytes / esize;
  }

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return y == 0 ? x : add(x, idx(y)); }
  Value mul(Value x, int64_t y) { return y == 1 ? x : mul(x, idx(y)); }
  Value ult(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
  }

  /// scf.if with one result built by `thenFn` / `elseFn`.
  Value select(Value cond, Type type, llvm::function_ref<Value()> thenFn,
               llvm::function_ref<Value()> elseFn) {
    auto ifOp = scf::IfOp::create(b, TypeRange{type}, cond,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, thenFn());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, elseFn());
    return ifOp.getResult(0);
  }

  /// Runs `body` under `cond` (no results).
  void when(Value cond, llvm::function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, TypeRange{}, cond,
                                  /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
  }

  Value splat(VectorType type, Attribute value) {
    return arith::ConstantOp::create(b, DenseElementsAttr::get(type, value));
  }

  /// Copies rows [row0, row0 + tileRows) x columns [k0, k0 + blockK) of
  /// `src` ([rows, K]) into `tile` ([tileRows, blockK + pad]); what lies
  /// outside the source reads as zero (in the signed domain).
  void stage(Value src, Value rows, Value row0, int64_t tileRows, Value k0,
             Value tid, Value tile, bool shiftUnsigned) {
    auto vecType = VectorType::get({vecElems}, elemType);
    int64_t perRow = spec.blockK / vecElems;
    int64_t chunks = tileRows * perRow;
    int64_t threads = spec.threads();
    Value kExtent = idx(spec.k);
    Value zero = splat(vecType, b.getZeroAttr(elemType));
    Value shift =
        shiftUnsigned ? splat(vecType, b.getI8IntegerAttr(-128)) : Value();
    auto shifted = [&](Value v) {
      return shiftUnsigned ? Value(arith::XOrIOp::create(b, v, shift)) : v;
    };
    for (int64_t first = 0; first < chunks; first += threads) {
      Value c = add(tid, first);
      auto body = [&] {
        Value r = arith::DivUIOp::create(b, c, idx(perRow));
        Value col = mul(arith::RemUIOp::create(b, c, idx(perRow)), vecElems);
        Value gr = add(row0, r);
        Value gk = add(k0, col);
        Value inRow = ult(gr, rows);
        Value end = add(gk, vecElems);
        Value inK =
            arith::CmpIOp::create(b, arith::CmpIPredicate::ule, end, kExtent);
        Value full = arith::AndIOp::create(b, inRow, inK);
        Value v = select(
            full, vecType,
            [&] {
              return shifted(vector::LoadOp::create(
                  b, vecType, src, ValueRange{gr, gk}, /*nontemporal=*/false,
                  llvm::MaybeAlign(vecElems * esize)));
            },
            [&] {
              return select(
                  inRow, vecType,
                  [&] {
                    // The K tail: lanes past K keep the pass-through value,
                    // which the shift of unsigned codes turns into zero.
                    Value left = arith::SubIOp::create(
                        b, kExtent, arith::MinUIOp::create(b, gk, kExtent));
                    // lane < left, compared in i32 (a create_mask of an
                    // index leaves a cast the NVVM lowering cannot remove).
                    auto laneType = VectorType::get({vecElems}, b.getI32Type());
                    SmallVector<int32_t> lanes;
                    for (int64_t l = 0; l < vecElems; ++l)
                      lanes.push_back(int32_t(l));
                    Value step = arith::ConstantOp::create(
                        b, DenseElementsAttr::get(laneType,
                                                  ArrayRef<int32_t>(lanes)));
                    Value bound = vector::BroadcastOp::create(
                        b, laneType,
                        arith::IndexCastUIOp::create(b, b.getI32Type(), left));
                    Value mask = arith::CmpIOp::create(
                        b, arith::CmpIPredicate::ult, step, bound);
                    Value pass = shiftUnsigned ? shift : zero;
                    return shifted(vector::MaskedLoadOp::create(
                        b, vecType, src, ValueRange{gr, gk}, mask, pass));
                  },
                  [&] { return zero; });
            });
        vector::StoreOp::create(b, v, tile, ValueRange{r, col});
      };
      if (first + threads <= chunks)
        body();
      else
        when(ult(c, idx(chunks)), body);
    }
  }

  /// Loads `count` consecutive elements of the shared tile at (row, col).
  Value fragmentPiece(Value tile, Value row, Value col, int64_t count) {
    return vector::LoadOp::create(b, VectorType::get({count}, elemType), tile,
                                  ValueRange{row, col});
  }

  /// Stacks `pieces` (each vector<count x elem>) into vector<n x count>.
  Value stack(ArrayRef<Value> pieces, int64_t count) {
    auto type = VectorType::get({int64_t(pieces.size()), count}, elemType);
    Value v = splat(type, b.getZeroAttr(elemType));
    for (auto [i, p] : llvm::enumerate(pieces))
      v = vector::InsertOp::create(b, p, v, ArrayRef<int64_t>{int64_t(i)});
    return v;
  }
};

} // namespace

gpu::GPUFuncOp mlir::qc::buildLinearKernel(OpBuilder &builder,
                                           gpu::GPUModuleOp module,
                                           const LinearKernelSpec &spec) {
  std::string name = spec.name();
  if (auto existing = module.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  MLIRContext *ctx = builder.getContext();
  ImplicitLocOpBuilder b(module.getLoc(), builder);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  KernelBuilder kb(b, spec);
  bool s8 = kb.s8;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  int64_t dyn = ShapedType::kDynamic;

  // Parameters (GPUTarget.h / the pass description give the order).
  SmallVector<Type> params;
  params.push_back(MemRefType::get({dyn, spec.k}, kb.elemType)); // x
  if (s8) {
    params.push_back(MemRefType::get({dyn}, f32)); // s_x
    if (spec.inputZeroPoint)
      params.push_back(MemRefType::get({dyn}, i32)); // z_x
  }
  params.push_back(MemRefType::get({spec.n, spec.k}, kb.elemType)); // w
  if (s8) {
    params.push_back(MemRefType::get({dyn}, f32)); // s_w
    if (spec.needsWeightSums())
      params.push_back(MemRefType::get({spec.n}, i32)); // sum_k w
  }
  if (spec.bias)
    params.push_back(MemRefType::get({spec.n}, f32));
  params.push_back(MemRefType::get({dyn, spec.n}, f32)); // y

  auto smem = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  int64_t rowElems = spec.blockK + kb.padElems;
  auto tileA = MemRefType::get({spec.blockM, rowElems}, kb.elemType,
                               MemRefLayoutAttrInterface(), smem);
  auto tileB = MemRefType::get({spec.blockN, rowElems}, kb.elemType,
                               MemRefLayoutAttrInterface(), smem);
  auto fn = gpu::GPUFuncOp::create(b, name, b.getFunctionType(params, {}),
                                   TypeRange{tileA, tileB});
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  fn.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({int32_t(spec.threads()), 1, 1}));
  Block &entry = fn.getBody().front();
  b.setInsertionPointToStart(&entry);

  unsigned a = 0;
  Value x = entry.getArgument(a++), xs, xz, ws, wsum, bias;
  if (s8) {
    xs = entry.getArgument(a++);
    if (spec.inputZeroPoint)
      xz = entry.getArgument(a++);
  }
  Value w = entry.getArgument(a++);
  if (s8) {
    ws = entry.getArgument(a++);
    if (spec.needsWeightSums())
      wsum = entry.getArgument(a++);
  }
  if (spec.bias)
    bias = entry.getArgument(a++);
  Value y = entry.getArgument(a++);
  Value m = memref::DimOp::create(b, y, 0);
  Value sa = fn.getWorkgroupAttributions()[0];
  Value sb = fn.getWorkgroupAttributions()[1];

  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value bx = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value by = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value warp = arith::DivUIOp::create(b, tid, kb.idx(32));
  Value lane = arith::RemUIOp::create(b, tid, kb.idx(32));
  Value wm = arith::DivUIOp::create(b, warp, kb.idx(spec.warpsN));
  Value wn = arith::RemUIOp::create(b, warp, kb.idx(spec.warpsN));
  Value g = arith::DivUIOp::create(b, lane, kb.idx(4));
  Value t = arith::RemUIOp::create(b, lane, kb.idx(4));
  Value bm0 = kb.mul(by, spec.blockM);
  Value bn0 = kb.mul(bx, spec.blockN);
  Value nExtent = kb.idx(spec.n);

  int64_t warpRows = spec.blockM / spec.warpsM;
  int64_t warpCols = spec.blockN / spec.warpsN;
  int64_t tilesM = warpRows / 16, tilesN = warpCols / 8;
  Type accElem = s8 ? i32 : f32;
  auto accType = VectorType::get({2, 2}, accElem);
  Value accZero = kb.splat(accType, b.getZeroAttr(accElem));
  SmallVector<Value> init(tilesM * tilesN, accZero);
  // Lane offsets inside the warp's tile.
  Value warpRow0 = kb.mul(wm, warpRows);
  Value warpCol0 = kb.mul(wn, warpCols);
  int64_t piece = s8 ? 4 : 2; // elements per fragment register
  Value tk = kb.mul(t, piece);

  auto loop = scf::ForOp::create(b, kb.idx(0), kb.idx(spec.k),
                                 kb.idx(spec.blockK), init);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(loop.getBody());
    Value k0 = loop.getInductionVar();
    kb.stage(x, m, bm0, spec.blockM, k0, tid, sa, spec.inputUnsigned8);
    kb.stage(w, nExtent, bn0, spec.blockN, k0, tid, sb, false);
    gpu::BarrierOp::create(b);
    SmallVector<Value> acc(loop.getRegionIterArgs());
    for (int64_t kk = 0; kk < spec.blockK; kk += kb.mmaK) {
      Value c0 = kb.add(tk, kk);               // first half of the step
      Value c1 = kb.add(tk, kk + kb.mmaK / 2); // second half
      SmallVector<Value> fragA, fragB;
      for (int64_t tm = 0; tm < tilesM; ++tm) {
        Value r0 = kb.add(kb.add(warpRow0, tm * 16), g);
        Value r1 = kb.add(r0, 8);
        fragA.push_back(kb.stack({kb.fragmentPiece(sa, r0, c0, piece),
                                  kb.fragmentPiece(sa, r1, c0, piece),
                                  kb.fragmentPiece(sa, r0, c1, piece),
                                  kb.fragmentPiece(sa, r1, c1, piece)},
                                 piece));
      }
      for (int64_t tn = 0; tn < tilesN; ++tn) {
        Value n = kb.add(kb.add(warpCol0, tn * 8), g);
        fragB.push_back(kb.stack({kb.fragmentPiece(sb, n, c0, piece),
                                  kb.fragmentPiece(sb, n, c1, piece)},
                                 piece));
      }
      for (int64_t tm = 0; tm < tilesM; ++tm)
        for (int64_t tn = 0; tn < tilesN; ++tn) {
          Value &c = acc[tm * tilesN + tn];
          c = nvgpu::MmaSyncOp::create(b, fragA[tm], fragB[tn], c,
                                       ArrayRef<int64_t>{16, 8, kb.mmaK});
        }
    }
    gpu::BarrierOp::create(b);
    scf::YieldOp::create(b, acc);
  }

  // Epilogue: each lane holds rows g, g + 8 and columns 2t, 2t + 1 of each
  // 16 x 8 tile.
  Value zero = kb.idx(0);
  for (int64_t tm = 0; tm < tilesM; ++tm)
    for (int64_t tn = 0; tn < tilesN; ++tn) {
      Value accTile = loop.getResult(tm * tilesN + tn);
      for (int64_t i = 0; i < 2; ++i) {
        Value row = kb.add(kb.add(kb.add(bm0, warpRow0), tm * 16 + 8 * i), g);
        for (int64_t j = 0; j < 2; ++j) {
          Value col =
              kb.add(kb.add(kb.add(bn0, warpCol0), tn * 8 + j), kb.mul(t, 2));
          Value ok =
              arith::AndIOp::create(b, kb.ult(row, m), kb.ult(col, nExtent));
          kb.when(ok, [&] {
            Value v =
                vector::ExtractOp::create(b, accTile, ArrayRef<int64_t>{i, j});
            Value out;
            if (s8) {
              Value rowScale = spec.inputScalePerRow ? row : zero;
              if (spec.needsWeightSums()) {
                // sum_k w (x - z) = acc - z' sum_k w, z' the zero point
                // less the shift of unsigned codes.
                Value z = spec.inputZeroPoint
                              ? Value(memref::LoadOp::create(
                                    b, xz, ValueRange{rowScale}))
                              : Value(arith::ConstantIntOp::create(b, 0, 32));
                if (spec.inputUnsigned8)
                  z = arith::SubIOp::create(
                      b, z, arith::ConstantIntOp::create(b, 128, 32));
                Value sw = memref::LoadOp::create(b, wsum, ValueRange{col});
                v = arith::SubIOp::create(b, v,
                                          arith::MulIOp::create(b, z, sw));
              }
              out = arith::SIToFPOp::create(b, f32, v);
              Value sx = memref::LoadOp::create(b, xs, ValueRange{rowScale});
              Value swv = memref::LoadOp::create(
                  b, ws, ValueRange{spec.weightScalePerChannel ? col : zero});
              out = arith::MulFOp::create(b, out,
                                          arith::MulFOp::create(b, sx, swv));
            } else {
              out = v;
            }
            if (spec.bias)
              out = arith::AddFOp::create(
                  b, out, memref::LoadOp::create(b, bias, ValueRange{col}));
            memref::StoreOp::create(b, out, y, ValueRange{row, col});
          });
        }
      }
    }
  gpu::ReturnOp::create(b);
  return fn;
}
