//===- Pipeline.cpp - CPU compile phases ----------------------------------===//
//
// Part of quant. Phases as textual pipelines: readable, printable with
// --compile-to, and runnable piecewise by quant-opt with --pass-pipeline.
//
//===----------------------------------------------------------------------===//

#include "RegisterTile.h"
#include "quant/Conversion/Passes.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCAPPROXIMATEMATHPASS
#define GEN_PASS_DEF_QCDROPLOOPBARRIERSPASS
#define GEN_PASS_DEF_QCFUSEELEMENTWISEPASS
#define GEN_PASS_DEF_QCLOWERPARALLELIFPASS
#define GEN_PASS_DEF_QCPARALLELIZEPASS
#define GEN_PASS_DEF_QCPREPAREBUFFERIZEPASS
#define GEN_PASS_DEF_QCSTACKSMALLBUFFERSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {
/// Whether each group of the reshape has at most one extent other than 1.
static bool isUnitDimReshape(Operation *reshape) {
  RankedTensorType wide;
  SmallVector<ReassociationIndices> groups;
  if (auto c = dyn_cast<tensor::CollapseShapeOp>(reshape)) {
    wide = c.getSrcType();
    groups = c.getReassociationIndices();
  } else if (auto e = dyn_cast<tensor::ExpandShapeOp>(reshape)) {
    wide = e.getResultType();
    groups = e.getReassociationIndices();
  } else {
    return false;
  }
  return llvm::all_of(groups, [&](const ReassociationIndices &g) {
    return llvm::count_if(
               g, [&](int64_t d) { return wide.getDimSize(d) != 1; }) <= 1;
  });
}

/// `slice` viewed as the operand of `reshape` (null: as it is): the inverse
/// reshape, for a producer that writes the reshape's source into a slice
/// the reshape's result would have been copied to.
static Value asReshapeSource(RewriterBase &rewriter, Location loc, Value slice,
                             Operation *reshape) {
  if (auto c = dyn_cast_if_present<tensor::CollapseShapeOp>(reshape))
    return tensor::ExpandShapeOp::create(rewriter, loc, c.getSrcType(), slice,
                                         c.getReassociationIndices());
  if (auto e = dyn_cast_if_present<tensor::ExpandShapeOp>(reshape))
    return tensor::CollapseShapeOp::create(rewriter, loc, e.getSrcType(), slice,
                                           e.getReassociationIndices());
  return slice;
}

/// An elementwise linalg op with one result computed into an empty tensor
/// (CSE may have merged that empty tensor with others of its type: it has
/// no contents, so giving this op another init leaves theirs as they were).
static bool writesIntoEmpty(linalg::LinalgOp op) {
  return op && op->getNumResults() == 1 && op.getNumDpsInits() == 1 &&
         op.getNumLoops() == op.getNumParallelLoops() &&
         op.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>();
}

