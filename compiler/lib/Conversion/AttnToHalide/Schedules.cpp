// The schedule half of the Halide lowering: a default CPU schedule per kernel pattern (matrix products and
// dense layers with their activations, convolutions, streaming and row-wise attention, softmax, layer
// norm, recurrences), and a generic one for any other combination. Products are register-tiled; other
// stages are vectorized across the innermost tensor dimension and parallel across the outermost.
#include "Lowering.h"

#include "llvm/Support/MathExtras.h"

#include <fstream>
#include <set>
#include <thread>

using namespace mlir::attn::halide;

namespace {

/// The size in bytes of this machine's level-`level` data (or unified) cache, from sysfs; 0 if it cannot
/// be read.
int64_t hostCacheBytes(int level) {
  for (int index = 0; index < 8; ++index) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream levelFile(dir + "level"), typeFile(dir + "type"), sizeFile(dir + "size");
    int found = 0;
    std::string type, size;
    if (!(levelFile >> found) || !(typeFile >> type) || !(sizeFile >> size))
      return 0;
    if (found != level || type == "Instruction")
      continue;
    int64_t bytes = std::atoll(size.c_str());
    char unit = size.empty() ? 0 : size.back();
    return unit == 'K' ? bytes << 10 : unit == 'M' ? bytes << 20 : bytes;
  }
  return 0;
}

} // namespace

MachineParams MachineParams::of(const Halide::Target &target) {
  MachineParams m;
  m.vectorWidth = target.natural_vector_size<float>();
  bool arm64 = target.arch == Halide::Target::ARM && target.bits == 64;
  m.vectorRegisters = target.has_feature(Halide::Target::AVX512) || arm64 ? 32 : 16;
  m.gpu = target.has_gpu_feature();
  Halide::Target host = Halide::get_host_target();
  if (target.arch == host.arch && target.bits == host.bits && target.os == host.os) {
    if (int64_t l2 = hostCacheBytes(2))
      m.l2Bytes = l2;
    m.cores = int(std::thread::hardware_concurrency());
  }
  return m;
}

using Halide::Func;
using Halide::LoopLevel;
using Halide::TailStrategy;
using Halide::Var;

/// Whether `f` is one of `funcs` (by name: a Func handle copied is the same Func).
static bool isAmong(const std::vector<Func> &funcs, const Func &f) {
  return llvm::any_of(funcs, [&](const Func &g) { return g.name() == f.name(); });
}

bool mlir::attn::halide::isOutput(const LoweredKernel &k, const Func &f) { return isAmong(k.outputs, f); }

bool mlir::attn::halide::patternIs(const LoweredKernel &k, std::initializer_list<const char *> head) {
  if (k.pattern.size() < head.size())
    return false;
  size_t i = 0;
  for (const char *name : head)
    if (k.pattern[i++] != name)
      return false;
  for (; i < k.pattern.size(); ++i)
    if (!k.patternElementwise[i])
      return false;
  return true;
}

