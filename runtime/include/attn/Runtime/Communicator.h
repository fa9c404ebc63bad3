// The processes of a data-parallel run and the sums across them. A program attnc builds with
// --distributed=mpi runs each rank of `mpirun -np N ./model train ...` as one process that talks to the
// others through MPI (runtime/lib/mpi/); every other program, and such a program started without mpirun, is
// one process alone: rank 0 of 1, whose sums leave their data as it is. This base class is that one process.
#ifndef ATTN_RUNTIME_COMMUNICATOR_H
#define ATTN_RUNTIME_COMMUNICATOR_H

#include "attn/Runtime/Error.h"
#include "attn/Runtime/ModelSpec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {

class Communicator {
public:
  virtual ~Communicator() = default;

  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  /// How messages name this process: "" alone, else "rank 2 of 3: ".
  std::string who() const;

  /// Starts summing `count` floats at `data`, in place, over every process. The data must stay put and
  /// unread until `finish` returns; `progress` lets started sums advance (call it between kernels).
  virtual Status start(float *data, int64_t count);
  virtual Status progress();
  /// Waits for every sum started.
  virtual Status finish();
  /// A sum at once: `start` and `finish`.
  Status sum(float *data, int64_t count);
  /// The sum of `values` (doubles, in place) over every process, at once.
  virtual Status sum(double *values, int64_t count);
  /// Each process's `value`, by rank.
  virtual Expected<std::vector<uint64_t>> gather(uint64_t value);

  /// Seconds spent waiting in sums since the last call (reset by it).
  double takeWaitSeconds();

protected:
  double waited_ = 0;
};

/// The command line of a generated program (attn_main), its processes talking through `communicator`.
int runProgram(const attn_model_spec *model, int argc, char **argv, Communicator &communicator);

} // namespace attn::rt

#endif // ATTN_RUNTIME_COMMUNICATOR_H
