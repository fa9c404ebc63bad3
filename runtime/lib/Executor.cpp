// Model execution: validation of the table, the inputs and the weights, shape computation, and the kernel
// calls. Intermediates are allocated just before the kernel that computes them and freed after their last
// reader, so peak memory is that of the live values rather than of the whole graph. Halide reports errors
// through a process-wide handler; it is replaced for the duration of a run so that Halide's own text (an
// out-of-bounds access, a failed allocation) ends up in the returned error instead of on stderr.
#include "attn/Runtime/Executor.h"

#include <mutex>
#include <set>
#include <utility>

namespace attn::rt {

namespace {

std::string str(const char *s) { return s ? s : ""; }

/// "'a', 'b', 'c', 'd', 'e' and 3 more".
std::string listNames(const std::vector<std::string> &names) {
  constexpr size_t kShown = 5;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i)
    out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown)
    out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

std::string dimName(const attn_model_spec &spec, int32_t value, int32_t dim) {
  const attn_dim &d = spec.values[value].dims[dim];
  if (d.size >= 0)
    return std::to_string(d.size);
  if (spec.values[value].role == ATTN_ROLE_TEMP)
    return dimName(spec, d.src_value, d.src_dim);
  return str(d.symbol);
}

/// Checks one value's entry; `i` is its index.
Status checkValue(const attn_model_spec &spec, int32_t i) {
  const attn_value &v = spec.values[i];
  std::string where = "model table: value " + std::to_string(i) + " '" + str(v.name) + "'";
  if (!v.name || !*v.name)
    return makeError(where, " has no name");
  if (v.role < ATTN_ROLE_INPUT || v.role > ATTN_ROLE_TEMP)
    return makeError(where, " has unknown role ", v.role);
  if (v.dtype != ATTN_F32 && v.dtype != ATTN_I32)
    return makeError(where, " has unknown dtype ", v.dtype);
  if (v.rank < 0 || (v.rank > 0 && !v.dims))
    return makeError(where, " has rank ", v.rank, " but no dimensions");
  for (int32_t d = 0; d < v.rank; ++d) {
    const attn_dim &dim = v.dims[d];
    if (dim.size >= 0)
      continue;
    std::string at = where + " dimension " + std::to_string(d);
    if (dim.size != -1)
      return makeError(at, " has size ", dim.size);
    if (v.role == ATTN_ROLE_PARAM)
      return makeError(at, " is dynamic, but parameters have static shapes");
    if (v.role == ATTN_ROLE_INPUT && (!dim.symbol || !*dim.symbol))
      return makeError(at, " is dynamic but names no symbol");
    if (v.role == ATTN_ROLE_TEMP && (dim.src_value < 0 || dim.src_value >= i || dim.src_dim < 0 ||
                                     dim.src_dim >= spec.values[dim.src_value].rank))
      return makeError(at, " copies dimension ", dim.src_dim, " of value ", dim.src_value,
                       ", which is not a dimension of an earlier value");
  }
  return {};
}

} // namespace

