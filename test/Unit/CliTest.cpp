// The command line of generated programs, driven through attn_main on the toy model (ToyModel.h): usage
// errors exit 2 with one `error:` line and a hint, runtime errors exit 1, and `info`, `init` and `infer`
// print what a user needs.
#include "attn/Runtime/ModelSpec.h"
#include "attn/Runtime/Npy.h"
#include "attn/Runtime/SafeTensors.h"

#include "HalideRuntimeStub.h"
#include "TestUtil.h"
#include "ToyModel.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace attn::rt;
using attn::test::makeTensor;
using attn::test::readBytes;
using attn::test::TempDir;
using attn::test::valuesOf;
using attn::test::toy::kModel;

namespace {

struct CliResult {
  int rc;
  std::string out, err;
};

CliResult runCli(std::vector<std::string> args) {
  args.insert(args.begin(), "toy");
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  int rc = attn_main(&kModel, static_cast<int>(args.size()), argv.data());
  CliResult r{rc, testing::internal::GetCapturedStdout(), testing::internal::GetCapturedStderr()};
  return r;
}

/// Expects a usage error: exit code 2, `error: MESSAGE` and the hint to run HELP.
void expectUsageError(const std::vector<std::string> &args, const std::string &message,
                      const std::string &help = "toy --help") {
  CliResult r = runCli(args);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(r.err, "error: " + message + "\nrun '" + help + "' for usage\n");
  EXPECT_EQ(r.out, "");
}

TEST(Cli, Info) {
  CliResult r = runCli({"info"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "model toy\n"
                   "  source  toy.attn\n"
                   "  target  host\n"
                   "\n"
                   "inputs:\n"
                   "  x     f32[B, S, 4]\n"
                   "  mask  i32[B, S]\n"
                   "\n"
                   "outputs:\n"
                   "  y      f32[B, S, 4]\n"
                   "  total  f32[B, S]\n"
                   "\n"
                   "parameters:\n"
                   "  bias  f32[4]  4\n"
                   "\n"
                   "total: 4 parameters in 1 tensor\n");
}

TEST(Cli, HelpAndVersion) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"}, {"-h"}, {"help"}}) {
    CliResult r = runCli(args);
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out.rfind("usage: toy <command> [options]\n", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("toy infer --weights w.safetensors --in x=x.npy --in mask=mask.npy --out results"),
              std::string::npos)
        << r.out;
  }
  for (const char *command : {"info", "infer", "init"}) {
    CliResult r = runCli({command, "--help"});
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out.rfind(std::string("usage: toy ") + command, 0), 0u) << r.out;
    EXPECT_EQ(runCli({"help", command}).out, r.out);
  }
  CliResult version = runCli({"--version"});
  EXPECT_EQ(version.rc, 0);
  EXPECT_EQ(version.out.rfind("toy, compiled by attnc ", 0), 0u) << version.out;
  EXPECT_NE(version.out.find(" from toy.attn for host\n"), std::string::npos) << version.out;
}

TEST(Cli, DeviceComesBeforeTheCommand) {
  attn::test::halideStub() = {};
  CliResult version = runCli({"--device", "1", "--version"});
  EXPECT_EQ(version.rc, 0) << version.err;
  EXPECT_EQ(attn::test::halideStub().gpuDevice, 1);
  for (const char *bad : {"x", "-1", ""}) {
    CliResult r = runCli({"--device", bad, "info"});
    EXPECT_EQ(r.rc, 2) << bad;
    EXPECT_NE(r.err.find("--device takes the number of a GPU"), std::string::npos) << r.err;
  }
}

TEST(Cli, NoCommandPrintsUsageAndFails) {
  CliResult r = runCli({});
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(r.err.rfind("usage: toy <command> [options]\n", 0), 0u);
}

