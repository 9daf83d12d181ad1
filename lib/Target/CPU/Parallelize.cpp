//===- Parallelize.cpp - qc-cpu-parallelize
//-------------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "RegisterTile.h"
#include "ReshapeUtils.h"
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
#include "quant/Conversion/Passes.h"
#include "quant/Dialect/Exec/IR/ExecOps.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Target/CPU/CPUTarget.h"
#include "quant/Target/CPU/Passes.h.inc"

namespace mlir::qc {
#define GEN_PASS_DEF_QCPARALLELIZEPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {
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
  /// falling back to the rows. Loops of static extent come first: a
  /// dynamic one may have a single iteration at run time (the batch of a
  /// decoding LLM, whose linears then split their weight panels instead).
  /// Among dynamic ones a leading loop comes last: it is usually the batch,
  /// 1 at run time more often than not (a convolution over a dynamic image
  /// splits its output rows, as at a static shape). Other ops split their
  /// first parallel loop of extent > 1, passing over a dynamic leading one
  /// (contiguous chunks).
  int64_t splitDim(linalg::LinalgOp op, ArrayRef<int64_t> ranges,
                   ArrayRef<utils::IteratorType> iters) {
    auto extent = [&](int64_t d) {
      return ShapedType::isDynamic(ranges[d]) ? int64_t(64) : ranges[d];
    };
    // A Hadamard transform (qc.hadamard's lowering) needs whole rows: only
    // its leading loops split, a static one first.
    if (op->hasAttr("qc.hadamard")) {
      int64_t lead = static_cast<int64_t>(iters.size()) - 2, pick = -1;
      for (int64_t d = 0; d < lead; ++d)
        if (ranges[d] != 1 &&
            (pick < 0 || (ShapedType::isDynamic(ranges[pick]) &&
                          !ShapedType::isDynamic(ranges[d]))))
          pick = d;
      return pick;
    }
    FailureOr<LanesAndRows> lr = getLanesAndRows(op);
    if (succeeded(lr)) {
      auto largest = [&](bool staticOnly, bool leading) {
        int64_t best = -1;
        for (int64_t d = 0; d < static_cast<int64_t>(iters.size()); ++d) {
          if (iters[d] != utils::IteratorType::parallel || d == lr->row ||
              extent(d) == 1 ||
              (staticOnly && ShapedType::isDynamic(ranges[d])) ||
              (!leading && d == 0 && ShapedType::isDynamic(ranges[d])))
            continue;
          if (d == lr->lane &&
              extent(d) < kLaneChunk * std::min<int64_t>(chunks, 4))
            continue;
          if (best < 0 || extent(d) > extent(best))
            best = d;
        }
        return best;
      };
      int64_t best = largest(/*staticOnly=*/true, /*leading=*/true);
      if (best < 0)
        best = largest(/*staticOnly=*/false, /*leading=*/false);
      if (best < 0)
        best = largest(/*staticOnly=*/false, /*leading=*/true);
      if (best >= 0)
        return best;
      if (lr->row >= 0)
        return lr->row;
    }
    for (size_t i = 0; i < iters.size(); ++i)
      if (iters[i] == utils::IteratorType::parallel && ranges[i] != 1 &&
          (i > 0 || !ShapedType::isDynamic(ranges[i])))
        return i;
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

  /// A pad by a constant of static amounts as a copy of the source into the
  /// interior and fills of the border only: the whole padded tensor filled
  /// first and then mostly overwritten was one more pass over every padded
  /// activation (memset was 6.6% of PP-OCR rec at 1 thread). The border is
  /// cut into disjoint strips: along dimension d, the low and high parts,
  /// with the dimensions before d restricted to their interior (their
  /// border strips came first). Other pads are left to upstream's
  /// decomposition.
  static LogicalResult decomposePadByBorders(tensor::PadOp pad,
                                             RewriterBase &rewriter) {
    Value value = pad.getConstantPaddingValue();
    RankedTensorType srcTy = pad.getSourceType(), resTy = pad.getResultType();
    if (!value || !pad.getLow().empty() || !pad.getHigh().empty())
      return failure();
    Location loc = pad.getLoc();
    int64_t rank = srcTy.getRank();
    // The source's producer writes into the interior itself when it can.
    SmallVector<OpOperand *> others;
    linalg::LinalgOp producer = inPlaceProducer(pad, others);
    Value source = pad.getSource();
    Operation *sourceReshape =
        throughReshape(source) != source ? source.getDefiningOp() : nullptr;
    // Dynamic extents (a convolution's batch and spatial ones) must be
    // known where the padded tensor is created: before the producer, from
    // its init (an empty tensor, whose sizes dominate it).
    auto collapse = dyn_cast_if_present<tensor::CollapseShapeOp>(sourceReshape);
    if (producer && sourceReshape && !collapse && !srcTy.hasStaticShape())
      return failure();
    rewriter.setInsertionPoint(producer ? producer.getOperation()
                                        : pad.getOperation());
    auto add = [&](OpFoldResult a, OpFoldResult b) -> OpFoldResult {
      std::optional<int64_t> x = getConstantIntValue(a),
                             y = getConstantIntValue(b);
      if (x && y)
        return rewriter.getIndexAttr(*x + *y);
      if (y && *y == 0)
        return a;
      return arith::AddIOp::create(
                 rewriter, loc,
                 getValueOrCreateConstantIndexOp(rewriter, loc, a),
                 getValueOrCreateConstantIndexOp(rewriter, loc, b))
          .getResult();
    };
    SmallVector<OpFoldResult> low = pad.getMixedLowPad(),
                              high = pad.getMixedHighPad(), src, res;
    if (!producer || srcTy.hasStaticShape()) {
      src = tensor::getMixedSizes(rewriter, loc, pad.getSource());
    } else {
      SmallVector<OpFoldResult> init =
          tensor::getMixedSizes(rewriter, loc, producer.getDpsInits()[0]);
      if (!collapse) {
        src = init;
      } else {
        // The collapsed extents: products over the reassociation groups.
        for (const ReassociationIndices &g :
             collapse.getReassociationIndices()) {
          OpFoldResult e = rewriter.getIndexAttr(1);
          for (int64_t i : g) {
            std::optional<int64_t> x = getConstantIntValue(e),
                                   y = getConstantIntValue(init[i]);
            if (x && y)
              e = rewriter.getIndexAttr(*x * *y);
            else if (x && *x == 1)
              e = init[i];
            else
              e = arith::MulIOp::create(
                      rewriter, loc,
                      getValueOrCreateConstantIndexOp(rewriter, loc, e),
                      getValueOrCreateConstantIndexOp(rewriter, loc, init[i]))
                      .getResult();
          }
          src.push_back(e);
        }
      }
    }
    for (int64_t d = 0; d < rank; ++d)
      res.push_back(add(add(low[d], src[d]), high[d]));
    SmallVector<OpFoldResult> ones(rank, rewriter.getIndexAttr(1));
    Value t =
        tensor::EmptyOp::create(rewriter, loc, res, resTy.getElementType());
    if (t.getType() != resTy)
      t = tensor::CastOp::create(rewriter, loc, resTy, t);
    Value interior =
        tensor::ExtractSliceOp::create(rewriter, loc, srcTy, t, low, src, ones);
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
    t = tensor::InsertSliceOp::create(rewriter, loc, copied, t, low, src, ones);
    SmallVector<OpFoldResult> offs(rank, rewriter.getIndexAttr(0)), sizes(res);
    for (int64_t d = 0; d < rank; ++d) {
      for (auto [off, size] : {std::pair<OpFoldResult, OpFoldResult>{
                                   rewriter.getIndexAttr(0), low[d]},
                               {add(low[d], src[d]), high[d]}}) {
        if (isConstantIntValue(size, 0))
          continue;
        offs[d] = off;
        sizes[d] = size;
        Value strip =
            tensor::ExtractSliceOp::create(rewriter, loc, t, offs, sizes, ones);
        Value filled =
            linalg::FillOp::create(rewriter, loc, value, strip).getResult(0);
        t = tensor::InsertSliceOp::create(rewriter, loc, filled, t, offs, sizes,
                                          ones);
      }
      offs[d] = low[d];
      sizes[d] = src[d];
    }
    rewriter.replaceOp(pad, t);
    // The producer's other readers read the interior of the padded result.
    for (OpOperand *use : others) {
      rewriter.setInsertionPoint(use->getOwner());
      Value slice = tensor::ExtractSliceOp::create(rewriter, loc, srcTy, t, low,
                                                   src, ones);
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

  /// Starts `loop`'s body with a qexec.parallel_if that holds when `op`'s
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
    qexec::ParallelIfOp::create(rewriter, loc, big);
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
} // namespace
