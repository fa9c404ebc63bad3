// The decoder loop of attn.decode: teacher forcing, greedy search and beam search over a step body of
// Halide kernels. The step runs on N rows at once (the batch, or batch × beam width); between steps the
// runtime picks the next tokens and moves the carried state, reordering its rows when beams are pruned.
#include "Execution.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>

namespace attn::rt {

namespace {

constexpr double kDead = -std::numeric_limits<double>::infinity();

int64_t rowSize(const Shape &shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i)
    n *= shape[i];
  return n;
}

/// Host pointer of a buffer as 4-byte elements (f32 and i32 alike).
char *hostOf(halide_buffer_t *b) { return reinterpret_cast<char *>(b->host); }

/// The value of the runtime-made dropout seed a decoder's step kernels read, or -1: each step of the loop
/// writes its step into it (word 5), so that dropout draws a mask per step.
int32_t dropoutSeed(const attn_model_spec &spec, const attn_decoder &d) {
  for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k) {
    const attn_kernel &kernel = spec.kernels[k];
    for (int32_t a = 0; a < kernel.num_args - kernel.num_results; ++a)
      if (const attn_value &v = spec.values[kernel.args[a]];
          v.role == ATTN_ROLE_INPUT && std::string_view(v.name) == kDropoutSeedInput)
        return kernel.args[a];
  }
  return -1;
}

/// A hypothesis that ended: its normalised score, and where its last token was chosen.
struct Finished {
  double score;
  int64_t step;   // the step that chose its last token
  int64_t row;    // the row whose scores gave that token
  int32_t token;  // that token
};

/// A buffer over part of another's host memory, with dimensions of its own (a copy of the other's, to
/// narrow or drop).
struct HostView {
  explicit HostView(const halide_buffer_t &of) : buffer(of), dims(of.dim, of.dim + of.dimensions) {
    buffer.device = 0;
    buffer.device_interface = nullptr;
    buffer.flags = 0;
  }
  HostView(const HostView &) = delete;
  HostView &operator=(const HostView &) = delete;

  /// Takes the dimensions as they are now.
  void setDims() {
    buffer.dimensions = int32_t(dims.size());
    buffer.dim = dims.data();
  }

  halide_buffer_t buffer;
  std::vector<halide_dimension_t> dims;
};

/// Step t of a stack [rows, steps, ...] as a tensor [rows, ...] in the stack's own memory (its rows `steps`
/// rows apart), so that a step's kernels read or write their slice of the stack in place. Only for stacks
/// of rank 3 or more, whose innermost dimension stays contiguous, as kernels require.
struct StepView : HostView {
  explicit StepView(const halide_buffer_t &stack) : HostView(stack), base(stack.host) {
    size_t stepDim = dims.size() - 2; // Halide's order: innermost first, so the rows are last
    stepBytes = dims[stepDim].stride * int64_t(stack.type.bytes());
    dims.erase(dims.begin() + stepDim);
    setDims();
  }

  static bool fits(const halide_buffer_t &stack) { return stack.host && stack.dimensions >= 3; }
  halide_buffer_t *at(int64_t t) {
    buffer.host = base + t * stepBytes;
    return &buffer;
  }

  uint8_t *base;
  int64_t stepBytes = 0;
};

/// Rows [first, first + count) of a host buffer's outermost dimension, as a buffer of their own.
struct RowRange : HostView {
  RowRange(const halide_buffer_t &of, int64_t first, int64_t count) : HostView(of) {
    halide_dimension_t &rows = dims.back();
    buffer.host = of.host + first * rows.stride * of.type.bytes();
    rows.min = 0;
    rows.extent = static_cast<int32_t>(count);
    setDims();
  }
};

/// Where the parts of a decoder split by rows (runSplit) put the stacks they emit: row ranges of one
/// tensor of the whole batch, allocated by the first part to need it, so that nothing is joined after.
struct SharedStacks {
  Execution &whole;
  int64_t batch;
  std::mutex lock;
  std::set<int32_t> allocated; // the results allocated so far
};

