// The GPU half of the default schedules (docs/gpu.md): for a target with a GPU feature (CUDA, OpenCL) each
// kernel pattern maps onto blocks and threads. Products and dense layers give each thread a register tile
// of outputs and each block a tile of threads; convolutions a thread per output pixel and a few output
// channels; streaming attention a block of threads per tile of queries, keys and values staged in shared
// memory, register tiles of products per thread; row reductions (softmax, layer norm) a warp per row, its
// statistics reduced by the warp's threads together in shared memory;
// recurrences a block per batch row walking the steps, a thread per unit.
// Everything else is covered by one rule: every stage that stores (a reduction, an output) is a launch over
// its pure dimensions, and maps are inlined into their readers; a whole-tensor reduction is factored into
// partial sums.
#include "Lowering.h"

using namespace mlir::attn::halide;
using Halide::Func;
using Halide::LoopLevel;
using Halide::TailStrategy;
using Halide::Var;

namespace {

constexpr TailStrategy Guard = TailStrategy::GuardWithIf;

/// Threads per block along the innermost pure dimension of a launch (a warp) and along the next.
constexpr int kThreadsX = 32, kThreadsY = 8;

/// The pure dimensions a stage writes along: all of a pure definition's; those of an update that index its
/// left-hand side as themselves (innermost first).
std::vector<Var> stageVars(Func f, int stage) {
  std::vector<Var> args = f.args();
  if (stage == 0)
    return args;
  std::vector<Var> vars;
  for (const Halide::Expr &e : f.update_args(stage - 1))
    if (auto *v = e.as<Halide::Internal::Variable>(); v && !v->reduction_domain.defined())
      for (const Var &a : args)
        if (a.name() == v->name)
          vars.push_back(a);
  return vars;
}

/// A stage as a launch over `vars`: the innermost across `kThreadsX` threads, the next across `kThreadsY`,
/// the rest fused into the third dimension of the grid.
void tileLaunch(Halide::Stage s, const std::vector<Var> &vars, const std::string &tag) {
  Var xo(tag + "_xo"), xi(tag + "_xi"), yo(tag + "_yo"), yi(tag + "_yi");
  if (vars.size() == 1) {
    s.gpu_tile(vars[0], xo, xi, kThreadsX * kThreadsY, Guard);
    return;
  }
  s.gpu_tile(vars[0], vars[1], xo, yo, xi, yi, kThreadsX, kThreadsY, Guard);
  if (vars.size() == 2)
    return;
  Var z = vars[2];
  for (size_t i = 3; i < vars.size(); ++i) {
    Var fused(tag + "_z" + std::to_string(i));
    s.fuse(z, vars[i], fused);
    z = fused;
  }
  s.reorder(xi, yi, xo, yo, z).gpu_blocks(z); // outermost, wherever the stage had it
}

/// Partial sums of a whole-tensor reduction: threads of the grid each reduce every `kPartials`-th element
/// along its innermost reduction variable. Both loops are unrolled by kInFlight, so that as many loads are
/// in flight at once.
constexpr int kPartials = 256, kInFlight = 8;

/// A stage's reduction variables, innermost first.
std::vector<Halide::RVar> rvarsOf(const Halide::Stage &s) {
  std::vector<Halide::RVar> rvars;
  for (const Halide::Internal::ReductionVariable &r : s.get_schedule().rvars())
    rvars.emplace_back(r.var);
  return rvars;
}

/// A whole-tensor reduction (an update with no pure dimension, such as a loss) as two launches where
/// Halide can factor it (it is associative): kPartials threads each reduce a strided share of the elements,
/// reading neighbours together, then one thread reduces their partial results. Anything else (a scan) runs
/// on one GPU thread.
void wholeReduction(LoweredKernel &k, Func f, int stage, const std::string &tag) {
  Halide::Stage s = f.update(stage - 1);
  std::vector<Halide::RVar> rvars = rvarsOf(s);
  if (!rvars.empty()) {
    Halide::RVar outer(tag + "_ro"), lane(tag + "_rl");
    Var u(tag + "_u");
    try {
      s.split(rvars.front(), outer, lane, kPartials, Guard);
      Func partial = s.rfactor(lane, u);
      partial.compute_root();
      tileLaunch(Halide::Stage(partial), {u}, tag + "_p0");
      // Every reduction loop inside the threads (one left outside would be a launch per iteration).
      Halide::Stage update = partial.update();
      std::vector<Halide::VarOrRVar> order;
      for (const Halide::RVar &r : rvarsOf(update))
        order.emplace_back(r);
      order.emplace_back(u);
      update.reorder(order).unroll(outer, kInFlight, Guard);
      tileLaunch(update, {u}, tag + "_p1");
      s.unroll(rvarsOf(s).front(), kInFlight, Guard).gpu_single_thread();
      k.factored.push_back(f.name());
      return;
    } catch (const Halide::CompileError &) { // not associative: one thread runs it as written
    }
  }
  s.gpu_single_thread();
}

/// A reduction over several dimensions into at most two (a bias gradient summing over batch and positions,
/// a global pool) has few outputs to share among threads and long sums for each: where Halide can factor
/// it, its outermost reduction dimension becomes a pure one of partial results computed in parallel, which
/// one launch over the outputs then adds up (kInFlight loads in flight). Whether it did.
bool factorOuterReduction(LoweredKernel &k, Func f, int stage, const std::vector<Var> &vars,
                          const std::string &tag) {
  Halide::Stage s = f.update(stage - 1);
  std::vector<Halide::RVar> rvars = rvarsOf(s);
  bool recurrence = llvm::any_of(k.recurrences, [&](const auto &r) { return r.first.name() == f.name(); });
  if (rvars.size() < 2 || vars.size() > 2 || recurrence)
    return false;
  Var part(tag + "_part");
  Func partial;
  try {
    partial = s.rfactor(rvars.back(), part);
  } catch (const Halide::CompileError &) { // not associative
    return false;
  }
  partial.compute_root();
  std::vector<Var> partialVars = vars;
  partialVars.push_back(part);
  tileLaunch(Halide::Stage(partial), partialVars, tag + "_p0");
  tileLaunch(partial.update(), partialVars, tag + "_p1");
  tileLaunch(s.unroll(rvarsOf(s).front(), kInFlight, Guard), vars, tag);
  k.factored.push_back(f.name());
  return true;
}

/// One stage as a launch over the pure dimensions it writes along (tileLaunch), a reduction over several
/// dimensions factored first (factorOuterReduction); a stage with no pure dimension is a whole-tensor
/// reduction (wholeReduction).
void launch(LoweredKernel &k, Func f, int stage) {
  Halide::Stage s = stage == 0 ? Halide::Stage(f) : f.update(stage - 1);
  std::vector<Var> vars = stageVars(f, stage);
  std::string tag = f.name() + "_s" + std::to_string(stage);
  if (vars.empty()) {
    if (stage == 0)
      s.gpu_single_thread();
    else
      wholeReduction(k, f, stage, tag);
    return;
  }
  if (stage == 0 || !factorOuterReduction(k, f, stage, vars, tag))
    tileLaunch(s, vars, tag);
}

/// Stores `f` and launches each of its stages.
void launchAll(LoweredKernel &k, Func f) {
  f.compute_root();
  for (int stage = 0; stage <= f.num_update_definitions(); ++stage)
    launch(k, f, stage);
}

/// Whether a pattern schedule gave `f` a place or loops already.
bool scheduled(const Halide::Internal::Function &f) {
  LoopLevel level = f.schedule().compute_level();
  level.lock();
  return !level.is_inlined() || f.definition().schedule().touched();
}

/// A matrix product result(n, rows...) = acc: a block per tile of `gpu_tile_n` × `gpu_tile_rows` outputs
/// (rows of the dimension MatmulStages::tiledRow), a thread per register tile of 4 × 4 of them, whose
/// accumulators stay in registers across the sum (the operands are read through the cache). The other row
/// dimensions are fused into the grid's third.
void productTiles(MatmulStages m, LoweredKernel &k) {
  constexpr int kRegisterTile = 4;
  int tileN = k.knobs.get("gpu_tile_n", 64, {32, 64, 128});
  int tileRows = k.knobs.get("gpu_tile_rows", 32, {16, 32, 64});
  std::vector<Var> args = m.result.args();
  const size_t tiled = m.tiled(args);
  Var no("no"), ro("ro"), ni("ni"), ri("ri"), nt("nt"), rt("rt"), nx("nx"), rx("rx");
  m.result.compute_root()
      .tile(args[0], args[tiled], no, ro, ni, ri, tileN, tileRows, Guard)
      .tile(ni, ri, nt, rt, nx, rx, kRegisterTile, kRegisterTile, TailStrategy::RoundUp)
      .reorder(nx, rx, nt, rt, no, ro)
      .unroll(nx)
      .unroll(rx)
      .gpu_threads(nt, rt);
  Var blocks = ro;
  std::vector<Var> outer = m.untiledRows(args);
  for (size_t i = 0; i < outer.size(); ++i) {
    Var fused("grid" + std::to_string(i + 2));
    m.result.fuse(blocks, outer[i], fused);
    blocks = fused;
  }
  m.result.gpu_blocks(no, blocks);
  std::vector<Var> acc = m.acc.args();
  // Guarded: the last tile of a small matrix holds fewer than 4 × 4 outputs.
  m.acc.compute_at(m.result, nt)
      .bound_storage(acc[0], kRegisterTile)
      .bound_storage(acc[tiled], kRegisterTile)
      .unroll(acc[0], kRegisterTile, Guard)
      .unroll(acc[tiled], kRegisterTile, Guard);
  std::vector<Halide::VarOrRVar> order{acc[0], acc[tiled]};
  for (const Halide::RVar &r : m.acc.rvars(0))
    order.push_back(r);
  for (const Var &v : m.untiledRows(acc))
    order.push_back(v);
  m.acc.update()
      .reorder(order)
      .unroll(acc[0], kRegisterTile, Guard)
      .unroll(acc[tiled], kRegisterTile, Guard);
}

/// A product whose sum runs over the data (a reduction variable of symbolic extent: a weight's gradient
/// sums over batch and positions) has few outputs for its many terms, too few tiles to fill a GPU: its
/// outermost reduction variable is split into `gpu_split_k` parts, whose partial products (rfactor) are
/// tiled like any product, side by side in the grid, then added up per output.
void splitK(MatmulStages m, LoweredKernel &k) {
  Halide::Stage update = m.acc.update();
  const std::vector<Halide::Internal::ReductionVariable> &rvars = update.get_schedule().rvars();
  bool overData = llvm::any_of(rvars, [](const auto &r) { return !Halide::Internal::is_const(r.extent); });
  int parts = overData ? k.knobs.get("gpu_split_k", 16, {1, 4, 8, 16, 32}) : 1;
  if (parts == 1)
    return;
  Halide::RVar outer(rvars.back().var), part(m.acc.name() + "_part"), rest(m.acc.name() + "_rest");
  Var partVar(m.acc.name() + "_p");
  Func partial;
  try {
    update.split(outer, part, rest, (rvars.back().extent + parts - 1) / parts, Guard);
    partial = update.rfactor(part, partVar);
  } catch (const Halide::CompileError &) { // not associative
    return;
  }
  MatmulStages partialProduct = m;
  partialProduct.acc = partial;
  partialProduct.result = partial.in();
  productTiles(partialProduct, k);
  k.factored.push_back(m.acc.name());
}

/// A product in tiles (productTiles), its sum split first if it runs over the data (splitK).
void matmulTiles(MatmulStages m, LoweredKernel &k) {
  splitK(m, k);
  productTiles(m, k);
}

/// The first step of a block reduction along a row: the reduction `f` (one reduction variable, along the
/// row that its dimension `row` indexes) split into kThreadsX partial results per row (rfactor), each
/// summing every kThreadsX-th element, so that neighbouring threads read neighbouring elements, a thread
/// per (partial result, row): the Func of the partial results, to be placed by the caller in shared memory.
/// What is left of `f` combines a row's partial results. The kernel records the factored reduction (a
/// schedule file cannot spell it out).
Func warpPartials(LoweredKernel &k, Func f, Var row) {
  std::string tag = f.name();
  Halide::Stage update = f.update();
  Halide::RVar along = rvarsOf(update).front(), outer(tag + "_ro"), inner(tag + "_ri");
  Var part(tag + "_lane");
  update.split(along, outer, inner, kThreadsX, Guard);
  Func partial = update.rfactor(inner, part);
  k.factored.push_back(f.name());
  partial.reorder(part, row).gpu_threads(part, row);
  partial.update().reorder(outer, part, row).gpu_threads(part, row);
  return partial;
}

/// Row reductions (softmax, layer norm) as block reductions: a block of kThreadsY rows, a warp of kThreadsX
/// threads along each. Each statistic of a row (a maximum, a sum: one reduction along the row) is computed
/// in shared memory in two steps: the warp's partial results (warpPartials), then a thread per row reduces
/// the row's kThreadsX partial results. The threads then write the row's elements side by side, reading the
/// statistics from shared memory; elements the statistics read (a softmax's exponentials) are recomputed
/// where they are read. Halide puts a barrier after each step.
void blockRows(LoweredKernel &k, const std::vector<Func> &statistics) {
  Func out = k.anchor;
  std::vector<Var> args = out.args();
  bool rowReductions = llvm::all_of(statistics, [](Func f) {
    return f.num_update_definitions() == 1 && f.rvars(0).size() == 1 && !f.args().empty();
  });
  if (args.size() < 2 || !rowReductions)
    return launchAll(k, out);
  Var xo("x_outer"), lane("lane"), ro("row_block"), ri("row");
  out.compute_root()
      .split(args[0], xo, lane, kThreadsX, Guard)
      .split(args[1], ro, ri, kThreadsY, Guard)
      .reorder(xo, lane, ri, ro);
  Var blocks = ro;
  for (size_t i = 2; i < args.size(); ++i) {
    Var fused("grid" + std::to_string(i));
    out.fuse(blocks, args[i], fused);
    blocks = fused;
  }
  out.gpu_threads(lane, ri).gpu_blocks(blocks);
  for (Func f : statistics) {
    Var row = f.args().front();
    f.compute_at(out, blocks).gpu_threads(row);
    warpPartials(k, f, row).compute_at(out, blocks);
    Halide::Stage update = f.update();
    update.reorder(rvarsOf(update).front(), row).gpu_threads(row);
  }
}

/// A reduction along rows stored for all of them, its dimension `row` indexing the rows (those before it
/// have extent 1: LoweredKernel::rowSums keep the reduced dimension), as a block reduction, as blockRows
/// computes a statistic: a block of kThreadsY rows, whose warps each reduce every kThreadsX-th element of
/// their row in shared memory (warpPartials), then a thread per row combines its warp's partial results.
void rowReductionBlocks(LoweredKernel &k, Func f, size_t row) {
  std::vector<Var> vars = stageVars(f, 1);
  if (vars.size() <= row || vars.size() != f.args().size() || rvarsOf(f.update()).size() != 1)
    return launchAll(k, f);
  std::string tag = f.name();
  f.compute_root();
  launch(k, f, 0); // the initial values
  Func partial = warpPartials(k, f, vars[row]);
  Halide::Stage update = f.update();
  Var ro(tag + "_row_block"), ri(tag + "_row");
  update.split(vars[row], ro, ri, kThreadsY, Guard);
  Var blocks = ro;
  for (size_t i = row + 1; i < vars.size(); ++i) {
    Var fused(tag + "_grid" + std::to_string(i));
    update.fuse(blocks, vars[i], fused);
    blocks = fused;
  }
  std::vector<Halide::VarOrRVar> order{rvarsOf(update).front()};
  order.insert(order.end(), vars.begin(), vars.begin() + row);
  order.push_back(ri);
  order.push_back(blocks);
  update.reorder(order).gpu_threads(ri).gpu_blocks(blocks);
  partial.compute_at(f, blocks);
}

/// Whether the last op of the kernel that is not elementwise is `name`.
bool lastStageIs(const LoweredKernel &k, const char *name) {
  for (size_t i = k.pattern.size(); i-- > 0;)
    if (!k.patternElementwise[i])
      return k.pattern[i] == name;
  return false;
}

/// A convolution (+ elementwise ops), as Halide's conv_layer app runs on GPUs: a block per 8 × 8 tile of
/// output pixels of `gpu_conv_channels` output channels of one image, a thread per pixel, whose channels'
/// accumulators stay in registers across the input channels and the window; the zero-bordered input is read
/// where needed.
void convTiles(LoweredKernel &k) {
  constexpr int kTile = 8;
  Conv2DStages &c = k.conv2d.front();
  int channels = k.knobs.get("gpu_conv_channels", std::min(8, c.outChannels), {4, 8, 16});
  Func out = k.anchor;
  std::vector<Var> args = out.args(); // ow, oh, co, b
  Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), cot("co_tile"), cin("co_in"), grid("grid");
  out.compute_root()
      .split(args[0], xo, xi, kTile, Guard)
      .split(args[1], yo, yi, kTile, Guard)
      .split(args[2], cot, cin, channels, Guard)
      .reorder(cin, xi, yi, xo, yo, cot, args[3])
      .unroll(cin)
      .fuse(cot, args[3], grid)
      .gpu_threads(xi, yi)
      .gpu_blocks(xo, yo, grid);
  c.acc.compute_at(out, xi)
      .bound_storage(c.ow, 1)
      .bound_storage(c.oh, 1)
      .bound_storage(c.co, channels)
      .unroll(c.co, channels, Guard);
  std::vector<Halide::VarOrRVar> order{c.co};
  for (const Halide::RVar &r : c.acc.rvars(0))
    order.push_back(r);
  c.acc.update().reorder(order).unroll(c.co, channels, Guard);
}