struct QCFuseElementwisePass
    : mlir::qc::impl::QCFuseElementwisePassBase<QCFuseElementwisePass> {
  /// Operands an elementwise generic broadcasts along unit dimensions with
  /// constant-0 map results (the importer's `[1, C, 1, 1]` against
  /// `[N, C, H, W]`) are read through a collapse that drops those
  /// dimensions, so every map is a projected permutation, which the
  /// reshape folding below needs.
  void dropBroadcastUnitDims() {
    IRRewriter rewriter(&getContext());
    getOperation().walk([&](linalg::GenericOp g) {
      if (!g.hasPureTensorSemantics() ||
          g.getNumLoops() != g.getNumParallelLoops())
        return;
      SmallVector<AffineMap> maps = g.getIndexingMapsArray();
      bool changed = false;
      for (OpOperand *in : g.getDpsInputOperands()) {
        auto t = dyn_cast<RankedTensorType>(in->get().getType());
        AffineMap m = maps[in->getOperandNumber()];
        if (!t || m.isProjectedPermutation())
          continue;
        SmallVector<int64_t> keep;
        bool ok = true;
        for (auto [d, e] : llvm::enumerate(m.getResults())) {
          auto c = dyn_cast<AffineConstantExpr>(e);
          if (c && c.getValue() == 0 && t.getDimSize(d) == 1)
            continue;
          ok &= isa<AffineDimExpr>(e);
          keep.push_back(d);
        }
        if (!ok)
          continue;
        // Each dropped dimension joins the group of the next kept one (the
        // last kept one's, after it); none kept: rank 0.
        SmallVector<ReassociationIndices> groups;
        if (!keep.empty()) {
          ReassociationIndices cur;
          for (int64_t d = 0; d < t.getRank(); ++d) {
            cur.push_back(d);
            if (llvm::is_contained(keep, d)) {
              groups.push_back(cur);
              cur.clear();
            }
          }
          llvm::append_range(groups.back(), cur);
        }
        SmallVector<AffineExpr> exprs;
        for (int64_t d : keep)
          exprs.push_back(m.getResult(d));
        rewriter.setInsertionPoint(g);
        Value c = tensor::CollapseShapeOp::create(rewriter, g.getLoc(),
                                                  in->get(), groups);
        rewriter.modifyOpInPlace(g, [&] { in->set(c); });
        maps[in->getOperandNumber()] =
            AffineMap::get(m.getNumDims(), 0, exprs, &getContext());
        changed = true;
      }
      if (changed)
        rewriter.modifyOpInPlace(g, [&] {
          g.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
        });
    });
  }

  void runOnOperation() override {
    dropBroadcastUnitDims();
    RewritePatternSet patterns(&getContext());
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
      Operation *producer = fused->get().getDefiningOp();
      // Not into a consumer that broadcasts the producer's result (reads
      // each element several times): the producer's work would be done
      // once per read (a per-channel SE scale per pixel, an upsampled
      // tensor per replica).
      return consumer && producer &&
             consumer.getNumLoops() == consumer.getNumParallelLoops() &&
             producer->hasOneUse() &&
             consumer.getMatchingIndexingMap(fused).isPermutation();
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    // Reshapes that only add or drop unit dimensions (a convolution's
    // grouped [N, G, C/G, ...] output with G = 1 read back as [N, C, ...])
    // fold into the elementwise generic on their other side, so that
    // generic and its neighbours fuse across them.
    linalg::ControlFusionFn unitReshape = [](OpOperand *operand) {
      Operation *owner = operand->getOwner();
      Operation *reshape =
          isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(owner)
              ? owner
              : operand->get().getDefiningOp();
      auto generic = dyn_cast_if_present<linalg::GenericOp>(
          reshape == owner ? operand->get().getDefiningOp() : owner);
      if (!reshape || !generic ||
          generic.getNumLoops() != generic.getNumParallelLoops())
        return false;
      if (reshape == owner)
        return isUnitDimReshape(reshape);
      // A consumer is expanded only where it then fuses with the reshape's
      // producer: it reads the operand element for element (expanding a
      // broadcast read would just add unit loops, again and again).
      if (!generic.getMatchingIndexingMap(operand).isPermutation())
        return false;
      if (isUnitDimReshape(reshape))
        return true;
      // A broadcast collapsed into the tensor its consumer reads (an
      // integer nearest upsampling, [.., d, k, ..] -> [.., d * k, ..]):
      // the consumer runs in the broadcast's space and the two fuse.
      auto collapse = dyn_cast<tensor::CollapseShapeOp>(reshape);
      auto src = collapse ? collapse.getSrc().getDefiningOp<linalg::GenericOp>()
                          : linalg::GenericOp();
      return src && isCopyGeneric(src) && collapse->hasOneUse();
    };
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, unitReshape);
    // expand_shape(collapse_shape(x)) over independent groups becomes
    // collapse_shape(expand_shape(x)), so an expansion reaches the generic
    // that produces x (an upsampling read by a convolution's grouped view).
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

struct QCApproximateMathPass
    : mlir::qc::impl::QCApproximateMathPassBase<QCApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      name.consume_front("math.");
      return name == "erf" || name == "exp" || name == "tanh";
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

struct QCStackSmallBuffersPass
    : mlir::qc::impl::QCStackSmallBuffersPassBase<QCStackSmallBuffersPass> {
  using Base::Base;

  /// Collects the deallocations of `root`'s buffer into `deallocs`; false
  /// when the buffer (or a view of it) escapes: returned, passed to a
  /// call, stored, or used by an op this cannot see through.
  static bool staysLocal(Value root, SmallVectorImpl<Operation *> &deallocs) {
    SmallVector<Value> work = {root};
    while (!work.empty()) {
      Value v = work.pop_back_val();
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        if (isa<memref::DeallocOp>(user)) {
          if (v != root)
            return false; // a view's dealloc: not what this expects
          deallocs.push_back(user);
          continue;
        }
        if (isa<func::ReturnOp, CallOpInterface, BranchOpInterface,
                RegionBranchTerminatorOpInterface>(user))
          return false;
        if (auto store = dyn_cast<memref::StoreOp>(user);
            store && store.getValueToStore() == v)
          return false;
        if (isa<ViewLikeOpInterface>(user) ||
            isa<memref::CollapseShapeOp, memref::ExpandShapeOp, memref::CastOp>(
                user)) {
          for (Value r : user->getResults())
            if (isa<BaseMemRefType>(r.getType()))
              work.push_back(r);
          continue;
        }
        // Ops that read or write the buffer through their operand: linalg,
        // vector and memref accesses, loops that capture it. Anything that
        // produces another memref from it must be a view (above).
        if (llvm::any_of(user->getResults(), [](Value r) {
              return isa<BaseMemRefType>(r.getType());
            }))
          return false;
      }
    }
    return true;
  }

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (f.isExternal())
      return;
    int64_t left = maxTotalBytes;
    for (Operation &op :
         llvm::make_early_inc_range(f.getBody().front().getOperations())) {
      auto alloc = dyn_cast<memref::AllocOp>(&op);
      if (!alloc)
        continue;
      MemRefType t = alloc.getType();
      Type elt = t.getElementType();
      if (!t.hasStaticShape() || !t.getLayout().isIdentity() ||
          !elt.isIntOrFloat() || !alloc.getSymbolOperands().empty())
        continue;
      int64_t bytes = t.getNumElements() *
                      static_cast<int64_t>(
                          llvm::divideCeil(elt.getIntOrFloatBitWidth(), 8));
      if (bytes > maxBytes || bytes > left)
        continue;
      SmallVector<Operation *> deallocs;
      if (!staysLocal(alloc.getResult(), deallocs))
        continue;
      OpBuilder b(alloc);
      auto alloca = memref::AllocaOp::create(b, alloc.getLoc(), t, ValueRange{},
                                             alloc.getAlignmentAttr());
      alloc.getResult().replaceAllUsesWith(alloca.getResult());
      for (Operation *d : deallocs)
        d->erase();
      alloc.erase();
      left -= bytes;
    }
  }
};

