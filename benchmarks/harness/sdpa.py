"""Workload 1: scaled dot-product attention forward, batch 4, 8 heads of 64 features, inputs and output
[B, L, 512], non-causal and causal. attnc (benchmarks/workloads/sdpa.attn, sdpa_causal.attn) against
PyTorch's scaled_dot_product_attention (timed with the reshapes to and from [B, 8, L, 64] that attnc's
layout saves it) and ONNX Runtime's com.microsoft MultiHeadAttention, which takes [B, L, 512] directly and
is causal through its `unidirectional` attribute."""
import numpy as np
import torch

from common import (REPO, ROUNDS, Case, Goal, Result, Table, bench_in_turn, check, checks_note, fmt_ms, fmt_ratio,
                    hand_and_tuned, log, tuned_note, ort_session, save_inputs, speedup)

BATCH, HEADS, HEAD_DIM = 4, 8, 64
WIDTH = HEADS * HEAD_DIM
# Warm-up runs before the timed ones, for every peer. A fresh attnc program (each round starts one, while
# PyTorch and ONNX Runtime run in this warm process) grows its heap to its steady size over its first runs:
# at L=512 on the AMD EPYC (Zen 4), about 1,000 page faults a run for the first 8, which made 5 runs after
# 2 warm-ups 10-20% slower.
WARMUP = 8
MODELS = {False: REPO / "benchmarks/workloads/sdpa.attn", True: REPO / "benchmarks/workloads/sdpa_causal.attn"}


def lengths(quick):
    return (128, 256) if quick else (512, 2048)


def configs(quick):
    """(length, causal) in table order."""
    return [(length, causal) for length in lengths(quick) for causal in (False, True)]


def label(length, causal):
    return f"L={length}, {'causal' if causal else 'non-causal'}"


def flops(length, causal):
    """4·B·H·L²·d (two matrix products of 2·L²·d each per head), half of it when causal."""
    total = 4 * BATCH * HEADS * length * length * HEAD_DIM
    return total / 2 if causal else total


def inputs(ctx, length):
    """The q, k, v .npy files for `length` (made once per run)."""
    folder = ctx.work / f"sdpa-inputs-{length}"
    if not (folder / "v.npy").exists():
        rng = np.random.default_rng(length)
        save_inputs(folder, **{n: rng.standard_normal((BATCH, length, WIDTH), dtype=np.float32) for n in "qkv"})
    return {n: folder / f"{n}.npy" for n in "qkv"}


def schedule_cases(ctx):
    """What the schedules table measures of this workload: every shape, as run() times it."""
    estimates = {"B": BATCH, "L": max(lengths(ctx.quick))}  # one autoscheduled program serves both lengths
    return [Case(f"SDPA {label(length, causal)}", MODELS[causal], inputs(ctx, length), ctx.runs, WARMUP, "o",
                 estimates) for length, causal in configs(ctx.quick)]


def tune_cases(ctx):
    """What `make tune` tunes for this workload: (model, estimates, compile flags, budget in seconds,
    inference kernels only)."""
    return [(MODELS[causal], {"B": BATCH, "L": length}, (), 60, True) for length, causal in configs(ctx.quick)]


def torch_sdpa(q, k, v, causal):
    """[B, L, 512] in and out, through scaled_dot_product_attention's [B, H, L, d]."""
    b, length, _ = q.shape
    heads = lambda x: x.view(b, length, HEADS, HEAD_DIM).transpose(1, 2)
    o = torch.nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=causal)
    return o.transpose(1, 2).reshape(b, length, WIDTH)


def ort_mha(causal):
    """An ONNX Runtime session of one MultiHeadAttention node: q, k, v [B, L, 512] -> o [B, L, 512]."""
    from onnx import TensorProto, helper
    shape = ["B", "L", WIDTH]
    node = helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["o"], domain="com.microsoft",
                            num_heads=HEADS, unidirectional=int(causal))
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    graph = helper.make_graph([node], "sdpa", [value(n) for n in "qkv"], [value("o")])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    return ort_session(model.SerializeToString())


