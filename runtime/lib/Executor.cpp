// Model execution: validation of the table, the inputs and the weights, shape computation, and the kernel
// calls. Intermediates are allocated just before the kernel that computes them and freed after their last
// reader, so peak memory is that of the live values rather than of the whole graph. Halide reports errors
// through a process-wide handler; it is replaced for the duration of a run so that Halide's own text (an
// out-of-bounds access, a failed allocation) ends up in the returned error instead of on stderr.
#include "attn/Runtime/Executor.h"

#include "Execution.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>

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
  if (d.src_value >= 0)
    return dimName(spec, d.src_value, d.src_dim);
  return str(d.symbol);
}

/// Sets `where` to "model table: kernel 3 'attend'", how messages name entry `index` of one of the table's
/// arrays of `count` kernels or decoders (`kind`); an error if the array has no such entry.
template <typename Entry>
Status describeEntry(const char *kind, const Entry *entries, int32_t count, int32_t index,
                     std::string &where) {
  where = "model table: " + std::string(kind) + " " + std::to_string(index);
  if (index < 0 || index >= count)
    return makeError(where, " does not exist; there are ", count, " ", kind, "s");
  where += " '" + str(entries[index].name) + "'";
  return {};
}

/// Checks one value's entry; `i` is its index.
Status checkValue(const attn_model_spec &spec, int32_t i) {
  const attn_value &v = spec.values[i];
  auto where = [&] { return "model table: value " + std::to_string(i) + " '" + str(v.name) + "'"; };
  if (!v.name || !*v.name)
    return makeError(where(), " has no name");
  if (v.role < ATTN_ROLE_INPUT || v.role > ATTN_ROLE_STEP)
    return makeError(where(), " has unknown role ", v.role);
  if (v.dtype != ATTN_F32 && v.dtype != ATTN_I32)
    return makeError(where(), " has unknown dtype ", v.dtype);
  if (v.rank < 0 || (v.rank > 0 && !v.dims))
    return makeError(where(), " has rank ", v.rank, " but no dimensions");
  for (int32_t d = 0; d < v.rank; ++d) {
    const attn_dim &dim = v.dims[d];
    if (dim.size >= 0)
      continue;
    auto at = [&] { return where() + " dimension " + std::to_string(d); };
    if (dim.size != -1)
      return makeError(at(), " has size ", dim.size);
    if (v.role == ATTN_ROLE_PARAM)
      return makeError(at(), " is dynamic, but parameters have static shapes");
    if (v.role == ATTN_ROLE_INPUT && (!dim.symbol || !*dim.symbol))
      return makeError(at(), " is dynamic but names no symbol");
    if (v.role == ATTN_ROLE_STEP && dim.src_value < 0)
      continue; // sized by its decoder
    if ((v.role == ATTN_ROLE_TEMP || v.role == ATTN_ROLE_STEP) &&
        (dim.src_value < 0 || dim.src_value >= i || dim.src_dim < 0 ||
         dim.src_dim >= spec.values[dim.src_value].rank))
      return makeError(at(), " copies dimension ", dim.src_dim, " of value ", dim.src_value,
                       ", which is not a dimension of an earlier value");
  }
  return {};
}

} // namespace