struct QCLowerParallelIfPass
    : mlir::qc::impl::QCLowerParallelIfPassBase<QCLowerParallelIfPass> {
  void runOnOperation() override {
    SmallVector<ParallelIfOp> hints;
    getOperation().walk([&](ParallelIfOp op) { hints.push_back(op); });
    for (ParallelIfOp hint : hints) {
      auto parallel = hint->getParentOfType<omp::ParallelOp>();
      Value cond = hint.getCondition();
      if (parallel &&
          !parallel.getRegion().isAncestor(cond.getParentRegion())) {
        OpBuilder b(parallel);
        if (Value old = parallel.getIfExpr())
          cond = arith::AndIOp::create(b, hint.getLoc(), old, cond);
        parallel.getIfExprMutable().assign(cond);
      }
      hint.erase();
    }
  }
};

struct QCDropLoopBarriersPass
    : mlir::qc::impl::QCDropLoopBarriersPassBase<QCDropLoopBarriersPass> {
  void runOnOperation() override {
    getOperation().walk([](omp::WsloopOp loop) {
      Operation *next = loop->getNextNode();
      if (isa_and_nonnull<omp::ParallelOp>(loop->getParentOp()) &&
          isa_and_nonnull<omp::TerminatorOp>(next))
        loop.setNowait(true);
    });
  }
};

