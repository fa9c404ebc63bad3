// The executor on the toy model table (ToyModel.h), whose kernels are plain C++ functions over
// halide_buffer_t: symbol binding, shapes of intermediates, every validation message, the propagation of
// kernel failures with Halide's own text, and the checks of the table itself.
#include "attn/Runtime/Executor.h"

#include "HalideRuntimeStub.h"
#include "TestUtil.h"
#include "ToyModel.h"

#include <gtest/gtest.h>

using namespace attn::rt;
using attn::test::halideStub;
using attn::test::makeTensor;
using attn::test::valuesOf;
using namespace attn::test::toy;

namespace {

class Executor : public testing::Test {
protected:
  void SetUp() override {
    halideStub() = {};
    inputs.emplace("x", makeTensor<float>({2, 3, 4}, xValues()));
    inputs.emplace("mask", makeTensor<int32_t>({2, 3}, {1, 1, 0, 1, 0, 0}));
    weights.emplace("bias", makeTensor<float>({4}, {0.5f, 0, -1, 2}));
  }

  static std::vector<float> xValues() {
    std::vector<float> v(24);
    for (int i = 0; i < 24; ++i)
      v[i] = static_cast<float>(i);
    return v;
  }

  std::string inputError() {
    Expected<SymbolBindings> b = checkInputs(kModel, inputs);
    EXPECT_FALSE(b.ok());
    return b.ok() ? "" : b.message();
  }

  std::string weightError() {
    Status s = checkWeights(kModel, describe(weights), "w.safetensors");
    EXPECT_FALSE(s.ok());
    return s.message();
  }

  void replaceInput(const std::string &name, Tensor t) { inputs.insert_or_assign(name, std::move(t)); }

  TensorMap inputs, weights;
};

TEST_F(Executor, RunsTheKernelsAndReturnsTheOutputs) {
  Expected<TensorMap> out = runModel(kModel, weights, inputs, {"w.safetensors", 0});
  ASSERT_TRUE(out.ok()) << out.message();
  ASSERT_EQ(out->size(), 2u);
  const Tensor &y = out->at("y");
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4}));
  std::vector<float> x = xValues(), bias = {0.5f, 0, -1, 2};
  std::vector<int32_t> mask = {1, 1, 0, 1, 0, 0};
  std::vector<float> expectedY(24), expectedTotal(6, 0);
  for (int i = 0; i < 24; ++i) {
    expectedY[i] = (x[i] + bias[i % 4]) * mask[i / 4];
    expectedTotal[i / 4] += expectedY[i];
  }
  EXPECT_EQ(valuesOf<float>(y), expectedY);
  const Tensor &total = out->at("total");
  EXPECT_EQ(total.shape(), (Shape{2, 3}));
  EXPECT_EQ(valuesOf<float>(total), expectedTotal);
  EXPECT_EQ(halideStub().copyToHostCalls, 0);
  EXPECT_EQ(halideStub().deviceFreeCalls, 0);
}

TEST_F(Executor, BindsSymbolsFromTheFirstInputThatUsesThem) {
  Expected<SymbolBindings> b = checkInputs(kModel, inputs);
  ASSERT_TRUE(b.ok()) << b.message();
  EXPECT_EQ(b->at("B").size, 2);
  EXPECT_EQ(b->at("B").input, "x");
  EXPECT_EQ(b->at("S").size, 3);
  EXPECT_EQ(b->at("S").input, "x");
}

TEST_F(Executor, SymbolicShapesTraceIntermediatesBackToInputs) {
  EXPECT_EQ(symbolicShape(kModel, 0), "[B, S, 4]");
  EXPECT_EQ(symbolicShape(kModel, 2), "[4]");
  EXPECT_EQ(symbolicShape(kModel, 4), "[B, S, 4]");
  EXPECT_EQ(symbolicShape(kModel, 5), "[B, S]");
}

TEST_F(Executor, InputNames) {
  inputs.emplace("extra", makeTensor<float>({1}, {1}));
  EXPECT_EQ(inputError(), "unknown input 'extra'; the model's inputs are x, mask");
  inputs.erase("extra");
  inputs.erase("mask");
  EXPECT_EQ(inputError(), "missing input 'mask'; the model's inputs are x, mask");
}

TEST_F(Executor, InputDtype) {
  replaceInput("mask", makeTensor<float>({2, 3}, std::vector<float>(6)));
  EXPECT_EQ(inputError(), "input 'mask' has dtype f32, but the model expects i32[B, S]");
}