namespace {

constexpr TailStrategy Guard = TailStrategy::GuardWithIf;

/// The innermost extent of `f`'s results where the kernel fixes it (an output of static shape), else 0.
int staticRowWidth(Func f) {
  if (f.outputs() != 1)
    return 0;
  Halide::Expr extent = f.output_buffer().parameter().extent_constraint(0);
  std::optional<int64_t> width = extent.defined() ? Halide::Internal::as_const_int(extent) : std::nullopt;
  return width ? static_cast<int>(*width) : 0;
}

/// The length of the one static range `f` reduces over (a row of a softmax, say), or 0.
int64_t staticRowLength(Func f) {
  if (f.num_update_definitions() != 1 || f.rvars(0).size() != 1)
    return 0;
  // The extent the update's schedule holds is a constant for a static row; RVar::extent() is not.
  Halide::Expr length = f.update(0).get_schedule().rvars().front().extent;
  const auto *extent = length.as<Halide::Internal::IntImm>();
  return extent ? extent->value : 0;
}

/// A reduction along a row of static length, where the row is whole vectors long, as `vw` partial results
/// (one vector, rfactor) combined at the end rather than a chain of scalar operations: the Func of the
/// partial results, vectorized, to be placed by the caller; undefined for any other row. With `tail`
/// Guard, a row of any length is factored, its last vector guarded; with `lanes`, that many partial results
/// instead of one vector. The kernel records the factored reduction (a schedule file cannot spell it out).
Func rowPartials(Func f, LoweredKernel &k, TailStrategy tail = TailStrategy::Auto, int lanes = 0) {
  const int vw = lanes ? lanes : k.machine.vectorWidth;
  int64_t length = staticRowLength(f);
  if (tail != Guard && (length < vw || length % vw != 0))
    return Func();
  Halide::RVar r = f.rvars(0).front();
  Halide::RVar ro("ro"), ri("ri");
  Var lane("lane");
  Func partial = f.update(0).split(r, ro, ri, vw, tail).rfactor(ri, lane);
  k.factored.push_back(f.name());
  partial.vectorize(lane);
  partial.update(0).vectorize(lane);
  return partial;
}

/// A scalar that sums terms (f() += ..., a loss's total over every element): the terms a vector at a time
/// into 4 vectors of partial sums (rowPartials; 4 chains of additions, not one), which are added at the end.
/// In the Bahdanau step's mean squared error (16,384 terms) a chain of scalar additions took 18 µs, the
/// partial sums 2 µs (AMD EPYC Zen 4). Other scalars are left as they are: there is nothing to spread.
void scheduleScalarSum(Func f, LoweredKernel &k) {
  if (f.num_update_definitions() != 1 || f.rvars(0).empty())
    return;
  Halide::Expr value = f.update_value(0);
  while (const auto *let = value.as<Halide::Internal::Let>())
    value = let->body;
  const auto *add = value.as<Halide::Internal::Add>();
  const auto *self = add ? add->a.as<Halide::Internal::Call>() : nullptr;
  if (!self || self->name != f.name())
    return;
  rowPartials(f, k, Guard, 4 * k.machine.vectorWidth).compute_root();
  f.update(0).atomic().vectorize(f.rvars(0).front());
}

/// Vectorize the innermost pure dimension (by `flat_vectors` vectors at a time), parallelize the outermost;
/// for any Func or update stage. A reduction over rows (a bias's gradient summed over the batch) keeps its
/// sum innermost, so each vector of the result is one chain of dependent additions; where the result's
/// width is static and a multiple of 4 (or 2) vectors, that many vectors at a time make as many chains.
/// In the G2P gradient program, a bias gradient (sum_leading_step_h) took 0.852 ms one vector at a time and
/// 0.306 ms four at a time (Intel Xeon, family 6, model 167; 0.276 and 0.109 ms on the AMD EPYC Zen 4).
void scheduleFlat(Func f, LoweredKernel &k) {
  std::vector<Var> args = f.args();
  if (args.empty())
    return scheduleScalarSum(f, k);
  const int vw = k.machine.vectorWidth;
  int width = staticRowWidth(f);
  int chains = 1;
  if (f.num_update_definitions() > 0 && !f.rvars(0).empty() && width > 0)
    chains = width % (4 * vw) == 0 ? 4 : width % (2 * vw) == 0 ? 2 : 1;
  int vectorWidth = vw * k.knobs.get("flat_vectors", chains, {1, 2, 4});
  // A row of a few vectors' width, fixed by the kernel, is one vector of exactly that width, which LLVM
  // splits into whole and part vectors: no lane is masked (a masked strided load, as a pool's, is a gather).
  if (width > 0 && width % vectorWidth != 0 && width <= 4 * vw)
    vectorWidth = width;
  f.vectorize(args.front(), vectorWidth, Guard);
  if (args.size() > 1)
    f.parallel(args.back());
  for (int u = 0; u < f.num_update_definitions(); ++u) {
    f.update(u).vectorize(args.front(), vectorWidth, Guard);
    if (args.size() > 1)
      f.update(u).parallel(args.back());
  }
}

/// A register tile of a matrix product: `tile_vectors` vectors along n × `tile_rows` rows of accumulators
/// (by default 2 × `defaultRows`, enough independent chains to fill two FMA pipes of latency 4 and more;
/// fewer rows where the registers would not hold the accumulators, one row of operand vectors and a
/// broadcast). Where n has a static extent (`width`) that tiles of 2 vectors would leave lanes of unused,
/// the default is the number of vectors that leaves the fewest (42 outputs in vectors of 16: one tile of 3
/// vectors, not two of 2 whose second computes 22 lanes for nothing).
struct RegisterTile {
  int vectors, rows, outputs; // outputs: the tile's extent along n
};

RegisterTile registerTile(LoweredKernel &k, int defaultRows, int64_t width) {
  const int vw = k.machine.vectorWidth;
  int fewestUnused = 2;
  auto unused = [&](int vectors) { return llvm::alignTo(width, int64_t(vectors) * vw) - width; };
  for (int vectors : {3, 4, 1})
    if (width > 0 && unused(vectors) < unused(fewestUnused))
      fewestUnused = vectors;
  int vectors = k.knobs.get("tile_vectors", fewestUnused, {1, 2, 3, 4});
  int fitting = std::max(1, (k.machine.vectorRegisters - vectors - 2) / vectors);
  int rows = k.knobs.get("tile_rows", std::min(defaultRows, fitting), {2, 3, 4, 6, 8, 12});
  return {vectors, rows, vectors * vw};
}

/// A matrix product: its result (or what it feeds elementwise) is stored, computed in register tiles
/// (registerTile, 2 × `defaultRows`) whose accumulators stay in registers across the sum (storage bounded
/// to the tile, so the guarded last tile keeps them in registers too). A tile spans rows of the result's
/// dimension `tiledRow` (not one of extent 1, whose tile would hold a single row). Tiles of all rows run in
/// parallel; with `by_column` a thread takes a column of tiles instead (every row), so that the n
/// operand's block stays in its cache while the other streams past.
void scheduleMatmulTiles(MatmulStages m, LoweredKernel &k, int defaultRows = 6, bool columns = false) {
  const int vw = k.machine.vectorWidth;
  auto [vectors, rows, outputs] = registerTile(k, defaultRows, m.width);
  bool byColumn = k.knobs.get("by_column", columns, {0, 1});
  std::vector<Var> args = m.result.args(); // n, then rows innermost first
  const size_t tiled = m.tiled(args);
  std::vector<Var> outer = m.untiledRows(args);
  Var no("no"), ni("ni"), ro("ro"), ri("ri"), nv("nv");
  m.result.compute_root().split(args[0], no, ni, outputs, Guard).split(args[tiled], ro, ri, rows, Guard);
  Var tileInner = byColumn ? ro : no, tile = byColumn ? no : ro;
  std::vector<Halide::VarOrRVar> order{ni, ri, tileInner, tile};
  order.insert(order.end(), outer.begin(), outer.end());
  m.result.reorder(order).vectorize(ni, vw).unroll(ni).unroll(ri);
  for (size_t i = 0; i < outer.size(); ++i) {
    Var fused("tile" + std::to_string(i + 2));
    m.result.fuse(tile, outer[i], fused);
    tile = fused;
  }
  m.result.parallel(tile);
  std::vector<Var> acc = m.acc.args(); // the same dimensions, maybe named otherwise
  m.acc.compute_at(m.result, tileInner)
      .bound_storage(acc[0], outputs)
      .bound_storage(acc[tiled], rows)
      .vectorize(acc[0], vw, Guard)
      .unroll(acc[0])
      .unroll(acc[tiled]);
  std::vector<Halide::VarOrRVar> accOrder{nv, acc[0], acc[tiled]};
  for (const Halide::RVar &r : m.acc.rvars(0))
    accOrder.push_back(r);
  for (const Var &v : m.untiledRows(acc))
    accOrder.push_back(v);
  m.acc.update()
      .split(acc[0], acc[0], nv, vw, Guard)
      .reorder(accOrder)
      .vectorize(nv)
      .unroll(acc[0])
      .unroll(acc[tiled]);
}

/// A weight gradient dw(k, n) = Σ_rows dy(n, row) · x(k, row) sums over every row of the batch. Where the
/// rows' slices of x and dy fit half the L2 cache together (at the estimated sizes), it is a product of
/// register tiles as any other (scheduleMatmulTiles). Beyond that, tiles that each ran through all the rows
/// would stream the operands from memory once per tile. Instead each core takes a slab of the result (its
/// share of the column tiles, or of the row tiles where the columns do not share evenly; one tile where
/// the cores are not known), summed in storage of its own, and the rows are taken in blocks of
/// `row_block` that fit half the L2 cache (0: no blocks); a block splits the outermost row dimension.
/// Within a block the register tiles sum into the slab: their sums are loaded and stored once per block,
/// and kept in registers across its rows. The columns share evenly among the cores where they can: 5
/// tiles of columns on 2 cores would leave one idle a fifth of the time, 4 on 16 cores twelve idle
/// throughout.
void scheduleWeightGradient(MatmulStages m, LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  auto [vectors, rows, outputs] = registerTile(k, 8, m.width);
  const int64_t cores = std::max(1, k.machine.cores);
  const int64_t tileColumns = llvm::divideCeilSigned(m.width, outputs);
  const int64_t tileRows = llvm::divideCeilSigned(m.height, rows);
  bool columns = m.height == 0 || (m.width > 0 && (tileColumns % cores == 0 || tileColumns >= 8 * cores));
  bool byColumn = k.knobs.get("by_column", columns, {0, 1});
  const int64_t tiles = byColumn ? tileColumns : tileRows, tileExtent = byColumn ? outputs : rows;
  const int64_t slabTiles = k.machine.cores > 0 && tiles > 0 ? llvm::divideCeilSigned(tiles, cores) : 1;
  const int slabExtent = int(slabTiles * tileExtent);
  // The slices of one row of a block: the slab's columns of x and all of dy's, or the reverse (an extent
  // that is not static counted as 256).
  int64_t other = byColumn ? m.height : m.width;
  int64_t rowBytes = int64_t(sizeof(float)) * (slabExtent + (other > 0 ? other : 256));
  int64_t fitting = std::max<int64_t>(vw, k.machine.l2Bytes / 2 / rowBytes), summed = 1;
  for (int64_t extent : m.summedRows)
    summed *= extent;
  int rowBlock = k.knobs.get("row_block", summed <= fitting ? 0 : int(fitting), {0, 64, 128, 256, 512, 1024});
  if (rowBlock == 0)
    return scheduleMatmulTiles(m, k, 8, byColumn);

  std::vector<Var> args = m.result.args(); // k (columns), n (rows)
  Var slab("slab"), within("within");
  m.result.compute_root();
  if (byColumn)
    m.result.split(args[0], slab, within, slabExtent, Guard).reorder(within, args[1], slab);
  else
    m.result.split(args[1], slab, within, slabExtent, Guard);
  m.result.vectorize(byColumn ? within : args[0], vw, Guard).parallel(slab);

  std::vector<Halide::RVar> r = m.acc.rvars(0); // innermost first, as summedRows
  int64_t innerRows = 1;
  for (size_t i = 0; i + 1 < r.size() && i < m.summedRows.size(); ++i)
    innerRows *= m.summedRows[i];
  std::vector<Var> acc = m.acc.args();
  m.acc.compute_at(m.result, slab).vectorize(acc[0], vw, Guard);
  Var no("no"), ni("ni"), ro("ro"), ri("ri"), nv("nv");
  Halide::RVar blocks("blocks"), block("block");
  std::vector<Halide::VarOrRVar> order{nv, ni, ri};
  order.insert(order.end(), r.begin(), r.end() - 1);
  order.insert(order.end(), {block, no, ro, blocks});
  m.acc.update()
      .split(acc[0], no, ni, outputs, Guard)
      .split(ni, ni, nv, vw, Guard)
      .split(acc[1], ro, ri, rows, Guard)
      .split(r.back(), blocks, block, int(std::max<int64_t>(1, rowBlock / innerRows)), Guard)
      .reorder(order)
      .vectorize(nv)
      .unroll(ni)
      .unroll(ri);
}

/// A product one column wide: each row's dot product is summed a vector of k at a time (the operands are
/// contiguous along k, and what feeds them elementwise is computed a vector at a time), the rows in
/// parallel.
void scheduleRowDots(MatmulStages m, LoweredKernel &k) {
  std::vector<Var> args = m.result.args(); // n (extent 1), then rows innermost first
  m.result.compute_root();
  if (args.size() > 2)
    m.result.parallel(args.back());
  m.acc.compute_at(m.result, args[1]);
  Halide::RVar rk = m.acc.rvars(0).front();
  Halide::RVar ko("ko"), ki("ki");
  m.acc.update().split(rk, ko, ki, k.machine.vectorWidth, Guard).atomic().vectorize(ki);
}

/// A dense layer's sum: in register tiles like any matrix product (scheduleMatmulTiles) that write `result`
/// (the layer's, or what it feeds elementwise); flat over a single vector.
void scheduleDenseStages(DenseStages &d, Func result, LoweredKernel &k) {
  if (d.rows.empty())
    scheduleFlat(d.acc.compute_root(), k);
  else
    scheduleMatmulTiles(d.product(result), k);
}

/// Dense (+ activations): the output is tiled like any matrix product, the activations applied to each
/// tile as it is written; a dense layer over a single vector is flat.
void scheduleDense(LoweredKernel &k) {
  DenseStages &d = k.dense.front();
  if (d.rows.empty())
    k.anchor.vectorize(d.n, k.machine.vectorWidth, Guard);
  scheduleDenseStages(d, k.anchor, k);
}

/// A convolution (+ elementwise ops): output tiles of one vector along a row × `conv_rows` rows ×
/// `conv_channels` output channels accumulate in registers across input channels and the window (by
/// default half the vector registers); the zero-bordered input of a task's image is written once per task.
/// Tasks (tiles of channels × images) run in parallel, so one image still uses every core.
void scheduleConv(LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  Conv2DStages &c = k.conv2d.front();
  Func out = k.anchor;
  int accumulators = k.machine.vectorRegisters / 2;
  int channels = k.knobs.get("conv_channels", std::min(8, c.outChannels), {2, 4, 8, 16});
  int rows = k.knobs.get("conv_rows", std::max(1, accumulators / channels), {1, 2, 4, 8});
  std::vector<Var> args = out.args(); // ow, oh, co, b
  Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), cout("co_tile"), cin("co_in"), task("task");
  out.split(args[0], xo, xi, vw, Guard)
      .split(args[1], yo, yi, rows, Guard)
      .split(args[2], cout, cin, channels, Guard)
      .reorder(xi, yi, cin, xo, yo, cout, args[3])
      .vectorize(xi)
      .unroll(yi)
      .unroll(cin)
      .fuse(cout, args[3], task)
      .parallel(task);
  // The accumulators cover whole vectors past the row's end: the border is computed as far as they read,
  // so those lanes multiply zeros rather than stale memory (denormal garbage there cost Intel cores a
  // microcode assist per instruction; docs/performance.md).
  int columns = (c.outWidth + vw - 1) / vw * vw;
  c.padded.compute_at(out, task)
      .bound(c.padded.args()[0], c.columnMin, (columns - 1) * c.columnStride + c.columnSpan)
      .vectorize(c.padded.args()[0], vw, Guard);
  c.acc.compute_at(out, xo)
      .bound_storage(c.ow, vw)
      .bound_storage(c.oh, rows)
      .bound_storage(c.co, channels)
      .vectorize(c.ow, vw, TailStrategy::RoundUp)
      .unroll(c.oh)
      .unroll(c.co);
  std::vector<Halide::VarOrRVar> order{c.ow, c.oh, c.co};
  std::vector<Halide::RVar> window = c.acc.rvars(0); // input channel, row, column of the window
  order.push_back(window[2]);
  order.push_back(window[1]);
  order.push_back(window[0]);
  order.push_back(c.b);
  // Whole vectors along the row (the zero border supplies the lanes past its end): unmasked, so the
  // accumulators stay in registers.
  c.acc.update()
      .reorder(order)
      .vectorize(c.ow, vw, TailStrategy::RoundUp)
      .unroll(c.oh)
      .unroll(c.co)
      .unroll(window[2]);
}

