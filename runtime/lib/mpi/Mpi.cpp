// Data-parallel runs over MPI: the Communicator of one rank of `mpirun -np N ./model ...`, and the main of
// the programs attnc builds with --distributed=mpi. Only the process's main thread calls MPI (Halide's
// worker threads never do). Every wait polls its requests against a deadline, so a rank whose peers stopped
// or hang fails with a message instead of waiting forever; a rank that fails then aborts the whole job.
#include "attn/Runtime/Communicator.h"
#include "attn/Runtime/ModelSpec.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

namespace attn::rt {
namespace {

using Clock = std::chrono::steady_clock;

/// Seconds a rank waits for the others at a sum before it gives up: ATTN_MPI_TIMEOUT, else 300.
double timeoutSeconds() {
  const char *env = std::getenv("ATTN_MPI_TIMEOUT");
  double seconds = env ? std::atof(env) : 0;
  return seconds > 0 ? seconds : 300;
}

class MpiCommunicator : public Communicator {
public:
  MpiCommunicator() : timeout_(timeoutSeconds()) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }

  using Communicator::sum;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status start(float *data, int64_t count) override {
    if (size_ == 1)
      return {};
    return post(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                               MPI_COMM_WORLD, &next()),
                "sum");
  }

  Status progress() override {
    if (pending_.empty())
      return {};
    int done = 0;
    if (MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE) !=
        MPI_SUCCESS)
      return makeError("MPI failed while summing across ranks");
    if (done)
      pending_.clear();
    return {};
  }

  Status finish() override { return wait("a sum of gradients or statistics"); }

  Status sum(double *values, int64_t count) override {
    if (size_ == 1)
      return {};
    if (Status s = post(MPI_Iallreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_DOUBLE, MPI_SUM,
                                       MPI_COMM_WORLD, &next()),
                        "sum");
        !s)
      return s;
    return wait("a sum of losses and counts");
  }

  Expected<std::vector<uint64_t>> gather(uint64_t value) override {
    std::vector<uint64_t> all(size_, value);
    if (size_ == 1)
      return all;
    static_assert(sizeof(unsigned long long) == sizeof(uint64_t));
    if (Status s = post(MPI_Iallgather(&value, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1,
                                       MPI_UNSIGNED_LONG_LONG, MPI_COMM_WORLD, &next()),
                        "gather");
        !s)
      return s.takeError();
    if (Status s = wait("a comparison of the ranks' parameters"); !s)
      return s.takeError();
    return all;
  }

private:
  MPI_Request &next() { return pending_.emplace_back(MPI_REQUEST_NULL); }

  Status post(int rc, const char *what) {
    if (rc == MPI_SUCCESS)
      return {};
    pending_.pop_back();
    return makeError("MPI could not start a ", what, " across ranks (error ", rc, ")");
  }

  /// Waits for every pending request, polling, until the deadline.
  Status wait(const char *what) {
    auto begin = Clock::now();
    while (!pending_.empty()) {
      if (Status s = progress(); !s)
        return s;
      if (pending_.empty())
        break;
      double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
      if (seconds > timeout_)
        return makeError("no answer from the other ranks for ", timeout_, " s during ", what,
                         ": one of them stopped or hangs (ATTN_MPI_TIMEOUT sets the limit)");
      std::this_thread::yield(); // a rank sharing a core with another lets it run
    }
    waited_ += std::chrono::duration<double>(Clock::now() - begin).count();
    return {};
  }

  int rank_ = 0, size_ = 1;
  double timeout_;
  std::vector<MPI_Request> pending_;
};

} // namespace
} // namespace attn::rt

extern "C" int attn_main_mpi(const attn_model_spec *model, int argc, char **argv) {
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    std::cerr << "error: MPI could not start (is this program run by mpirun from Open MPI?)\n";
    return 1;
  }
  // Ranks on one machine share its cores: unless HL_NUM_THREADS says otherwise, each gets its part of them
  // (--threads still decides per command).
  MPI_Comm local;
  int localRanks = 1;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_size(local, &localRanks);
    MPI_Comm_free(&local);
  }
  if (localRanks > 1 && !std::getenv("HL_NUM_THREADS")) {
    int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / localRanks);
    setenv("HL_NUM_THREADS", std::to_string(cores).c_str(), /*overwrite=*/0);
  }
  int rc;
  {
    attn::rt::MpiCommunicator communicator;
    rc = attn::rt::runProgram(model, argc, argv, communicator);
    // A failure may be this rank's alone (a file it cannot read, a peer that stopped answering): the
    // others may wait in a sum, so the whole job ends here. A usage error is every rank's at once.
    if (rc == 1 && communicator.size() > 1) {
      std::cout.flush();
      std::fflush(nullptr);
      MPI_Abort(MPI_COMM_WORLD, rc);
    }
  }
  MPI_Finalize();
  return rc;
}
