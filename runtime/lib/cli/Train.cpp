// `train`: trains the parameters with the optimizer the model declares, on .npy or TSV examples, with
// progress lines, periodic checkpoints (parameters and optimizer state, replaced atomically), --resume,
// and validation with early stopping and the best parameters kept.
#include "Command.h"

#include "attn/Runtime/File.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <tuple>

#include <unistd.h>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM train --weights FILE (--tsv FILE |$INPUTS) --out CKPT
                 [--steps N | --epochs N] [--batch N] [--seed N] [--log-every N] [--checkpoint-every N]
                 [--resume] [(--valid-tsv FILE | --valid NAME=FILE...) [--valid-every N] [--patience N]
                 [--best FILE]] [--threads N] [--bucket-kib N] [--check-every N]

Trains the model with the optimizer of its 'train { ... }': each step takes a batch of examples, runs the
compiled gradient program, clips the gradients' global norm if the model sets clip_norm, and applies the
compiled optimizer kernels. Each epoch shuffles the examples from --seed and cuts them into batches (the
examples after the last full batch wait for a later epoch); token data is bucketed: runs of 64 batches are
sorted by length before they are cut, so that a batch pads little, and the batches are then shuffled.
Results depend only on the data, the seed and the thread count. Prints progress (step, loss, gradient norm,
learning rate, tokens or examples per second, time left) every --log-every steps, and writes the
parameters with the optimizer state to CKPT every --checkpoint-every steps and at the end (replaced whole,
or not at all). A checkpoint given as --weights continues its optimizer state and step count. A model whose
'train' sets ema also keeps a moving average of every parameter (optimizer.average.NAME in checkpoints):
validation and --best use the averages, and so do the other commands given such a checkpoint.

  --weights FILE    safetensors file with every parameter ('$PROGRAM init' makes one), or a checkpoint
  --tsv FILE        examples as text, one per line: tab-separated fields for the token inputs with a
                    vocabulary, in the model's order (a teacher-forced decoder's targets get its stop
                    token); an i32 [B] input named after a token input (src_len) gets its lengths, an i32
                    input [B, L] of the same length its 0/1 mask
  --in NAME=FILE    .npy file with the examples of input NAME (along the first dimension); one per input
  --out CKPT        checkpoint to write
  --resume          continue from CKPT if it exists (a run killed at any point loses at most the steps
                    since its last checkpoint); --steps and --epochs then count from step 0
  --steps N         steps to take (default 100)
  --epochs N        passes over the examples to make, instead of --steps
  --batch N         examples per step (default 32; all of them if there are fewer)
  --seed N          shuffling seed (default 0)
  --log-every N     steps between progress lines (default 10)
  --checkpoint-every N  steps between checkpoints (default 100)
  --valid-tsv FILE  validation examples as with --tsv
  --valid NAME=FILE .npy file with the validation examples of input NAME; one for each input
  --valid-every N   steps between validations (default 100): the mean loss over the validation set
  --patience N      stop after N validations without a new best (default 0: never)
  --best FILE       write the parameters with the best validation loss to FILE
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)

Data-parallel training (a program built with attnc --distributed=mpi, started by mpirun -np N): every rank
reads the same data and computes the same batches; each runs the gradient program on its part of every
batch (--batch stays the whole batch), with batch statistics and the gradients summed across the ranks, so
that the run follows the one-process run with that batch. Ranks on one machine share its cores (the default
threads per rank: the cores over the machine's ranks). Rank 0 alone prints and writes files. A rank
waits ATTN_MPI_TIMEOUT seconds (default 300) for the others before it fails; any failure ends every rank.
  --bucket-kib N    gradients are summed in buckets of about N KiB, each started as soon as the gradient
                    program has finished its gradients (default 256)
  --check-every N   steps between comparisons of the ranks' parameters (default 100, and at the first
                    and last step)
)";

