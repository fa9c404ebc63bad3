// The training loop: batches by a seeded shuffle, the gradient program, global-norm clipping and the
// optimizer kernels.
#include "attn/Runtime/Trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string_view>

namespace attn::rt {

Expected<TensorMap> runWithParameters(const attn_model_spec &spec, TensorMap &weights, TensorMap &inputs,
                                      const RunOptions &options) {
  TensorMap used;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_PARAM))
    if (auto it = weights.find(spec.values[i].name); it != weights.end())
      used.emplace(it->first, std::move(it->second));
  Expected<TensorMap> result = runModel(spec, used, inputs, options);
  for (auto &[name, tensor] : used)
    weights[name] = std::move(tensor);
  return result;
}

double learningRate(const attn_training &t, int64_t step) {
  if (t.warmup > 0 && step <= t.warmup)
    return double(t.lr) * double(step) / double(t.warmup);
  int64_t after = step - t.warmup - 1; // steps since the warm-up ended, from 0
  switch (t.schedule) {
  case ATTN_SCHEDULE_STEP:
    return double(t.lr) * std::pow(double(t.gamma), double(after / std::max<int64_t>(t.every, 1)));
  case ATTN_SCHEDULE_COSINE: {
    double progress = std::min(double(after) / double(std::max<int64_t>(t.total, 1)), 1.0);
    return t.min_lr + (double(t.lr) - t.min_lr) * 0.5 * (1 + std::cos(M_PI * progress));
  }
  default:
    return t.lr;
  }
}

namespace {

/// A one-dimensional Halide view of a tensor's elements (or a scalar view of one float).
struct FlatView {
  halide_dimension_t dim;
  halide_buffer_t buffer{};

  FlatView(void *data, int64_t count, bool scalar = false) {
    dim = {0, static_cast<int32_t>(count), 1, 0};
    buffer.host = static_cast<uint8_t *>(data);
    buffer.type = halide_type_t(halide_type_float, 32, 1);
    buffer.dimensions = scalar ? 0 : 1;
    buffer.dim = scalar ? nullptr : &dim;
  }
};

Expected<Tensor> zerosLike(const Tensor &t) {
  Expected<Tensor> z = Tensor::create(t.dtype(), t.shape());
  if (z)
    std::memset(z->data<float>(), 0, z->byteSize());
  return z;
}

/// Rows `rows` (along the first dimension) of every tensor in `data`.
Expected<TensorMap> gather(const TensorMap &data, const std::vector<int64_t> &rows) {
  TensorMap batch;
  for (const auto &[name, t] : data) {
    Shape shape = t.shape();
    int64_t rowBytes = static_cast<int64_t>(t.byteSize()) / shape[0];
    shape[0] = static_cast<int64_t>(rows.size());
    Expected<Tensor> b = Tensor::create(t.dtype(), shape);
    if (!b)
      return b.takeError();
    const uint8_t *from = reinterpret_cast<const uint8_t *>(t.buffer()->host);
    uint8_t *to = reinterpret_cast<uint8_t *>(b->buffer()->host);
    for (size_t r = 0; r < rows.size(); ++r)
      std::memcpy(to + r * rowBytes, from + rows[r] * rowBytes, rowBytes);
    batch.emplace(name, std::move(*b));
  }
  return batch;
}

/// The number of examples (rows along the first dimension) every tensor of `data` holds.
Expected<int64_t> countExamples(const TensorMap &data, const std::string &what) {
  int64_t examples = -1;
  for (const auto &[name, tensor] : data) {
    if (tensor.shape().empty())
      return makeError(what, " '", name, "' is a scalar; training needs examples along the first dimension");
    if (examples >= 0 && tensor.shape()[0] != examples)
      return makeError(what, " '", name, "' has ", tensor.shape()[0], " examples, but the others have ", examples);
    examples = tensor.shape()[0];
  }
  if (examples <= 0)
    return makeError("no examples in the ", what, "s");
  return examples;
}

} // namespace

Expected<double> evaluate(const attn_model_spec &model, TensorMap &weights, const TensorMap &data, int64_t batch,
                          const RunOptions &run) {
  Expected<int64_t> examples = countExamples(data, "validation input");
  if (!examples)
    return examples.takeError();
  double total = 0;
  for (int64_t first = 0; first < *examples; first += batch) {
    std::vector<int64_t> rows;
    for (int64_t r = first; r < std::min(first + batch, *examples); ++r)
      rows.push_back(r);
    Expected<TensorMap> chunk = gather(data, rows);
    if (!chunk)
      return chunk.takeError();
    Expected<TensorMap> result = runWithParameters(*model.gradient, weights, *chunk, run);
    if (!result)
      return result.takeError();
    total += double(result->at("loss").data<float>()[0]) * double(rows.size());
  }
  return total / double(*examples);
}