/// Whether the kernel is an attention chain — (additive_)score, masked_softmax, weighted_sum — possibly
/// behind a query projection.
bool isAttention(const LoweredKernel &k) {
  std::vector<std::string> core = k.pattern;
  if (!core.empty() && core.front() == "dense")
    core.erase(core.begin());
  return core.size() == 3 && (core[0] == "score" || core[0] == "additive_score") &&
         core[1] == "masked_softmax" && core[2] == "weighted_sum";
}

/// Fused attention: for each (batch, head) in parallel, the head's keys are transposed once; then for each
/// query row the scores, their maximum, exponentials and sum are computed for all keys at once (vectorized
/// over keys, contiguous loads), and the context row is accumulated vectorized over the head's features.
/// Nothing larger than one row of scores and one head of keys is stored, unless the kernel yields the
/// probabilities: then they are computed row by row first, and the context rows read them. A query
/// projection in front is computed once, as a dense kernel's (scheduleDenseStages); reindexed results are
/// copies of the stored context or weights.
void scheduleAttention(LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  ScoreStages &s = k.score.front();
  MaskedSoftmaxStages &m = k.maskedSoftmax.front();
  WeightedSumStages &w = k.weightedSum.front();
  Func out = w.result;
  int headSize = static_cast<int>(w.headSize);
  int lanes = std::min(vw, headSize);
  Var h("h"), d("d"), hb("hb");

  for (DenseStages &projection : k.dense)
    scheduleDenseStages(projection, projection.result, k);
  if (!isOutput(k, out))
    out.compute_root();
  out.split(w.c, h, d, headSize)
      .reorder(d, w.i, h, w.b)
      .fuse(h, w.b, hb)
      .parallel(hb)
      .vectorize(d, lanes, Guard);
  // One context row (the head's features) accumulates in registers across all keys.
  Var co("co"), ci("ci");
  Halide::RVar rj(w.acc.rvars(0)[0]);
  w.acc.compute_at(out, w.i).vectorize(w.c, lanes, Guard);
  w.acc.update().split(w.c, co, ci, lanes, Guard).reorder(ci, co, rj).vectorize(ci).unroll(co);

  Func rowOwner = out;
  if (m.escapes) {
    rowOwner = m.result;
    if (!isOutput(k, rowOwner))
      rowOwner.compute_root();
    rowOwner.reorder(m.j, m.i, m.h, m.b).fuse(m.h, m.b, hb).parallel(hb).vectorize(m.j, vw, Guard);
  }
  LoopLevel row(rowOwner, m.escapes ? m.i : w.i);
  LoopLevel headLevel(rowOwner, hb);
  // A row's scores and exponentials are whole vectors of keys (past the last key they are computed from a
  // clamped key and never read), so that rows shorter than a vector are not computed a key at a time; their
  // storage is allocated once per head.
  TailStrategy keyTail = s.keysT.defined() ? TailStrategy::RoundUp : Guard;
  if (s.keysT.defined())
    s.keysT.compute_at(headLevel).vectorize(s.j, vw, keyTail);
  s.dot.compute_at(row).store_at(headLevel).vectorize(s.j, vw, keyTail);
  Halide::RVar sumOver(s.dot.rvars(0)[0]);
  if (s.keysT.defined()) {
    s.dot.update().reorder(s.j, sumOver).vectorize(s.j, vw, keyTail);
  } else if (s.lanes.defined()) {
    // Additive scores: a key's lanes of units accumulate as one vector, then one vector reduction adds
    // them up; no key past the last is computed.
    s.dot.update().reorder(sumOver, s.j).atomic().vectorize(sumOver);
    s.lanes.compute_at(s.dot, s.j).vectorize(s.l);
    s.lanes.update(0).vectorize(s.l);
  } else {
    Halide::RVar uo("uo"), ui("ui");
    s.dot.update().split(sumOver, uo, ui, vw, Guard).reorder(ui, uo, s.j).atomic().vectorize(ui);
  }
  m.max.compute_at(row);
  m.exp.compute_at(row).store_at(headLevel).vectorize(m.j, vw, keyTail);
  m.sum.compute_at(row);
  if (!m.escapes)
    m.result.compute_at(row).store_at(headLevel).vectorize(m.j, vw, keyTail);

  for (Func f : k.outputs)
    if (f.name() != out.name() && f.name() != m.result.name())
      scheduleFlat(f, k);
}

