"""Workload 2: one Bahdanau (additive) attention step, batch 64, source length 40, hidden 256, 256 attention
units, forward and forward+backward. attnc (benchmarks/workloads/bahdanau_step.attn) against PyTorch eager,
torch.compile and a Keras layer written as in the TensorFlow NMT tutorial (`BahdanauAttention`: Dense layers
W1, W2, V; score = V(tanh(W1(query[:, None]) + W2(values))), softmax over the source, context = the
weighted sum of the values). Forward+backward is the loss mse(context, target) and the gradients of the
parameters (not of the inputs), which is what attnc's gradient program (`bench --grad`) computes."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import (REPO, ROUNDS, AttncError, Case, Goal, Result, Table, bench_in_turn, check, checks_note, fmt_ms,
                    fmt_ratio, hand_and_tuned, log, read_safetensors, save_inputs, speedup, tensorflow,
                    timed, tuned_note)

MODEL = REPO / "benchmarks/workloads/bahdanau_step.attn"
PRIMITIVES = REPO / "benchmarks/workloads/bahdanau_primitives.attn"  # the same step written from primitives
BATCH, SOURCE, HIDDEN, UNITS = 64, 40, 256, 256
WARMUP = 5


def inputs(ctx):
    """query [B, H], values [B, S, H] and target [B, H] as .npy files, made once per run."""
    folder = ctx.work / "bahdanau-inputs"
    if not (folder / "target.npy").exists():
        rng = np.random.default_rng(2)
        save_inputs(folder, query=rng.standard_normal((BATCH, HIDDEN), dtype=np.float32),
                    values=rng.standard_normal((BATCH, SOURCE, HIDDEN), dtype=np.float32),
                    target=rng.standard_normal((BATCH, HIDDEN), dtype=np.float32))
    return {n: folder / f"{n}.npy" for n in ("query", "values", "target")}


def forward_inputs(files):
    return {n: files[n] for n in ("query", "values")}


def tune_cases(ctx):
    """What `make tune` tunes for this workload: (model, estimates, compile flags, budget in seconds,
    inference kernels only): forward and backward."""
    return [(MODEL, {"B": BATCH, "S": SOURCE}, (), 120, False)]


def schedule_cases(ctx):
    """What the schedules table measures of this workload: the forward step, as run() times it."""
    return [Case("Bahdanau step forward", MODEL, forward_inputs(inputs(ctx)), ctx.fast_runs, WARMUP, "context",
                 {"B": BATCH, "S": SOURCE})]


#===------------------------------------------------------------------------------------------------------===#
# PyTorch
#===------------------------------------------------------------------------------------------------------===#


class TorchBahdanau(nn.Module):
    def __init__(self):
        super().__init__()
        self.query, self.keys = nn.Linear(HIDDEN, UNITS), nn.Linear(HIDDEN, UNITS)
        self.v = nn.Linear(UNITS, 1, bias=False)

    def forward(self, query, values):
        scores = self.v(torch.tanh(self.query(query)[:, None, :] + self.keys(values)))[..., 0]  # [B, S]
        w = torch.softmax(scores, dim=1)
        return (w[:, :, None] * values).sum(1), w


def torch_module(weights):
    """The layer with attnc's weights (keys context.query/keys/v.*; torch.nn.Linear's [out, in] layout)."""
    module = TorchBahdanau()
    module.load_state_dict({k.removeprefix("context."): torch.from_numpy(v) for k, v in weights.items()})
    return module


def torch_peers(module, query, values, target):
    """(forward(), forward_backward()) in eager mode and with torch.compile; forward_backward returns the loss
    and the parameters' gradients."""
    params = list(module.parameters())

    def loss_of(q, v, t):
        return F.mse_loss(module(q, v)[0], t)

    def training(loss_fn):
        def step():
            loss = loss_fn(query, values, target)
            return loss, torch.autograd.grad(loss, params)
        return step

    def inference(fn):
        def forward():
            with torch.inference_mode():
                return fn(query, values)
        return forward

    compiled_forward, compiled_loss = torch.compile(module), torch.compile(loss_of)
    return (inference(module), training(loss_of)), (inference(compiled_forward), training(compiled_loss))