Status checkModelSpec(const attn_model_spec &spec) {
  if (!spec.name || !spec.source_file || !spec.target)
    return makeError("model table: the model's name, source file or target is missing");
  if (spec.gradient) {
    if (spec.gradient->gradient)
      return makeError("model table: the gradient program has a gradient program of its own");
    if (Status s = checkModelSpec(*spec.gradient); !s)
      return makeError("gradient ", s.message());
  }
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
  if (spec.num_decoders < 0 || spec.num_steps < 0 || (spec.num_decoders > 0 && !spec.decoders) ||
      (spec.num_steps > 0 && !spec.steps))
    return makeError("model table: negative decoder or step counts, or missing arrays");
  std::vector<bool> computed(spec.num_values, false);
  auto checkKernel = [&](int32_t k) -> Status {
    std::string where;
    if (Status s = describeEntry("kernel", spec.kernels, spec.num_kernels, k, where); !s)
      return s;
    const attn_kernel &kernel = spec.kernels[k];
    if (kernel.collective < ATTN_PIPELINE || kernel.collective > ATTN_ALL_SUM_COTANGENT)
      return makeError(where, " is of unknown kind ", kernel.collective);
    bool pipeline = kernel.collective == ATTN_PIPELINE;
    if (!kernel.name || pipeline != (kernel.entry != nullptr) || kernel.num_results < 1 ||
        kernel.num_args < kernel.num_results || !kernel.args)
      return makeError(where, " has no name, no entry point, no results or fewer arguments than results");
    if (!pipeline && (kernel.num_args != 2 || kernel.num_results != 1 || kernel.args[0] < 0 ||
                      kernel.args[0] >= spec.num_values || spec.values[kernel.args[0]].dtype != ATTN_F32))
      return makeError(where, " is a sum across processes, which takes one f32 operand to one result");
    for (int32_t a = 0; a < kernel.num_args; ++a) {
      int32_t v = kernel.args[a];
      if (v < 0 || v >= spec.num_values)
        return makeError(where, " argument ", a, " is value ", v, ", but there are ", spec.num_values,
                         " values");
      bool isResult = a >= kernel.num_args - kernel.num_results;
      const attn_value &value = spec.values[v];
      if (isResult && (value.role != ATTN_ROLE_TEMP || computed[v]))
        return makeError(where, " writes '", value.name, "', which is not a fresh intermediate");
      if (!isResult && (value.role == ATTN_ROLE_TEMP || value.role == ATTN_ROLE_STEP) && !computed[v])
        return makeError(where, " reads '", value.name, "' before it is computed");
    }
    if (kernel.num_flop_terms > 0 && !kernel.flop_terms)
      return makeError(where, " has ", kernel.num_flop_terms, " FLOP terms but no array of them");
    for (int32_t t = 0; t < kernel.num_flop_terms; ++t) {
      const attn_flop_term &term = kernel.flop_terms[t];
      if (term.num_factors < 0 || (term.num_factors > 0 && !term.factors))
        return makeError(where, " FLOP term ", t, " has no factors");
      for (int32_t f = 0; f < term.num_factors; ++f) {
        int32_t a = term.factors[2 * f], d = term.factors[2 * f + 1];
        if (a < 0 || a >= kernel.num_args || d < 0 || d >= spec.values[kernel.args[a]].rank)
          return makeError(where, " FLOP term ", t, " names dimension ", d, " of argument ", a,
                           ", which the kernel does not have");
      }
    }
    for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a)
      computed[spec.kernels[k].args[a]] = true;
    return {};
  };
  auto checkDecoder = [&](int32_t index) -> Status {
    std::string where;
    if (Status s = describeEntry("decoder", spec.decoders, spec.num_decoders, index, where); !s)
      return s;
    const attn_decoder &d = spec.decoders[index];
    bool search = d.mode == ATTN_DECODE_GREEDY || d.mode == ATTN_DECODE_BEAM;
    bool reverse = d.mode == ATTN_DECODE_REVERSE;
    if (!d.name || d.mode < ATTN_DECODE_TEACHER || d.mode > ATTN_DECODE_REVERSE || d.max_len < 1 ||
        d.width < 1 || d.num_states < 1 || d.num_emits < (reverse ? 0 : 1) || d.num_captures < 0 ||
        d.num_kernels < 0 || d.first_kernel < 0 || d.first_kernel + d.num_kernels > spec.num_kernels ||
        !d.state_init || !d.state_in || !d.state_out || !d.results ||
        (d.num_captures > 0 && (!d.captures || !d.views)) || d.num_sequences < 0 ||
        (d.num_sequences > 0 && (!reverse || !d.sequences || !d.sequence_views)) ||
        d.num_results != (reverse ? d.num_states : 0) + d.num_emits || search == (d.teacher >= 0) ||
        (d.split_rows && (search || !d.state_rows)))
      return makeError(where, " has inconsistent counts, modes or arrays");
    auto valid = [&](int32_t v, int32_t role, bool mustBeComputed) {
      return v >= 0 && v < spec.num_values && (role < 0 || spec.values[v].role == role) &&
             (!mustBeComputed || spec.values[v].role == ATTN_ROLE_INPUT ||
              spec.values[v].role == ATTN_ROLE_PARAM || computed[v]);
    };
    if (!valid(d.token, ATTN_ROLE_STEP, false) || (d.teacher >= 0 && !valid(d.teacher, -1, true)) ||
        (d.position >= 0 && (!search || !valid(d.position, ATTN_ROLE_STEP, false))))
      return makeError(where, " has a bad token, position or teacher value");
    computed[d.token] = true;
    if (d.position >= 0)
      computed[d.position] = true;
    for (int32_t i = 0; i < d.num_states; ++i) {
      if (!valid(d.state_init[i], -1, true) || !valid(d.state_in[i], ATTN_ROLE_STEP, false))
        return makeError(where, " state ", i, " is not computed before the decoder or is no step value");
      computed[d.state_in[i]] = true;
    }
    for (int32_t i = 0; i < d.num_captures; ++i) {
      if (!valid(d.captures[i], -1, true) || !valid(d.views[i], ATTN_ROLE_STEP, false) ||
          spec.values[d.captures[i]].rank < 1)
        return makeError(where, " capture ", i, " is not computed before the decoder or has no view");
      computed[d.views[i]] = true;
    }
    for (int32_t i = 0; i < d.num_sequences; ++i) {
      if (!valid(d.sequences[i], -1, true) || !valid(d.sequence_views[i], ATTN_ROLE_STEP, false) ||
          spec.values[d.sequences[i]].rank != spec.values[d.sequence_views[i]].rank + 1)
        return makeError(where, " sequence ", i, " is not computed before the decoder or has no step view");
      computed[d.sequence_views[i]] = true;
    }
    for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k)
      if (Status s = checkKernel(k); !s)
        return s;
    for (int32_t i = 0; i < d.num_states; ++i)
      if (!valid(d.state_out[i], -1, true) ||
          spec.values[d.state_out[i]].rank != spec.values[d.state_in[i]].rank)
        return makeError(where, " next state ", i, " is not computed by the step or has the wrong rank");
    for (int32_t i = 0; i < d.num_emits; ++i)
      if (!valid(d.emits[i], -1, true) || spec.values[d.emits[i]].rank < 1)
        return makeError(where, " emitted value ", i, " is not computed by the step");
    for (int32_t i = 0; i < d.num_results; ++i) {
      if (!valid(d.results[i], ATTN_ROLE_STEP, false) || computed[d.results[i]])
        return makeError(where, " result ", i, " is not a fresh step value");
      bool state = reverse && i < d.num_states;
      int32_t emit = state     ? -1
                     : reverse ? d.emits[i - d.num_states]
                     : search  ? (i == 0 ? -1 : d.emits[i])
                               : d.emits[i];
      int32_t rank = state ? spec.values[d.state_init[i]].rank : emit < 0 ? 2 : spec.values[emit].rank + 1;
      if (spec.values[d.results[i]].rank != rank)
        return makeError(where, " result ", i, " has rank ", spec.values[d.results[i]].rank, ", expected ",
                         rank);
      computed[d.results[i]] = true;
    }
    return {};
  };
  for (int32_t s = 0; s < spec.num_steps; ++s) {
    int32_t step = spec.steps[s];
    if (Status status = step >= 0 ? checkKernel(step) : checkDecoder(-1 - step); !status)
      return status;
  }
  std::set<std::string> outputNames;
  for (int32_t o = 0; o < spec.num_outputs; ++o) {
    const attn_output &out = spec.outputs[o];
    if (!out.name || !*out.name || !outputNames.insert(out.name).second)
      return makeError("model table: output ", o, " has no name or a duplicate one");
    if (out.value < 0 || out.value >= spec.num_values || !computed[out.value])
      return makeError("model table: output '", out.name, "' is not a value the model computes");
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

namespace {

/// The index of element `flat` of `t`, as "[i, j, ...]".
std::string elementIndex(const Tensor &t, int64_t flat) {
  std::string at;
  for (int64_t d = t.rank() - 1; d >= 0; --d) {
    at = (d ? ", " : "") + std::to_string(flat % t.shape()[d]) + at;
    flat /= t.shape()[d];
  }
  return "[" + at + "]";
}

/// The values of an i32 input index something: token ids an embedding table, class labels the loss's
/// classes, lengths the steps of a sequence. One outside its range is bad input (a kernel would clamp it to
/// a wrong answer), named with its position.
Status checkValues(const attn_value &v, const Tensor &t, const SymbolBindings &bindings) {
  if (t.dtype() != DType::I32)
    return {};
  int64_t low = 0, high = INT64_MAX; // inclusive
  if (v.vocab_size > 0)
    high = v.vocab_size - 1;
  if (v.num_classes > 0)
    high = std::min(high, v.num_classes - 1);
  std::string lengthBound;
  if (v.max_length > 0 || v.max_length_dim) {
    low = 1;
    auto bound = v.max_length_dim ? bindings.find(v.max_length_dim) : bindings.end();
    if (v.max_length_dim && bound == bindings.end())
      return {}; // the dimension is bound by an input this run does not have
    high = bound != bindings.end() ? bound->second.size : v.max_length;
    lengthBound = (v.max_length_dim ? std::string(v.max_length_dim) + " = " : "") + std::to_string(high);
  }
  if (high == INT64_MAX)
    return {};
  const int32_t *data = t.data<int32_t>();
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if ((data[i] >= low && data[i] <= high) || (v.has_ignore_id && data[i] == v.ignore_id))
      continue;
    std::string where = std::string("input '") + v.name + "' holds ";
    std::string at = " at " + elementIndex(t, i);
    if (!lengthBound.empty())
      return makeError(where, "length ", data[i], at, ", outside 1 to ", lengthBound,
                       " (a sequence's steps; 0 steps is no sequence)");
    if (v.vocab_size > 0 && (v.num_classes <= 0 || v.vocab_size - 1 == high))
      return makeError(where, "token ", data[i], at, ", outside the vocabulary of ", v.vocab_size,
                       " tokens (0 to ", v.vocab_size - 1, ")");
    return makeError(where, "class label ", data[i], at, ", outside the ", v.num_classes, " classes (0 to ",
                     v.num_classes - 1, ")",
                     v.has_ignore_id ? " and not the ignored label " + std::to_string(v.ignore_id) : "");
  }
  return {};
}

/// The values a top-level step computes: a kernel's results, or a decoder's.
std::vector<int32_t> stepWrites(const attn_model_spec &spec, int32_t step) {
  if (step >= 0) {
    const attn_kernel &k = spec.kernels[step];
    return std::vector<int32_t>(k.args + k.num_args - k.num_results, k.args + k.num_args);
  }
  const attn_decoder &d = spec.decoders[-1 - step];
  return std::vector<int32_t>(d.results, d.results + d.num_results);
}

/// Calls `visit` with each value a top-level step reads from outside itself (a value may come more than
/// once). A visitor instead of a list: runs ask this of every step, and a list costs an allocation each.
template <typename Visit>
void forEachStepRead(const attn_model_spec &spec, int32_t step, Visit &&visit) {
  auto kernelReads = [&](const attn_kernel &k) {
    for (int32_t a = 0; a < k.num_args - k.num_results; ++a)
      visit(k.args[a]);
  };
  if (step >= 0) {
    kernelReads(spec.kernels[step]);
    return;
  }
  const attn_decoder &d = spec.decoders[-1 - step];
  for (const auto &[values, count] : {std::pair{d.state_init, d.num_states},
                                      std::pair{d.captures, d.num_captures},
                                      std::pair{d.sequences, d.num_sequences}})
    for (int32_t i = 0; i < count; ++i)
      visit(values[i]);
  if (d.teacher >= 0)
    visit(d.teacher);
  for (int32_t k = d.first_kernel; k < d.first_kernel + d.num_kernels; ++k)
    kernelReads(spec.kernels[k]);
}

} // namespace