/// A loop split off `v`, named `name`: a reduction variable if `v` is one.
Halide::VarOrRVar partOf(const Halide::VarOrRVar &v, const std::string &name) {
  return v.is_rvar ? Halide::VarOrRVar(Halide::RVar(name)) : Halide::VarOrRVar(Var(name));
}

/// Spreads a stage computed inside a block over its threads: `x` (innermost) over up to kThreadsX of them,
/// `y` (if given) over up to kThreadsY, each thread running the rest of both serially.
void spread(Halide::Stage s, Halide::VarOrRVar x, int xExtent, std::optional<Halide::VarOrRVar> y,
            int yExtent, const std::string &tag) {
  Halide::VarOrRVar xo = partOf(x, tag + "_xo"), xi = partOf(x, tag + "_xi");
  s.split(x, xo, xi, std::min(xExtent, kThreadsX), Guard);
  if (!y) {
    s.reorder(xo, xi).gpu_threads(xi);
    return;
  }
  Halide::VarOrRVar yo = partOf(*y, tag + "_yo"), yi = partOf(*y, tag + "_yi");
  s.split(*y, yo, yi, std::min(yExtent, kThreadsY), Guard).reorder(xo, yo, xi, yi).gpu_threads(xi, yi);
}

/// A register tile of 4 × 4 (x, y) of a stage per thread, its loops unrolled, the threads over the tiles,
/// `outside` (if given) outside the threads. Returns the thread loop over x, where what the tile reads is
/// computed.
Halide::VarOrRVar registerTiles(Halide::Stage s, Halide::VarOrRVar x, Halide::VarOrRVar y,
                                const std::string &tag, std::optional<Halide::VarOrRVar> outside = {}) {
  constexpr int kTile = 4;
  Halide::VarOrRVar xt = partOf(x, tag + "_xt"), xr = partOf(x, tag + "_xr"), yt = partOf(y, tag + "_yt"),
                    yr = partOf(y, tag + "_yr");
  std::vector<Halide::VarOrRVar> order{xr, yr, xt, yt};
  if (outside)
    order.push_back(*outside);
  s.split(x, xt, xr, kTile, Guard).split(y, yt, yr, kTile, Guard).reorder(order).unroll(xr).unroll(yr);
  s.gpu_threads(xt, yt);
  return xt;
}