/// Streaming attention: tiles of queries of each (batch, head) in parallel; per tile the state lives across
/// the key blocks, and each block's stages are computed inside the loop over blocks. The two products are
/// register-blocked, half the vector registers in accumulators by default: the scores as `score_vectors`
/// vectors of keys × `score_rows` queries, accumulated over the head's features (keys transposed once per
/// head); the weighted values as `pv_vectors` vectors of the head's features × `pv_rows` queries,
/// accumulated over the block's keys (the head's values copied once into contiguous rows). Taking the
/// features a slice at a time, every query of the tile reuses the slice of the block's values from the L1
/// cache. Block maxima and sums are reduced a vector of keys at a time, for every query of the tile in
/// turn (independent operations rather than one chain per query).
void scheduleStreamingAttention(LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  StreamingAttentionStages &s = k.streaming.front();
  int lanes = std::min(vw, s.valueHeadSize);
  int accumulators = k.machine.vectorRegisters / 2;
  auto rowsFor = [&](int vectors) { return std::clamp(accumulators / vectors, 2, std::min(8, s.queryTile)); };
  int scoreVectors = k.knobs.get("score_vectors", 2, {1, 2, 4});
  int scoreRows = k.knobs.get("score_rows", rowsFor(scoreVectors), {2, 4, 8});
  int headVectors = static_cast<int>(llvm::divideCeil(s.valueHeadSize, lanes));
  int pvVectors = k.knobs.get("pv_vectors", std::min(2, headVectors), {1, 2, 4});
  int pvRows = k.knobs.get("pv_rows", rowsFor(pvVectors), {2, 4, 8});
  for (DenseStages &projection : k.dense)
    scheduleDenseStages(projection, projection.result, k);
  Func out = s.result;
  if (!isOutput(k, out))
    out.compute_root();
  Var h("head"), d("feature"), hb("hb"), io("tile"), ii("query");
  out.split(s.c, h, d, s.valueHeadSize)
      .split(s.i, io, ii, s.queryTile, Guard)
      .reorder(d, ii, io, h, s.b)
      .fuse(h, s.b, hb)
      .parallel(hb)
      .vectorize(d, lanes, Guard);
  // The head's keys transposed in square blocks of one vector of keys × one vector of features, so that
  // each key's features are read as a vector and the block is transposed in registers. A block's rows of
  // keys (one per feature) are a vector longer than the block, so that they do not all fall in the same
  // sets of the L1 cache.
  Var jt("jt"), ji("ji"), dt("dt"), di("di");
  s.keysT.compute_at(out, hb)
      .bound_storage(s.jj, s.keyBlock + vw)
      .tile(s.jj, s.d, jt, dt, ji, di, vw, std::min(vw, s.keyHeadSize), Guard)
      .reorder(ji, di, jt, dt)
      .vectorize(ji)
      .unroll(di);
  s.valuesT.compute_at(out, hb).vectorize(s.d, lanes, Guard);

  // Fixed-size state and score blocks live on the stack instead of being allocated per tile and block.
  s.state.compute_at(out, io)
      .bound_storage(s.d, s.valueHeadSize)
      .bound_storage(s.ii, s.queryTile)
      .store_in(Halide::MemoryType::Stack)
      .vectorize(s.d, lanes, Guard);
  Halide::RVar rb(s.state.rvars(0)[0]);
  s.state.update().reorder(s.d, s.ii, rb).vectorize(s.d, lanes, Guard);
  LoopLevel block(s.state, rb);

  Var jo("jo"), jv("jv"), jo2("jo2"), po("po"), pi("pi"), dOuter("d_outer"), dInner("d_inner");
  Halide::RVar rd(s.dot.rvars(0)[0]);
  Var io2("io2"), ii2("ii2");
  s.scores.compute_at(block)
      .bound_storage(s.jj, s.keyBlock)
      .bound_storage(s.i, s.queryTile)
      .store_in(Halide::MemoryType::Stack)
      .split(s.jj, jo, jv, scoreVectors * vw)
      .split(s.i, io2, ii2, std::min(scoreRows, s.queryTile))
      .reorder(jv, ii2, jo, io2)
      .vectorize(jv, vw)
      .unroll(jv)
      .unroll(ii2);
  s.dot.compute_at(s.scores, jo).vectorize(s.jj, vw).unroll(s.jj).unroll(s.i);
  // The sum over a head's few features unrolled by 4: fewer loop branches per register block.
  s.dot.update()
      .split(s.jj, jo2, jv, vw)
      .reorder(jv, jo2, s.i, rd)
      .vectorize(jv)
      .unroll(jo2)
      .unroll(s.i)
      .unroll(rd, 4, Guard);

  for (Func f : {s.laneMax, s.laneSum}) {
    f.compute_at(block).vectorize(s.lane);
    f.update().reorder(s.lane, s.i, Halide::RVar(f.rvars(0)[0])).vectorize(s.lane).unroll(s.i, s.queryTile);
  }
  // Each row's lanes reduced as one vector (a few shuffles) rather than a chain of scalar operations.
  for (Func f : {s.blockMax, s.blockSum}) {
    f.compute_at(block);
    f.update().atomic().vectorize(Halide::RVar(f.rvars(0)[0]));
  }
  s.probs.compute_at(block).vectorize(s.jj, vw, Guard);

  Halide::RVar rj(s.pvAcc.rvars(0)[0]);
  Var pd("pd"), pdv("pdv"), slice("slice"), ps("ps");
  s.pv.compute_at(block)
      .split(s.i, po, pi, std::min(pvRows, s.queryTile))
      .split(s.d, slice, ps, pvVectors * lanes, Guard)
      .split(ps, pd, pdv, lanes, Guard)
      .reorder(pdv, pd, pi, po, slice)
      .vectorize(pdv)
      .unroll(pd)
      .unroll(pi);
  s.pvAcc.compute_at(s.pv, po).vectorize(s.d, lanes, Guard).unroll(s.i);
  s.pvAcc.update()
      .split(s.d, dOuter, dInner, lanes, Guard)
      .reorder(dInner, dOuter, s.i, rj)
      .vectorize(dInner)
      .unroll(dOuter)
      .unroll(s.i);

  for (Func f : k.outputs)
    if (f.name() != out.name())
      scheduleFlat(f, k);
}