std::vector<bool> valuesRead(const attn_model_spec &spec) {
  std::vector<bool> read(spec.num_values, false);
  for (int32_t s = 0; s < spec.num_steps; ++s)
    forEachStepRead(spec, spec.steps[s], [&](int32_t v) { read[v] = true; });
  return read;
}

Expected<SymbolBindings> checkInputs(const attn_model_spec &spec, const TensorMap &inputs) {
  std::vector<int32_t> modelInputs = valuesWithRole(spec, ATTN_ROLE_INPUT);
  // The messages are made only for an error: a program checks the inputs of every run.
  auto theInputs = [&] {
    std::string expected;
    for (int32_t i : modelInputs)
      expected += (expected.empty() ? "" : ", ") + std::string(spec.values[i].name);
    return modelInputs.empty() ? "the model has no inputs" : "the model's inputs are " + expected;
  };
  for (const auto &[name, tensor] : inputs) {
    bool known = false;
    for (int32_t i : modelInputs)
      known = known || name == spec.values[i].name;
    if (!known)
      return makeError("unknown input '", name, "'; ", theInputs());
  }
  std::vector<bool> read;
  for (int32_t i : modelInputs)
    if (!inputs.count(spec.values[i].name)) {
      if (read.empty())
        read = valuesRead(spec);
      if (read[i])
        return makeError("missing input '", spec.values[i].name, "'; ", theInputs());
    }

  SymbolBindings bindings;
  for (int32_t i : modelInputs) {
    const attn_value &v = spec.values[i];
    auto found = inputs.find(v.name);
    if (found == inputs.end())
      continue; // an input only training reads (the targets of the loss)
    const Tensor &t = found->second;
    if (t.dtype() != static_cast<DType>(v.dtype))
      return makeError("input '", v.name, "' has dtype ", dtypeName(t.dtype()), ", but the model expects ",
                       dtypeName(static_cast<DType>(v.dtype)), symbolicShape(spec, i));
    auto mismatch = [&] {
      return std::string("input '") + v.name + "' has shape " + formatShape(t.shape()) +
             ", but the model expects " + symbolicShape(spec, i);
    };
    if (t.rank() != v.rank)
      return Error{mismatch()};
    for (int32_t d = 0; d < v.rank; ++d) {
      const attn_dim &dim = v.dims[d];
      int64_t size = t.shape()[d];
      if (dim.size >= 0) {
        if (size != dim.size)
          return Error{mismatch()};
        continue;
      }
      if (size < 1)
        return makeError(mismatch(), " with ", dim.symbol, " >= 1");
      auto [it, inserted] = bindings.try_emplace(dim.symbol, SymbolBinding{size, v.name});
      if (!inserted && it->second.size != size)
        return makeError(mismatch(), " with ", dim.symbol, " = ", it->second.size, " (bound by input '",
                         it->second.input, "' ", formatShape(inputs.at(it->second.input).shape()), ")");
    }
  }
  for (int32_t i : modelInputs)
    if (auto t = inputs.find(spec.values[i].name); t != inputs.end())
      if (Status s = checkValues(spec.values[i], t->second, bindings); !s)
        return s.takeError();
  return bindings;
}

