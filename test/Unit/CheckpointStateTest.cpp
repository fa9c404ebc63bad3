// Taking a checkpoint's optimizer state: moments that do not match their parameter (a smaller tensor made
// the optimizer kernels write past its buffer) and steps that are not whole numbers in range (a step of
// 2^63 - 1 wrapped around; "abc" and "-1" were read as 0) are errors that name the file and the tensor or
// value, and a valid state is moved out of the parameters; parameters' moving averages swap in and back.
#include "attn/Runtime/Trainer.h"

#include <gtest/gtest.h>

using namespace attn::rt;

namespace {

Tensor tensor(DType dtype, Shape shape) {
  Expected<Tensor> t = Tensor::create(dtype, std::move(shape));
  EXPECT_TRUE(t.ok());
  return std::move(*t);
}

/// A checkpoint with parameter `w` [4] and the given extra tensors and step.
SafeTensorsFile checkpoint(std::vector<std::pair<std::string, Tensor>> extra, const char *step = nullptr) {
  SafeTensorsFile file;
  file.tensors.emplace("w", tensor(DType::F32, {4}));
  for (auto &[name, t] : extra)
    file.tensors.emplace(name, std::move(t));
  if (step)
    file.metadata["step"] = step;
  return file;
}

std::string takeError(SafeTensorsFile file) {
  OptimizerState state;
  Status s = takeOptimizerState(file, "ck.safetensors", state);
  EXPECT_FALSE(s.ok());
  return s.message();
}

TEST(CheckpointState, ValidStateIsMovedOut) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.m.w", tensor(DType::F32, {4}));
  extra.emplace_back("optimizer.v.w", tensor(DType::F32, {4}));
  SafeTensorsFile file = checkpoint(std::move(extra), "42");
  OptimizerState state;
  ASSERT_TRUE(takeOptimizerState(file, "ck.safetensors", state).ok());
  EXPECT_EQ(state.step, 42);
  EXPECT_EQ(state.moments.size(), 2u);
  EXPECT_EQ(file.tensors.size(), 1u);
  EXPECT_TRUE(file.tensors.count("w"));
}

TEST(CheckpointState, NoStepIsStepZero) {
  SafeTensorsFile file = checkpoint({});
  OptimizerState state;
  state.step = 7;
  ASSERT_TRUE(takeOptimizerState(file, "ck.safetensors", state).ok());
  EXPECT_EQ(state.step, 0);
}

TEST(CheckpointState, MomentOfAnotherShapeIsAnError) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.m.w", tensor(DType::F32, {2}));
  EXPECT_EQ(takeError(checkpoint(std::move(extra))),
            "ck.safetensors: optimizer tensor 'optimizer.m.w' is f32" + formatShape({2}) +
                ", but its parameter 'w' needs f32" + formatShape({4}));
}

TEST(CheckpointState, MomentOfTypeI32IsAnError) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.v.w", tensor(DType::I32, {4}));
  EXPECT_NE(takeError(checkpoint(std::move(extra))).find("'optimizer.v.w' is i32"), std::string::npos);
}

TEST(CheckpointState, MomentWithoutItsParameterIsAnError) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.m.u", tensor(DType::F32, {4}));
  EXPECT_NE(
      takeError(checkpoint(std::move(extra))).find("belongs to no parameter of the file ('u' is missing)"),
      std::string::npos);
}

TEST(CheckpointState, UnknownOptimizerTensorIsAnError) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.x.w", tensor(DType::F32, {4}));
  EXPECT_NE(takeError(checkpoint(std::move(extra))).find("'optimizer.x.w' is no optimizer state"),
            std::string::npos);
}

TEST(CheckpointState, AverageOfAnotherShapeIsAnError) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.average.w", tensor(DType::F32, {3}));
  EXPECT_NE(takeError(checkpoint(std::move(extra))).find("'optimizer.average.w' is f32"), std::string::npos);
}

TEST(CheckpointState, AveragesSwapInAndBack) {
  std::vector<std::pair<std::string, Tensor>> extra;
  extra.emplace_back("optimizer.average.w", tensor(DType::F32, {4}));
  extra.emplace_back("optimizer.m.w", tensor(DType::F32, {4}));
  SafeTensorsFile file = checkpoint(std::move(extra));
  file.tensors.emplace("u", tensor(DType::F32, {2})); // a parameter without an average stays
  file.tensors.at("w").data<float>()[0] = 1;
  OptimizerState state;
  ASSERT_TRUE(takeOptimizerState(file, "ck.safetensors", state).ok());
  state.moments.at("optimizer.average.w").data<float>()[0] = 2;
  state.moments.at("optimizer.m.w").data<float>()[0] = 3;
  {
    AveragesSwappedIn averaged(file.tensors, state);
    EXPECT_EQ(file.tensors.at("w").data<float>()[0], 2);
    EXPECT_EQ(state.moments.at("optimizer.average.w").data<float>()[0], 1);
    EXPECT_EQ(state.moments.at("optimizer.m.w").data<float>()[0], 3);
    EXPECT_EQ(file.tensors.at("u").numElements(), 2);
  }
  EXPECT_EQ(file.tensors.at("w").data<float>()[0], 1);
  EXPECT_EQ(state.moments.at("optimizer.average.w").data<float>()[0], 2);
}

TEST(CheckpointState, StepsOutOfRangeOrNotWholeNumbersAreErrors) {
  for (const char *step : {"9223372036854775807", "9007199254740993", "abc", "-1", "", "1e3", " 5"})
    EXPECT_EQ(takeError(checkpoint({}, step)),
              std::string("ck.safetensors: the checkpoint's step is '") + step +
                  "', expected a whole number from 0 to 9007199254740992")
        << step;
  SafeTensorsFile file = checkpoint({}, "9007199254740992");
  OptimizerState state;
  ASSERT_TRUE(takeOptimizerState(file, "ck.safetensors", state).ok());
  EXPECT_EQ(state.step, int64_t(1) << 53);
}

} // namespace