Status train(const attn_model_spec &model, TensorMap &weights, const TensorMap &data, OptimizerState &state,
             const TrainOptions &options, const std::function<void(const StepReport &)> &report) {
  if (!model.gradient || !model.training)
    return makeError("the model does not train: add 'train { loss = NAME, ... }' to ", model.source_file);
  const attn_training &t = *model.training;
  Expected<int64_t> counted = countExamples(data, "input");
  if (!counted)
    return counted.takeError();
  int64_t examples = *counted;
  int64_t batchSize = std::min(options.batch, examples);
  double bestValid = INFINITY;
  int64_t sinceBest = 0;

  // Examples in an order shuffled per epoch (the whole set in order when one batch holds it). Steps
  // already taken consumed step·batch examples, so a resumed run continues where the first stopped.
  std::vector<int64_t> order(examples);
  auto shuffle = [&](int64_t epoch) {
    std::iota(order.begin(), order.end(), 0);
    if (batchSize < examples)
      std::shuffle(order.begin(), order.end(), std::mt19937_64(options.seed + epoch));
  };
  int64_t consumed = state.step * batchSize, epoch = consumed / examples, position = consumed % examples;
  shuffle(epoch);
  for (int64_t s = 0; s < options.steps; ++s) {
    std::vector<int64_t> rows;
    while (static_cast<int64_t>(rows.size()) < batchSize) {
      if (position == examples) {
        shuffle(++epoch);
        position = 0;
      }
      rows.push_back(order[position++]);
    }
    Expected<TensorMap> batch = gather(data, rows);
    if (!batch)
      return batch.takeError();
    Expected<TensorMap> grads = runWithParameters(*model.gradient, weights, *batch, options.run);
    if (!grads)
      return grads.takeError();

    double squares = 0;
    for (auto &[name, g] : *grads) {
      if (name.rfind("grad.", 0) != 0)
        continue;
      float sum = 0;
      FlatView in(g.data<float>(), g.numElements()), out(&sum, 1, /*scalar=*/true);
      void *args[] = {&in.buffer, &out.buffer};
      if (int rc = t.sum_squares(args); rc != 0)
        return makeError("the optimizer kernel attn_sum_squares failed (", rc, ")");
      squares += sum;
    }
    double norm = std::sqrt(squares);
    float scale = t.clip_norm > 0 && norm > t.clip_norm ? float(t.clip_norm / (norm + 1e-6)) : 1.0f;

    ++state.step;
    float bias1 = 1 - std::pow(t.beta1, float(state.step)), bias2 = 1 - std::pow(t.beta2, float(state.step));
    int decoupled = t.optimizer == ATTN_ADAMW;
    float lr = float(learningRate(t, state.step)), beta1 = t.beta1, beta2 = t.beta2, eps = t.eps, decay = t.weight_decay, momentum = t.momentum;
    for (auto &[name, g] : *grads) {
      if (name.rfind("grad.", 0) != 0)
        continue;
      std::string param = name.substr(5);
      Tensor &p = weights.at(param);
      // Adam keeps two moments; SGD one (its momentum buffer, in `m`).
      for (const char *moment : {"optimizer.m.", "optimizer.v."}) {
        if (t.optimizer == ATTN_SGD && std::string_view(moment) == "optimizer.v.")
          continue;
        std::string key = moment + param;
        if (!state.moments.count(key)) {
          Expected<Tensor> z = zerosLike(p);
          if (!z)
            return z.takeError();
          state.moments.emplace(key, std::move(*z));
        }
      }
      Tensor &m = state.moments.at("optimizer.m." + param);
      int64_t n = p.numElements();
      FlatView pv(p.data<float>(), n), gv(g.data<float>(), n), mv(m.data<float>(), n);
      int rc;
      if (t.optimizer == ATTN_SGD) {
        void *args[] = {&pv.buffer, &gv.buffer, &mv.buffer, &lr, &momentum, &decay, &scale, &pv.buffer, &mv.buffer};
        rc = t.sgd(args);
      } else {
        FlatView vv(state.moments.at("optimizer.v." + param).data<float>(), n);
        void *args[] = {&pv.buffer, &gv.buffer, &mv.buffer, &vv.buffer, &lr,        &beta1,     &beta2, &eps,
                        &decay,     &bias1,     &bias2,     &scale,     &decoupled, &pv.buffer, &mv.buffer, &vv.buffer};
        rc = t.adam(args);
      }
      if (rc != 0)
        return makeError("the optimizer kernel failed on parameter '", param, "' (", rc, ")");
    }
    StepReport r{state.step, double(grads->at("loss").data<float>()[0]), norm, double(lr), batchSize};
    if (options.valid && (s + 1) % options.validEvery == 0) {
      Expected<double> valid = evaluate(model, weights, *options.valid, options.batch, options.run);
      if (!valid)
        return valid.takeError();
      r.validLoss = *valid;
      r.best = *valid < bestValid;
      sinceBest = r.best ? 0 : sinceBest + 1;
      bestValid = std::min(bestValid, *valid);
      r.stopping = options.patience > 0 && sinceBest >= options.patience;
    }
    report(r);
    if (r.stopping)
      break;
  }
  return {};
}

} // namespace attn::rt