struct QCParallelizePass
    : mlir::qc::impl::QCParallelizePassBase<QCParallelizePass> {
  using Base::Base;

  /// Lane chunks are whole multiples of this many elements, so each
  /// thread's register tiles are full.
  static constexpr int64_t kLaneChunk = 64;

  static int64_t lanesOf(linalg::LinalgOp op) {
    FailureOr<LanesAndRows> lr = getLanesAndRows(op);
    return succeeded(lr) ? lr->lane : -1;
  }

  /// The loop to split. A reduction keeps its register-tile rows whole in
  /// every chunk (each chunk would otherwise stream the lane-varying input,
  /// a matmul's whole weight, again): it splits the largest other parallel
  /// loop, or the lanes when each chunk still gets kLaneChunk of them,
  /// falling back to the rows. Other ops split their first parallel loop
  /// of extent > 1 (contiguous chunks).
  int64_t splitDim(linalg::LinalgOp op, ArrayRef<int64_t> ranges,
                   ArrayRef<utils::IteratorType> iters) {
    auto extent = [&](int64_t d) {
      return ShapedType::isDynamic(ranges[d]) ? int64_t(64) : ranges[d];
    };
    FailureOr<LanesAndRows> lr = getLanesAndRows(op);
    if (succeeded(lr)) {
      int64_t best = -1;
      for (int64_t d = 0; d < static_cast<int64_t>(iters.size()); ++d) {
        if (iters[d] != utils::IteratorType::parallel || d == lr->row ||
            extent(d) == 1)
          continue;
        if (d == lr->lane &&
            extent(d) < kLaneChunk * std::min<int64_t>(chunks, 4))
          continue;
        if (best < 0 || extent(d) > extent(best))
          best = d;
      }
      if (best >= 0)
        return best;
      if (lr->row >= 0)
        return lr->row;
    }
    for (size_t i = 0; i < iters.size(); ++i)
      if (iters[i] == utils::IteratorType::parallel && ranges[i] != 1)
        return i;
    return -1;
  }

  /// Ops that only initialise another op's output and are tiled inside its
  /// loop: fills, and generics that copy (broadcast) their one input, such
  /// as a linear's bias or an integer layer's zero-point term.
  static bool isInitProducer(linalg::LinalgOp op) {
    if (isa<linalg::FillOp>(op.getOperation()))
      return true;
    auto g = dyn_cast<linalg::GenericOp>(op.getOperation());
    return g && isCopyGeneric(g);
  }

  /// A static pad by a constant as a copy of the source into the interior
  /// and fills of the border only: the whole padded tensor filled first
  /// and then mostly overwritten was one more pass over every padded
  /// activation (memset was 6.6% of PP-OCR rec at 1 thread). The border is
  /// cut into disjoint strips: along dimension d, the low and high parts,
  /// with the dimensions before d restricted to their interior (their
  /// border strips came first). Other pads are left to upstream's
  /// decomposition.
  static LogicalResult decomposePadByBorders(tensor::PadOp pad,
                                             RewriterBase &rewriter) {
    Value value = pad.getConstantPaddingValue();
    RankedTensorType srcTy = pad.getSourceType(), resTy = pad.getResultType();
    if (!value || !srcTy.hasStaticShape() || !resTy.hasStaticShape() ||
        !pad.getLow().empty() || !pad.getHigh().empty())
      return failure();
    ArrayRef<int64_t> low = pad.getStaticLow(), src = srcTy.getShape(),
                      res = resTy.getShape();
    Location loc = pad.getLoc();
    int64_t rank = srcTy.getRank();
    auto attrs = [&](ArrayRef<int64_t> v) {
      return getAsIndexOpFoldResult(rewriter.getContext(), v);
    };
    SmallVector<int64_t> ones(rank, 1);
    // The source's producer writes into the interior itself when it can.
    SmallVector<OpOperand *> others;
    linalg::LinalgOp producer = inPlaceProducer(pad, others);
    Value source = pad.getSource();
    Operation *sourceReshape =
        throughReshape(source) != source ? source.getDefiningOp() : nullptr;
    rewriter.setInsertionPoint(producer ? producer.getOperation()
                                        : pad.getOperation());
    Value t =
        tensor::EmptyOp::create(rewriter, loc, res, resTy.getElementType());
    Value interior = tensor::ExtractSliceOp::create(
        rewriter, loc, srcTy, t, attrs(low), attrs(src), attrs(ones));
    Value copied;
    if (producer) {
      Value init = asReshapeSource(rewriter, loc, interior, sourceReshape);
      rewriter.modifyOpInPlace(
          producer, [&] { producer.getDpsInitsMutable()[0].assign(init); });
      copied = pad.getSource();
      rewriter.setInsertionPoint(pad);
    } else {
      rewriter.setInsertionPoint(pad);
      copied = linalg::CopyOp::create(rewriter, loc, pad.getSource(), interior)
                   .getResult(0);
    }
    t = tensor::InsertSliceOp::create(rewriter, loc, copied, t, attrs(low),
                                      attrs(src), attrs(ones));
    SmallVector<int64_t> offs(rank, 0), sizes(res);
    for (int64_t d = 0; d < rank; ++d) {
      int64_t high = res[d] - low[d] - src[d];
      for (auto [off, size] :
           {std::pair<int64_t, int64_t>{0, low[d]}, {low[d] + src[d], high}}) {
        if (size == 0)
          continue;
        offs[d] = off;
        sizes[d] = size;
        auto stripTy = RankedTensorType::get(sizes, resTy.getElementType());
        Value strip = tensor::ExtractSliceOp::create(
            rewriter, loc, stripTy, t, attrs(offs), attrs(sizes), attrs(ones));
        Value filled =
            linalg::FillOp::create(rewriter, loc, value, strip).getResult(0);
        t = tensor::InsertSliceOp::create(rewriter, loc, filled, t, attrs(offs),
                                          attrs(sizes), attrs(ones));
      }
      offs[d] = low[d];
      sizes[d] = src[d];
    }
    rewriter.replaceOp(pad, t);
    // The producer's other readers read the interior of the padded result.
    for (OpOperand *use : others) {
      rewriter.setInsertionPoint(use->getOwner());
      Value slice = tensor::ExtractSliceOp::create(
          rewriter, loc, srcTy, t, attrs(low), attrs(src), attrs(ones));
      // A reader of the producer's own result sees it through the reshape.
      if (use->get() != source)
        slice = asReshapeSource(rewriter, loc, slice, sourceReshape);
      rewriter.modifyOpInPlace(use->getOwner(), [&] { use->set(slice); });
    }
    return success();
  }

  /// `v` or, when `v` is a reshape, its operand: a collapse, or an
  /// expansion that only adds unit dimensions (`anyExpand`: any expansion).
  /// The expansion of a strided slice is always another strided view; the
  /// collapse of one may not be.
  static Value throughReshape(Value v, bool anyExpand = false) {
    Operation *d = v.getDefiningOp();
    if (d &&
        (isa<tensor::CollapseShapeOp>(d) ||
         (isa<tensor::ExpandShapeOp>(d) && (anyExpand || isUnitDimReshape(d)))))
      return d->getOperand(0);
    return v;
  }

  /// The linalg op that computes `pad`'s source (through a reshape) into
  /// an empty tensor: it can write straight into the padded tensor's
  /// interior (through the inverse reshape of that slice). Its other
  /// readers (a skip connection), which must come after the pad, are
  /// returned in `others`: they will read the padded tensor's interior.
  static linalg::LinalgOp inPlaceProducer(tensor::PadOp pad,
                                          SmallVector<OpOperand *> &others) {
    Value source = pad.getSource();
    Value v = throughReshape(source);
    auto producer = v.getDefiningOp<linalg::LinalgOp>();
    if (!writesIntoEmpty(producer))
      return {};
    others.clear();
    for (Value r : {v, source}) {
      for (OpOperand &use : r.getUses()) {
        Operation *user = use.getOwner();
        if (user == pad.getOperation() ||
            (r == v && v != source && user == source.getDefiningOp()))
          continue;
        if (user->getBlock() != pad->getBlock() || !pad->isBeforeInBlock(user))
          return {};
        others.push_back(&use);
      }
      if (v == source)
        break;
    }
    return producer;
  }

  /// A static concatenation as a chain of slice insertions into one empty
  /// tensor, where each input that an elementwise generic computes into an
  /// empty tensor (through a reshape, and read only here) is computed
  /// straight into its slice: the empty tensor is created before the first
  /// such producer and the chain follows the producers in block order, so
  /// every slice a producer writes is of a value that dominates it. Other
  /// inputs are inserted at the concatenation (copied, like any insert).
  static LogicalResult decomposeConcatInPlace(tensor::ConcatOp concat,
                                              RewriterBase &rewriter) {
    auto resTy = concat.getResultType();
    if (!resTy.hasStaticShape())
      return failure();
    int64_t dim = concat.getDim(), rank = resTy.getRank();
    Block *block = concat->getBlock();
    struct Input {
      Value value;
      int64_t offset;
      linalg::LinalgOp producer;
    };
    SmallVector<Input> inputs;
    int64_t offset = 0;
    for (Value in : concat.getInputs()) {
      auto t = cast<RankedTensorType>(in.getType());
      Input i{in, offset, {}};
      offset += t.getDimSize(dim);
      Value v = throughReshape(in);
      auto p = v.getDefiningOp<linalg::LinalgOp>();
      if (writesIntoEmpty(p) && p->getBlock() == block && in.hasOneUse() &&
          (v == in || v.hasOneUse()))
        i.producer = p;
      inputs.push_back(i);
    }
    SmallVector<Input *> inPlace;
    for (Input &i : inputs)
      if (i.producer)
        inPlace.push_back(&i);
    if (inPlace.empty())
      return failure();
    llvm::sort(inPlace, [](Input *a, Input *b) {
      return a->producer->isBeforeInBlock(b->producer);
    });
    Location loc = concat.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto slice = [&](const Input &i) {
      auto t = cast<RankedTensorType>(i.value.getType());
      SmallVector<int64_t> offs(rank, 0), ones(rank, 1);
      offs[dim] = i.offset;
      return std::make_tuple(getAsIndexOpFoldResult(ctx, offs),
                             getAsIndexOpFoldResult(ctx, t.getShape()),
                             getAsIndexOpFoldResult(ctx, ones), t);
    };
    rewriter.setInsertionPoint(inPlace.front()->producer);
    Value chain = tensor::EmptyOp::create(rewriter, loc, resTy.getShape(),
                                          resTy.getElementType());
    for (Input *i : inPlace) {
      auto [offs, sizes, strides, t] = slice(*i);
      rewriter.setInsertionPoint(i->producer);
      Value init = tensor::ExtractSliceOp::create(rewriter, loc, t, chain, offs,
                                                  sizes, strides);
      Operation *reshape = i->value == i->producer->getResult(0)
                               ? nullptr
                               : i->value.getDefiningOp();
      init = asReshapeSource(rewriter, loc, init, reshape);
      rewriter.modifyOpInPlace(i->producer, [&] {
        i->producer.getDpsInitsMutable()[0].assign(init);
      });
      // The reshape (it reads only the producer) and the insertion follow
      // the producer at once.
      Operation *last = i->producer;
      if (reshape) {
        rewriter.moveOpAfter(reshape, i->producer);
        last = reshape;
      }
      rewriter.setInsertionPointAfter(last);
      chain = tensor::InsertSliceOp::create(rewriter, loc, i->value, chain,
                                            offs, sizes, strides);
    }
    rewriter.setInsertionPoint(concat);
    for (Input &i : inputs) {
      if (i.producer)
        continue;
      auto [offs, sizes, strides, t] = slice(i);
      chain = tensor::InsertSliceOp::create(rewriter, loc, i.value, chain, offs,
                                            sizes, strides);
    }
    rewriter.replaceOp(concat, chain);
    return success();
  }

  /// Whether `op`'s source is computed by a linalg op into a slice of
  /// `op`'s destination (a border fill, a padded tensor's interior), so it
  /// is written in place already.
  static bool writesSliceOfDest(tensor::InsertSliceOp op) {
    auto producer =
        throughReshape(op.getSource()).getDefiningOp<linalg::LinalgOp>();
    if (!producer || producer.getNumDpsInits() != 1)
      return false;
    auto slice = throughReshape(producer.getDpsInits()[0], true)
                     .getDefiningOp<tensor::ExtractSliceOp>();
    return slice && slice.getSource() == op.getDest();
  }

  /// Pads and concatenations as fills and slice insertions, and each large
  /// slice insertion as a linalg.copy into the destination's slice, so the
  /// loop below splits them over threads too (after bufferization they
  /// would be serial memset/memcpy calls between parallel loops). Static
  /// constant pads first go through decomposePadByBorders.
  void exposeCopies() {
    func::FuncOp func = getOperation();
    {
      SmallVector<tensor::PadOp> pads;
      func.walk([&](tensor::PadOp pad) { pads.push_back(pad); });
      IRRewriter rewriter(&getContext());
      for (tensor::PadOp pad : pads)
        (void)decomposePadByBorders(pad, rewriter);
      SmallVector<tensor::ConcatOp> concats;
      func.walk([&](tensor::ConcatOp c) { concats.push_back(c); });
      for (tensor::ConcatOp c : concats)
        (void)decomposeConcatInPlace(c, rewriter);
    }
    RewritePatternSet patterns(&getContext());
    linalg::populateDecomposePadPatterns(patterns);
    tensor::populateDecomposeTensorConcatPatterns(patterns);
    if (failed(applyPatternsGreedily(func, std::move(patterns))))
      return signalPassFailure();
    SmallVector<tensor::InsertSliceOp> inserts;
    func.walk([&](tensor::InsertSliceOp op) {
      auto t = op.getSourceType();
      if (t.hasStaticShape() && t.getNumElements() >= minIterations &&
          !op->getParentOfType<scf::ForallOp>() &&
          !op.getSource().getDefiningOp<linalg::CopyOp>() &&
          !writesSliceOfDest(op))
        inserts.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (tensor::InsertSliceOp op : inserts) {
      rewriter.setInsertionPoint(op);
      Location loc = op.getLoc();
      Value slice = tensor::ExtractSliceOp::create(
          rewriter, loc, op.getSourceType(), op.getDest(), op.getMixedOffsets(),
          op.getMixedSizes(), op.getMixedStrides());
      Value copy = linalg::CopyOp::create(rewriter, loc, op.getSource(), slice)
                       .getResult(0);
      rewriter.modifyOpInPlace(op, [&] { op.getSourceMutable().assign(copy); });
    }
  }

  /// CSE merges equal fills, so one zero tensor initialises the outputs of
  /// several contractions; each writes its output in place, so
  /// bufferization would copy the shared fill for every one of them (a
  /// serial memcpy before each matmul: 79 per MiniLM run, 4.7% of its time
  /// at 1 thread). Each extra user gets its own fill (and empty tensor),
  /// which the loop below then splits over threads like any other.
  void unshareFills() {
    SmallVector<OpOperand *> inits;
    getOperation().walk([&](linalg::LinalgOp op) {
      for (OpOperand &init : op.getDpsInitsMutable())
        if (auto fill = init.get().getDefiningOp<linalg::FillOp>();
            fill && !fill->hasOneUse())
          inits.push_back(&init);
    });
    for (OpOperand *init : inits) {
      auto fill = init->get().getDefiningOp<linalg::FillOp>();
      if (fill->hasOneUse())
        continue; // the last user keeps the original
      OpBuilder b(init->getOwner());
      IRMapping map;
      if (auto empty = fill.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>())
        map.map(empty.getResult(), b.clone(*empty)->getResult(0));
      init->set(b.clone(*fill, map)->getResult(0));
    }
  }

  /// Starts `loop`'s body with a qc.parallel_if that holds when `op`'s
  /// iteration count, computed before the loop from the run-time extents,
  /// reaches min-iterations: the product of the dynamic extents against
  /// min-iterations over the static ones, rounded up.
  void guardByIterations(RewriterBase &rewriter, linalg::LinalgOp op,
                         LoopLikeOpInterface loop) {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(loop);
    Location loc = op.getLoc();
    int64_t staticWork = 1;
    Value dynamicWork;
    for (Range r : op.createLoopRanges(rewriter, loc)) {
      if (std::optional<int64_t> c = getConstantIntValue(r.size)) {
        staticWork *= std::max<int64_t>(*c, 1);
        continue;
      }
      Value size = cast<Value>(r.size);
      dynamicWork =
          dynamicWork ? arith::MulIOp::create(rewriter, loc, dynamicWork, size)
                            .getResult()
                      : size;
    }
    if (!dynamicWork)
      return;
    Value min = arith::ConstantIndexOp::create(
        rewriter, loc, llvm::divideCeil(minIterations, staticWork));
    Value big = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sge,
                                      dynamicWork, min);
    rewriter.setInsertionPointToStart(&loop->getRegion(0).front());
    ParallelIfOp::create(rewriter, loc, big);
  }

  void runOnOperation() override {
    unshareFills();
    exposeCopies();
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && !op->getParentOfType<scf::ForallOp>())
        ops.push_back(op);
    });
    // A fill that only initialises another op's output is tiled inside that
    // op's loop (each chunk fills its own slice, still in cache for the
    // op, one fork instead of two); fills left over go their own way last.
    auto initOnly = [](linalg::LinalgOp op) {
      if (!isInitProducer(op) || !op->hasOneUse())
        return false;
      OpOperand &use = *op->use_begin();
      auto user = dyn_cast<linalg::LinalgOp>(use.getOwner());
      return user && user.isDpsInit(&use);
    };
    SmallVector<linalg::LinalgOp> deferred;
    for (linalg::LinalgOp op : ops)
      if (initOnly(op))
        deferred.push_back(op);
    llvm::erase_if(ops, initOnly);
    ops.append(deferred.begin(), deferred.end());
    IRRewriter rewriter(&getContext());
    llvm::SmallPtrSet<Operation *, 16> fused; // fills now inside a loop
    for (linalg::LinalgOp op : ops) {
      if (fused.contains(op))
        continue;
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      // Estimated work: dynamic extents count as 64.
      int64_t work = 1;
      for (int64_t r : ranges)
        work *= ShapedType::isDynamic(r) ? 64 : r;
      if (work < minIterations)
        continue;
      SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
      int64_t dim = splitDim(op, ranges, iters);
      if (dim < 0)
        continue;
      int64_t extent = ranges[dim];
      int64_t tile =
          ShapedType::isDynamic(extent)
              ? 1
              : std::max<int64_t>(1, llvm::divideCeil(extent, chunks));
      if (dim == lanesOf(op))
        tile = llvm::alignTo(tile, kLaneChunk);
      SmallVector<OpFoldResult> sizes(iters.size(), rewriter.getIndexAttr(0));
      sizes[dim] = rewriter.getIndexAttr(tile);
      scf::SCFTilingOptions options;
      options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      options.setTileSizes(sizes);
      auto tilable = dyn_cast<TilingInterface>(op.getOperation());
      if (!tilable)
        continue; // the tool registered no tiling model: stays serial
      rewriter.setInsertionPoint(op);
      scf::SCFTileAndFuseOptions fuse;
      fuse.setTilingOptions(options);
      fuse.setFusionControlFn(
          [](tensor::ExtractSliceOp, OpResult producer, bool isInit)
              -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
            // Only fills and copies (a broadcast bias), only as the
            // output's initial value: a chunk initialises its own slice
            // (one with other users is still computed for them outside).
            auto linalgOp = dyn_cast<linalg::LinalgOp>(producer.getOwner());
            if (isInit && linalgOp && isInitProducer(linalgOp))
              return scf::SCFTileAndFuseOptions::ControlFnResult{};
            return std::nullopt;
          });
      FailureOr<scf::SCFTileAndFuseResult> tiled =
          scf::tileConsumerAndFuseProducersUsingSCF(rewriter, tilable, fuse);
      if (failed(tiled))
        continue; // stays serial
      if (ShapedType::isDynamicShape(ranges) && !tiled->loops.empty())
        guardByIterations(rewriter, op, tiled->loops.front());
      SmallVector<Value> results;
      for (Value r : op->getResults())
        results.push_back(tiled->replacements.lookup(r));
      rewriter.replaceOp(op, results);
      for (Operation *producer : tiled->fusedProducers)
        fused.insert(producer);
    }
    for (Operation *producer : fused)
      if (producer->use_empty())
        rewriter.eraseOp(producer);
  }
};

