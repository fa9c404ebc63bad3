// Recurrences: LSTM and GRU layers over whole sequences (one Func each, the steps in order, the batch in
// parallel), their single steps (cells), and the gradients of both: backpropagation through time, the
// recurrent weight's gradient and a cell step's gradients.
#include "AlgorithmBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// The time index read at step `step` (0-based): reversed within the sequence's length for `reverse`.
Expr timeAt(Expr step, Expr length, bool reverse) {
  return reverse ? Halide::select(step < length, length - 1 - step, step) : step;
}

} // namespace

/// A recurrence (LSTM or GRU) as one Func `state(slot, step, b)` (stored as RecurrenceRows says). For each
/// step, the first G·H slots accumulate the hidden projections W_hh·h_{step−1} + b_hh gate by gate (LSTM:
/// plus the input projection), then the state slots follow: LSTM [4H, 5H) the cell and [5H, 6H) the hidden
/// state, GRU [3H, 4H) the hidden state. One update runs over (slot, k, step), innermost first: the gate
/// slots add W_hh[:, k]·h[k]; after the last k the state slots read the finished gates of their step. Halide
/// requires a recursive update to index its own Func with the left-hand side's pure variables, so only the
/// batch is pure and everything else is a reduction variable: the steps stay in order, the batch runs
/// in parallel.
template <typename OpT>
FailureOr<HTensor> AlgorithmBuilder::lowerRecurrence(OpT op, bool isLSTM) {
  const HTensor &xp = values[op.getProjected()];
  int hidden = int(staticDim(op.getWHh(), 1));
  Var t("t"), b("b"), j("j");
  Expr steps = xp.extent(1), length = lengthOf(op.getLengths(), steps, b);
  bool reverse = op.getReverse();
  RecurrenceRows rows = recurrenceRows(b, xp.extent(0));
  Func state =
      recurrenceState(op, xp, values[op.getWHh()], values[op.getBHh()], length, reverse, isLSTM, rows);
  int hSlot = isLSTM ? 5 * hidden : 3 * hidden;
  Func result(name(op, isLSTM ? "lstm" : "gru"));
  result(j, t, b) =
      Halide::select(t < length, rows.read(state, hSlot + j, timeAt(t, length, reverse) + 1, b), 0.0f);
  // What the gradient reads of each step, in the order the steps ran (stored only where it is read): the
  // state's slots before the hidden state's.
  Func ran(name(op, "steps"));
  Var s("s");
  ran(s, t, b) = rows.read(state, s, t + 1, b);
  if (rows.lanes)
    out.laneCopies.push_back({ran, s, b, rows.lanes});
  values[op.getSteps()] = HTensor{ran, {xp.extent(0), steps, Expr(hSlot)}};
  return HTensor{result, {xp.extent(0), steps, Expr(hidden)}};
}

template FailureOr<HTensor> AlgorithmBuilder::lowerRecurrence(LSTMOp, bool);
template FailureOr<HTensor> AlgorithmBuilder::lowerRecurrence(GRUOp, bool);

/// The valid steps of each sequence: `lengths`[b] clamped to the steps, or all of them.
Expr AlgorithmBuilder::lengthOf(Value lengths, Expr steps, Expr b) {
  return lengths ? Halide::clamp(values[lengths].func(b), 0, steps) : steps;
}

RecurrenceRows AlgorithmBuilder::recurrenceRows(Var b, Expr batch) const {
  RecurrenceRows rows{b};
  rows.lanes = out.machine.gpu ? 0 : out.machine.vectorWidth;
  rows.batch = batch;
  return rows;
}

void AlgorithmBuilder::addRecurrence(const RecurrenceRows &rows, Func f, bool blockVector) {
  if (rows.lanes)
    out.laneRecurrences.push_back({f, rows.lane, rows.vec, rows.lanes, blockVector});
  else
    out.recurrences.emplace_back(f, rows.b);
}