TEST(Cli, UsageErrors) {
  expectUsageError({"fit"}, "unknown command 'fit'");
  expectUsageError({"--verbose"}, "unknown option '--verbose'");
  expectUsageError({"help", "fit"}, "unknown command 'fit'");
  // The toy model has no loss: the training commands say what it lacks.
  expectUsageError({"train", "--weights", "w.safetensors", "--out", "c.safetensors"},
                   "the model does not train: add 'train { loss = NAME }' to toy.attn", "toy train --help");
  expectUsageError({"grad", "--weights", "w.safetensors", "--out", "d"},
                   "the model has no loss to differentiate: add 'train { loss = NAME }' to toy.attn",
                   "toy grad --help");
  expectUsageError({"info", "extra"}, "unexpected argument 'extra' for 'info'", "toy info --help");
  expectUsageError({"info", "--all"}, "unknown option '--all' for 'info'", "toy info --help");
  expectUsageError({"infer", "--out", "d", "--in", "x=x.npy"}, "missing option '--weights'",
                   "toy infer --help");
  expectUsageError({"infer", "--weights"}, "option '--weights' needs a value", "toy infer --help");
  expectUsageError({"infer", "--weights", "--out", "d"}, "option '--weights' needs a value",
                   "toy infer --help");
  expectUsageError({"infer", "--weights=", "--out", "d"}, "option '--weights' needs a value",
                   "toy infer --help");
  expectUsageError({"infer", "--weights", "a", "--weights", "b"}, "option '--weights' is given twice",
                   "toy infer --help");
  expectUsageError({"infer", "--weights", "w", "--out", "d", "--in", "x.npy"},
                   "malformed '--in x.npy': expected NAME=FILE.npy", "toy infer --help");
  expectUsageError({"infer", "--weights", "w", "--out", "d", "--in", "=x.npy"},
                   "malformed '--in =x.npy': expected NAME=FILE.npy", "toy infer --help");
  expectUsageError({"infer", "--weights", "w", "--out", "d", "--in", "z=z.npy"},
                   "unknown input 'z'; the model's inputs are x, mask", "toy infer --help");
  expectUsageError({"infer", "--weights", "w", "--out", "d", "--in", "x=a.npy", "--in", "x=b.npy"},
                   "input 'x' is given twice", "toy infer --help");
  expectUsageError({"infer", "--weights", "w", "--out", "d", "--in", "x=a.npy"},
                   "missing '--in mask=FILE.npy'; the model's inputs are x, mask", "toy infer --help");
  expectUsageError(
      {"infer", "--weights", "w", "--out", "d", "--in", "x=a", "--in", "mask=b", "--threads", "0"},
      "option '--threads' needs a whole number from 1 to 1024, not '0'", "toy infer --help");
  expectUsageError(
      {"infer", "--weights", "w", "--out", "d", "--in", "x=a", "--in", "mask=b", "--threads", "two"},
      "option '--threads' needs a whole number from 1 to 1024, not 'two'", "toy infer --help");
  expectUsageError({"init"}, "missing option '--out'", "toy init --help");
  expectUsageError({"init", "--out", "w", "--seed", "-1"},
                   "option '--seed' needs a whole number from 0 to 2^64-1, not '-1'", "toy init --help");
  expectUsageError({"init", "--out", "w", "--seed", "18446744073709551616"},
                   "option '--seed' needs a whole number from 0 to 2^64-1, not '18446744073709551616'",
                   "toy init --help");
}

TEST(Cli, InitIsDeterministicAndBounded) {
  TempDir dir;
  CliResult r = runCli({"init", "--out", dir.file("a.safetensors"), "--seed", "7"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "wrote " + dir.file("a.safetensors") + ": 1 parameters, 4 values, seed 7\n");
  ASSERT_EQ(runCli({"init", "--seed=7", "--out=" + dir.file("b.safetensors")}).rc, 0);
  ASSERT_EQ(runCli({"init", "--out", dir.file("c.safetensors")}).rc, 0);
  EXPECT_EQ(readBytes(dir.file("a.safetensors")), readBytes(dir.file("b.safetensors")));
  EXPECT_NE(readBytes(dir.file("a.safetensors")), readBytes(dir.file("c.safetensors")));

  Expected<SafeTensorsFile> w = readSafeTensors(dir.file("a.safetensors"));
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w->metadata.at("model"), "toy");
  EXPECT_EQ(w->metadata.at("init_seed"), "7");
  std::vector<float> bias = valuesOf<float>(w->tensors.at("bias"));
  for (float v : bias)
    EXPECT_LE(std::fabs(v), 0.5f); // 1/sqrt(fan_in) with fan_in = 4
  EXPECT_NE(bias[0], bias[1]);
  // The first values of splitmix64 for seed 7 and the name 'bias', as every machine draws them.
  EXPECT_EQ(bias, (std::vector<float>{-0x1.07ae0cp-2f, -0x1.31c1a4p-2f, -0x1.7fa224p-2f, 0x1.0913d8p-2f}));
}