Status checkModelSpec(const attn_model_spec &spec) {
  if (!spec.name || !spec.source_file || !spec.target)
    return makeError("model table: the model's name, source file or target is missing");
  if (spec.num_values < 0 || spec.num_kernels < 0 || spec.num_outputs < 0 ||
      (spec.num_values > 0 && !spec.values) || (spec.num_kernels > 0 && !spec.kernels) ||
      (spec.num_outputs > 0 && !spec.outputs))
    return makeError("model table: negative counts or missing arrays");
  std::set<std::pair<int32_t, std::string>> names; // (role, name): input names and weight keys are unique
  for (int32_t i = 0; i < spec.num_values; ++i) {
    if (Status s = checkValue(spec, i); !s)
      return s;
    const attn_value &v = spec.values[i];
    if (v.role != ATTN_ROLE_TEMP && !names.insert({v.role, v.name}).second)
      return makeError("model table: two ", v.role == ATTN_ROLE_INPUT ? "inputs" : "parameters",
                       " are named '", v.name, "'");
  }
  std::vector<bool> computed(spec.num_values, false);
  for (int32_t k = 0; k < spec.num_kernels; ++k) {
    const attn_kernel &kernel = spec.kernels[k];
    std::string where = "model table: kernel " + std::to_string(k) + " '" + str(kernel.name) + "'";
    if (!kernel.name || !kernel.entry || kernel.num_results < 1 || kernel.num_args < kernel.num_results ||
        !kernel.args)
      return makeError(where, " has no name, no entry point, no results or fewer arguments than results");
    for (int32_t a = 0; a < kernel.num_args; ++a) {
      int32_t v = kernel.args[a];
      if (v < 0 || v >= spec.num_values)
        return makeError(where, " argument ", a, " is value ", v, ", but there are ", spec.num_values,
                         " values");
      bool isResult = a >= kernel.num_args - kernel.num_results;
      const attn_value &value = spec.values[v];
      if (isResult && (value.role != ATTN_ROLE_TEMP || computed[v]))
        return makeError(where, " writes '", value.name, "', which is not a fresh intermediate");
      if (!isResult && value.role == ATTN_ROLE_TEMP && !computed[v])
        return makeError(where, " reads '", value.name, "' before any kernel computes it");
    }
    for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a)
      computed[kernel.args[a]] = true;
  }
  std::set<std::string> outputNames;
  for (int32_t o = 0; o < spec.num_outputs; ++o) {
    const attn_output &out = spec.outputs[o];
    if (!out.name || !*out.name || !outputNames.insert(out.name).second)
      return makeError("model table: output ", o, " has no name or a duplicate one");
    if (out.value < 0 || out.value >= spec.num_values || !computed[out.value])
      return makeError("model table: output '", out.name, "' is not a value any kernel computes");
  }
  return {};
}

std::vector<int32_t> valuesWithRole(const attn_model_spec &spec, attn_role role) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < spec.num_values; ++i)
    if (spec.values[i].role == role)
      out.push_back(i);
  return out;
}

std::string symbolicShape(const attn_model_spec &spec, int32_t value) {
  std::string out = "[";
  for (int32_t d = 0; d < spec.values[value].rank; ++d)
    out += (d ? ", " : "") + dimName(spec, value, d);
  return out + "]";
}

/// Token ids index embedding tables: one outside [0, vocab_size) is bad input, named with its position.
Status checkTokens(const attn_value &v, const Tensor &t) {
  if (v.vocab_size <= 0 || t.dtype() != DType::I32)
    return {};
  const int32_t *data = t.data<int32_t>();
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (data[i] >= 0 && data[i] < v.vocab_size)
      continue;
    std::string at;
    for (int64_t rest = i, d = t.rank() - 1; d >= 0; --d) {
      at = (d ? ", " : "") + std::to_string(rest % t.shape()[d]) + at;
      rest /= t.shape()[d];
    }
    return makeError("input '", v.name, "' holds token ", data[i], " at [", at, "], outside the vocabulary of ",
                     v.vocab_size, " tokens (0 to ", v.vocab_size - 1, ")");
  }
  return {};
}

Expected<SymbolBindings> checkInputs(const attn_model_spec &spec, const TensorMap &inputs) {
  std::vector<int32_t> modelInputs = valuesWithRole(spec, ATTN_ROLE_INPUT);
  std::string expected;
  for (int32_t i : modelInputs)
    expected += (expected.empty() ? "" : ", ") + std::string(spec.values[i].name);
  std::string theInputs =
      modelInputs.empty() ? "the model has no inputs" : "the model's inputs are " + expected;
  for (const auto &[name, tensor] : inputs) {
    bool known = false;
    for (int32_t i : modelInputs)
      known = known || name == spec.values[i].name;
    if (!known)
      return makeError("unknown input '", name, "'; ", theInputs);
  }
  for (int32_t i : modelInputs)
    if (!inputs.count(spec.values[i].name))
      return makeError("missing input '", spec.values[i].name, "'; ", theInputs);

  SymbolBindings bindings;
  for (int32_t i : modelInputs) {
    const attn_value &v = spec.values[i];
    const Tensor &t = inputs.at(v.name);
    std::string expects = symbolicShape(spec, i);
    if (t.dtype() != static_cast<DType>(v.dtype))
      return makeError("input '", v.name, "' has dtype ", dtypeName(t.dtype()), ", but the model expects ",
                       dtypeName(static_cast<DType>(v.dtype)), expects);
    std::string mismatch = std::string("input '") + v.name + "' has shape " + formatShape(t.shape()) +
                           ", but the model expects " + expects;
    if (t.rank() != v.rank)
      return Error{mismatch};
    for (int32_t d = 0; d < v.rank; ++d) {
      const attn_dim &dim = v.dims[d];
      int64_t size = t.shape()[d];
      if (dim.size >= 0) {
        if (size != dim.size)
          return Error{mismatch};
        continue;
      }
      if (size < 1)
        return makeError(mismatch, " with ", dim.symbol, " >= 1");
      auto [it, inserted] = bindings.try_emplace(dim.symbol, SymbolBinding{size, v.name});
      if (!inserted && it->second.size != size)
        return makeError(mismatch, " with ", dim.symbol, " = ", it->second.size, " (bound by input '",
                         it->second.input, "' ", formatShape(inputs.at(it->second.input).shape()), ")");
    }
    if (Status s = checkTokens(v, t); !s)
      return s.takeError();
  }
  return bindings;
}