std::vector<Var> RecurrenceRows::args(Var slot, Var step) const {
  return lanes ? std::vector<Var>{lane, slot, step, vec} : std::vector<Var>{slot, step, b};
}

std::vector<Expr> RecurrenceRows::at(Expr slot, Expr step) const {
  return lanes ? std::vector<Expr>{lane, slot, step, vec} : std::vector<Expr>{slot, step, b};
}

Expr RecurrenceRows::here(Expr e) const {
  return lanes ? Halide::Internal::substitute(b.name(), Halide::min(vec * lanes + lane, batch - 1), e) : e;
}

Expr RecurrenceRows::read(Func f, Expr slot, Expr step, Expr row) const {
  return lanes ? f(row % lanes, slot, step, row / lanes) : f(slot, step, row);
}

Expr SlotDomain::sum(const std::function<Expr(Expr)> &term) const {
  Expr total = term(firstK());
  for (int i = 1; i < width; ++i)
    total += term(firstK() + i);
  return total;
}

Expr SlotDomain::offsetSlot(Expr offset, int extent) const {
  if (aligned)
    return Halide::clamp(r.z * block + offset, 0, extent - block) + r.x;
  return Halide::clamp(slot + offset, 0, extent - 1);
}

/// The update domain of a recurrence (lstm, gru, recurrence_grad) with `slots` slots, `hidden` units and
/// `reduced` values of k, over `steps` steps from `first`, and the slot each of its points updates. On a
/// CPU, (x, kc, z, step) updates slot z·block + x: blocks of slots that accumulate over the recurrent
/// weight's rows together, the first reduction variable, unrolled, one vector of batch rows per slot of the
/// block (half the vector registers by default). Each point adds the products of a chunk kc of k_chunk
/// consecutive k: a Halide update stores its value at every point, so the chunk keeps a slot's running sum
/// in a register for k_chunk products instead of one. On a GPU, (q, k, unit, step) updates slot
/// q·hidden + unit, so that a thread per unit runs the slots of its unit (UnitRecurrenceStages).
SlotDomain AlgorithmBuilder::slotDomain(int slots, int hidden, int reduced, Expr first, Expr steps) {
  if (out.machine.gpu) {
    RDom r({{0, slots / hidden}, {0, reduced}, {0, hidden}, {first, steps}}, "r");
    return SlotDomain{r, r.x * hidden + r.z, 1, reduced};
  }
  int block = out.knobs.get("slot_block", std::min(8, out.machine.vectorRegisters / 2), {4, 8, 12, 16});
  int width = out.knobs.get("k_chunk", 8, {1, 2, 4, 8, 16});
  while (reduced % width != 0) // the largest width up to the knob's that divides k's range
    --width;
  RDom r({{0, block}, {0, reduced / width}, {0, (slots + block - 1) / block}, {first, steps}}, "r");
  return SlotDomain{r, r.z * block + r.x, width, reduced / width, block, hidden % block == 0};
}