class Decoder {
public:
  Decoder(Execution &ex, const attn_decoder &d, SharedStacks *shared = nullptr, int64_t firstRow = 0)
      : ex(ex), d(d), shared(shared), firstRow(firstRow) {}

  Status run() {
    const Shape &init = ex.shapes[d.mode == ATTN_DECODE_REVERSE ? d.teacher : d.state_init[0]];
    batch = init.empty() ? 1 : init[0];
    width = d.mode == ATTN_DECODE_BEAM ? d.width : 1;
    rows = batch * width;
    if (Status s = setUp(); !s)
      return s;
    Status s = d.mode == ATTN_DECODE_TEACHER   ? teacher()
               : d.mode == ATTN_DECODE_REVERSE ? reverse()
                                               : search();
    tearDown();
    return s;
  }

private:
  /// Sizes the step's values for `rows` rows, tiles the initial state and the batched captures, and
  /// allocates every step kernel's results once for the whole loop.
  Status setUp() {
    if (Status s = ex.allocate(d.token, {rows}); !s)
      return s;
    if (d.position >= 0)
      if (Status s = ex.allocate(d.position, {rows}); !s)
        return s;
    auto tiled = [&](int32_t from, int32_t to) -> Status {
      Shape shape = ex.shapes[from];
      shape[0] = rows;
      if (Status s = ex.toHost(from); !s)
        return s;
      if (Status s = ex.allocate(to, shape); !s)
        return s;
      int64_t bytes = rowSize(shape) * Tensor::kElementSize;
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(hostOf(ex.buffers[to]) + r * bytes, hostOf(ex.buffers[from]) + (r / width) * bytes,
                    bytes);
      return {};
    };
    for (int32_t i = 0; i < d.num_states; ++i) {
      if (d.mode == ATTN_DECODE_REVERSE) { // accumulators of any shape, copied whole
        if (Status s = ex.toHost(d.state_init[i]); !s)
          return s;
        if (Status s = ex.allocate(d.state_in[i], ex.shapes[d.state_init[i]]); !s)
          return s;
        std::memcpy(hostOf(ex.buffers[d.state_in[i]]), hostOf(ex.buffers[d.state_init[i]]),
                    elements(d.state_init[i]) * Tensor::kElementSize);
        continue;
      }
      if (Status s = tiled(d.state_init[i], d.state_in[i]); !s)
        return s;
    }
    for (int32_t i = 0; i < d.num_sequences; ++i) {
      Shape shape = ex.shapes[d.sequences[i]];
      shape.erase(shape.begin() + 1);
      if (Status s = ex.allocate(d.sequence_views[i], shape); !s)
        return s;
    }
    for (int32_t i = 0; i < d.num_captures; ++i) {
      if (width > 1) {
        if (Status s = tiled(d.captures[i], d.views[i]); !s)
          return s;
      } else {
        ex.shapes[d.views[i]] = ex.shapes[d.captures[i]];
        ex.buffers[d.views[i]] = ex.buffers[d.captures[i]]; // one row per batch row: read it in place
      }
    }
    for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k) {
      const attn_kernel &kernel = ex.spec.kernels[k];
      for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a) {
        ex.computeShape(kernel.args[a]);
        if (Status s = ex.allocate(kernel.args[a], ex.shapes[kernel.args[a]]); !s)
          return makeError("decoder '", d.name, "': ", s.message());
      }
    }
    for (int32_t i = 0; i < d.num_emits; ++i)
      emitSize.push_back(rowSize(ex.shapes[d.emits[i]]));
    return {};
  }

  /// Releases everything the step owned; the results stay.
  void tearDown() {
    auto drop = [&](int32_t v) {
      if (ex.temps[v].buffer() == ex.buffers[v])
        ex.release(v);
      else
        ex.buffers[v] = nullptr;
    };
    drop(d.token);
    if (d.position >= 0)
      drop(d.position);
    for (int32_t i = 0; i < d.num_states; ++i)
      drop(d.state_in[i]);
    for (int32_t i = 0; i < d.num_sequences; ++i)
      drop(d.sequence_views[i]);
    for (int32_t i = 0; i < d.num_captures; ++i)
      drop(d.views[i]);
    for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k) {
      const attn_kernel &kernel = ex.spec.kernels[k];
      for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a)
        drop(kernel.args[a]);
    }
  }

  /// Tells the step kernels' dropout which step of the loop runs (0 once the loop is over).
  void setDropoutStep(int64_t t) {
    if (seed < 0 || !ex.buffers[seed])
      return;
    reinterpret_cast<int32_t *>(ex.buffers[seed]->host)[5] = static_cast<int32_t>(t);
    ex.buffers[seed]->set_host_dirty(true);
  }

  /// Runs step t's kernels on `tokens` (one per row).
  Status step(const std::vector<int32_t> &tokens, int64_t t) {
    std::memcpy(ex.buffers[d.token]->host, tokens.data(), tokens.size() * sizeof(int32_t));
    ex.buffers[d.token]->set_host_dirty(true);
    if (d.position >= 0) {
      std::fill_n(reinterpret_cast<int32_t *>(ex.buffers[d.position]->host), rows, static_cast<int32_t>(t));
      ex.buffers[d.position]->set_host_dirty(true);
    }
    for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k)
      if (Status s = ex.call(ex.spec.kernels[k], /*allocateResults=*/false); !s)
        return makeError("decoder '", d.name, "': ", s.message());
    for (int32_t i = 0; i < d.num_emits; ++i)
      if (Status s = ex.toHost(d.emits[i]); !s)
        return makeError("decoder '", d.name, "': ", s.message());
    return {};
  }

  /// Moves the next state into the carried state: row j takes row parents[j] (all rows in order if empty).
  Status carry(const std::vector<int64_t> &parents) {
    for (int32_t i = 0; i < d.num_states; ++i) {
      int32_t out = d.state_out[i], in = d.state_in[i];
      halide_buffer_t *from = ex.buffers[out], *to = ex.buffers[in];
      if (from == to && parents.empty())
        continue;
      // All rows in order: the next state becomes the carried one by swapping the two tensors, so it
      // stays where the step left it (on a GPU, on the device) and nothing is copied.
      if (parents.empty() && ex.temps[out].buffer() == from && ex.temps[in].buffer() == to &&
          ex.shapes[out] == ex.shapes[in]) {
        std::swap(ex.temps[out], ex.temps[in]);
        continue;
      }
      if (Status s = ex.toHost(out); !s)
        return makeError("decoder '", d.name, "': ", s.message());
      if (parents.empty()) {
        std::memcpy(hostOf(to), hostOf(from), elements(d.state_in[i]) * Tensor::kElementSize);
        to->set_host_dirty(true);
        continue;
      }
      int64_t bytes = rowSize(ex.shapes[d.state_in[i]]) * Tensor::kElementSize;
      scratch.resize(rows * bytes);
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(scratch.data() + r * bytes, hostOf(from) + (parents.empty() ? r : parents[r]) * bytes,
                    bytes);
      std::memcpy(hostOf(to), scratch.data(), rows * bytes);
      to->set_host_dirty(true);
    }
    return {};
  }

  const float *emitRow(int32_t emit, int64_t row) {
    return reinterpret_cast<const float *>(hostOf(ex.buffers[d.emits[emit]])) + row * emitSize[emit];
  }

  /// Allocates result `index`: [batch, steps, ...rest of emitted value `emit`], or tokens [batch, steps].
  /// Teacher forcing and its reverse write every step of every row, so their stacks start uninitialized;
  /// a search's rows stop at different steps, so its results start as zeros.
  Status allocateResult(int32_t index, int32_t emit, int64_t steps) {
    Shape shape{batch, steps};
    if (emit >= 0) {
      const Shape &e = ex.shapes[d.emits[emit]];
      shape.insert(shape.end(), e.begin() + 1, e.end());
    }
    bool whole = d.mode == ATTN_DECODE_TEACHER || d.mode == ATTN_DECODE_REVERSE; // not a search's
    int32_t v = d.results[index];
    if (shared && emit >= 0) { // this part's rows of the whole batch's stack
      std::lock_guard<std::mutex> guard(shared->lock);
      if (shared->allocated.insert(v).second) {
        Shape all = shape;
        all[0] = shared->batch;
        if (Status s = shared->whole.allocate(v, all, /*zeroed=*/false); !s)
          return s;
      }
      stackRows.emplace_back(*shared->whole.buffers[v], firstRow, batch);
      ex.buffers[v] = &stackRows.back().buffer;
      ex.shapes[v] = std::move(shape);
      return {};
    }
    if (Status s = ex.allocate(v, shape, /*zeroed=*/!whole); !s)
      return s;
    ex.buffers[v]->set_host_dirty(true); // filled on the host: a GPU kernel must upload it
    return {};
  }

  float *resultRow(int32_t index, int32_t emit, int64_t b, int64_t t, int64_t steps) {
    return reinterpret_cast<float *>(hostOf(ex.buffers[d.results[index]])) + (b * steps + t) * emitSize[emit];
  }

  /// Copies step t's emitted values into slice t of their results, which start at result `first` (but for
  /// those the step wrote there in place).
  void stackEmits(int32_t first, int64_t t, int64_t steps) {
    for (int32_t i = 0; i < d.num_emits; ++i)
      if (!emitViews[i])
        for (int64_t b = 0; b < rows; ++b)
          std::memcpy(resultRow(first + i, i, b, t, steps), emitRow(i, b), emitSize[i] * sizeof(float));
  }

  /// On a CPU, the emitted values that a step kernel computes (not a carried state, not emitted twice) are
  /// written by the kernel straight into their results, which start at result `first`, instead of being
  /// copied there after each step.
  void emitInPlace(int32_t first) {
    emitViews.clear();
    emitViews.resize(d.num_emits);
    std::set<int32_t> computed, taken(d.state_out, d.state_out + d.num_states);
    for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k) {
      const attn_kernel &kernel = ex.spec.kernels[k];
      computed.insert(kernel.args + kernel.num_args - kernel.num_results, kernel.args + kernel.num_args);
    }
    for (int32_t i = 0; i < d.num_emits; ++i) {
      int32_t v = d.emits[i];
      const halide_buffer_t *stack = ex.buffers[d.results[first + i]];
      if (computed.count(v) && taken.insert(v).second && inPlace(*stack) &&
          ex.temps[v].buffer() == ex.buffers[v])
        emitViews[i] = std::make_unique<StepView>(*stack);
    }
  }

  /// Whether the step's kernels can read or write their steps of `stack` in place: on a CPU, through a
  /// StepView.
  bool inPlace(const halide_buffer_t &stack) const { return !onGpu && StepView::fits(stack); }

  /// Points the in-place emitted values at step t of their results.
  void emitAt(int64_t t) {
    for (int32_t i = 0; i < d.num_emits; ++i)
      if (emitViews[i])
        ex.buffers[d.emits[i]] = emitViews[i]->at(t);
  }

  /// Gives the in-place emitted values back their own tensors.
  void emitDone() {
    for (int32_t i = 0; i < d.num_emits; ++i)
      if (emitViews[i])
        ex.buffers[d.emits[i]] = ex.temps[d.emits[i]].buffer();
    emitViews.clear();
  }

  Status teacher() {
    const Shape &tShape = ex.shapes[d.teacher];
    int64_t steps = tShape[1];
    if (Status s = ex.toHost(d.teacher); !s)
      return s;
    const int32_t *forced = reinterpret_cast<const int32_t *>(ex.buffers[d.teacher]->host);
    for (int32_t i = 0; i < d.num_results; ++i)
      if (Status s = allocateResult(i, i, steps); !s)
        return s;
    std::vector<int32_t> tokens(rows);
    emitInPlace(0);
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t b = 0; b < rows; ++b)
        tokens[b] = t == 0 ? d.start : forced[b * steps + t - 1];
      setDropoutStep(t);
      emitAt(t);
      if (Status s = step(tokens, t); !s)
        return s;
      stackEmits(0, t, steps);
      if (Status s = carry({}); !s)
        return s;
    }
    emitDone();
    setDropoutStep(0);
    return {};
  }

  /// The backward pass of a teacher-forced loop: its steps from the last to the first, each reading its
  /// token, its slice of every sequence and the carried gradients; the results are the final state, then
  /// the emitted values stacked over the steps.
  Status reverse() {
    int64_t steps = ex.shapes[d.teacher][1];
    if (Status s = ex.toHost(d.teacher); !s)
      return s;
    const int32_t *forced = reinterpret_cast<const int32_t *>(ex.buffers[d.teacher]->host);
    for (int32_t i = 0; i < d.num_emits; ++i)
      if (Status s = allocateResult(d.num_states + i, i, steps); !s)
        return s;
    std::vector<int32_t> tokens(rows);
    // On a CPU, the step reads its slice of each sequence in place; elsewhere (or a sequence of one value
    // per row) a copy.
    std::vector<std::unique_ptr<StepView>> sequenceViews(d.num_sequences);
    for (int32_t i = 0; i < d.num_sequences; ++i) {
      if (Status s = ex.toHost(d.sequences[i]); !s)
        return s;
      if (inPlace(*ex.buffers[d.sequences[i]]))
        sequenceViews[i] = std::make_unique<StepView>(*ex.buffers[d.sequences[i]]);
    }
    emitInPlace(d.num_states);
    for (int64_t t = steps - 1; t >= 0; --t) {
      for (int64_t b = 0; b < rows; ++b)
        tokens[b] = t == 0 ? d.start : forced[b * steps + t - 1];
      for (int32_t i = 0; i < d.num_sequences; ++i) {
        if (sequenceViews[i]) {
          ex.buffers[d.sequence_views[i]] = sequenceViews[i]->at(t);
          continue;
        }
        halide_buffer_t *seq = ex.buffers[d.sequences[i]], *view = ex.buffers[d.sequence_views[i]];
        int64_t bytes = rowSize(ex.shapes[d.sequence_views[i]]) * Tensor::kElementSize;
        for (int64_t b = 0; b < rows; ++b)
          std::memcpy(hostOf(view) + b * bytes, hostOf(seq) + (b * steps + t) * bytes, bytes);
        view->set_host_dirty(true);
      }
      setDropoutStep(t); // the forward step's masks again
      emitAt(t);
      if (Status s = step(tokens, t); !s)
        return s;
      stackEmits(d.num_states, t, steps);
      if (Status s = carry({}); !s)
        return s;
    }
    emitDone();
    for (int32_t i = 0; i < d.num_sequences; ++i)
      if (sequenceViews[i])
        ex.buffers[d.sequence_views[i]] = ex.temps[d.sequence_views[i]].buffer();
    setDropoutStep(0);
    for (int32_t i = 0; i < d.num_states; ++i) {
      if (Status s = ex.toHost(d.state_in[i]); !s)
        return s;
      if (Status s = ex.allocate(d.results[i], ex.shapes[d.state_init[i]]); !s)
        return s;
      std::memcpy(hostOf(ex.buffers[d.results[i]]), hostOf(ex.buffers[d.state_in[i]]),
                  elements(d.state_in[i]) * Tensor::kElementSize);
      ex.buffers[d.results[i]]->set_host_dirty(true);
    }
    return {};
  }

  int64_t elements(int32_t value) const {
    int64_t n = 1;
    for (int64_t e : ex.shapes[value])
      n *= e;
    return n;
  }

  /// Greedy and beam search share one loop: per step, each batch row's live hypotheses (`width` rows)
  /// are extended by every token, scored by the sum of log-probabilities, and the best `width`
  /// continuations that do not stop survive; those that stop are finished with their score divided by
  /// length^length_penalty. A batch row is done when `width` hypotheses finished; at max_len the live
  /// ones finish too. The best finished hypothesis wins (ties: the earliest finished).
  Status search() {
    int64_t vocab = rowSize(ex.shapes[d.emits[0]]);
    int64_t maxLen = d.max_len;
    std::vector<double> score(rows, kDead), next(rows);
    for (int64_t b = 0; b < batch; ++b)
      score[b * width] = 0; // all rows of a batch row start equal: only the first is live
    std::vector<std::vector<int32_t>> chosen;   // [step][row]: the token row `row` took at that step
    std::vector<std::vector<int64_t>> parent;   // [step][row]: the row whose scores gave it
    std::vector<std::vector<float>> emitted(d.num_emits); // [emit]: step × rows × size
    std::vector<std::vector<Finished>> finished(batch);
    std::vector<bool> done(batch, false);
    std::vector<int32_t> tokens(rows, d.start);
    std::vector<double> logp(vocab);
    struct Candidate {
      double score;
      int64_t beam;
      int32_t token;
    };
    std::vector<Candidate> candidates;
    for (int64_t t = 0; t < maxLen; ++t) {
      if (Status s = step(tokens, t); !s)
        return s;
      for (int32_t i = 1; i < d.num_emits; ++i) {
        const float *from = emitRow(i, 0);
        emitted[i].insert(emitted[i].end(), from, from + rows * emitSize[i]);
      }
      chosen.emplace_back(rows, d.pad);
      parent.emplace_back(rows);
      std::vector<int32_t> &took = chosen.back();
      std::vector<int64_t> &from = parent.back();
      bool last = t + 1 == maxLen;
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t k = 0; k < width; ++k)
          from[b * width + k] = b * width + k, next[b * width + k] = kDead;
        if (done[b])
          continue;
        candidates.clear();
        for (int64_t k = 0; k < width; ++k) {
          int64_t row = b * width + k;
          if (score[row] == kDead)
            continue;
          const float *s = emitRow(0, row);
          double max = s[0], sum = 0;
          for (int64_t v = 1; v < vocab; ++v)
            max = std::max(max, double(s[v]));
          for (int64_t v = 0; v < vocab; ++v)
            sum += std::exp(double(s[v]) - max);
          double logSum = max + std::log(sum);
          for (int64_t v = 0; v < vocab; ++v)
            candidates.push_back({score[row] + double(s[v]) - logSum, k, int32_t(v)});
        }
        auto better = [](const Candidate &x, const Candidate &y) {
          if (x.score != y.score)
            return x.score > y.score;
          return x.beam != y.beam ? x.beam < y.beam : x.token < y.token;
        };
        size_t keep = std::min(candidates.size(), size_t(2 * width));
        std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(), better);
        int64_t live = 0;
        for (size_t c = 0; c < keep && live < width; ++c) {
          const Candidate &x = candidates[c];
          int64_t row = b * width + x.beam;
          if (x.token == d.stop) {
            if (int64_t(finished[b].size()) < width)
              finished[b].push_back({normalised(x.score, t + 1), t, row, x.token});
            continue;
          }
          int64_t j = b * width + live++;
          took[j] = x.token;
          from[j] = row;
          next[j] = x.score;
        }
        if (int64_t(finished[b].size()) >= width) {
          done[b] = true;
        } else if (last) {
          for (int64_t j = 0; j < live; ++j)
            finished[b].push_back({normalised(next[b * width + j], t + 1), t, from[b * width + j],
                                   took[b * width + j]});
          done[b] = true;
        }
        if (done[b])
          for (int64_t k = 0; k < width; ++k)
            next[b * width + k] = kDead, took[b * width + k] = d.pad, from[b * width + k] = b * width + k;
      }
      score.swap(next);
      if (std::all_of(done.begin(), done.end(), [](bool x) { return x; }))
        break;
      tokens = took;
      if (Status s = carry(from); !s)
        return s;
    }

    // The best hypothesis of each batch row, traced back through the parents.
    std::vector<const Finished *> best(batch, nullptr);
    int64_t length = 1;
    for (int64_t b = 0; b < batch; ++b) {
      for (const Finished &f : finished[b])
        if (!best[b] || f.score > best[b]->score)
          best[b] = &f;
      if (best[b])
        length = std::max(length, best[b]->step + 1);
    }
    if (Status s = ex.allocate(d.results[0], {batch, length}); !s)
      return s;
    for (int32_t i = 1; i < d.num_results; ++i)
      if (Status s = allocateResult(i, i, length); !s)
        return s;
    int32_t *out = reinterpret_cast<int32_t *>(ex.buffers[d.results[0]]->host);
    std::fill(out, out + batch * length, d.pad);
    for (int64_t b = 0; b < batch; ++b) {
      if (!best[b])
        continue;
      int64_t row = best[b]->row;
      int32_t token = best[b]->token;
      for (int64_t t = best[b]->step; t >= 0; --t) {
        out[b * length + t] = token;
        for (int32_t i = 1; i < d.num_emits; ++i)
          std::memcpy(resultRow(i, i, b, t, length), emitted[i].data() + (t * rows + row) * emitSize[i],
                      emitSize[i] * sizeof(float));
        if (t > 0) {
          token = chosen[t - 1][row];
          row = parent[t - 1][row];
        }
      }
    }
    return {};
  }

  double normalised(double score, int64_t length) const {
    return d.length_penalty == 0 ? score : score / std::pow(double(length), double(d.length_penalty));
  }

  Execution &ex;
  const attn_decoder &d;
  int32_t seed = dropoutSeed(ex.spec, d);
  bool onGpu = runsOnGpu(ex.spec);
  int64_t batch = 0, width = 1, rows = 0;
  std::vector<int64_t> emitSize;
  std::vector<std::unique_ptr<StepView>> emitViews; // per emitted value: its result's view, if in place
  SharedStacks *shared;
  int64_t firstRow;
  std::deque<RowRange> stackRows; // this part's rows of the shared stacks
  std::vector<char> scratch;
};