/// Streaming attention as FlashAttention: a block of threads per tile of queries of one (batch, head),
/// which walks the blocks of keys in order. Per block it stages the tile's queries and the block's keys and
/// values in shared memory; computes the tile's scores for them, a thread per 4 × 4 of them in registers;
/// takes their maximum, a thread per query, and turns them into probabilities in place; and folds the block
/// into the tile's state (in shared memory), a thread per 4 slots of 4 queries, whose probability-weighted
/// values (and, through the values' column of ones, the probabilities' sum) are summed in registers.
/// Halide puts a barrier after each of these steps.
void flashAttention(LoweredKernel &k) {
  StreamingAttentionStages &s = k.streaming.front();
  using Halide::MemoryType;
  const int tile = s.queryTile, block = s.keyBlock, dk = s.keyHeadSize, dv = s.valueHeadSize,
            slots = s.gpuSlots;
  Func out = s.result;
  if (!isOutput(k, out))
    out.compute_root();
  Var h("head"), d("feature"), io("tile"), ii("query"), hb("hb");
  out.split(s.c, h, d, dv).split(s.i, io, ii, tile, Guard).reorder(d, ii, io, h, s.b).fuse(h, s.b, hb);
  out.gpu_blocks(io, hb);
  spread(Halide::Stage(out), d, dv, ii, tile, "context");
  s.state.compute_at(out, io).store_in(MemoryType::GPUShared).bound(s.d, 0, slots).bound(s.ii, 0, tile);
  spread(Halide::Stage(s.state), s.d, slots, s.ii, tile, "state");

  auto rvar = [](Func f, int stage, int i) { return Halide::RVar(f.rvars(stage)[i]); };
  // The fold: a thread per 4 slots of 4 queries, the blocks of keys outside the threads.
  Halide::RVar rb = rvar(s.state, 0, 0);
  Halide::VarOrRVar foldThread = registerTiles(s.state.update(), s.d, s.ii, "fold", rb);
  LoopLevel blockLevel(s.state, rb);
  // The queries are staged again for each block of keys: Halide lets shared memory that is last read
  // early in a loop's body be reused by what the body stores later, so what the tile stored before the
  // loop and read at its start would be overwritten.
  s.queriesT.compute_at(blockLevel).store_in(MemoryType::GPUShared);
  spread(Halide::Stage(s.queriesT), s.i, tile, s.d, dk, "queries");
  s.keysT.compute_at(blockLevel).store_in(MemoryType::GPUShared);
  spread(Halide::Stage(s.keysT), s.j, block, s.d, dk, "keys");
  s.valuesT.compute_at(blockLevel).store_in(MemoryType::GPUShared);
  spread(Halide::Stage(s.valuesT), s.d, slots, s.j, block, "values");

  // The scores: set up, products, maximum, probabilities. Stored with the queries innermost, so that the
  // fold reads the probabilities of a thread's 4 queries at once, and the threads of a warp side by side.
  s.scores.compute_at(blockLevel).store_in(MemoryType::GPUShared).reorder_storage(s.i, s.jj);
  spread(Halide::Stage(s.scores), s.i, tile, s.jj, block + 1, "scores");
  Halide::RVar key = rvar(s.scores, 0, 0);
  Halide::VarOrRVar scoreThread = registerTiles(s.scores.update(0), key, s.i, "products");
  spread(s.scores.update(1), s.i, tile, std::nullopt, 0, "maximum");
  spread(s.scores.update(2), s.i, tile, rvar(s.scores, 2, 0), block, "probabilities");

  // What a thread's register tiles sum: 4 × 4 products of queries and keys, of probabilities and values.
  auto accumulate = [](Func acc, LoopLevel at, Var x, Var y) {
    acc.compute_at(at)
        .store_in(MemoryType::Register)
        .bound_storage(x, 4)
        .bound_storage(y, 4)
        .unroll(x, 4, Guard)
        .unroll(y, 4, Guard);
    acc.update().reorder(x, y, Halide::RVar(acc.rvars(0)[0])).unroll(x, 4, Guard).unroll(y, 4, Guard);
  };
  accumulate(s.dot, LoopLevel(s.scores, scoreThread.rvar), s.jj, s.i);
  accumulate(s.pvAcc, LoopLevel(s.state, foldThread.var), s.d, s.i);
}