def run(ctx):
    table = Table(f"1. Scaled dot-product attention forward (batch {BATCH}, {HEADS} heads × {HEAD_DIM}, fp32)",
                  ["shape", "attnc", "attnc GFLOP/s", "% of peak", "attnc hand", "PyTorch SDPA", "PyTorch / attnc",
                   "ORT MultiHeadAttention", "ORT / attnc"])
    goals = []
    checks = []
    over_peak = False  # attnc measured above the fp32 peak
    for length, causal in configs(ctx.quick):
        name = label(length, causal)
        log(f"[sdpa] {name}")
        files = inputs(ctx, length)
        q, k, v = (np.load(files[n]) for n in "qkv")
        hand_program, program = hand_and_tuned(ctx, MODELS[causal], {"B": BATCH, "L": length})
        weights = program.default_weights()
        reference = program.infer(weights, files, ctx.work / f"sdpa-out-{length}-{int(causal)}")["o"]
        tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
        session = ort_mha(causal)
        feeds = {"q": q, "k": k, "v": v}
        with torch.inference_mode():
            checks.append(check(f"PyTorch ({name})", torch_sdpa(tq, tk, tv, causal).numpy(), reference))
            checks.append(check(f"ORT ({name})", session.run(None, feeds)[0], reference))
            ours, hand, pytorch, onnxruntime = bench_in_turn(
                [program, hand_program], weights, files, runs=ctx.runs, warmup=WARMUP,
                peers=[lambda: torch_sdpa(tq, tk, tv, causal), lambda: session.run(None, feeds)])
        log(f"    attnc {fmt_ms(ours)} (hand {fmt_ms(hand)}), PyTorch SDPA {fmt_ms(pytorch)}, "
            f"ORT MultiHeadAttention {fmt_ms(onnxruntime)}")

        gflops = flops(length, causal) / (ours * 1e-3) / 1e9
        share = gflops / ctx.peak_gflops if ctx.peak_gflops else None
        if share is not None and share > 1:
            # A kernel cannot beat the FMA peak: the peak was measured in a slow spell of the machine.
            share, over_peak = None, True
        table.rows.append([name, fmt_ms(ours), f"{gflops:.0f}", "n/a" if share is None else f"{share:.0%}",
                           fmt_ms(hand), fmt_ms(pytorch), fmt_ratio(speedup(pytorch, ours)),
                           fmt_ms(onnxruntime), fmt_ratio(speedup(onnxruntime, ours))])
        goals += [Goal(f"SDPA {name} ≥ 1.2× PyTorch", speedup(pytorch, ours), 1.2),
                  Goal(f"SDPA {name} ≥ 1.0× ONNX Runtime", speedup(onnxruntime, ours), 1.0),
                  Goal(f"SDPA {name} hand ≤ 1.25× tuned time", hand / ours, 1.25, at_most=True)]
        if length == max(lengths(ctx.quick)) and not causal:
            goals.insert(0, Goal(f"SDPA {name} ≥ 60% of fp32 peak", None if share is None else 100 * share,
                                 60, unit="%"))
    table.notes += [
        tuned_note(ctx),
        f"Median of {ROUNDS} medians of {ctx.runs} runs after {WARMUP} warm-ups, {ctx.threads} threads: attnc, "
        "attnc hand, PyTorch and ONNX Runtime measured in turn, a round of each at a time. attnc reads q, k, v "
        "[B, L, 512] and writes [B, L, 512]; PyTorch is timed with the views and the transposes/reshape to and "
        "from [B, 8, L, 64].",
        f"FLOPs 4·B·H·L²·d (halved when causal); peak {ctx.peak_gflops:.0f} GFLOP/s (fma_peak, {ctx.threads} "
        "threads)." + (" attnc ran faster than that peak, which was therefore measured in a slow spell of the "
                       "machine: the shares of peak it would give are not reported." if over_peak else "")
        if ctx.peak_gflops else "The fp32 peak could not be measured (fma_peak did not build or run).",
        "ONNX Runtime runs one com.microsoft MultiHeadAttention node (num_heads 8, unidirectional for causal) "
        "on [B, L, 512] inputs.",
    ] + [checks_note(checks)]
    return Result([table], goals)