TEST_F(Executor, InputRankAndStaticDimensions) {
  replaceInput("x", makeTensor<float>({2, 12}, std::vector<float>(24)));
  EXPECT_EQ(inputError(), "input 'x' has shape [2, 12], but the model expects [B, S, 4]");
  replaceInput("x", makeTensor<float>({2, 3, 5}, std::vector<float>(30)));
  EXPECT_EQ(inputError(), "input 'x' has shape [2, 3, 5], but the model expects [B, S, 4]");
}

TEST_F(Executor, InconsistentSymbols) {
  replaceInput("mask", makeTensor<int32_t>({2, 9}, std::vector<int32_t>(18)));
  EXPECT_EQ(inputError(), "input 'mask' has shape [2, 9], but the model expects [B, S] with S = 3 (bound by "
                          "input 'x' [2, 3, 4])");
}

TEST_F(Executor, SymbolsMustBePositive) {
  replaceInput("x", makeTensor<float>({0, 3, 4}, {}));
  EXPECT_EQ(inputError(), "input 'x' has shape [0, 3, 4], but the model expects [B, S, 4] with B >= 1");
}

TEST_F(Executor, MissingWeights) {
  weights.clear();
  EXPECT_EQ(weightError(), "weight 'bias' is missing from w.safetensors");
  weights.emplace("bias.typo", makeTensor<float>({4}, std::vector<float>(4)));
  EXPECT_EQ(weightError(),
            "weight 'bias' is missing from w.safetensors; it has tensors the model does not use: "
            "'bias.typo'");
}

TEST_F(Executor, ExtraWeights) {
  for (const char *name : {"a", "b", "c", "d", "e", "f", "g"})
    weights.emplace(name, makeTensor<float>({1}, {0}));
  EXPECT_EQ(weightError(),
            "w.safetensors has tensors the model does not use: 'a', 'b', 'c', 'd', 'e' and 2 more "
            "(is it the weight file of another model?)");
}

TEST_F(Executor, WeightShapeAndDtype) {
  weights.insert_or_assign("bias", makeTensor<float>({2, 2}, std::vector<float>(4)));
  EXPECT_EQ(weightError(), "weight 'bias' in w.safetensors has shape [2, 2], but the model expects [4]");
  weights.insert_or_assign("bias", makeTensor<int32_t>({4}, std::vector<int32_t>(4)));
  EXPECT_EQ(weightError(), "weight 'bias' in w.safetensors has dtype i32, but the model expects f32");
}

TEST_F(Executor, RunModelValidatesBeforeRunning) {
  replaceInput("mask", makeTensor<int32_t>({2, 9}, std::vector<int32_t>(18)));
  Expected<TensorMap> out = runModel(kModel, weights, inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.message(), "input 'mask' has shape [2, 9], but the model expects [B, S] with S = 3 (bound by "
                           "input 'x' [2, 3, 4])");
  replaceInput("mask", makeTensor<int32_t>({2, 3}, std::vector<int32_t>(6)));
  weights.clear();
  out = runModel(kModel, weights, inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.message(), "weight 'bias' is missing from the weight file");
}

// A run checks the tensors it reads, as checkWeights checks a file's header: a weight of the right count but
// the wrong name, shape or dtype, or one too many, is reported as checkWeights reports it.
TEST_F(Executor, RunModelChecksEveryWeight) {
  auto runError = [&] {
    Expected<TensorMap> out = runModel(kModel, weights, inputs, {"w.safetensors", 0});
    return out.ok() ? std::string("no error") : out.message();
  };
  weights.insert_or_assign("bias", makeTensor<float>({2, 2}, std::vector<float>(4)));
  EXPECT_EQ(runError(), weightError());
  EXPECT_EQ(runError(), "weight 'bias' in w.safetensors has shape [2, 2], but the model expects [4]");
  weights.insert_or_assign("bias", makeTensor<int32_t>({4}, std::vector<int32_t>(4)));
  EXPECT_EQ(runError(), "weight 'bias' in w.safetensors has dtype i32, but the model expects f32");
  weights.clear();
  weights.emplace("bias.typo", makeTensor<float>({4}, std::vector<float>(4)));
  EXPECT_EQ(runError(), "weight 'bias' is missing from w.safetensors; it has tensors the model does not use: "
                        "'bias.typo'");
  weights.clear();
  weights.emplace("bias", makeTensor<float>({4}, std::vector<float>(4)));
  weights.emplace("extra", makeTensor<float>({1}, {0}));
  EXPECT_EQ(runError(), "w.safetensors has tensors the model does not use: 'extra' (is it the weight file of "
                        "another model?)");
  weights.erase("extra");
  EXPECT_EQ(runError(), "no error");
}