/// Whether `v` is computed into a `tensor.empty`: followed back through the
/// destinations of destination-style ops (and scf.forall's shared outputs)
/// to one. Such a value bufferizes into a new allocation (or into a copy
/// the analysis makes, itself new), never into an argument or a constant.
static bool computedIntoEmpty(Value v) {
  while (true) {
    if (v.getDefiningOp<tensor::EmptyOp>())
      return true;
    auto result = dyn_cast<OpResult>(v);
    if (!result)
      return false;
    Operation *op = result.getOwner();
    if (auto forall = dyn_cast<scf::ForallOp>(op)) {
      v = forall.getTiedOpOperand(result)->get();
      continue;
    }
    auto dps = dyn_cast<DestinationStyleOpInterface>(op);
    if (!dps || !dps.hasPureTensorSemantics())
      return false;
    v = dps.getTiedOpOperand(result)->get();
  }
}

struct QCPrepareBufferizePass
    : mlir::qc::impl::QCPrepareBufferizePassBase<QCPrepareBufferizePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    RewritePatternSet patterns(&getContext());
    tensor::populateDecomposeTensorConcatPatterns(patterns);
    if (failed(applyPatternsGreedily(func, std::move(patterns))))
      return signalPassFailure();
    // Each result must bufferize to a new allocation that the caller owns:
    // one computed into a tensor.empty does, where it is returned once; any
    // other (an argument, a constant, a view) is copied into a fresh tensor,
    // and a value returned twice is copied for all but its last use (each
    // copy replaces a use, so the last one is then the only one).
    func.walk([&](func::ReturnOp ret) {
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        bool once = llvm::count(ret->getOperands(), v) == 1;
        if (once && computedIntoEmpty(v))
          continue;
        auto t = cast<RankedTensorType>(v.getType());
        SmallVector<Value> dyn;
        for (int64_t i = 0; i < t.getRank(); ++i)
          if (t.isDynamicDim(i))
            dyn.push_back(tensor::DimOp::create(b, ret.getLoc(), v, i));
        Value empty = tensor::EmptyOp::create(b, ret.getLoc(), t.getShape(),
                                              t.getElementType(), dyn);
        Value copy =
            linalg::CopyOp::create(b, ret.getLoc(), v, empty).getResult(0);
        operand.set(copy);
      }
    });
  }
};
} // namespace