std::vector<const attn_value *> weightFileParameters(const attn_model_spec &spec) {
  std::vector<const attn_value *> params;
  std::set<std::string_view> names;
  for (const attn_model_spec *program : {&spec, spec.gradient})
    if (program)
      for (int32_t i : valuesWithRole(*program, ATTN_ROLE_PARAM))
        if (names.insert(program->values[i].name).second)
          params.push_back(&program->values[i]);
  return params;
}

namespace {

DType dtypeOf(const Tensor &t) { return t.dtype(); }
DType dtypeOf(const TensorInfo &t) { return t.dtype; }
const Shape &shapeOf(const Tensor &t) { return t.shape(); }
const Shape &shapeOf(const TensorInfo &t) { return t.shape; }

/// checkWeights on a map of tensors or of a file's descriptions of them. Every run checks its weights, so
/// where they are right this builds neither sets nor messages: the names a weights file may hold are
/// gathered only where there are more tensors than the program reads, and messages only for an error.
template <typename Map>
Status checkWeightsIn(const attn_model_spec &spec, const Map &weights, const std::string &weightsFile) {
  std::vector<int32_t> params = valuesWithRole(spec, ATTN_ROLE_PARAM);
  std::vector<std::string> missing, extra;
  for (int32_t i : params)
    if (!weights.count(spec.values[i].name))
      missing.push_back(spec.values[i].name);
  if (params.size() - missing.size() < weights.size()) { // tensors besides the program's own parameters
    std::set<std::string_view> paramNames;
    for (const attn_value *v : weightFileParameters(spec))
      paramNames.insert(v->name);
    for (const auto &[name, tensor] : weights)
      if (!paramNames.count(name))
        extra.push_back(name);
  }
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
    const auto &t = weights.find(v.name)->second;
    if (dtypeOf(t) != static_cast<DType>(v.dtype))
      return makeError("weight '", v.name, "' in ", weightsFile, " has dtype ", dtypeName(dtypeOf(t)),
                       ", but the model expects ", dtypeName(static_cast<DType>(v.dtype)));
    const Shape &shape = shapeOf(t);
    bool same = int32_t(shape.size()) == v.rank;
    for (int32_t d = 0; same && d < v.rank; ++d)
      same = shape[d] == v.dims[d].size;
    if (!same) {
      Shape expected;
      for (int32_t d = 0; d < v.rank; ++d)
        expected.push_back(v.dims[d].size);
      return makeError("weight '", v.name, "' in ", weightsFile, " has shape ", formatShape(shape),
                       ", but the model expects ", formatShape(expected));
    }
  }
  return {};
}

} // namespace