Func AlgorithmBuilder::recurrenceState(Operation *op, const HTensor &xp, const HTensor &w,
                                       const HTensor &bias, Expr length, bool reverse, bool isLSTM,
                                       const RecurrenceRows &rows) {
  int hidden = int(staticDim(op->getOperand(1), 1)), gates = (isLSTM ? 4 : 3) * hidden;
  int hSlot = isLSTM ? 5 * hidden : gates; // where the hidden state lives
  int slots = hSlot + hidden;
  Expr steps = xp.extent(1);
  Var slot("slot"), t("t"), b = rows.b;
  Func state(name(op, "state"));
  Expr g = Halide::clamp(slot, 0, gates - 1);
  Expr xAt = xp.func(g, Halide::clamp(timeAt(t - 1, length, reverse), 0, steps - 1), b);
  Expr start = (isLSTM ? xAt : Expr(0.0f)) + bias.func(g);
  state(rows.args(slot, t)) = rows.here(Halide::select(t > 0 && slot < gates, start, 0.0f));
  SlotDomain d = slotDomain(slots, hidden, hidden, 1, steps);
  RDom r = d.r;
  Expr s = d.slot, region = d.regionSlot(), k = r.y, step = r[3], last = d.lastChunk();
  // The state slots update once, after the gates (likely: the block loop is split where that changes).
  Expr gateSlot = Halide::likely(region < gates);
  r.where(gateSlot || (last && region < slots));
  auto at = [&](Expr index, Expr when) { return state(rows.at(index, when)); };
  Expr gs = d.offsetSlot(0, gates);
  Expr gate = at(s, step) + d.sum([&](Expr kk) { return w.func(kk, gs) * at(hSlot + kk, step - 1); });
  if (out.machine.gpu) {
    UnitRecurrenceStages unit{state, Func(name(op, "step_in")), Func(name(op, "w_hh_t")), b};
    unit.stepIn(slot, t, b) = start;
    Var kv("k");
    unit.weightT(slot, kv) = w.func(kv, slot);
    gate = Halide::select(k == 0, unit.stepIn(gs, step, b), at(s, step)) +
           unit.weightT(gs, k) * at(hSlot + k, step - 1);
    out.unitRecurrences.push_back(unit);
  }
  Expr stateValue;
  if (isLSTM) {
    // One slot's new state with three transcendentals (a select evaluates both of its sides):
    // c = σ(f)·c_prev + σ(i)·tanh(g), h = σ(o)·tanh(c).
    Expr isCell = region < 5 * hidden;
    Expr j = d.offsetSlot(Halide::select(isCell, -4 * hidden, -5 * hidden), hidden);
    Expr gate = sigmoidOf(at(Halide::select(isCell, hidden, 3 * hidden) + j, step));
    Expr squashed = tanhOf(at(Halide::select(isCell, 2 * hidden, 4 * hidden) + j, step));
    stateValue = Halide::select(
        isCell, gate * at(4 * hidden + j, step - 1) + sigmoidOf(at(j, step)) * squashed, gate * squashed);
  } else {
    Expr h = d.offsetSlot(-gates, hidden);
    auto x = [&](int gateIndex) {
      return xp.func(gateIndex * hidden + h,
                     Halide::clamp(timeAt(step - 1, length, reverse), 0, steps - 1), b);
    };
    Expr reset = sigmoidOf(x(0) + at(h, step)), update = sigmoidOf(x(1) + at(hidden + h, step));
    Expr candidate = tanhOf(x(2) + reset * at(2 * hidden + h, step));
    stateValue = (1.0f - update) * candidate + update * at(hSlot + h, step - 1);
  }
  state(rows.at(s, step)) =
      rows.here(Halide::select(gateSlot, gate, Halide::select(last, stateValue, at(s, step))));
  addRecurrence(rows, state, d.aligned);
  return state;
}