static const char *const kPhaseNames[] = {
    "import", "graph", "quantize", "linalg", "bufferized", "vector", "llvm"};
static constexpr int kNumPhases = 7;

std::optional<CompilePhase> mlir::qc::parseCompilePhase(StringRef name) {
  for (int i = 0; i < kNumPhases; ++i)
    if (name == kPhaseNames[i])
      return static_cast<CompilePhase>(i);
  return std::nullopt;
}

StringRef mlir::qc::getCompilePhaseName(CompilePhase phase) {
  return kPhaseNames[static_cast<int>(phase)];
}

std::string mlir::qc::getPhasePipeline(CompilePhase phase,
                                       const PipelineOptions &options) {
  switch (phase) {
  case CompilePhase::Import:
    return "";
  case CompilePhase::Graph:
    // Input dimensions are grouped after canonicalization has folded the
    // importer's shape arithmetic (Shape -> Gather -> Concat -> Reshape
    // chains become tensor.from_elements of tensor.dim), and canonicalized
    // again for the casts of refined inputs.
    // Then the extents ops require equal that the input check cannot see
    // get checks in the model (those it can fold away).
    // CSE merges the extents that canonicalization resolved to one value
    // in several places, so the next canonicalize folds their checks.
    return "builtin.module(func.func(canonicalize,qc-constrain-input-dims,"
           "canonicalize,qc-check-extents,canonicalize,cse,canonicalize,"
           "qc-fold-linear-bias,cse))";
  case CompilePhase::Quantize:
    if (!options.quantize)
      return "";
    return "builtin.module(func.func(qc-quantize{" + *options.quantize +
           "},canonicalize,cse))";
  case CompilePhase::Linalg:
    // Integer layers first (they read the QDQ pairs), then the rest of qc;
    // packed weights unpack into their dequantization by fusion.
    return std::string("builtin.module(func.func(qc-lower-quantized-"
                       "contractions") +
           (options.vector.value_or(getCPUVectorInfo("native")).dot4
                ? "{dot4-layout=true}"
                : "") +
           ",qc-convert-to-linalg,qc-pack-weights,canonicalize,"
           "qc-fuse-elementwise,canonicalize,cse,qc-parallelize,canonicalize))";
  case CompilePhase::Bufferized:
    // Extents read off results (tensor.dim of an expand_shape, say) are
    // resolved to the values they come from first, so tensors made only to
    // carry an extent die instead of becoming allocations.
    return "builtin.module(func.func(resolve-ranked-shaped-type-result-dims,"
           "canonicalize,qc-prepare-bufferize),"
           "one-shot-bufferize{bufferize-function-boundaries "
           "function-boundary-type-conversion=identity-layout-map},"
           "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
           "canonicalize,cse,func.func(qc-stack-small-buffers),"
           "scf-forall-to-parallel)";
  case CompilePhase::Vector: {
    CPUVectorInfo v = options.vector.value_or(getCPUVectorInfo("native"));
    return "builtin.module(func.func(qc-approximate-math,"
           "qc-vectorize-contractions{vector-bits=" +
           std::to_string(v.bits) +
           " registers=" + std::to_string(v.registers) +
           (v.dot4 ? " dot4=true" : "") + "},canonicalize,cse))";
  }
  case CompilePhase::LLVM:
    // memref (incl. the alloca_scope around each OpenMP loop body) lowers
    // before scf-to-cf splits loop bodies into blocks.
    return "builtin.module(func.func(convert-linalg-to-loops),"
           "convert-scf-to-openmp,func.func(qc-drop-loop-barriers,"
           "qc-lower-parallel-if),"
           "lower-affine,expand-strided-metadata,"
           "lower-affine,arith-expand{include-bf16=true},"
           "convert-vector-to-llvm,"
           // Buffers through the runtime's cache (runtime/Alloc.cpp).
           "finalize-memref-to-llvm{use-generic-functions=true},"
           "convert-math-to-funcs,convert-scf-to-cf,"
           // Run-time checks branch to the runtime once blocks may split.
           "qc-lower-checks,"
           "convert-math-to-llvm,convert-math-to-libm,"
           "convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm,"
           "convert-cf-to-llvm,convert-openmp-to-llvm,"
           "reconcile-unrealized-casts)";
  }
  return "";
}