Status checkWeights(const attn_model_spec &spec, const TensorMap &weights, const std::string &weightsFile) {
  std::vector<int32_t> params = valuesWithRole(spec, ATTN_ROLE_PARAM);
  std::vector<std::string> missing, extra;
  std::set<std::string> paramNames;
  for (int32_t i : params) {
    paramNames.insert(spec.values[i].name);
    if (!weights.count(spec.values[i].name))
      missing.push_back(spec.values[i].name);
  }
  for (const auto &[name, tensor] : weights)
    if (!paramNames.count(name))
      extra.push_back(name);
  if (!missing.empty()) {
    std::string message = missing.size() == 1
                              ? "weight '" + missing[0] + "' is missing from " + weightsFile
                              : std::to_string(missing.size()) + " weights are missing from " + weightsFile +
                                    ": " + listNames(missing);
    if (!extra.empty())
      message += "; it has tensors the model does not use: " + listNames(extra);
    return Error{message};
  }
  if (!extra.empty())
    return makeError(weightsFile, " has tensors the model does not use: ", listNames(extra),
                     " (is it the weight file of another model?)");
  for (int32_t i : params) {
    const attn_value &v = spec.values[i];
    const Tensor &t = weights.at(v.name);
    if (t.dtype() != static_cast<DType>(v.dtype))
      return makeError("weight '", v.name, "' in ", weightsFile, " has dtype ", dtypeName(t.dtype()),
                       ", but the model expects ", dtypeName(static_cast<DType>(v.dtype)));
    Shape expected;
    for (int32_t d = 0; d < v.rank; ++d)
      expected.push_back(v.dims[d].size);
    if (t.shape() != expected)
      return makeError("weight '", v.name, "' in ", weightsFile, " has shape ", formatShape(t.shape()),
                       ", but the model expects ", formatShape(expected));
  }
  return {};
}

namespace {

std::mutex halideErrorMutex;
std::string halideErrorText;

void captureHalideError(void *, const char *message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  std::lock_guard<std::mutex> lock(halideErrorMutex);
  halideErrorText += (halideErrorText.empty() ? "" : "; ") + text;
}

/// Halide's process-wide settings for one run, restored when it ends.
class HalideSession {
public:
  explicit HalideSession(int numThreads) : previousHandler_(halide_set_error_handler(captureHalideError)) {
    takeError();
    if (numThreads > 0)
      previousThreads_ = halide_set_num_threads(numThreads);
  }
  ~HalideSession() {
    if (previousThreads_ > 0)
      halide_set_num_threads(previousThreads_);
    halide_set_error_handler(previousHandler_);
  }
  HalideSession(const HalideSession &) = delete;
  HalideSession &operator=(const HalideSession &) = delete;

  /// What Halide reported since the last call, or "".
  std::string takeError() {
    std::lock_guard<std::mutex> lock(halideErrorMutex);
    return std::exchange(halideErrorText, std::string());
  }

private:
  halide_error_handler_t previousHandler_;
  int previousThreads_ = 0;
};

/// Frees the device copies of buffers a GPU kernel left behind; a no-op for CPU kernels.
void releaseDevice(halide_buffer_t *buffer) {
  if (buffer && buffer->device)
    halide_device_free(nullptr, buffer);
}

} // namespace