// A kernel that fails the way a Halide pipeline does: it reports through halide_error, then returns a code.
int failingKernel(void **) {
  halide_error(nullptr, "Input buffer x is accessed at 9, which is beyond the max (3) in dimension 0\n");
  return -4;
}

int silentlyFailingKernel(void **) { return -1; }

int observedThreads = 0;
int observeThreads(void **args) {
  observedThreads = halideStub().numThreads;
  return addBias(args);
}

/// kModel with its first kernel's entry replaced.
attn_model_spec withFirstKernel(int (*entry)(void **), std::vector<attn_kernel> &storage) {
  storage.assign(std::begin(kKernels), std::end(kKernels));
  storage[0].entry = entry;
  attn_model_spec spec = kModel;
  spec.kernels = storage.data();
  return spec;
}

TEST_F(Executor, KernelFailuresCarryHalideText) {
  std::vector<attn_kernel> kernels;
  attn_model_spec spec = withFirstKernel(failingKernel, kernels);
  halide_error_handler_t before = halide_set_error_handler(nullptr);
  halide_set_error_handler(before);
  Expected<TensorMap> out = runModel(spec, weights, inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.message(),
            "kernel 'add_bias' failed: Input buffer x is accessed at 9, which is beyond the max (3) "
            "in dimension 0 (Halide error -4)");
  // The handler is put back after the run.
  EXPECT_EQ(halide_set_error_handler(before), before);

  spec = withFirstKernel(silentlyFailingKernel, kernels);
  out = runModel(spec, weights, inputs);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.message(), "kernel 'add_bias' failed (Halide error -1)");
}

TEST_F(Executor, SetsAndRestoresTheThreadCount) {
  std::vector<attn_kernel> kernels;
  attn_model_spec spec = withFirstKernel(observeThreads, kernels);
  Expected<TensorMap> out = runModel(spec, weights, inputs, {"w", 3});
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(observedThreads, 3);
  EXPECT_EQ(halideStub().numThreads, 8);
  out = runModel(spec, weights, inputs);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(observedThreads, 8); // 0 leaves Halide's default alone
}

// A kernel that leaves its result on a (simulated) device, as a GPU pipeline does.
int deviceKernel(void **args) {
  auto *out = static_cast<halide_buffer_t *>(args[1]);
  for (int i = 0; i < extent(out, 0) * extent(out, 1); ++i)
    reinterpret_cast<float *>(out->host)[i] = 1;
  out->device = 1;
  out->set_device_dirty(true);
  return 0;
}

TEST_F(Executor, CopiesDeviceResultsToTheHostAndFreesThem) {
  std::vector<attn_kernel> kernels(std::begin(kKernels), std::end(kKernels));
  kernels[2].entry = deviceKernel;
  attn_model_spec spec = kModel;
  spec.kernels = kernels.data();
  Expected<TensorMap> out = runModel(spec, weights, inputs);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(halideStub().copyToHostCalls, 1);
  EXPECT_EQ(halideStub().deviceFreeCalls, 1);
  EXPECT_EQ(out->at("total").buffer()->device, 0u);
  EXPECT_EQ(valuesOf<float>(out->at("total")), std::vector<float>(6, 1));
  EXPECT_TRUE(inputs.at("x").buffer()->host_dirty()); // so a GPU kernel would upload it
}

TEST_F(Executor, TimedRunsKeepInputsAndOutputsOnTheDevice) {
  std::vector<attn_kernel> kernels(std::begin(kKernels), std::end(kKernels));
  kernels[2].entry = deviceKernel;
  attn_model_spec spec = kModel;
  spec.kernels = kernels.data();
  inputs.at("x").buffer()->device = 1; // uploaded by an earlier run
  RunOptions options;
  options.weightsStayOnDevice = options.inputsStayOnDevice = options.outputsStayOnDevice = true;
  Expected<TensorMap> out = runModel(spec, weights, inputs, options);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(halideStub().copyToHostCalls, 0);
  EXPECT_EQ(halideStub().deviceFreeCalls, 0);
  EXPECT_EQ(halideStub().deviceSyncCalls, 1); // the run ends when the device is done with its output
  EXPECT_TRUE(out->at("total").buffer()->device_dirty());
  EXPECT_EQ(inputs.at("x").buffer()->device, 1u);

  options.inputsStayOnDevice = false;
  out = runModel(spec, weights, inputs, options);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(inputs.at("x").buffer()->device, 0u);
  EXPECT_EQ(halideStub().deviceFreeCalls, 1); // the input's copy
}