Status checkWeights(const attn_model_spec &spec, const TensorInfoMap &weights,
                    const std::string &weightsFile) {
  return checkWeightsIn(spec, weights, weightsFile);
}

Status checkWeights(const attn_model_spec &spec, const TensorMap &weights, const std::string &weightsFile) {
  return checkWeightsIn(spec, weights, weightsFile);
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

/// Frees the device copies of buffers a GPU kernel left behind; a no-op for CPU kernels.
void releaseDevice(halide_buffer_t *buffer) {
  if (buffer && buffer->device)
    halide_device_free(nullptr, buffer);
}

std::string takeHalideError() {
  std::lock_guard<std::mutex> lock(halideErrorMutex);
  return std::exchange(halideErrorText, std::string());
}

/// A Halide device call on `buffer`; its failure says "cannot VERB 'WHAT' PLACE the device" with Halide's
/// own text.
Status deviceCall(int (*call)(void *, halide_buffer_t *), halide_buffer_t *buffer, const char *verb,
                  const std::string &what, const char *place) {
  takeHalideError();
  if (int rc = call(nullptr, buffer); rc != 0) {
    std::string text = takeHalideError();
    return makeError("cannot ", verb, " '", what, "' ", place, " the device", text.empty() ? "" : ": " + text,
                     " (Halide error ", rc, ")");
  }
  return {};
}

} // namespace

Status copyToHost(halide_buffer_t *buffer, const std::string &what) {
  if (!buffer || !buffer->device_dirty())
    return {};
  return deviceCall(halide_copy_to_host, buffer, "copy", what, "from");
}

bool runsOnGpu(const attn_model_spec &spec) {
  std::string_view target = spec.target;
  return target.find("cuda") != std::string_view::npos || target.find("opencl") != std::string_view::npos;
}

Status deviceSync(halide_buffer_t *buffer, const std::string &what) {
  if (!buffer || !buffer->device)
    return {};
  return deviceCall(halide_device_sync, buffer, "finish", what, "on");
}