/// One range of a split decoder's rows: its own view of the run, where the values the loop reads are
/// narrowed to the range's rows (or, for an accumulator after the first range, start from zeros).
struct RowPart {
  explicit RowPart(Execution &whole) : ex(whole.spec, whole.session) {
    ex.shapes = whole.shapes;
    ex.buffers = whole.buffers;
  }
  ~RowPart() {
    for (size_t v = 0; v < ex.buffers.size(); ++v)
      if (ex.temps[v].buffer() != ex.buffers[v])
        ex.buffers[v] = nullptr; // borrowed from the whole run, or a range: not this part's to free
  }

  Execution ex;
  std::deque<RowRange> ranges;
  std::deque<Tensor> zeros; // the range's own tensors: accumulators' starts, its dropout seed
  Status status;
};

constexpr int64_t kMinRowsPerPart = 8;

/// Runs a decoder whose rows are independent as `parts` ranges of rows, one per task of Halide's thread
/// pool; each range's serial step kernels run without waiting on the others. The results are put together:
/// rows in order, accumulators summed (in range order, so a thread count always gives the same sums).
Status runSplit(Execution &ex, const attn_decoder &d, int64_t batch, int parts) {
  bool reverse = d.mode == ATTN_DECODE_REVERSE;
  std::map<int32_t, bool> narrowed; // value → split by rows (true), or an accumulator's start (false)
  bool consistent = true;
  auto narrow = [&](int32_t v, bool rows) {
    auto [it, inserted] = narrowed.emplace(v, rows);
    consistent &= inserted || it->second == rows;
  };
  if (d.teacher >= 0)
    narrow(d.teacher, true);
  for (int32_t i = 0; i < d.num_sequences; ++i)
    narrow(d.sequences[i], true);
  for (int32_t i = 0; i < d.num_captures; ++i)
    narrow(d.captures[i], true);
  for (int32_t i = 0; i < d.num_states; ++i)
    narrow(d.state_init[i], !reverse || d.state_rows[i]);
  if (!consistent) // one value read both ways: run it whole
    return Decoder(ex, d).run();
  for (auto [v, rows] : narrowed)
    if (Status s = ex.toHost(v); !s)
      return makeError("decoder '", d.name, "': ", s.message());

  std::vector<std::unique_ptr<RowPart>> split;
  for (int p = 0; p < parts; ++p) {
    int64_t first = batch * p / parts, count = batch * (p + 1) / parts - first;
    auto part = std::make_unique<RowPart>(ex);
    for (auto [v, rows] : narrowed) {
      if (rows) {
        part->ranges.emplace_back(*ex.buffers[v], first, count);
        part->ex.buffers[v] = &part->ranges.back().buffer;
        part->ex.shapes[v][0] = count;
      } else if (p > 0) {
        Expected<Tensor> zero = Tensor::create(static_cast<DType>(ex.spec.values[v].dtype), ex.shapes[v]);
        if (!zero)
          return makeError("decoder '", d.name, "': ", zero.message());
        part->zeros.push_back(std::move(*zero));
        part->ex.buffers[v] = part->zeros.back().buffer();
      }
    }
    // The range's own dropout seed: its rows start `first` rows further into the batch, and its loop
    // writes its own steps into it.
    if (int32_t seed = dropoutSeed(ex.spec, d); seed >= 0) {
      Expected<Tensor> own = Tensor::create(DType::I32, ex.shapes[seed]);
      if (!own)
        return makeError("decoder '", d.name, "': ", own.message());
      std::memcpy(own->data<int32_t>(), ex.buffers[seed]->host, own->byteSize());
      own->data<int32_t>()[3] += static_cast<int32_t>(first);
      part->zeros.push_back(std::move(*own));
      part->ex.buffers[seed] = part->zeros.back().buffer();
    }
    split.push_back(std::move(part));
  }

  SharedStacks stacks{ex, batch, {}, {}};
  struct Closure {
    std::vector<std::unique_ptr<RowPart>> *split;
    const attn_decoder *d;
    SharedStacks *stacks;
    int64_t batch;
    int parts;
  } closure{&split, &d, &stacks, batch, parts};
  auto task = [](void *, int index, uint8_t *data) -> int {
    auto *c = reinterpret_cast<Closure *>(data);
    RowPart &part = *(*c->split)[index];
    part.status = Decoder(part.ex, *c->d, c->stacks, c->batch * index / c->parts).run();
    return 0;
  };
  halide_do_par_for(nullptr, task, 0, parts, reinterpret_cast<uint8_t *>(&closure));
  for (auto &part : split)
    if (!part->status)
      return std::move(part->status);

  for (int32_t i = 0; i < d.num_results; ++i) {
    int32_t v = d.results[i];
    if (stacks.allocated.count(v)) // the parts wrote their rows of it
      continue;
    bool rows = !reverse || i >= d.num_states || d.state_rows[i];
    Shape shape = split.front()->ex.shapes[v];
    if (rows)
      shape[0] = batch;
    if (Status s = ex.allocate(v, shape, /*zeroed=*/false); !s)
      return s;
    char *to = hostOf(ex.buffers[v]);
    if (rows) {
      for (auto &part : split) {
        size_t bytes = part->ex.temps[v].byteSize();
        std::memcpy(to, hostOf(part->ex.buffers[v]), bytes);
        to += bytes;
      }
    } else {
      auto *sum = reinterpret_cast<float *>(to);
      int64_t n = ex.temps[v].numElements();
      std::memcpy(sum, hostOf(split.front()->ex.buffers[v]), n * sizeof(float));
      for (size_t p = 1; p < split.size(); ++p) {
        const auto *add = reinterpret_cast<const float *>(hostOf(split[p]->ex.buffers[v]));
        for (int64_t k = 0; k < n; ++k)
          sum[k] += add[k];
      }
    }
    ex.buffers[v]->set_host_dirty(true);
  }
  return {};
}

} // namespace

Status runDecoder(Execution &ex, const attn_decoder &d) {
  if (d.split_rows && (d.mode == ATTN_DECODE_TEACHER || d.mode == ATTN_DECODE_REVERSE)) {
    int64_t batch = ex.shapes[d.teacher][0];
    int parts = static_cast<int>(std::min<int64_t>(ex.session.threads(), batch / kMinRowsPerPart));
    if (parts > 1)
      return runSplit(ex, d, batch, parts);
  }
  return Decoder(ex, d).run();
}

} // namespace attn::rt