/// Backpropagation through time as one Func `back(slot, step, b)`, from the last step down, from the
/// forward pass's gate pre-activations and cell states (its `steps` result). Slots [0, H) hold dh, the
/// gradient of the step's hidden state: dy at its time plus, accumulated over the gates k,
/// W_hh[k, j]·(hidden-side gate gradient k of the next step) (GRU: plus dh·z of the next step). After the
/// last k the other slots read the finished dh: LSTM [H, 2H) the cell gradient, [2H, 6H) the gate
/// gradients; GRU [H, 4H) the projected inputs' gradients for r, z, n and [4H, 5H) n's hidden-side
/// gradient. Steps past a sequence's length get dy = 0, so they and their gradients stay 0.
FailureOr<HTensor> AlgorithmBuilder::lowerRecurrenceGrad(RecurrenceGradOp op) {
  bool isLSTM = op.getCell() == "lstm", reverse = op.getReverse();
  const HTensor &xp = values[op.getProjected()], &w = values[op.getWHh()], &dy = values[op.getGrad()];
  int hidden = int(staticDim(op.getWHh(), 1)), gates = (isLSTM ? 4 : 3) * hidden;
  Var slot("slot"), u("u"), b("b"), g("g"), t("t");
  Expr steps = xp.extent(1), length = lengthOf(op.getLengths(), steps, b);
  RecurrenceRows rows = recurrenceRows(b, xp.extent(0));
  const HTensor &h = values[op.getHidden()];
  auto prevHidden = [&](Expr i, Expr step) {
    Expr time = Halide::clamp(timeAt(step - 2, length, reverse), 0, steps - 1);
    return Halide::select(step >= 2, h.func(i, time, b), 0.0f);
  };
  // The forward pass's slots of step `step` (1 to steps, in the order the steps ran): LSTM the gate
  // pre-activations [0, 4H) and the cell state [4H, 5H); GRU the hidden side of the gates.
  const HTensor &ran = values[op.getSteps()];
  auto P = [&](Expr index, Expr step) { return ran.func(index, Halide::clamp(step, 1, steps) - 1, b); };
  // The activations of every step, computed once and stored a vector of rows at a time (the one place
  // that reads the forward pass's slots across rows): LSTM σ(i), σ(f), tanh(g), σ(o) in [0, 4H), tanh(c)
  // in [4H, 5H) and c itself in [5H, 6H); GRU r, z, n.
  Func act(name(op, "activations"));
  {
    Var a("a");
    if (isLSTM) {
      Expr x = P(Halide::clamp(Halide::select(a < 5 * hidden, a, a - hidden), 0, 5 * hidden - 1), u);
      // tanh(x) = 2·σ(2x) − 1, so each slot takes one exponential, not both sides of a select.
      Expr isTanh = (a >= 2 * hidden && a < 3 * hidden) || a >= 4 * hidden;
      Expr scale = Halide::select(isTanh, 2.0f, 1.0f);
      act(rows.args(a, u)) =
          rows.here(Halide::select(a < 5 * hidden, scale * sigmoidOf(scale * x) - (scale - 1.0f), x));
    } else {
      Expr i = a % hidden;
      Expr time = Halide::clamp(timeAt(u - 1, length, reverse), 0, steps - 1);
      Expr gate = xp.func(Halide::clamp(a, 0, gates - 1), time, b) + P(Halide::clamp(a, 0, gates - 1), u);
      Expr reset = sigmoidOf(xp.func(i, time, b) + P(i, u));
      act(rows.args(a, u)) =
          rows.here(Halide::select(a < 2 * hidden, sigmoidOf(gate),
                                   tanhOf(xp.func(2 * hidden + i, time, b) + reset * P(2 * hidden + i, u))));
    }
    if (rows.lanes)
      addRecurrence(rows, act, false);
    else
      out.reductions.push_back(act);
  }
  auto A = [&](Expr index, Expr step) { return act(rows.at(index, Halide::clamp(step, 1, steps))); };

  Func back(name(op, "back"));
  Expr dyAt = dy.func(Halide::clamp(slot, 0, hidden - 1),
                      Halide::clamp(timeAt(u - 1, length, reverse), 0, steps - 1), b);
  Expr incoming = Halide::select(u >= 1 && u <= length, dyAt, 0.0f);
  back(rows.args(slot, u)) = rows.here(Halide::select(slot < hidden, incoming, 0.0f));
  int slots = isLSTM ? 6 * hidden : 5 * hidden;
  SlotDomain d = slotDomain(slots, hidden, gates, 0, steps);
  RDom r = d.r;
  Expr s = d.slot, region = d.regionSlot(), k = r.y, step = steps - r[3], last = d.lastChunk();
  // The gate slots update once, after dh is complete (likely: the block loop is split where that changes).
  Expr dhSlot = Halide::likely(region < hidden);
  r.where(dhSlot || (last && region < slots));
  auto G = [&](Expr index, Expr when) { return back(rows.at(index, Halide::clamp(when, 1, steps + 1))); };
  Expr j = d.offsetSlot(0, hidden);
  // The hidden-side gradient of gate k at the next step, and dh's sum over the gates.
  auto nextGate = [&](Expr kk) {
    return isLSTM ? G(2 * hidden + kk, step + 1)
                  : Halide::select(kk < 2 * hidden, G(hidden + kk, step + 1), G(2 * hidden + kk, step + 1));
  };
  Expr dh = G(s, step) + d.sum([&](Expr kk) { return w.func(j, kk) * nextGate(kk); });
  if (out.machine.gpu) {
    UnitRecurrenceStages unit{back, Func(name(op, "step_grad")), Func(), b};
    unit.stepIn(slot, u, b) = incoming;
    dh = Halide::select(k == 0, unit.stepIn(j, step, b), G(s, step)) + w.func(j, k) * nextGate(k);
    out.unitRecurrences.push_back(unit);
  }
  if (!isLSTM) {
    dh += Halide::select(k == 0, G(j, step + 1) * A(hidden + j, step + 1), 0.0f);
  }

  // After the last k: the gate gradients of this step, for the slot's gate q and unit i.
  Expr finished;
  if (isLSTM) {
    Expr q = Halide::clamp(region - 2 * hidden, 0, 4 * hidden - 1) / hidden;
    Expr i = d.offsetSlot(Halide::select(region < 2 * hidden, -hidden, -2 * hidden - q * hidden), hidden);
    Expr in = A(i, step), forget = A(hidden + i, step), cand = A(2 * hidden + i, step);
    Expr outGate = A(3 * hidden + i, step), tc = A(4 * hidden + i, step);
    Expr prevCell = Halide::select(step >= 2, A(5 * hidden + i, step - 1), 0.0f); // 0 before the first
    Expr cellGrad =
        G(hidden + i, step + 1) * A(hidden + i, step + 1) + G(i, step) * outGate * (1.0f - tc * tc);
    Expr dc = G(hidden + i, step), dhi = G(i, step);
    Expr gateGrad = Halide::select(q == 0, dc * cand * in * (1.0f - in),
                                   q == 1, dc * prevCell * forget * (1.0f - forget),
                                   q == 2, dc * in * (1.0f - cand * cand),
                                   dhi * tc * outGate * (1.0f - outGate));
    finished = Halide::select(region < 2 * hidden, cellGrad, gateGrad);
  } else {
    Expr q = Halide::clamp(region - hidden, 0, 4 * hidden - 1) / hidden;
    Expr i = d.offsetSlot(-hidden - q * hidden, hidden);
    Expr reset = A(i, step), update = A(hidden + i, step), cand = A(2 * hidden + i, step);
    Expr hn = P(2 * hidden + i, step);
    Expr dhi = G(i, step);
    Expr dn = dhi * (1.0f - update) * (1.0f - cand * cand);
    finished = Halide::select(q == 0, dn * hn * reset * (1.0f - reset),
                              q == 1, dhi * (prevHidden(i, step) - cand) * update * (1.0f - update),
                              q == 2, dn, dn * reset);
  }
  back(rows.at(s, step)) = rows.here(Halide::select(dhSlot, dh, Halide::select(last, finished, G(s, step))));
  addRecurrence(rows, back, d.aligned);

  int outSlot = isLSTM ? 2 * hidden : hidden;
  Expr stepOf = reverse ? length - t : t + 1;
  Func result(name(op, "gate_grads"));
  result(g, t, b) =
      Halide::select(t < length, rows.read(back, outSlot + g, Halide::clamp(stepOf, 1, steps), b), 0.0f);
  return HTensor{result, {xp.extent(0), steps, Expr(4 * hidden)}};
}

