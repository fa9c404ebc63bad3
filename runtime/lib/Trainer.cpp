// The training loop: batches by a seeded shuffle, the gradient program, global-norm clipping and the
// optimizer kernels.
#include "attn/Runtime/Trainer.h"
#include "attn/Runtime/Text.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string_view>

#include <zlib.h>

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

namespace {

bool isOptimizerState(const std::string &name) { return name.rfind("optimizer.", 0) == 0; }

} // namespace

Status checkOptimizerState(const TensorInfoMap &file, const std::string &path) {
  for (const auto &[name, moment] : file) {
    if (!isOptimizerState(name))
      continue;
    std::string param;
    for (std::string_view prefix :
         {std::string_view("optimizer.m."), std::string_view("optimizer.v."), kAveragePrefix})
      if (name.rfind(prefix, 0) == 0)
        param = name.substr(prefix.size());
    if (param.empty())
      return makeError(path, ": tensor '", name,
                       "' is no optimizer state: expected optimizer.m.<parameter>, optimizer.v.<parameter> "
                       "or optimizer.average.<parameter>");
    auto p = file.find(param);
    if (p == file.end() || isOptimizerState(param))
      return makeError(path, ": optimizer tensor '", name, "' belongs to no parameter of the file ('", param,
                       "' is missing)");
    if (moment.dtype != DType::F32 || moment.shape != p->second.shape)
      return makeError(path, ": optimizer tensor '", name, "' is ", dtypeName(moment.dtype),
                       formatShape(moment.shape), ", but its parameter '", param, "' needs f32",
                       formatShape(p->second.shape));
  }
  return {};
}

Status checkCheckpoint(const attn_model_spec &spec, const TensorInfoMap &file, const std::string &path) {
  if (Status s = checkOptimizerState(file, path); !s)
    return s;
  TensorInfoMap params;
  for (const auto &[name, info] : file)
    if (!isOptimizerState(name))
      params.emplace(name, info);
  return checkWeights(spec, params, path);
}

Status takeOptimizerState(SafeTensorsFile &file, const std::string &path, OptimizerState &state) {
  if (Status s = checkOptimizerState(describe(file.tensors), path); !s)
    return s;
  for (auto it = file.tensors.begin(); it != file.tensors.end();) {
    if (!isOptimizerState(it->first)) {
      ++it;
      continue;
    }
    state.moments.emplace(it->first, std::move(it->second));
    it = file.tensors.erase(it);
  }
  state.step = 0;
  if (auto step = file.metadata.find("step"); step != file.metadata.end()) {
    std::optional<uint64_t> value = parseInteger(step->second, 0, uint64_t(kMaxCheckpointStep));
    if (!value)
      return makeError(path, ": the checkpoint's step is '", step->second,
                       "', expected a whole number from 0 to ", kMaxCheckpointStep);
    state.step = static_cast<int64_t>(*value);
  }
  return {};
}

void swapAverages(TensorMap &weights, OptimizerState &state) {
  for (auto &[name, average] : state.moments)
    if (name.rfind(kAveragePrefix, 0) == 0)
      if (auto p = weights.find(name.substr(kAveragePrefix.size())); p != weights.end())
        std::swap(p->second, average);
}

double learningRate(const attn_training &t, int64_t step) {
  if (t.warmup > 0 && step <= t.warmup)
    return double(t.lr) * double(step) / double(t.warmup);
  int64_t after = step - t.warmup - 1; // steps since the warm-up ended, from 0
  switch (t.lr_schedule) {
  case ATTN_LR_STEP:
    return double(t.lr) * std::pow(double(t.gamma), double(after / std::max<int64_t>(t.every, 1)));
  case ATTN_LR_COSINE: {
    double progress = std::min(double(after) / double(std::max<int64_t>(t.total, 1)), 1.0);
    return t.min_lr + (double(t.lr) - t.min_lr) * 0.5 * (1 + std::cos(M_PI * progress));
  }
  default:
    return t.lr;
  }
}

namespace {

/// A one-dimensional Halide view of a tensor's elements (or a scalar view of one float). A view of a tensor
/// shares its device copy, so that an optimizer kernel compiled for a GPU updates the parameters and the
/// optimizer state where they live; `done` hands what the kernel did to the device copy back to the tensor.
struct FlatView {
  halide_dimension_t dim;
  halide_buffer_t buffer{};
  Tensor *tensor = nullptr;