#===------------------------------------------------------------------------------------------------------===#
# Keras
#===------------------------------------------------------------------------------------------------------===#


def keras_peer(weights, query, values, target):
    """(forward(), forward_backward()) as tf.functions around the NMT tutorial's layer with attnc's weights."""
    tf = tensorflow()
    import keras

    class BahdanauAttention(keras.layers.Layer):
        def __init__(self, units):
            super().__init__()
            self.W1 = keras.layers.Dense(units)
            self.W2 = keras.layers.Dense(units)
            self.V = keras.layers.Dense(1, use_bias=False)

        def call(self, query, values):
            score = self.V(tf.nn.tanh(self.W1(tf.expand_dims(query, 1)) + self.W2(values)))  # [B, S, 1]
            attention_weights = tf.nn.softmax(score, axis=1)
            context_vector = tf.reduce_sum(attention_weights * values, axis=1)
            return context_vector, attention_weights

    layer = BahdanauAttention(UNITS)
    q, v, t = (tf.constant(x) for x in (query, values, target))
    layer(q, v)  # builds the variables
    layer.W1.kernel.assign(weights["context.query.weight"].T)
    layer.W1.bias.assign(weights["context.query.bias"])
    layer.W2.kernel.assign(weights["context.keys.weight"].T)
    layer.W2.bias.assign(weights["context.keys.bias"])
    layer.V.kernel.assign(weights["context.v.weight"].T)

    @tf.function
    def forward(q, v):
        return layer(q, v)

    @tf.function
    def forward_backward(q, v, t):
        with tf.GradientTape() as tape:
            context, _ = layer(q, v)
            loss = tf.reduce_mean(tf.square(context - t))
        return loss, tape.gradient(loss, layer.trainable_variables)

    return lambda: forward(q, v), lambda: forward_backward(q, v, t)


#===------------------------------------------------------------------------------------------------------===#