/// Row reductions (softmax, layer norm): the output is vectorized along the row and parallel across rows;
/// each row's statistics are computed once, just before the row is written. Returns the loop level of one
/// row (the root for a rank-1 tensor).
LoopLevel scheduleRows(Func out, int vw) {
  std::vector<Var> args = out.args();
  out.vectorize(args.front(), vw, Guard);
  if (args.size() < 2)
    return LoopLevel::root();
  out.parallel(args.back());
  return LoopLevel(out, args[1]);
}

/// Softmax: per row, the exponentials are stored once and reused by the sum and the division.
void scheduleSoftmax(LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  SoftmaxStages &s = k.softmax.front();
  LoopLevel row = scheduleRows(k.anchor, vw);
  s.max.compute_at(row);
  s.exp.compute_at(row).vectorize(s.x, vw, Guard);
  s.sum.compute_at(row);
}

/// A sum along a row computed at `row` (rowPartials).
void scheduleRowSum(Func f, LoopLevel row, LoweredKernel &k) {
  f.compute_at(row);
  if (Func partial = rowPartials(f, k); partial.defined())
    partial.compute_at(row);
}

/// A reduction along rows stored for all of them (LoweredKernel::rowSums): the rows in parallel, each
/// reduced as partial results (rowPartials) where its length is whole vectors, else flat.
void scheduleRowSumsAtRoot(Func f, LoweredKernel &k) {
  std::vector<Var> args = f.args();
  Func partial = args.size() > 1 ? rowPartials(f, k) : Func();
  if (!partial.defined())
    return scheduleFlat(f.compute_root(), k);
  partial.compute_at(f, args.front());
  f.compute_root().parallel(args.back());
  f.update(0).parallel(args.back());
}