/// Whether `path` is a file to resume from (a FIFO is not: opening it would block).
static bool fileExists(const std::string &path) {
  return !isSpecialFile(path) && std::ifstream(path).good();
}

/// "[#####.....]" for a fraction done.
static std::string progressBar(double done) {
  constexpr int kWidth = 20;
  int filled = static_cast<int>(std::clamp(done, 0.0, 1.0) * kWidth + 0.5);
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
}

/// "1h02m", "4m05s" or "12s".
static std::string formatDuration(double seconds) {
  long long s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600)
    return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  if (s >= 60)
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

/// Writes the parameters and the optimizer state (atomically: the file is replaced whole or not at all).
static Status writeCheckpoint(const attn_model_spec &spec, const std::string &path, TensorMap &weights,
                              OptimizerState &optimizer) {
  for (TensorMap *group : {&weights, &optimizer.moments}) // a GPU program trains them on the device
    if (Status s = copyToHost(*group); !s)
      return s;
  TensorMap all; // the tensors move in and back out, uncopied
  for (TensorMap *group : {&weights, &optimizer.moments})
    for (auto &[name, t] : *group)
      all.emplace(name, std::move(t));
  Status written =
      writeSafeTensors(path, all, {{"model", spec.name}, {"step", std::to_string(optimizer.step)}});
  for (TensorMap *group : {&weights, &optimizer.moments})
    for (auto &[name, t] : *group)
      t = std::move(all.at(name));
  return written;
}

/// Where the parameters go when their checkpoint cannot be written: $TMPDIR (else /tmp), under the
/// checkpoint's name, the step and the process.
static std::string rescuePath(const std::string &out, int64_t step) {
  const char *tmp = std::getenv("TMPDIR");
  std::string dir = tmp && *tmp ? tmp : "/tmp";
  return dir + "/" + out.substr(out.find_last_of('/') + 1) + ".step" + std::to_string(step) + "." +
         std::to_string(::getpid());
}

/// A write that failed ends training at once (not after the remaining steps); the parameters and the
/// optimizer state are saved elsewhere, and the message says where, so nothing trained is lost.
static int stopWithRescue(const Context &context, const std::string &failure, const std::string &out,
                          TensorMap &weights, OptimizerState &optimizer) {
  std::string rescue = rescuePath(out, optimizer.step);
  std::string stopped = failure + "\ntraining stopped at step " + std::to_string(optimizer.step);
  if (Status s = writeCheckpoint(context.spec, rescue, weights, optimizer); !s)
    return context.failure(stopped + "; the parameters could not be saved elsewhere either: " + s.message());
  return context.failure(stopped + "; the parameters and optimizer state are saved in " + rescue +
                         " (continue with --weights " + rescue + ")");
}