class CliInfer : public testing::Test {
protected:
  void SetUp() override {
    attn::test::halideStub() = {};
    ASSERT_EQ(runCli({"init", "--out", weights}).rc, 0);
    ASSERT_TRUE(writeNpy(x, makeTensor<float>({2, 3, 4}, std::vector<float>(24, 1.0f))).ok());
    ASSERT_TRUE(writeNpy(mask, makeTensor<int32_t>({2, 3}, {1, 1, 1, 0, 0, 0})).ok());
  }

  CliResult infer(const std::string &xPath, const std::string &maskPath,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"infer", "--weights",        weights, "--in", "x=" + xPath,
                                     "--in",  "mask=" + maskPath, "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return runCli(args);
  }

  TempDir dir;
  std::string weights = dir.file("w.safetensors"), x = dir.file("x.npy"), mask = dir.file("mask.npy"),
              out = dir.file("results/run1");
};

TEST_F(CliInfer, WritesEveryOutput) {
  CliResult r = infer(x, mask, {"--threads", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "wrote " + out + "/total.npy: f32[2, 3]\nwrote " + out + "/y.npy: f32[2, 3, 4]\n");
  Expected<Tensor> total = readNpy(out + "/total.npy");
  ASSERT_TRUE(total.ok()) << total.message();
  Expected<SafeTensorsFile> w = readSafeTensors(weights);
  ASSERT_TRUE(w.ok());
  float biasSum = 0;
  for (float b : valuesOf<float>(w->tensors.at("bias")))
    biasSum += b;
  std::vector<float> t = valuesOf<float>(*total);
  EXPECT_FLOAT_EQ(t[0], 4 + biasSum);
  EXPECT_EQ(t[5], 0.0f);
  EXPECT_EQ(attn::test::halideStub().numThreads, 8); // restored after the run
}

TEST_F(CliInfer, RuntimeErrorsExit1) {
  CliResult r = infer(dir.file("nope.npy"), mask);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: " + dir.file("nope.npy") + ": cannot open: No such file or directory\n");

  ASSERT_TRUE(writeNpy(mask, makeTensor<int32_t>({2, 9}, std::vector<int32_t>(18))).ok());
  r = infer(x, mask);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err,
            "error: input 'mask' has shape [2, 9], but the model expects [B, S] with S = 3 (bound by input "
            "'x' [2, 3, 4])\n");
  EXPECT_FALSE(std::filesystem::exists(out)); // nothing is created when the run fails

  attn::test::writeBytes(weights, "garbage");
  r = infer(x, mask);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: " + weights +
                       ": truncated: the file has 7 bytes, too few for the 8-byte header length a "
                       "safetensors file starts with\n");
}

TEST_F(CliInfer, WrongWeightFile) {
  TensorMap other;
  other.emplace("bias", makeTensor<float>({5}, std::vector<float>(5)));
  ASSERT_TRUE(writeSafeTensors(weights, other).ok());
  CliResult r = infer(x, mask);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "error: weight 'bias' in " + weights + " has shape [5], but the model expects [4]\n");
}

TEST_F(CliInfer, OutputDirectoryThatIsAFile) {
  attn::test::writeBytes(dir.file("results"), "not a directory");
  CliResult r = infer(x, mask);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("error: cannot create output directory '" + out + "'", 0), 0u) << r.err;
}

} // namespace
