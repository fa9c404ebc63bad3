// Fuzz target: a checkpoint as `train --weights` loads it, against a model with two parameters: the header
// checked against the model before any data is read, then the optimizer state (moments and step) taken
// from what was read. Whatever passes must be exactly the model's parameters and well-formed moments.
#include "FuzzInput.h"

#include "attn/Runtime/Trainer.h"

namespace {

const attn_dim kWeightDims[] = {{3, nullptr, -1, 0}, {2, nullptr, -1, 0}};
const attn_dim kBiasDims[] = {{2, nullptr, -1, 0}};
const attn_value kValues[] = {
    {"dense.weight", ATTN_ROLE_PARAM, ATTN_F32, 2, kWeightDims},
    {"dense.bias", ATTN_ROLE_PARAM, ATTN_F32, 1, kBiasDims},
};
const attn_model_spec kModel = {"fuzz", "fuzz.attn", "host", 2, kValues};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace attn::rt;
  std::string path = attn::fuzz::scratchFile(data, size, "ckpt");
  Expected<SafeTensorsFile> file = readSafeTensors(
      path, [&](const TensorInfoMap &header) { return checkCheckpoint(kModel, header, path); });
  if (!file)
    return 0;
  OptimizerState state;
  if (!takeOptimizerState(*file, path, state))
    return 0;
  if (!checkWeights(kModel, describe(file->tensors), path))
    std::abort(); // the header check let through a file the model cannot run with
  for (const auto &[name, moment] : state.moments) {
    const Tensor &param = file->tensors.at(name.substr(std::string("optimizer.m.").size()));
    if (moment.shape() != param.shape() || moment.dtype() != DType::F32)
      std::abort();
  }
  if (state.step < 0 || state.step > kMaxCheckpointStep)
    std::abort();
  return 0;
}