Status releaseDeviceCopy(halide_buffer_t *buffer, const std::string &what) {
  Status copied = copyToHost(buffer, what);
  if (copied && buffer && buffer->device) {
    releaseDevice(buffer);
    buffer->set_host_dirty(true); // the host data is the only copy again
  }
  return copied;
}

Status copyToHost(TensorMap &tensors) {
  for (auto &[name, tensor] : tensors)
    if (Status s = copyToHost(tensor.buffer(), name); !s)
      return s;
  return {};
}

Status releaseDeviceCopies(TensorMap &tensors) {
  for (auto &[name, tensor] : tensors)
    if (Status s = releaseDeviceCopy(tensor.buffer(), name); !s)
      return s;
  return {};
}

HalideSession::HalideSession(int numThreads)
    : previousHandler_(halide_set_error_handler(captureHalideError)),
      threads_(numThreads > 0 ? numThreads : defaultPoolThreads()),
      previousParFor_(halide_set_custom_do_par_for(poolParallelFor)),
      previousPoolThreads_(setPoolThreads(threads_)) {
  takeError();
  // A GPU program allocates and frees a device buffer for almost every kernel result; freeing one through
  // the driver waits for the device and allocating is slow, so Halide keeps freed buffers for reuse (its
  // 32 most recent). No effect on a CPU program.
  halide_reuse_device_allocations(nullptr, true);
  // Halide's own pool still serves what the runtime's does not (loops with asynchronous producers).
  if (numThreads > 0)
    previousThreads_ = halide_set_num_threads(numThreads);
}

HalideSession::~HalideSession() {
  setPoolThreads(previousPoolThreads_);
  halide_set_custom_do_par_for(previousParFor_);
  if (previousThreads_ > 0)
    halide_set_num_threads(previousThreads_);
  halide_set_error_handler(previousHandler_);
}

std::string HalideSession::takeError() { return takeHalideError(); }

Execution::~Execution() {
  for (halide_buffer_t *buffer : buffers)
    releaseDevice(buffer); // views share a buffer; a freed one has no device handle left
}

void Execution::computeShape(int32_t value) {
  const attn_value &v = spec.values[value];
  Shape shape;
  for (int32_t d = 0; d < v.rank; ++d)
    shape.push_back(v.dims[d].size >= 0 ? v.dims[d].size : shapes[v.dims[d].src_value][v.dims[d].src_dim]);
  shapes[value] = std::move(shape);
}

Status Execution::allocate(int32_t value, Shape shape, bool zeroed) {
  Expected<Tensor> t = Tensor::create(static_cast<DType>(spec.values[value].dtype), shape, zeroed);
  if (!t)
    return makeError("cannot allocate '", spec.values[value].name, "': ", t.message());
  if (!zeroed)
    t->buffer()->set_host_dirty(false); // a kernel writes it whole, wherever it runs
  if (temps[value].buffer() == buffers[value])
    releaseDevice(buffers[value]); // the value's previous tensor
  shapes[value] = std::move(shape);
  temps[value] = std::move(*t);
  buffers[value] = temps[value].buffer();
  return {};
}

std::string Execution::deviceHint(int rc) const {
  std::string_view target = spec.target;
  bool gpu = runsOnGpu(spec);
  // A missing driver library shows as a symbol not found (cuInit), a missing device as a device error.
  bool deviceError =
      rc == halide_error_code_gpu_device_error || rc == halide_error_code_no_device_interface ||
      rc == halide_error_code_symbol_not_found || rc == halide_error_code_device_malloc_failed ||
      rc == halide_error_code_copy_to_device_failed || rc == halide_error_code_device_run_failed;
  if (!gpu || !deviceError)
    return "";
  return ". This program was compiled for " + std::string(target) +
         ", which needs a GPU and its driver (libcuda for CUDA, an OpenCL ICD for OpenCL); check that one is "
         "installed and visible (--device N picks among several), or compile the model for this CPU with "
         "attnc --target=host";
}

Status Execution::toHost(int32_t value) { return copyToHost(buffers[value], spec.values[value].name); }

Status Execution::allSum(const attn_kernel &kernel) {
  Tensor &result = temps[kernel.args[1]];
  const halide_buffer_t *input = buffers[kernel.args[0]];
  if (result.byteSize() != input->size_in_bytes())
    return makeError("kernel '", kernel.name, "': its operand and result differ in size");
  if (Status s = toHost(kernel.args[0]); !s)
    return s;
  std::memcpy(result.data<float>(), input->host, result.byteSize());
  result.buffer()->set_host_dirty(true);
  if (!communicator || communicator->size() == 1)
    return {};
  ProfileTimer timer(profile ? &profile->kernels[kernel.name] : nullptr);
  float *data = result.data<float>();
  int64_t n = result.numElements();
  // A sum of gradients weighs each process's share by its part of the global loss and comes back in the
  // units of this process's loss (docs/distributed.md).
  bool cotangent = kernel.collective == ATTN_ALL_SUM_COTANGENT;
  if (cotangent && !(lossShare > 0))
    return makeError("this rank's part of the batch has no target counted by the loss, which batch "
                     "statistics across ranks need: use a larger batch");
  if (cotangent)
    for (int64_t i = 0; i < n; ++i)
      data[i] *= float(lossShare);
  if (Status s = communicator->sum(data, n); !s)
    return s;
  if (cotangent)
    for (int64_t i = 0; i < n; ++i)
      data[i] /= float(lossShare);
  return {};
}