  FlatView(void *data, int64_t count, bool scalar = false) {
    dim = {0, static_cast<int32_t>(count), 1, 0};
    buffer.host = static_cast<uint8_t *>(data);
    buffer.type = halide_type_t(halide_type_float, 32, 1);
    buffer.dimensions = scalar ? 0 : 1;
    buffer.dim = scalar ? nullptr : &dim;
  }
  explicit FlatView(Tensor &t) : FlatView(t.data(), t.numElements()) {
    tensor = &t;
    buffer.device = t.buffer()->device;
    buffer.device_interface = t.buffer()->device_interface;
    buffer.flags = t.buffer()->flags;
  }
  void done() {
    if (!tensor)
      return;
    tensor->buffer()->device = buffer.device;
    tensor->buffer()->device_interface = buffer.device_interface;
    tensor->buffer()->flags = buffer.flags;
  }
};

Expected<Tensor> zerosLike(const Tensor &t) {
  Expected<Tensor> z = Tensor::create(t.dtype(), t.shape());
  if (z)
    std::memset(z->data<float>(), 0, z->byteSize());
  return z;
}

} // namespace

namespace {

/// One process's part of data-parallel training: its rows of each global batch, its share of the batch's
/// loss, and the gradient program run with the loss and gradients summed over every process, in buckets
/// started as soon as the program finishes their gradients. With one process it runs the program as it is.
class DataParallel {
public:
  DataParallel(const attn_model_spec &model, Communicator *communicator, int64_t bucketBytes)
      : model_(model), communicator_(communicator), bucketBytes_(bucketBytes) {}

  int ranks() const { return communicator_ ? communicator_->size() : 1; }

  /// Where this process's contiguous part of `rows` begins and ends: the first rows % ranks processes take
  /// one row more.
  std::pair<int64_t, int64_t> part(const std::vector<int64_t> &rows) const {
    int64_t n = static_cast<int64_t>(rows.size()), r = communicator_ ? communicator_->rank() : 0;
    return {r * n / ranks(), (r + 1) * n / ranks()};
  }

  /// Checks, before training, that the processes can split batches of `batch` rows of `data`.
  Status check(int64_t batch) const {
    if (ranks() == 1)
      return {};
    if (batch < ranks())
      return makeError("a batch of ", batch, " examples cannot be split among ", ranks(),
                       " ranks: give --batch at least the number of ranks");
    if (model_.training && model_.training->loss_targets == -2)
      return makeError("the loss's targets are computed inside the model, so the ranks cannot count them: "
                       "data-parallel training needs a loss over an input's targets");
    return {};
  }

  /// Runs the gradient program on this process's `rows` of the global batch `all` of `data`; the loss and
  /// gradients come back as one process computes them on the whole batch.
  Expected<TensorMap> gradients(TensorMap &weights, const Dataset &data, const std::vector<int64_t> &all,
                                RunOptions run) {
    auto [begin, end] = part(all);
    std::vector<int64_t> rows(all.begin() + begin, all.begin() + end);
    Expected<TensorMap> batch = data.batch(rows, &all);
    if (!batch)
      return batch.takeError();
    run.dropout.rowOffset = begin;
    if (ranks() == 1)
      return runWithParameters(*model_.gradient, weights, *batch, run);
    Expected<double> share = lossShare(*batch, rows.size(), all.size());
    if (!share)
      return share.takeError();
    return summed(weights, *batch, *share, run);
  }

  /// Compares a checksum of the parameters and optimizer state across processes: they must be identical.
  Status checkSame(TensorMap &weights, OptimizerState &state) {
    if (ranks() == 1)
      return {};
    for (TensorMap *group : {&weights, &state.moments})
      if (Status s = copyToHost(*group); !s)
        return s;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (const TensorMap *group : {&weights, &state.moments})
      for (const auto &[name, t] : *group)
        crc = crc32_z(crc, static_cast<const Bytef *>(t.data()), t.byteSize());
    Expected<std::vector<uint64_t>> all = communicator_->gather(uint64_t(crc) ^ uint64_t(state.step) << 32);
    if (!all)
      return all.takeError();
    for (size_t r = 1; r < all->size(); ++r)
      if ((*all)[r] != (*all)[0])
        return makeError("the parameters or optimizer state of rank ", r, " differ from rank 0's at step ",
                         state.step,
                         ": the ranks no longer train one model (different weight files or data?)");
    return {};
  }

