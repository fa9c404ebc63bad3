// One process alone: the base Communicator, whose sums over every process change nothing.
#include "attn/Runtime/Communicator.h"

#include <utility>

namespace attn::rt {

std::string Communicator::who() const {
  return size() > 1 ? "rank " + std::to_string(rank()) + " of " + std::to_string(size()) + ": " : "";
}

Status Communicator::start(float *, int64_t) { return {}; }
Status Communicator::progress() { return {}; }
Status Communicator::finish() { return {}; }

Status Communicator::sum(float *data, int64_t count) {
  if (Status s = start(data, count); !s)
    return s;
  return finish();
}

Status Communicator::sum(double *, int64_t) { return {}; }

Expected<std::vector<uint64_t>> Communicator::gather(uint64_t value) { return std::vector<uint64_t>{value}; }

double Communicator::takeWaitSeconds() { return std::exchange(waited_, 0.0); }

} // namespace attn::rt