/// A recurrence with a thread per unit (UnitRecurrenceStages): a block per batch row runs the steps in
/// order. At each step its threads first stage what the step starts from in shared memory, then each runs
/// its unit's slots: the gates summing over the previous step's hidden state (read by all threads at once,
/// a broadcast), then the unit's states. Halide puts a barrier between the two and after each step, so a
/// step reads a complete previous one. Each thread writes its own unit's slots only, which Halide cannot
/// prove of reduction variables (allow_race_conditions). Past kMaxThreads units, a thread runs several
/// neighbouring units.
void unitRecurrence(LoweredKernel &k, UnitRecurrenceStages r) {
  constexpr int kMaxThreads = 256;
  Func f = r.state;
  f.compute_root();
  tileLaunch(Halide::Stage(f), f.args(), f.name() + "_s0");
  Halide::Stage update = f.update();
  std::vector<Halide::RVar> rv = rvarsOf(update); // q, k, unit, step: innermost first, then the batch
  int units = int(*Halide::Internal::as_const_int(update.get_schedule().rvars()[2].extent));
  int perThread = (units + kMaxThreads - 1) / kMaxThreads, threads = (units + perThread - 1) / perThread;
  Halide::RVar thread = rv[2];
  if (perThread > 1) {
    thread = Halide::RVar(f.name() + "_thread");
    update.split(rv[2], thread, Halide::RVar(f.name() + "_unit"), perThread, Guard);
  }
  update.allow_race_conditions().unroll(rv[0]).gpu_blocks(r.batch).gpu_threads(thread);
  Var slot = r.stepIn.args()[0], so(f.name() + "_so"), si(f.name() + "_si");
  r.stepIn.compute_at(LoopLevel(f, rv[3]))
      .split(slot, so, si, threads, Guard)
      .reorder(so, si)
      .gpu_threads(si);
  if (r.weightT.defined())
    launchAll(k, r.weightT);
}

} // namespace