Status Execution::call(const attn_kernel &kernel, bool allocateResults) {
  if (allocateResults)
    for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a) {
      computeShape(kernel.args[a]);
      // Uninitialized: the kernel writes its results whole.
      if (Status s = allocate(kernel.args[a], shapes[kernel.args[a]], /*zeroed=*/false); !s)
        return makeError("kernel '", kernel.name, "': ", s.message());
    }
  if (kernel.collective != ATTN_PIPELINE)
    return allSum(kernel);
  argv.clear();
  for (int32_t a = 0; a < kernel.num_args; ++a)
    argv.push_back(buffers[kernel.args[a]]);
  session.takeError();
  ProfileEntry *entry = profile ? &profile->kernels[kernel.name] : nullptr;
  if (entry)
    entry->flops += flops(kernel);
  ProfileTimer timer(entry);
  if (int rc = kernel.entry(argv.data()); rc != 0) {
    std::string text = session.takeError();
    return makeError("kernel '", kernel.name, "' failed", text.empty() ? "" : ": " + text, " (Halide error ",
                     rc, ")", deviceHint(rc));
  }
  if (entry) // a GPU kernel's launch returns before it is done: its time ends when its results are
    for (int32_t a = kernel.num_args - kernel.num_results; a < kernel.num_args; ++a)
      if (Status s = deviceSync(buffers[kernel.args[a]], spec.values[kernel.args[a]].name); !s)
        return s;
  return {};
}

double Execution::flops(const attn_kernel &kernel) const {
  double total = 0; // no terms (-1: not known) add nothing
  for (int32_t t = 0; t < kernel.num_flop_terms; ++t) {
    const attn_flop_term &term = kernel.flop_terms[t];
    double product = term.coefficient;
    for (int32_t f = 0; f < term.num_factors; ++f)
      product *= double(shapes[kernel.args[term.factors[2 * f]]][term.factors[2 * f + 1]]);
    total += product;
  }
  return total;
}

void Execution::release(int32_t value) {
  if (temps[value].buffer() == buffers[value])
    releaseDevice(buffers[value]);
  buffers[value] = nullptr;
  temps[value] = Tensor();
}