/// Layer norm: per row, the mean and then the variance, then the normalized row.
void scheduleLayerNorm(LoweredKernel &k) {
  LayerNormStages &s = k.layerNorm.front();
  LoopLevel row = scheduleRows(k.anchor, k.machine.vectorWidth);
  scheduleRowSum(s.mean, row, k);
  scheduleRowSum(s.variance, row, k);
}

/// Layer norm's gradient: per row, the moments and the means of the incoming gradient (and of its product
/// with the normalized row), then the row of the input's gradient.
void scheduleLayerNormGrad(LoweredKernel &k) {
  LoopLevel row = scheduleRows(k.anchor, k.machine.vectorWidth);
  for (Func f : k.reductions)
    scheduleRowSum(f, row, k);
}

/// Cross-entropy and its gradient over a few classes (a vocabulary of phonemes or characters; the row of one
/// position is at most four vectors long): each row statistic (max, Σ exp, Σ logits) is computed a vector of
/// classes at a time into partial results (rowPartials), which one vector reduction adds up; the gradient is
/// vectorized along the classes. The whole is tens of microseconds of work, less than waking the other
/// cores costs, so it runs on one. Returns false, leaving the kernel unscheduled, for more classes and for
/// any other kernel.
bool scheduleCrossEntropy(LoweredKernel &k) {
  if (k.pattern != std::vector<std::string>{"cross_entropy"} &&
      k.pattern != std::vector<std::string>{"cross_entropy_grad"})
    return false;
  const int vw = k.machine.vectorWidth;
  int64_t classes = 0;
  for (Func f : k.reductions)
    if (f.dimensions() > 0)
      classes = std::max(classes, staticRowLength(f));
  if (classes == 0 || classes > 4 * vw)
    return false;
  for (Func f : k.reductions) {
    f.compute_root(); // the loss's total and the count of positions: one serial sum each
    if (f.dimensions() == 0)
      continue;
    rowPartials(f, k, Guard).compute_at(f, f.args().front());
    f.update(0).atomic().vectorize(f.rvars(0).front()); // the lanes added as one vector reduction
  }
  if (k.anchor.dimensions() > 0 && classes >= vw) // the gradient, [..., classes]
    k.anchor.vectorize(k.anchor.args().front(), vw, TailStrategy::ShiftInwards);
  return true;
}

/// A recurrence whose rows along `batch` are independent: stored with `batch` innermost and computed a
/// vector of rows at a time, each lane running its row's serial loops (the other dimensions of the update
/// are reduction variables, in order), the vectors in parallel.
void scheduleRecurrence(Func f, Var batch, int vw) {
  std::vector<Var> storage{batch};
  for (const Var &v : f.args())
    if (v.name() != batch.name())
      storage.push_back(v);
  f.compute_root().reorder_storage(storage);
  Var outer(batch.name() + "_vectors"), inner(batch.name() + "_lanes");
  std::vector<Halide::VarOrRVar> pureOrder{inner};
  for (const Var &v : f.args())
    if (v.name() != batch.name())
      pureOrder.push_back(v);
  pureOrder.push_back(outer);
  f.split(batch, outer, inner, vw, Guard).reorder(pureOrder).vectorize(inner).parallel(outer);
  for (int u = 0; u < f.num_update_definitions(); ++u) {
    std::vector<Halide::VarOrRVar> order{inner};
    for (const Halide::RVar &r : f.rvars(u))
      order.push_back(r);
    std::vector<Halide::Expr> lhs = f.update_args(u);
    for (size_t i = 0; i < lhs.size(); ++i)
      if (auto *v = lhs[i].as<Halide::Internal::Variable>();
          v && v->name != batch.name() && !v->reduction_domain.defined())
        order.push_back(f.args()[i]);
    order.push_back(outer);
    Halide::Stage update = f.update(u);
    update.split(batch, outer, inner, vw, Guard).reorder(order).vectorize(inner).parallel(outer);
  }
}

/// A recurrence stored f(lane, slot, step, vec) (LoweredKernel::LaneRecurrence): a vector of rows at a
/// time, the vectors in parallel. Its update over (x, kc, z, step) runs a block of slots x together: as
/// one wider vector where the block is aligned with the regions of slots (then each chunk of k keeps the
/// block's running sums in registers and reads each hidden value once for the whole block), else
/// unrolled.
void scheduleLaneRecurrence(const LoweredKernel::LaneRecurrence &rec) {
  Func f = rec.f;
  f.compute_root().bound_extent(rec.lane, rec.lanes).vectorize(rec.lane).parallel(rec.vec);
  for (int u = 0; u < f.num_update_definitions(); ++u) {
    std::vector<Halide::VarOrRVar> order{rec.lane};
    for (const Halide::RVar &r : f.rvars(u))
      order.push_back(r);
    order.push_back(rec.vec);
    Halide::Stage update = f.update(u);
    update.reorder(order).vectorize(rec.lane).parallel(rec.vec);
    if (f.rvars(u).size() != 4)
      continue;
    if (rec.blockVector) // the block's slots are independent within a step: no two lanes touch one slot
      update.allow_race_conditions().vectorize(f.rvars(u).front());
    else
      update.unroll(f.rvars(u).front());
  }
}