void mlir::attn::halide::applyGpuSchedule(LoweredKernel &k) {
  if (!k.streaming.empty()) {
    flashAttention(k);
  } else if (patternIs(k, {"dense"}) && !k.dense.front().rows.empty()) {
    matmulTiles(k.dense.front().product(k.anchor), k);
  } else if ((patternIs(k, {"conv2d"}) || patternIs(k, {"conv2d_grad"})) && k.conv2d.size() == 1 &&
             k.anchor.dimensions() == 4) {
    convTiles(k);
  } else if (k.pattern == std::vector<std::string>{"dense_grad_weight"}) {
    matmulTiles(k.matmuls.front(), k);
  } else {
    for (MatmulStages &m : k.matmuls)
      matmulTiles(m, k);
    // A row-wise last stage (a softmax or a layer norm alone, a classifier's probabilities after their
    // product): any product before it stored, its rows reduced per block.
    if (k.softmax.size() == 1 && (lastStageIs(k, "softmax") || lastStageIs(k, "log_softmax")))
      blockRows(k, {k.softmax.front().max, k.softmax.front().sum});
    else if (k.layerNorm.size() == 1 && lastStageIs(k, "layer_norm"))
      blockRows(k, {k.layerNorm.front().mean, k.layerNorm.front().variance});
    for (Func f : k.rowSums)
      rowReductionBlocks(k, f, 1);
    // The row-wise attention's statistics, per (query, head, batch) over the keys.
    for (MaskedSoftmaxStages &m : k.maskedSoftmax) {
      rowReductionBlocks(k, m.max, 0);
      rowReductionBlocks(k, m.sum, 0);
    }
  }
  for (const UnitRecurrenceStages &r : k.unitRecurrences)
    unitRecurrence(k, r);
  // Any other recurrence that runs a thread per batch row through its steps: with the batch innermost in
  // memory, the threads of a warp read and write neighbouring elements at once.
  for (auto &[f, batch] : k.recurrences) {
    bool perUnit = llvm::any_of(k.unitRecurrences,
                                [&](const UnitRecurrenceStages &r) { return r.state.name() == f.name(); });
    if (perUnit || stageVars(f, 1).size() > 1)
      continue;
    std::vector<Var> order{batch};
    for (const Var &v : f.args())
      if (v.name() != batch.name())
        order.push_back(v);
    f.reorder_storage(order);
  }
  // The generic rule for what the pattern left: what stores is launched, maps are inlined.
  for (auto &[name, function] : pipelineFunctions(k)) {
    Func f(function);
    if (!scheduled(function) &&
        (isOutput(k, f) || f.num_update_definitions() > 0 || (k.anchor.defined() && k.anchor.name() == name)))
      launchAll(k, f);
  }
}