  /// Seconds this process waited in sums since the last call.
  double takeWaitSeconds() { return communicator_ ? communicator_->takeWaitSeconds() : 0; }

private:
  /// This process's part of the global loss: its targets that the loss counts (all of its rows when the
  /// loss is a mean over rows) over those of every process.
  Expected<double> lossShare(const TensorMap &batch, int64_t rows, int64_t allRows) {
    int32_t targets = model_.training ? model_.training->loss_targets : -1;
    if (targets < 0)
      return double(rows) / double(allRows);
    const attn_value &v = model_.gradient->values[targets];
    const Tensor &t = batch.at(v.name);
    double counts[2] = {0, 0};
    for (int64_t i = 0; i < t.numElements(); ++i)
      counts[0] += t.data<int32_t>()[i] != v.ignore_id;
    counts[1] = counts[0];
    if (Status s = communicator_->sum(&counts[1], 1); !s)
      return s.takeError();
    return counts[1] > 0 ? counts[0] / counts[1] : double(rows) / double(allRows);
  }

  /// The gradient program with its loss and gradients weighed by `share` and summed over every process.
  Expected<TensorMap> summed(TensorMap &weights, TensorMap &batch, double share, const RunOptions &run) {
    struct Piece {
      std::string name;
      size_t bucket, offset;
    };
    std::vector<Piece> pieces;
    std::vector<std::vector<float>> buckets(1);
    size_t expected = 0, arrived = 0;
    for (int32_t o = 0; o < model_.gradient->num_outputs; ++o)
      expected += reduced(model_.gradient->outputs[o].name);
    RunOptions options = run;
    options.communicator = communicator_;
    options.lossShare = share;
    options.outputReady = [&](const std::string &name, const Tensor &t) -> Status {
      if (!reduced(name))
        return {};
      std::vector<float> &bucket = buckets.back();
      pieces.push_back({name, buckets.size() - 1, bucket.size()});
      const float *data = t.data<float>();
      for (int64_t i = 0; i < t.numElements(); ++i)
        bucket.push_back(data[i] * float(share));
      if (++arrived < expected && int64_t(bucket.size() * sizeof(float)) < bucketBytes_)
        return {};
      Status started = communicator_->start(bucket.data(), int64_t(bucket.size()));
      if (arrived < expected)
        buckets.emplace_back(); // the summed bucket's memory stays where it is
      return started;
    };
    Expected<TensorMap> result = runWithParameters(*model_.gradient, weights, batch, options);
    if (!result)
      return result;
    for (const Piece &p : pieces) { // every sum has finished (runModel waits for them)
      Tensor &t = result->at(p.name);
      std::memcpy(t.data<float>(), buckets[p.bucket].data() + p.offset, t.byteSize());
      t.buffer()->set_host_dirty(true);
    }
    return result;
  }

  /// The outputs summed over processes: the loss and the gradients (the running statistics of batch
  /// normalization are the same on every process already).
  static bool reduced(const std::string &name) { return name == "loss" || name.rfind("grad.", 0) == 0; }

  const attn_model_spec &model_;
  Communicator *communicator_;
  int64_t bucketBytes_;
};

} // namespace

