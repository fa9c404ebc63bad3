// The ops that draw random numbers in training: dropout's masks and random shifts' offsets, from a
// counter-based stream (Philox4x32-10) keyed by the run's seed, so that they depend on no thread count.
#include "AlgorithmBuilder.h"

#include <array>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

static Expr u32(uint64_t v) { return Halide::Internal::UIntImm::make(Halide::UInt(32), v); }

/// 128 random bits for each counter: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1,
/// 2, 3", 2011), keyed by (k0, k1), of the counter (c0, c1, c2, c3); its four words.
static std::array<Expr, 4> philox(Expr c0, Expr c1, Expr c2, Expr c3, Expr k0, Expr k1) {
  auto mulhilo = [](uint32_t m, Expr a) {
    Expr product = Halide::cast<uint64_t>(a) * Halide::Internal::UIntImm::make(Halide::UInt(64), m);
    return std::pair{Halide::cast<uint32_t>(product >> 32), Halide::cast<uint32_t>(product)};
  };
  for (int round = 0; round < 10; ++round) {
    auto [hi0, lo0] = mulhilo(0xD2511F53u, c0);
    auto [hi1, lo1] = mulhilo(0xCD9E8D57u, c2);
    Expr n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
    k0 = k0 + u32(0x9E3779B9u);
    k1 = k1 + u32(0xBB67AE85u);
  }
  return {c0, c1, c2, c3};
}

/// Word `i` of the seed input (seed low and high, step, row offset, on, decoder step) as unsigned.
static Expr seedWord(const Func &seed, int i) { return Halide::cast<uint32_t>(seed(i)); }

FailureOr<HTensor> AlgorithmBuilder::lowerDropout(DropoutOp op) {
  const HTensor &x = values[op.getInput()];
  if (!op.getSeed()) // inference
    return x;
  Func seed = values[op.getSeed()].func;
  auto word = [&](int i) { return seedWord(seed, i); };
  std::vector<Var> vars = makeVars(x.rank(), "e");
  // The element's index in the whole batch: this process's rows start at the row offset. Static sizes come
  // from the op's type, so that the index is the same whatever computed x.
  auto type = cast<RankedTensorType>(op.getType());
  Expr index = 0;
  for (size_t d = 0; d < x.rank(); ++d) {
    Expr i = vars[x.rank() - 1 - d];
    if (d == 0)
      i = i + Halide::cast<int>(seed(3));
    Expr extent = type.isDynamicDim(d) ? x.extent(d) : Expr(static_cast<int>(type.getDimSize(d)));
    index = index * extent + i;
  }
  // Element e takes word e mod 4 of counter e / 4, so that one evaluation of Philox serves four elements.
  auto words = [&](Expr counter) {
    return philox(Halide::cast<uint32_t>(counter), word(2), u32(op.getStream()), word(5), word(0), word(1));
  };
  auto pick = [](const std::array<Expr, 4> &w, Expr which) {
    return Halide::select(which == 0, w[0], which == 1, w[1], which == 2, w[2], w[3]);
  };
  Expr bits;
  if (out.machine.gpu) { // a thread per element
    bits = pick(words(index / 4), index % 4);
  } else { // stored four planes of words per call, each vector of counters computing Philox once
    Var c("c"), w("w");
    Func planes(name(op, "dropout_bits"));
    planes(c, w) = pick(words(c), w);
    out.randomBits.push_back({planes, c, w});
    bits = planes(index / 4, index % 4);
  }
  float rate = op.getRate().convertToFloat();
  // Kept where the random word is at least rate·2^32.
  auto threshold = static_cast<uint32_t>(std::min(double(rate) * 4294967296.0, 4294967295.0));
  Expr keep = bits >= u32(threshold);
  Func f(name(op, "dropout"));
  f(vars) = Halide::select(seed(4) == 0, x.func(vars),
                           Halide::select(keep, x.func(vars) * (1.0f / (1.0f - rate)), 0.0f));
  out.elementwise.push_back(f);
  return HTensor{f, x.shape};
}

/// result[n, ..., y, x] = input[n, ..., y − dy(n), x − dx(n)], 0 outside the image; (dy, dx) uniform in
/// [−pixels, pixels]² from example n's random word (its low and high half-words), negated for `inverse`.
FailureOr<HTensor> AlgorithmBuilder::lowerRandomShift(RandomShiftOp op) {
  const HTensor &x = values[op.getInput()];
  if (!op.getSeed()) // inference
    return x;
  Func seed = values[op.getSeed()].func;
  std::vector<Var> vars = makeVars(x.rank(), "e");
  Expr row = Halide::cast<uint32_t>(vars.back()) + seedWord(seed, 3);
  Expr bits = philox(row, seedWord(seed, 2), u32(op.getStream()), seedWord(seed, 5), seedWord(seed, 0),
                     seedWord(seed, 1))[0];
  auto pixels = int(op.getPixels());
  auto offset = [&](Expr half) {
    Expr d = Halide::cast<int>(half % u32(2 * pixels + 1)) - pixels;
    return op.getInverse() ? -d : d;
  };
  Expr dx = offset(bits & u32(0xFFFF)), dy = offset(bits >> 16);
  Expr width = x.extent(x.rank() - 1), height = x.extent(x.rank() - 2);
  Expr fromX = vars[0] - dx, fromY = vars[1] - dy;
  std::vector<Expr> index(vars.begin(), vars.end());
  index[0] = Halide::clamp(fromX, 0, width - 1);
  index[1] = Halide::clamp(fromY, 0, height - 1);
  Expr inside = fromX >= 0 && fromX < width && fromY >= 0 && fromY < height;
  Func f(name(op, "random_shift"));
  f(vars) = Halide::select(seed(4) == 0, x.func(vars), Halide::select(inside, x.func(index), 0.0f));
  return HTensor{f, x.shape};
}