Expected<TensorMap> runModel(const attn_model_spec &spec, TensorMap &weights, TensorMap &inputs,
                             const RunOptions &options) {
  if (Status s = checkModelSpec(spec); !s)
    return s.takeError();
  if (Expected<SymbolBindings> bound = checkInputs(spec, inputs); !bound)
    return bound.takeError();
  if (Status s = checkWeights(spec, weights, options.weightsFile); !s)
    return s.takeError();

  int32_t n = spec.num_values;
  std::vector<Shape> shapes(n);
  std::vector<halide_buffer_t *> buffers(n, nullptr);
  for (int32_t i = 0; i < n; ++i) {
    const attn_value &v = spec.values[i];
    if (v.role == ATTN_ROLE_INPUT || v.role == ATTN_ROLE_PARAM) {
      Tensor &t = (v.role == ATTN_ROLE_INPUT ? inputs : weights).at(v.name);
      shapes[i] = t.shape();
      buffers[i] = t.buffer();
      buffers[i]->set_host_dirty(true); // so that a GPU kernel copies it to the device
      continue;
    }
    for (int32_t d = 0; d < v.rank; ++d)
      shapes[i].push_back(v.dims[d].size >= 0 ? v.dims[d].size
                                              : shapes[v.dims[d].src_value][v.dims[d].src_dim]);
  }

  std::vector<int32_t> lastUse(n, -1);
  for (int32_t k = 0; k < spec.num_kernels; ++k)
    for (int32_t a = 0; a < spec.kernels[k].num_args; ++a)
      lastUse[spec.kernels[k].args[a]] = k;
  std::vector<int> outputUses(n, 0);
  for (int32_t o = 0; o < spec.num_outputs; ++o)
    ++outputUses[spec.outputs[o].value];

  HalideSession session(options.numThreads);
  std::vector<Tensor> temps(n);
  struct DeviceCleanup {
    std::vector<halide_buffer_t *> &buffers;
    ~DeviceCleanup() {
      for (halide_buffer_t *b : buffers)
        releaseDevice(b);
    }
  } cleanup{buffers};

  std::vector<void *> args;
  for (int32_t k = 0; k < spec.num_kernels; ++k) {
    const attn_kernel &kernel = spec.kernels[k];
    for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a) {
      int32_t v = kernel.args[a];
      Expected<Tensor> t = Tensor::create(static_cast<DType>(spec.values[v].dtype), shapes[v]);
      if (!t)
        return makeError("cannot allocate result '", spec.values[v].name, "' of kernel '", kernel.name,
                         "': ", t.message());
      temps[v] = std::move(*t);
      buffers[v] = temps[v].buffer();
    }
    args.clear();
    for (int32_t a = 0; a < kernel.num_args; ++a)
      args.push_back(buffers[kernel.args[a]]);
    session.takeError();
    if (int rc = kernel.entry(args.data()); rc != 0) {
      std::string text = session.takeError();
      return makeError("kernel '", kernel.name, "' failed", text.empty() ? "" : ": " + text,
                       " (Halide error ", rc, ")");
    }
    for (int32_t a = 0; a < kernel.num_args; ++a) {
      int32_t v = kernel.args[a];
      if (spec.values[v].role == ATTN_ROLE_TEMP && lastUse[v] == k && !outputUses[v] && buffers[v]) {
        releaseDevice(buffers[v]);
        buffers[v] = nullptr;
        temps[v] = Tensor();
      }
    }
  }

  TensorMap outputs;
  for (int32_t o = 0; o < spec.num_outputs; ++o) {
    int32_t v = spec.outputs[o].value;
    halide_buffer_t *buffer = buffers[v];
    if (buffer->device_dirty()) {
      session.takeError();
      if (int rc = halide_copy_to_host(nullptr, buffer); rc != 0) {
        std::string text = session.takeError();
        return makeError("cannot copy output '", spec.outputs[o].name, "' from the device",
                         text.empty() ? "" : ": " + text, " (Halide error ", rc, ")");
      }
    }
    // The last output naming a value takes its tensor; any other gets a copy.
    if (--outputUses[v] > 0) {
      Expected<Tensor> copy = temps[v].clone();
      if (!copy)
        return makeError("cannot allocate output '", spec.outputs[o].name, "': ", copy.message());
      outputs.emplace(spec.outputs[o].name, std::move(*copy));
    } else {
      releaseDevice(buffer); // a move rebuilds the Halide view, which would lose the device handle
      buffers[v] = nullptr;
      outputs.emplace(spec.outputs[o].name, std::move(temps[v]));
    }
  }
  return outputs;
}

} // namespace attn::rt