/// The batches of epoch `epoch`: the examples in an order shuffled from the seed (in order when one batch
/// holds them all), cut into batches of `size`; the examples after the last full batch wait for another
/// epoch. Data with lengths is bucketed: each run of 64 batches is sorted by length before it is cut, so
/// that a batch pads little, and the batches are then shuffled.
std::vector<std::vector<int64_t>> epochBatches(const Dataset &data, int64_t size, uint64_t seed,
                                               int64_t epoch) {
  int64_t examples = data.size();
  std::vector<int64_t> order(examples);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 random(seed + uint64_t(epoch));
  if (size < examples)
    std::shuffle(order.begin(), order.end(), random);
  int64_t count = std::max<int64_t>(examples / size, 1);
  order.resize(std::min(examples, count * size));
  if (data.hasLengths() && count > 1) {
    int64_t run = 64 * size;
    for (int64_t first = 0; first < int64_t(order.size()); first += run) {
      auto end = order.begin() + std::min<int64_t>(first + run, order.size());
      std::stable_sort(order.begin() + first, end,
                       [&](int64_t a, int64_t b) { return data.length(a) < data.length(b); });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (int64_t first = 0; first < int64_t(order.size()); first += size)
    batches.emplace_back(order.begin() + first,
                         order.begin() + std::min<int64_t>(first + size, order.size()));
  if (data.hasLengths())
    std::shuffle(batches.begin(), batches.end(), random);
  return batches;
}

Expected<double> evaluate(const attn_model_spec &model, TensorMap &weights, const Dataset &data,
                          int64_t batch, const RunOptions &run) {
  DataParallel parallel(model, run.communicator, kBucketBytes);
  std::vector<std::vector<int64_t>> chunks = data.inOrder(batch);
  // Every process takes part in every chunk: a last chunk too small to split joins the one before.
  if (chunks.size() > 1 && int64_t(chunks.back().size()) < parallel.ranks()) {
    chunks[chunks.size() - 2].insert(chunks[chunks.size() - 2].end(), chunks.back().begin(),
                                     chunks.back().end());
    chunks.pop_back();
  }
  if (int64_t(chunks.back().size()) < parallel.ranks())
    return makeError("the validation data holds ", data.size(), " examples, fewer than the ",
                     parallel.ranks(), " ranks that evaluate it");
  double total = 0;
  for (const std::vector<int64_t> &rows : chunks) {
    Expected<TensorMap> result = parallel.gradients(weights, data, rows, run);
    if (!result)
      return result.takeError();
    total += double(result->at("loss").data<float>()[0]) * double(rows.size());
  }
  return total / double(data.size());
}

int64_t batchesPerEpoch(const Dataset &data, int64_t batch) {
  return std::max<int64_t>(data.size() / batch, 1);
}

Status train(const attn_model_spec &model, TensorMap &weights, const Dataset &data, OptimizerState &state,
             const TrainOptions &options, const std::function<Status(const StepReport &)> &report) {
  if (!model.gradient || !model.training)
    return makeError("the model does not train: add 'train { loss = NAME, ... }' to ", model.source_file);
  const attn_training &t = *model.training;
  int64_t batchSize = std::min(options.batch, data.size());
  double bestValid = INFINITY;
  int64_t sinceBest = 0;

  // The step count fixes the epoch and the batch within it, so a resumed run continues where the first
  // stopped.
  int64_t perEpoch = batchesPerEpoch(data, batchSize), epoch = -1;
  // Every process computes the same batches and takes its part of each (the data and the seed decide the
  // batches, not the number of processes, so a run can resume on another number of them).
  DataParallel parallel(model, options.run.communicator, options.bucketBytes);
  if (Status s = parallel.check(batchSize); !s)
    return s;
  if (Status s = parallel.checkSame(weights, state); !s)
    return s;
  // On a GPU, parameters and optimizer state stay on the device from step to step, and so do the
  // gradients from the program that computes them to the optimizer that reads them.
  DeviceCopiesReleaser releaser{&weights, &state.moments};
  if (t.ema == 0) // a model that does not average: a checkpoint's averages would go stale
    for (auto it = state.moments.begin(); it != state.moments.end();)
      it = it->first.rfind(kAveragePrefix, 0) == 0 ? state.moments.erase(it) : std::next(it);
  RunOptions evalRun = options.run;
  evalRun.weightsStayOnDevice = true;
  std::vector<std::vector<int64_t>> batches;
  for (int64_t s = 0; s < options.steps; ++s) {
    if (state.step / perEpoch != epoch) {
      epoch = state.step / perEpoch;
      batches = epochBatches(data, batchSize, options.seed, epoch);
    }
    const std::vector<int64_t> &rows = batches[state.step % perEpoch];
    RunOptions run = evalRun; // dropout draws from the seed and the step: a resumed run draws the same
    run.dropout = {true, options.seed, state.step, 0};
    run.gradientsStayOnDevice = true;
    Expected<TensorMap> grads = parallel.gradients(weights, data, rows, run);
    if (!grads)
      return grads.takeError();

    double squares = 0;
    for (auto &[name, g] : *grads) {
      if (name.rfind("grad.", 0) != 0)
        continue;
      float sum = 0;
      FlatView in(g), out(&sum, 1, /*scalar=*/true);
      void *args[] = {&in.buffer, &out.buffer};
      int rc = t.sum_squares(args);
      in.done();
      if (rc != 0)
        return makeError("the optimizer kernel attn_sum_squares failed (", rc, ")");
      if (Status s = releaseDeviceCopy(&out.buffer, "the sum of squares of " + name); !s)
        return s;
      squares += sum;
    }
    double norm = std::sqrt(squares);
    float scale = t.clip_norm > 0 && norm > t.clip_norm ? float(t.clip_norm / (norm + 1e-6)) : 1.0f;

    ++state.step;
    float bias1 = 1 - std::pow(t.beta1, float(state.step)), bias2 = 1 - std::pow(t.beta2, float(state.step));
    int decoupled = t.optimizer == ATTN_ADAMW;
    float lr = float(learningRate(t, state.step)), beta1 = t.beta1, beta2 = t.beta2, eps = t.eps,
          decay = t.weight_decay, momentum = t.momentum;
    // The average's decay ramps up over the first steps, so that it soon forgets the initial parameters.
    float averageDecay = std::min(t.ema, float(1 + state.step) / float(10 + state.step));
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
      // The moving average starts from the parameter before its first update.
      Tensor *average = nullptr;
      if (t.ema > 0) {
        std::string key = std::string(kAveragePrefix) + param;
        auto it = state.moments.find(key);
        if (it == state.moments.end()) {
          if (Status s = copyToHost(p.buffer(), param); !s)
            return s;
          Expected<Tensor> copy = p.clone();
          if (!copy)
            return copy.takeError();
          it = state.moments.emplace(key, std::move(*copy)).first;
        }
        average = &it->second;
      }
      Tensor &m = state.moments.at("optimizer.m." + param);
      FlatView pv(p), gv(g), mv(m);
      int rc;
      if (t.optimizer == ATTN_SGD) {
        void *args[] = {&pv.buffer, &gv.buffer, &mv.buffer, &lr,       &momentum,
                        &decay,     &scale,     &pv.buffer, &mv.buffer};
        rc = t.sgd(args);
      } else {
        FlatView vv(state.moments.at("optimizer.v." + param));
        void *args[] = {&pv.buffer, &gv.buffer, &mv.buffer, &vv.buffer, &lr,    &beta1,
                        &beta2,     &eps,       &decay,     &bias1,     &bias2, &scale,
                        &decoupled, &pv.buffer, &mv.buffer, &vv.buffer};
        rc = t.adam(args);
        vv.done();
      }
      for (FlatView *view : {&pv, &gv, &mv})
        view->done();
      if (rc != 0)
        return makeError("the optimizer kernel failed on parameter '", param, "' (", rc, ")");
      if (average) {
        FlatView pv(p), av(*average);
        void *args[] = {&pv.buffer, &av.buffer, &averageDecay, &av.buffer};
        rc = t.average(args);
        pv.done();
        av.done();
        if (rc != 0)
          return makeError("the averaging kernel failed on parameter '", param, "' (", rc, ")");
      }
    }
    // Running statistics the gradient program updates (batch norm's, in training mode).
    for (auto &[name, value] : *grads)
      if (name.rfind("update.", 0) == 0)
        if (auto it = weights.find(name.substr(7));
            it != weights.end() && it->second.byteSize() == value.byteSize()) {
          std::memcpy(it->second.data<float>(), value.data<float>(), value.byteSize());
          it->second.buffer()->set_host_dirty(true);
        }
    // The gradients' device copies go with them (their data is used up).
    for (auto &[name, value] : *grads)
      if (value.buffer()->device)
        halide_device_free(nullptr, value.buffer());
    if (options.checkEvery > 0 && ((s + 1) % options.checkEvery == 0 || s + 1 == options.steps))
      if (Status c = parallel.checkSame(weights, state); !c)
        return c;
    StepReport r{state.step, double(grads->at("loss").data<float>()[0]), norm, double(lr),
                 static_cast<int64_t>(rows.size()), data.units(rows)};
    r.waitSeconds = parallel.takeWaitSeconds();
    if (options.valid && (s + 1) % options.validEvery == 0) {
      AveragesSwappedIn averaged(weights, state);
      Expected<double> valid = evaluate(model, weights, *options.valid, options.batch, evalRun);
      if (!valid)
        return valid.takeError();
      r.validLoss = *valid;
      r.best = *valid < bestValid;
      sinceBest = r.best ? 0 : sinceBest + 1;
      bestValid = std::min(bestValid, *valid);
      r.stopping = options.patience > 0 && sinceBest >= options.patience;
    }
    if (Status s = report(r); !s)
      return s;
    if (r.stopping)
      break;
  }
  return {};
}

} // namespace attn::rt