/// Lanes of the vectors along a row `width` wide: the whole row where it is at most `maxVectors` vectors
/// (LLVM splits it into whole and part vectors, none masked), else one vector.
int rowLanes(int width, int vw, int maxVectors) { return width <= maxVectors * vw ? width : vw; }

/// A global pool (LoweredKernel::ChannelPool): the images in parallel, a channel at a time. Its columns
/// are one vector of the rows' width, without a tail: LLVM splits a width such as 28 into whole vectors
/// (16 + 8 + 4), where a guarded tail would be masked, and a masked store does not forward to the next
/// row's load, so the running sums would stay in memory. The columns are then folded by one vector
/// reduction per channel. Rows wider than 8 vectors, whose sums would not fit the registers, are taken a
/// vector at a time.
void scheduleChannelPool(const LoweredKernel::ChannelPool &pool, int vw) {
  Var c = pool.channels.args()[0], b = pool.channels.args()[1], px = pool.columns.args()[0];
  Func channels = pool.channels, columns = pool.columns;
  channels.compute_root().parallel(b);
  channels.update(0).atomic().vectorize(channels.rvars(0).front()).parallel(b);
  columns.compute_at(channels, c).bound(px, 0, pool.width);
  int lanes = rowLanes(pool.width, vw, 8);
  columns.vectorize(px, lanes, Guard);
  columns.update(0).vectorize(px, lanes, Guard);
}

/// A convolution's weight gradient (LoweredKernel::ConvWeightGrad): the input's zero-bordered copy once;
/// a thread takes a tile of output channels (`wgrad_channels`); per input channel, kernel row and chunk of
/// the output rows (the whole row where it is at most 4 vectors wide, else a vector), the sums at each
/// position of the chunk for every kernel column × the tile's channels stay in registers across all rows
/// of all images; each weight then adds its chunk's positions.
void scheduleConvWeightGrad(const LoweredKernel::ConvWeightGrad &g, LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  int lanes = rowLanes(g.width, vw, 4);
  int perChannel = g.kernelWidth * ((lanes + vw - 1) / vw); // accumulators of one output channel
  int fitting = std::max(1, (k.machine.vectorRegisters - perChannel - 2) / perChannel);
  int channels = k.knobs.get("wgrad_channels", std::min(8, fitting), {1, 2, 4, 8, 16});
  Func padded = g.padded, rows = g.rows, dw = g.dw;
  std::vector<Var> p = padded.args();
  padded.compute_root().vectorize(p[0], vw, Guard).parallel(p[3]);
  std::vector<Var> w = dw.args(); // kx, ky, cig, co
  Var tile("co_tile"), inTile("co_in");
  Halide::RVar along = dw.rvars(0)[0], chunk("chunk"), lane("lane");
  dw.compute_root().split(w[3], tile, inTile, channels, Guard).parallel(tile);
  dw.update(0)
      .split(w[3], tile, inTile, channels, Guard)
      .split(along, chunk, lane, lanes, Guard)
      .reorder(lane, w[0], inTile, chunk, w[1], w[2], tile)
      .parallel(tile);
  std::vector<Var> r = rows.args(); // u, kx, ky, cig, co
  std::vector<Halide::RVar> sums = rows.rvars(0); // output row, image
  rows.compute_at(dw, chunk)
      .bound_storage(r[0], lanes)
      .bound_storage(r[1], g.kernelWidth)
      .bound_storage(r[4], channels)
      .vectorize(r[0], lanes, Guard)
      .unroll(r[1])
      .unroll(r[4]);
  rows.update(0)
      .reorder(r[0], r[1], r[4], sums[0], sums[1], r[2], r[3])
      .vectorize(r[0], lanes, Guard)
      .unroll(r[1])
      .unroll(r[4]);
}

/// The gradients of one additive score (LoweredKernel::AdditiveScoreGrad), flat-scheduled with the batch
/// rows in parallel, share one loop over the rows (Halide's compute_with): a row's tanh(q + k) is computed
/// into a buffer that stays in cache while each gradient reads it, rather than stored for the whole batch
/// and read back by each: a third of the memory traffic. In the Bahdanau step's gradient (one query, 40
/// keys, 256 units, batch 64: 2.6 MB of keys and as much of their gradient), 0.26–1.10 ms as separate
/// loops, 0.23–0.47 ms fused (AMD EPYC Zen 4, 2 threads, 8 rounds; the upper ends when other tenants load
/// the memory). On one thread, where the arithmetic sets the pace, both take 0.44–0.56 ms.
/// The loop is that of the last stage of the Func with the fewest (the keys' gradient of a single query has
/// one); every stage of the others is computed in it. Halide fuses no stage with another of its own Func,
/// so the parent's earlier stages, if any, run before it on their own: an initial value, no tanh.
void fuseAdditiveScoreGrad(const LoweredKernel::AdditiveScoreGrad &g, int vw) {
  Func parent = *llvm::min_element(g.perRow, [](Func a, Func b) {
    return a.num_update_definitions() < b.num_update_definitions();
  });
  int last = parent.num_update_definitions();
  Halide::Stage loop = last ? parent.update(last - 1) : Halide::Stage(parent);
  Var row = parent.args().back();
  for (Func f : g.perRow) {
    if (f.name() == parent.name())
      continue;
    f.compute_with(loop, row);
    for (int u = 0; u < f.num_update_definitions(); ++u)
      f.update(u).compute_with(loop, row);
  }
  Func tanh = g.tanh;
  tanh.compute_at(parent, row).vectorize(tanh.args().front(), vw, Guard);
}