void mlir::qc::registerCPUPipelinePasses() {
  registerQCPasses();
  registerQuantConversionPasses();
  registerQuantCPUPasses();
  registerTransformsPasses();
  registerConversionPasses();
  registerLinalgPasses();
  arith::registerArithPasses();
  registerSCFPasses();
  memref::registerMemRefPasses();
  bufferization::registerBufferizationPasses();
  bufferization::registerBufferizationPipelines();
}

LogicalResult mlir::qc::runPhases(ModuleOp module, CompilePhase from,
                                  CompilePhase to,
                                  const PipelineOptions &options) {
  for (int p = static_cast<int>(from) + 1; p <= static_cast<int>(to); ++p) {
    auto phase = static_cast<CompilePhase>(p);
    std::string pipeline = getPhasePipeline(phase, options);
    if (pipeline.empty())
      continue;
    if (phase == CompilePhase::LLVM)
      module.walk([](func::FuncOp f) {
        f->setAttr("llvm.emit_c_interface", UnitAttr::get(f.getContext()));
      });
    PassManager pm(module.getContext());
    // The pipelines are spelled rooted ("builtin.module(...)"); the pass
    // manager is that root already, so add what is inside.
    StringRef text = pipeline;
    text.consume_front("builtin.module(");
    text.consume_back(")");
    if (failed(parsePassPipeline(text, pm)))
      return module.emitError() << "internal error: bad pipeline for phase "
                                << getCompilePhaseName(phase);
    if (failed(pm.run(module)))
      return module.emitError()
             << "compilation failed in phase " << getCompilePhaseName(phase);
  }
  return success();
}