static int runTrain(const Context &context, const ParsedOptions &options) {
  const attn_model_spec &spec = context.spec;
  if (!spec.gradient || !spec.training)
    return context.usageError("the model does not train: add 'train { loss = NAME }' to " +
                              std::string(spec.source_file));
  if (!options.get("--out") && options.get("--weights"))
    return context.usageError("missing option '--out'");
  TrainOptions train;
  uint64_t steps = 100, epochs = 0, batch = 32, logEvery = 10, checkpointEvery = 100, validEvery = 100,
           patience = 0, bucketKib = kBucketBytes >> 10, checkEvery = 100;
  for (auto [name, value, min, max] :
       {std::tuple<const char *, uint64_t *, uint64_t, uint64_t>{"--steps", &steps, 1, 100000000},
        {"--epochs", &epochs, 1, 100000},
        {"--batch", &batch, 1, 1u << 30},
        {"--seed", &train.seed, 0, UINT64_MAX},
        {"--log-every", &logEvery, 1, 100000000},
        {"--checkpoint-every", &checkpointEvery, 1, 100000000},
        {"--valid-every", &validEvery, 1, 100000000},
        {"--patience", &patience, 0, 100000000},
        {"--bucket-kib", &bucketKib, 1, 1u << 20},
        {"--check-every", &checkEvery, 1, 100000000}})
    if (Exit code = context.wholeNumber(options, name, min, max, *value))
      return *code;
  if (options.get("--steps") && options.get("--epochs"))
    return context.usageError("give --steps or --epochs, not both");
  if (options.get("--tsv") && options.values.count("--in"))
    return context.usageError("give the examples with --tsv or with --in, not both");
  if (options.get("--valid-tsv") && options.values.count("--valid"))
    return context.usageError("give the validation examples with --valid-tsv or with --valid, not both");
  train.batch = static_cast<int64_t>(batch);
  train.bucketBytes = static_cast<int64_t>(bucketKib) << 10;
  train.checkEvery = static_cast<int64_t>(checkEvery);
  Communicator &ranks = context.communicator;
  bool leader = ranks.rank() == 0; // prints progress and writes the checkpoints
  train.validEvery = static_cast<int64_t>(validEvery);
  train.patience = static_cast<int64_t>(patience);
  bool validating = options.values.count("--valid") || options.get("--valid-tsv");
  if (!validating && (options.get("--patience") || options.get("--best")))
    return context.usageError(
        "--patience and --best need validation data (--valid NAME=FILE or --valid-tsv FILE)");

  std::vector<TokenColumn> columns;
  std::set<std::string> provided; // the inputs --tsv fills
  if (options.get("--tsv") || options.get("--valid-tsv")) {
    if (Exit code = tokenColumns(context, options, columns))
      return *code;
    if (options.get("--tsv"))
      for (const TokenColumn &c : columns)
        for (const std::string &name : c.inputs())
          provided.insert(name);
  }
  // --resume: continue from the checkpoint at --out when there is one, up to --steps in all.
  ParsedOptions loadOptions = options;
  bool resuming = options.get("--resume") && options.get("--out") && fileExists(*options.get("--out"));
  if (resuming)
    loadOptions.values["--weights"] = {*options.get("--out")};
  Loaded l;
  if (Exit code = load(context, loadOptions, l, {}, provided))
    return *code;
  train.run = {l.weightsPath, l.threads};
  train.run.communicator = &ranks;
  Dataset examples;
  if (Exit code = readDataset(context, options, "--tsv", columns, std::move(l.inputs), "input", examples))
    return *code;
  int64_t perEpoch = batchesPerEpoch(examples, std::min<int64_t>(train.batch, examples.size()));
  train.steps = epochs ? static_cast<int64_t>(epochs) * perEpoch : static_cast<int64_t>(steps);
  if (options.get("--resume")) {
    train.steps -= l.optimizer.step;
    if (train.steps <= 0) {
      if (leader)
        std::cout << *options.get("--out") << " is at step " << l.optimizer.step
                  << ": nothing left to train\n";
      return kSuccess;
    }
    if (resuming && leader)
      std::cout << "resuming from " << *options.get("--out") << " at step " << l.optimizer.step << "\n";
  }
  std::optional<Dataset> valid;
  if (validating) {
    TensorMap validTensors;
    if (options.values.count("--valid")) {
      std::map<std::string, std::string> files;
      if (Exit code = inputFiles(context, options, "--valid", files))
        return *code;
      if (Exit code = readInputs(context, files, validTensors))
        return *code;
    }
    valid.emplace();
    if (Exit code = readDataset(context, options, "--valid-tsv", columns, std::move(validTensors),
                                "validation input", *valid))
      return *code;
    train.valid = &*valid;
  }

  bool writeFailed = false;
  const std::string &out = *options.get("--out");
  // A run that cannot write its result fails now, not after its last step.
  for (const char *option : {"--out", "--best"})
    if (const std::string *path = options.get(option); path && leader)
      if (Status s = checkWritable(*path); !s)
        return context.failure(s.message());
  int64_t first = l.optimizer.step, last = first + train.steps;
  if (leader)
    std::printf("training %s: %lld examples, %lld batches of %lld per epoch, steps %lld to %lld%s\n",
                spec.name, static_cast<long long>(examples.size()), static_cast<long long>(perEpoch),
                static_cast<long long>(std::min<int64_t>(train.batch, examples.size())),
                static_cast<long long>(first + 1), static_cast<long long>(last),
                ranks.size() > 1 ? fmt::format(", on {} ranks", ranks.size()).c_str() : "");
  auto start = std::chrono::steady_clock::now();
  double units = 0, waited = 0;
  auto report = [&](const StepReport &r) {
    units += double(r.units);
    waited += r.waitSeconds;
    int64_t done = r.step - first;
    if (!leader)
      return Status{};
    if (done % int64_t(logEvery) == 0 || r.step == last || r.stopping) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::string sums =
          ranks.size() > 1 ? fmt::format("  sums {:.1f} ms/step", 1e3 * waited / double(done)) : "";
      std::printf("step %lld/%lld %s  epoch %.2f  loss %.4f  grad norm %.3g  lr %.3g  %.0f %s/s%s  ETA %s\n",
                  static_cast<long long>(r.step), static_cast<long long>(last),
                  progressBar(double(done) / double(train.steps)).c_str(), double(r.step) / double(perEpoch),
                  r.loss, r.gradNorm, r.learningRate, units / std::max(seconds, 1e-9), examples.unitName(),
                  sums.c_str(), formatDuration(seconds / double(done) * double(last - r.step)).c_str());
    }
    if (r.validLoss) {
      std::printf("step %lld  validation loss %.6f%s%s\n", static_cast<long long>(r.step), *r.validLoss,
                  r.best ? "  (best)" : "",
                  r.stopping ? "  -- no better for --patience validations: stopping" : "");
      if (r.best && options.get("--best")) {
        AveragesSwappedIn averaged(l.weights.tensors, l.optimizer); // what validation measured
        Status w = copyToHost(l.weights.tensors); // a GPU program trains them on the device
        if (w)
          w = writeSafeTensors(*options.get("--best"), l.weights.tensors,
                               {{"model", spec.name}, {"step", std::to_string(r.step)}});
        if (!w) {
          writeFailed = true;
          return w;
        }
      }
    }
    std::fflush(stdout);
    if (done % int64_t(checkpointEvery) == 0 && r.step != last && !r.stopping)
      if (Status w = writeCheckpoint(spec, out, l.weights.tensors, l.optimizer); !w) {
        writeFailed = true;
        return w;
      }
    return Status{};
  };
  Status s = attn::rt::train(spec, l.weights.tensors, examples, l.optimizer, train, report);
  if (!s && writeFailed)
    return stopWithRescue(context, s.message(), out, l.weights.tensors, l.optimizer);
  if (!s)
    return context.failure(s.message());
  if (!leader)
    return kSuccess;
  if (Status w = writeCheckpoint(spec, out, l.weights.tensors, l.optimizer); !w)
    return stopWithRescue(context, w.message(), out, l.weights.tensors, l.optimizer);
  std::cout << "wrote " << out << ": step " << l.optimizer.step << "\n";
  return kSuccess;
}

const Command trainCommand = {
    "train",
    "train the parameters (models with 'train') on .npy or TSV data, writing checkpoints",
    kHelp,
    {{"--weights", false},
     {"--in", true},
     {"--tsv", false},
     {"--out", false},
     {"--resume", false, /*flag=*/true},
     {"--steps", false},
     {"--epochs", false},
     {"--batch", false},
     {"--seed", false},
     {"--log-every", false},
     {"--checkpoint-every", false},
     {"--valid", true},
     {"--valid-tsv", false},
     {"--valid-every", false},
     {"--patience", false},
     {"--best", false},
     {"--threads", false},
     {"--bucket-kib", false},
     {"--check-every", false}},
    runTrain};

} // namespace attn::rt