/// dW[g, k] = Σ_{b,t} dg[b, t, g]·h_prev[b, t, k], h_prev being h one step earlier in the reading order.
FailureOr<HTensor> AlgorithmBuilder::lowerRecurrenceWeightGrad(RecurrenceWeightGradOp op) {
  const HTensor &dg = values[op.getGrad()], &h = values[op.getHidden()];
  Expr steps = h.extent(1);
  RDom r(0, steps, 0, h.extent(0), "rt");
  Expr prev = op.getReverse() ? r.x + 1 : r.x - 1;
  Var k("k"), g("g");
  Expr hPrev =
      Halide::select(prev >= 0 && prev < steps, h.func(k, Halide::clamp(prev, 0, steps - 1), r.y), 0.0f);
  Func dw = product(op, "dw", {k, g}, 0.0f, dg.func(g, r.x, r.y) * hPrev);
  return HTensor{dw, {dg.extent(2), h.extent(2)}};
}

/// acc(g, n) = bias(g) + Σ_k x[n, k] · W[g, k]: one gate projection of a cell, with W transposed once so
/// that the gates are the vectorized, contiguous dimension.
Func AlgorithmBuilder::gateProjection(Operation *op, StringRef stage, Value x, Value weight, Value bias,
                                      bool transposed) {
  const HTensor &in = values[x];
  const HTensor &w = values[weight];
  Var g("g"), n("n");
  Func wT = weightTransposed(op, (stage + "_weight_t").str(), w, transposed, g, Var("k"));
  RDom r(0, int(staticDim(x, 1)), "rk");
  return product(op, stage, {g, n}, values[bias].func(g), in.func(r, n) * wT(g, r));
}