TEST_F(Executor, OutputsNamingTheSameValueGetTheirOwnCopies) {
  const attn_output outputs[] = {{"y", 4}, {"y_again", 4}};
  attn_model_spec spec = kModel;
  spec.outputs = outputs;
  Expected<TensorMap> out = runModel(spec, weights, inputs);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_NE(out->at("y").data(), out->at("y_again").data());
  EXPECT_EQ(valuesOf<float>(out->at("y")), valuesOf<float>(out->at("y_again")));
}

TEST_F(Executor, ModelsWithoutInputs) {
  const attn_value values[] = {kValues[2], {"copy.0", ATTN_ROLE_TEMP, ATTN_F32, 1, kBiasDims}};
  const int32_t args[] = {0, 1};
  const attn_kernel kernels[] = {{"copy",
                                  +[](void **a) {
                                    auto *in = static_cast<halide_buffer_t *>(a[0]);
                                    auto *out = static_cast<halide_buffer_t *>(a[1]);
                                    std::copy(in->host, in->host + 16, out->host);
                                    return 0;
                                  },
                                  2, 1, args}};
  const attn_output outputs[] = {{"c", 1}};
  const int32_t steps[] = {0};
  attn_model_spec spec = {"const", "c.attn", "host", 2, values, 1, kernels, 0, nullptr, 1, steps, 1, outputs};
  TensorMap none;
  EXPECT_TRUE(checkInputs(spec, none).ok());
  inputs.clear();
  inputs.emplace("x", makeTensor<float>({1}, {1}));
  Expected<SymbolBindings> b = checkInputs(spec, inputs);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.message(), "unknown input 'x'; the model has no inputs");
  Expected<TensorMap> out = runModel(spec, weights, none);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(valuesOf<float>(out->at("c")), (std::vector<float>{0.5f, 0, -1, 2}));
}

/// kModel with one value replaced, for table-consistency checks.
std::string specError(int32_t index, attn_value value) {
  std::vector<attn_value> values(std::begin(kValues), std::end(kValues));
  values[index] = value;
  attn_model_spec spec = kModel;
  spec.values = values.data();
  Status s = checkModelSpec(spec);
  EXPECT_FALSE(s.ok());
  return s.message();
}

TEST(ModelSpec, TheToyTableIsConsistent) { EXPECT_TRUE(checkModelSpec(kModel).ok()); }

TEST(ModelSpec, InconsistentTablesAreReported) {
  const attn_dim laterSource[] = {{-1, nullptr, 5, 0}, {-1, nullptr, 0, 1}, {4, nullptr, -1, 0}};
  EXPECT_EQ(
      specError(3, {"add_bias.0", ATTN_ROLE_TEMP, ATTN_F32, 3, laterSource}),
      "model table: value 3 'add_bias.0' dimension 0 copies dimension 0 of value 5, which is not a dimension "
      "of an earlier value");
  const attn_dim dynamicParam[] = {{-1, "N", -1, 0}};
  EXPECT_EQ(specError(2, {"bias", ATTN_ROLE_PARAM, ATTN_F32, 1, dynamicParam}),
            "model table: value 2 'bias' dimension 0 is dynamic, but parameters have static shapes");
  const attn_dim noSymbol[] = {{-1, nullptr, -1, 0}, {-1, "S", -1, 0}};
  EXPECT_EQ(specError(1, {"mask", ATTN_ROLE_INPUT, ATTN_I32, 2, noSymbol}),
            "model table: value 1 'mask' dimension 0 is dynamic but names no symbol");
  EXPECT_EQ(specError(1, {"x", ATTN_ROLE_INPUT, ATTN_I32, 2, kMaskDims}),
            "model table: two inputs are named 'x'");
  EXPECT_EQ(specError(1, {"mask", ATTN_ROLE_INPUT, 7, 2, kMaskDims}),
            "model table: value 1 'mask' has unknown dtype 7");

  std::vector<attn_kernel> kernels(std::begin(kKernels), std::end(kKernels));
  std::swap(kernels[0], kernels[1]);
  attn_model_spec spec = kModel;
  spec.kernels = kernels.data();
  Status s = checkModelSpec(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "model table: kernel 0 'apply_mask' reads 'add_bias.0' before it is computed");

  const attn_output outputs[] = {{"y", 2}};
  spec = kModel;
  spec.outputs = outputs;
  spec.num_outputs = 1;
  s = checkModelSpec(spec);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "model table: output 'y' is not a value the model computes");
}

} // namespace