/// Any other kernel (convolutions, pooling, CNN attention, unfused primitives): every stage with a
/// reduction is computed once, flat-scheduled; maps are inlined.
void scheduleGeneric(LoweredKernel &k) {
  const int vw = k.machine.vectorWidth;
  std::set<std::string> scheduled; // not scheduled again as outputs
  for (const LoweredKernel::AdditiveScoreGrad &g : k.additiveScoreGrads)
    scheduled.insert(g.tanh.name()); // computed per batch row (fuseAdditiveScoreGrad)
  for (Func wT : k.transposes)
    scheduled.insert(wT.name()); // scheduleTranspose
  auto root = [&](Func f) {
    scheduleFlat(f.compute_root(), k);
    scheduled.insert(f.name());
  };
  for (MatmulStages &m : k.matmuls) {
    if (m.width == 1)
      scheduleRowDots(m, k);
    else
      scheduleMatmulTiles(m, k);
    scheduled.insert(m.result.name());
  }
  for (DenseStages &d : k.dense)
    if (d.rows.empty())
      root(d.acc);
  for (SoftmaxStages &s : k.softmax) {
    root(s.max);
    root(s.sum);
  }
  for (LayerNormStages &s : k.layerNorm) {
    root(s.mean);
    root(s.variance);
  }
  for (ScoreStages &s : k.score) {
    if (!s.lanes.defined()) {
      root(s.dot);
      continue;
    }
    // Per (key, query): the lanes accumulate as one vector, then fold into the score.
    s.dot.compute_root().parallel(s.b);
    s.dot.update(0).atomic().vectorize(s.dot.rvars(0).front()).parallel(s.b);
    s.lanes.compute_at(s.dot, s.j).vectorize(s.l);
    s.lanes.update(0).vectorize(s.l);
  }
  for (MaskedSoftmaxStages &m : k.maskedSoftmax) {
    root(m.max);
    root(m.sum);
  }
  for (const LoweredKernel::ChannelPool &pool : k.channelPools) {
    scheduleChannelPool(pool, vw);
    scheduled.insert({pool.columns.name(), pool.channels.name()});
  }
  for (const LoweredKernel::ConvWeightGrad &g : k.convWeightGrads) {
    scheduleConvWeightGrad(g, k);
    scheduled.insert({g.rows.name(), g.dw.name()});
  }
  for (Func f : k.reductions)
    if (isAmong(k.rowSums, f))
      scheduleRowSumsAtRoot(f, k);
    else if (!scheduled.count(f.name()))
      root(f);
  for (auto &[f, batch] : k.recurrences) {
    scheduleRecurrence(f, batch, vw);
    scheduled.insert(f.name());
  }
  for (const LoweredKernel::LaneRecurrence &rec : k.laneRecurrences) {
    scheduleLaneRecurrence(rec);
    scheduled.insert(rec.f.name());
  }
  for (const LoweredKernel::LaneCopy &copy : k.laneCopies) {
    // A vector of slots for each of a vector's rows, unrolled: the loads of the rows' lanes are strided,
    // and Halide turns a group of them into whole vectors and shuffles.
    Var so("so"), si("si"), ro("ro"), ri("ri");
    std::vector<Halide::VarOrRVar> order{si, ri, so};
    for (const Var &v : copy.f.args())
      if (v.name() != copy.slot.name() && v.name() != copy.row.name())
        order.push_back(v);
    order.push_back(ro);
    Func f = copy.f;
    f.compute_root()
        .split(copy.slot, so, si, vw, Guard)
        .split(copy.row, ro, ri, copy.lanes, Guard)
        .reorder(order)
        .vectorize(si)
        .unroll(ri)
        .parallel(ro);
    scheduled.insert(copy.f.name());
  }
  for (Func out : k.outputs)
    if (!scheduled.count(out.name()))
      scheduleFlat(out, k);
  for (const LoweredKernel::AdditiveScoreGrad &g : k.additiveScoreGrads)
    fuseAdditiveScoreGrad(g, vw);
}

/// wT(n, k) = w(k, n), stored once per call: square blocks of one vector along n × vw along k, so that rows
/// of w are read as vectors and transposed in registers.
void scheduleTranspose(Func wT, int vw) {
  Var n = wT.args()[0], k = wT.args()[1], no("no"), ni("ni"), ko("ko"), ki("ki");
  wT.compute_root().tile(n, k, no, ko, ni, ki, vw, vw, Guard).reorder(ni, ki, no, ko);
  wT.vectorize(ni).unroll(ki).parallel(ko);
}

/// Random words f(counter, word): tasks of 8 vectors of counters; per vector the four words unrolled, so
/// that the generator's rounds, the same for all four, are computed once.
void scheduleRandomBits(const LoweredKernel::RandomBits &r, int vw) {
  Var task("task"), vectors("vectors"), lanes("lanes");
  Func f = r.f;
  f.compute_root()
      .bound(r.word, 0, 4)
      .split(r.counter, task, vectors, 8 * vw, Guard)
      .split(vectors, vectors, lanes, vw, Guard)
      .reorder(r.word, lanes, vectors, task)
      .unroll(r.word)
      .vectorize(lanes)
      .parallel(task);
}

} // namespace

void mlir::attn::halide::applyDefaultSchedule(LoweredKernel &k) {
  if (k.machine.gpu)
    return applyGpuSchedule(k);
  const int vw = k.machine.vectorWidth;
  for (Func wT : k.transposes)
    scheduleTranspose(wT, vw);
  for (const LoweredKernel::RandomBits &r : k.randomBits)
    scheduleRandomBits(r, vw);
  if (!k.streaming.empty())
    return scheduleStreamingAttention(k);
  if (isAttention(k))
    return scheduleAttention(k); // stores what it yields through reindexing ops itself
  // Reindexing ops after the pattern's result make the outputs copies of it: it is stored, they are flat.
  bool copies = k.anchor.defined() && !isOutput(k, k.anchor);
  if (copies)
    k.anchor.compute_root();
  if (patternIs(k, {"dense"}))
    scheduleDense(k);
  else if ((patternIs(k, {"conv2d"}) || patternIs(k, {"conv2d_grad"})) && k.conv2d.size() == 1 &&
             k.anchor.dimensions() == 4)
    scheduleConv(k); // elementwise ops after it keep the convolution's shape
  else if (k.pattern == std::vector<std::string>{"dense_grad_weight"})
    scheduleWeightGradient(k.matmuls.front(), k);
  else if (patternIs(k, {"softmax"}) || patternIs(k, {"log_softmax"}))
    scheduleSoftmax(k);
  else if (patternIs(k, {"layer_norm"}))
    scheduleLayerNorm(k);
  else if (patternIs(k, {"layer_norm_grad"}))
    scheduleLayerNormGrad(k);
  else if (!scheduleCrossEntropy(k))
    return scheduleGeneric(k);
  if (copies)
    for (Func f : k.outputs)
      scheduleFlat(f, k);
}