/// The input-side and the hidden-side gate projections of one LSTM or GRU step.
template <typename CellOpT>
std::pair<Func, Func> AlgorithmBuilder::cellGates(CellOpT op) {
  bool transposed = op.getTransposedWeights();
  Func xg = gateProjection(op, "input_gates", op.getInput(), op.getWIh(), op.getBIh(), transposed);
  Func hg = gateProjection(op, "hidden_gates", op.getHidden(), op.getWHh(), op.getBHh(), transposed);
  return {xg, hg};
}

/// One LSTM step (gates i, f, g, o); the cell state is the op's second result, the gates' pre-activations
/// its third (inlined into the states unless the kernel yields them).
FailureOr<HTensor> AlgorithmBuilder::lowerLSTMCell(LSTMCellOp op) {
  int hidden = int(staticDim(op.getHidden(), 1));
  std::pair<Func, Func> projections = cellGates(op);
  Func xg = projections.first, hg = projections.second;
  Var j("j"), n("n"), g("g");
  Func gates(name(op, "gates"));
  gates(g, n) = xg(g, n) + hg(g, n);
  auto gate = [&](int index) { return gates(index * hidden + j, n); };
  Func cell(name(op, "cell"));
  cell(j, n) = sigmoidOf(gate(1)) * values[op.getCell()].func(j, n) + sigmoidOf(gate(0)) * tanhOf(gate(2));
  Func h(name(op, "hidden"));
  h(j, n) = sigmoidOf(gate(3)) * tanhOf(cell(j, n));
  std::vector<Expr> shape = values[op.getHidden()].shape; // a copy: the map grows below
  values[op.getNewCell()] = HTensor{cell, shape};
  values[op.getGates()] = HTensor{gates, {shape[0], Expr(LSTMCellOp::kGates * hidden)}};
  return HTensor{h, shape};
}