Expected<TensorMap> runModel(const attn_model_spec &spec, TensorMap &weights, TensorMap &inputs,
                             const RunOptions &options) {
  // A table is checked once: programs run the same ones again and again.
  static std::mutex checkedLock;
  static std::set<const attn_model_spec *> checked;
  {
    std::lock_guard<std::mutex> lock(checkedLock);
    if (!checked.count(&spec)) {
      if (Status s = checkModelSpec(spec); !s)
        return s.takeError();
      checked.insert(&spec);
    }
  }
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    if (std::string_view(spec.values[i].name) == kDropoutSeedInput) {
      Expected<Tensor> seed = Tensor::create(DType::I32, {6});
      if (!seed)
        return seed.takeError();
      const RunOptions::Dropout &d = options.dropout;
      int32_t *words = seed->data<int32_t>();
      words[0] = static_cast<int32_t>(uint32_t(d.seed));
      words[1] = static_cast<int32_t>(uint32_t(d.seed >> 32));
      words[2] = static_cast<int32_t>(uint32_t(d.step));
      words[3] = static_cast<int32_t>(uint32_t(d.rowOffset));
      words[4] = d.on;
      words[5] = 0; // the step of a decoder loop: the loop sets it
      inputs.insert_or_assign(kDropoutSeedInput, std::move(*seed));
    }
  if (Expected<SymbolBindings> bound = checkInputs(spec, inputs); !bound)
    return bound.takeError();
  if (Status s = checkWeights(spec, weights, options.weightsFile); !s)
    return s.takeError();

  HalideSession session(options.numThreads);
  Execution ex(spec, session);
  ex.profile = options.profile;
  ex.communicator = options.communicator;
  ex.lossShare = options.lossShare;
  if (options.profile)
    options.profile->threads = session.threads();
  int32_t n = spec.num_values;
  for (int32_t i = 0; i < n; ++i) {
    const attn_value &v = spec.values[i];
    if (v.role == ATTN_ROLE_INPUT || v.role == ATTN_ROLE_PARAM) {
      TensorMap &from = v.role == ATTN_ROLE_INPUT ? inputs : weights;
      auto found = from.find(v.name);
      if (found == from.end())
        continue; // an input the program does not read (checkInputs allows that only)
      Tensor &t = found->second;
      ex.shapes[i] = t.shape();
      ex.buffers[i] = t.buffer(); // host-dirty where the host data is newer: a GPU kernel uploads it
    }
  }
  // However the run ends, the caller's tensors leave it with their data on the host and no device copy,
  // but the weights where they are to stay on the device.
  struct ReturnBorrowed {
    Execution &ex;
    const RunOptions &options;
    ~ReturnBorrowed() {
      for (size_t i = 0; i < ex.buffers.size(); ++i) {
        attn_role role = static_cast<attn_role>(ex.spec.values[i].role);
        if ((role != ATTN_ROLE_INPUT && role != ATTN_ROLE_PARAM) || !ex.buffers[i])
          continue;
        bool stays = role == ATTN_ROLE_PARAM ? options.weightsStayOnDevice : options.inputsStayOnDevice;
        if (!stays) // weights a GPU optimizer updated come back first
          (void)releaseDeviceCopy(ex.buffers[i], ex.spec.values[i].name);
        ex.buffers[i] = nullptr; // not the run's to free
      }
    }
  } returnBorrowed{ex, options};

  std::vector<int32_t> lastUse(n, -1);
  for (int32_t s = 0; s < spec.num_steps; ++s)
    forEachStepRead(spec, spec.steps[s], [&](int32_t v) { lastUse[v] = s; });
  std::vector<int> outputUses(n, 0);
  for (int32_t o = 0; o < spec.num_outputs; ++o)
    ++outputUses[spec.outputs[o].value];
  // The outputs each step finishes, for options.outputReady: the step that last writes each output.
  std::vector<std::vector<int32_t>> finishes(spec.num_steps);
  if (options.outputReady) {
    std::vector<int32_t> writer(n, -1);
    for (int32_t s = 0; s < spec.num_steps; ++s)
      for (int32_t v : stepWrites(spec, spec.steps[s]))
        writer[v] = s;
    for (int32_t o = 0; o < spec.num_outputs; ++o)
      if (int32_t s = writer[spec.outputs[o].value]; s >= 0)
        finishes[s].push_back(o);
  }

  for (int32_t s = 0; s < spec.num_steps; ++s) {
    int32_t step = spec.steps[s];
    Status status;
    if (step >= 0) {
      status = ex.call(spec.kernels[step], /*allocateResults=*/true);
    } else {
      const attn_decoder &decoder = spec.decoders[-1 - step];
      ProfileTimer timer(options.profile ? &options.profile->decoders[decoder.name] : nullptr);
      status = runDecoder(ex, decoder);
    }
    for (int32_t o : finishes[s]) {
      if (status)
        status = ex.toHost(spec.outputs[o].value);
      if (status)
        status = options.outputReady(spec.outputs[o].name, ex.temps[spec.outputs[o].value]);
    }
    if (status && options.communicator)
      status = options.communicator->progress();
    if (!status)
      return status.takeError();
    forEachStepRead(spec, step, [&](int32_t v) {
      if (spec.values[v].role == ATTN_ROLE_TEMP || spec.values[v].role == ATTN_ROLE_STEP)
        if (lastUse[v] == s && !outputUses[v] && ex.buffers[v])
          ex.release(v);
    });
  }

  if (options.communicator)
    if (Status s = options.communicator->finish(); !s)
      return s.takeError();
  TensorMap outputs;
  for (int32_t o = 0; o < spec.num_outputs; ++o) {
    int32_t v = spec.outputs[o].value;
    halide_buffer_t *buffer = ex.buffers[v];
    bool stays =
        options.outputsStayOnDevice || (options.gradientsStayOnDevice && outputUses[v] == 1 &&
                                        std::string_view(spec.outputs[o].name).substr(0, 5) == "grad.");
    Status done = !stays                        ? ex.toHost(v)
                  : options.outputsStayOnDevice ? deviceSync(buffer, spec.outputs[o].name)
                                                : Status();
    if (!done)
      return done.takeError();
    // The last output naming a value takes its tensor; any other gets a copy.
    if (--outputUses[v] > 0) {
      Expected<Tensor> copy = ex.temps[v].clone();
      if (!copy)
        return makeError("cannot allocate output '", spec.outputs[o].name, "': ", copy.message());
      outputs.emplace(spec.outputs[o].name, std::move(*copy));
    } else {
      if (!stays)
        releaseDevice(buffer); // back on the host: a device copy would outlive the run unseen
      ex.buffers[v] = nullptr;
      outputs.emplace(spec.outputs[o].name, std::move(ex.temps[v]));
    }
  }
  return outputs;
}

} // namespace attn::rt