def run(ctx):
    log("[bahdanau] attnc")
    files = inputs(ctx)
    hand_program, program = hand_and_tuned(ctx, MODEL, {"B": BATCH, "S": SOURCE})
    weight_file = program.default_weights()
    weights = read_safetensors(weight_file)
    reference = program.infer(weight_file, forward_inputs(files), ctx.work / "bahdanau-out")["context"]
    notes, checks = [], []
    # The same step from primitives, with the same weights (the parameter names are the built-in's).
    _, primitives = hand_and_tuned(ctx, PRIMITIVES, {"B": BATCH, "S": SOURCE})
    checks.append(check("attnc from primitives context",
                        primitives.infer(weight_file, forward_inputs(files), ctx.work / "bahdanau-prim-out")["context"],
                        reference))

    query, values, target = (np.load(files[n]) for n in ("query", "values", "target"))
    module = torch_module(weights)
    torch_inputs = [torch.from_numpy(x) for x in (query, values, target)]
    eager, compiled = torch_peers(module, *torch_inputs)
    loss, grads = eager[1]()
    gradients = program.grad(weight_file, files, ctx.work / "bahdanau-grad")
    names = [n for n, _ in module.named_parameters()]
    checks.append(check("PyTorch eager loss and gradients",
                            np.append(np.concatenate([g.numpy().ravel() for g in grads]), loss.item()),
                            np.append(np.concatenate([gradients[f"grad.context.{n}"].ravel() for n in names]),
                                      gradients["loss"])))

    peers = {}  # name: (forward(), forward_backward())
    for name, make, first_calls in [
            ("PyTorch eager", lambda: eager, None), ("torch.compile", lambda: compiled, "torch.compile compiling"),
            ("Keras (tf.function)", lambda: keras_peer(weights, query, values, target), "Keras tracing")]:
        log(f"[bahdanau] {name}: first calls")
        peers[name] = forward, forward_backward = make()
        (context, _), first_forward = timed(forward)
        _, first_backward = timed(forward_backward)
        checks.append(check(f"{name} context", context.numpy(), reference))
        if first_calls:
            notes.append(f"The first calls ({first_calls}), not timed: forward {first_forward:.1f} s, "
                         f"forward+backward {first_backward:.1f} s.")

    # attnc's programs and every peer in turn, for the forward and then for forward+backward.
    log("[bahdanau] measuring in turn")
    labels = ("attnc", "attnc hand", "attnc from primitives")
    programs = [program, hand_program, primitives]
    forwards = bench_in_turn(programs, weight_file, forward_inputs(files), runs=ctx.fast_runs, warmup=WARMUP,
                             peers=[forward for forward, _ in peers.values()])
    train_peers = [forward_backward for _, forward_backward in peers.values()]
    try:
        trains = bench_in_turn(programs, weight_file, files, runs=ctx.fast_runs, warmup=WARMUP, grad=True,
                               peers=train_peers)
    except AttncError as error:
        log(f"    {error}")
        notes.append(f"attnc's forward+backward is missing: {error}")
        trains = [None] * len(programs) + bench_in_turn([], weight_file, files, runs=ctx.fast_runs, warmup=WARMUP,
                                                        peers=train_peers)
    ours = dict(zip(labels, zip(forwards, trains)))
    measured = dict(zip(peers, zip(forwards[len(programs):], trains[len(programs):])))
    for name, (forward_ms, train_ms) in {**ours, **measured}.items():
        log(f"    {name} forward {fmt_ms(forward_ms)}, forward+backward {fmt_ms(train_ms)}")
    ours_forward, ours_train = ours["attnc"]

    table = Table(f"2. Bahdanau attention step (batch {BATCH}, source {SOURCE}, hidden {HIDDEN}, units {UNITS}, fp32)",
                  ["implementation", "forward", "attnc speed-up", "forward+backward", "attnc speed-up"])
    for label, (forward_ms, train_ms) in ours.items():
        table.rows.append([label, fmt_ms(forward_ms), "", fmt_ms(train_ms), ""])
    for name, (forward_ms, train_ms) in measured.items():
        table.rows.append([name, fmt_ms(forward_ms), fmt_ratio(speedup(forward_ms, ours_forward)),
                           fmt_ms(train_ms), fmt_ratio(speedup(train_ms, ours_train))])
    table.notes += [
        tuned_note(ctx),
        f"Median of {ROUNDS} medians of {ctx.fast_runs} runs after {WARMUP} warm-ups, {ctx.threads} threads: "
        "every implementation measured in turn, a round of each at a time; speed-up = peer time / attnc time. "
        "Forward computes the context and the attention weights; forward+backward the loss "
        "mse(context, target) and the gradients of the five parameters (attnc: `bench --grad`; PyTorch: "
        "torch.autograd.grad over the parameters; Keras: a tf.function with a GradientTape).",
        "attnc from primitives: the step written with dense, expand_dims, +, tanh, softmax along the source, * and "
        "sum (benchmarks/workloads/bahdanau_primitives.attn) instead of the built-in additive_attention, fused by "
        "the generic kernel rules; its goals compare it with the built-in (attnc).",
    ] + notes + [checks_note(checks)]
    versus = lambda peer: speedup(measured[peer][1], ours_train)
    hand_train = ours["attnc hand"][1]
    goals = [Goal("Bahdanau forward+backward ≥ 2× PyTorch eager", versus("PyTorch eager"), 2.0),
             Goal("Bahdanau forward+backward ≥ 1.3× torch.compile", versus("torch.compile"), 1.3),
             Goal("Bahdanau forward+backward ≥ 1.3× Keras", versus("Keras (tf.function)"), 1.3),
             Goal("Bahdanau from primitives forward ≤ 1.25× built-in",
                  ours["attnc from primitives"][0] / ours_forward, 1.25, at_most=True),
             Goal("Bahdanau from primitives forward+backward ≤ 1.25× built-in",
                  ours["attnc from primitives"][1] / ours_train, 1.25, at_most=True),
             Goal("Bahdanau forward+backward hand ≤ 1.25× tuned time",
                  hand_train / ours_train if hand_train and ours_train else None, 1.25, at_most=True)]
    return Result([table], goals)