/// One GRU step (gates r, z, n).
FailureOr<HTensor> AlgorithmBuilder::lowerGRUCell(GRUCellOp op) {
  int hidden = int(staticDim(op.getHidden(), 1));
  std::pair<Func, Func> gates = cellGates(op);
  Func xg = gates.first, hg = gates.second;
  Var j("j"), n("n");
  Expr reset = sigmoidOf(xg(j, n) + hg(j, n));
  Expr update = sigmoidOf(xg(hidden + j, n) + hg(hidden + j, n));
  Expr candidate = tanhOf(xg(2 * hidden + j, n) + reset * hg(2 * hidden + j, n));
  Func h(name(op, "gru_cell"));
  h(j, n) = (1.0f - update) * candidate + update * values[op.getHidden()].func(j, n);
  return HTensor{h, values[op.getHidden()].shape};
}

/// The gradients of one LSTM or GRU cell step (see attn.cell_grad). The activations of each unit (LSTM:
/// the four gates and tanh of the new cell; GRU: r, z and n) are computed once, a Func each, and read by
/// the gradients of all its gates.
FailureOr<HTensor> AlgorithmBuilder::lowerCellGrad(CellGradOp op) {
  const HTensor &xg = values[op.getGates().front()], &hg = values[op.getGates().back()];
  const HTensor &state = values[op.getState()], &dy = values[op.getGrad()];
  int hidden = int(staticDim(op.getState(), 1));
  Var g("g"), n("n"), j("j");
  StringRef wrt = op.getWrt();
  bool onState = wrt == "state", isLSTM = op.getCell() == "lstm";
  Expr i = onState ? Expr(g) : Expr(g % hidden), q = g / hidden;
  // An LSTM's gates are its pre-activations, a GRU's the two projections (xg, hg).
  auto pre = [&](int gate) {
    Expr x = xg.func(gate * hidden + j, n);
    return isLSTM ? x : x + hg.func(gate * hidden + j, n);
  };
  std::vector<Func> act;
  auto stage = [&](Expr value) {
    act.emplace_back(name(op, "activation" + std::to_string(act.size())));
    act.back()(j, n) = value;
    out.reductions.push_back(act.back());
    return Expr(act.back()(j, n));
  };
  if (isLSTM) {
    Expr in = stage(sigmoidOf(pre(0))), forget = stage(sigmoidOf(pre(1))), cand = stage(tanhOf(pre(2)));
    stage(sigmoidOf(pre(3)));
    stage(tanhOf(forget * state.func(j, n) + in * cand));
  } else {
    Expr reset = stage(sigmoidOf(pre(0)));
    stage(sigmoidOf(pre(1)));
    stage(tanhOf(xg.func(2 * hidden + j, n) + reset * hg.func(2 * hidden + j, n)));
  }
  auto A = [&](int index) { return act[index](i, n); };
  Expr dh = dy.func(i, n);
  Expr value;
  if (isLSTM) {
    Expr in = A(0), forget = A(1), cand = A(2), outGate = A(3), tc = A(4);
    Expr c = state.func(i, n);
    Expr dc = dh * outGate * (1.0f - tc * tc);
    if (Value cellGrad = op.getCellGrad())
      dc += values[cellGrad].func(i, n);
    value = onState ? dc * forget
                    : Halide::select(q == 0, dc * cand * in * (1.0f - in),
                                     q == 1, dc * c * forget * (1.0f - forget),
                                     q == 2, dc * in * (1.0f - cand * cand),
                                     dh * tc * outGate * (1.0f - outGate));
  } else {
    Expr reset = A(0), update = A(1), cand = A(2);
    Expr hn = hg.func(2 * hidden + i, n);
    Expr dn = dh * (1.0f - update) * (1.0f - cand * cand);
    Expr gateGrad = Halide::select(q == 0, dn * hn * reset * (1.0f - reset),
                                   q == 1, dh * (state.func(i, n) - cand) * update * (1.0f - update),
                                   wrt == "hidden_gates" ? dn * reset : dn);
    value = onState ? dh * update : gateGrad;
  }
  Func result(name(op, "cell_grad"));
  result(g, n) = value;
  return HTensor{result, onState ? state.shape : xg.shape};
}
