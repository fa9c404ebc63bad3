"""`make bench-gpu`'s measuring half, run on the GPU machine with the folder benchmarks/gpu/prepare.sh made
(programs compiled for the GPU, the FMA peak kernel, the G2P data) and this repository beside it. It needs
Python with NumPy and PyTorch (with CUDA), nothing of attnc's build:

    python benchmarks/gpu/run.py --bundle build/gpu-bundle --out benchmarks/RESULTS-gpu.md

1. every example's GPU program against its PyTorch goldens (test/Numeric/goldens), to 1e-4;
2. the GPU's fp32 FMA peak (no tensor cores);
3. workloads 1-4 of `make bench` on the GPU against PyTorch on the same GPU: SDPA forward (fp32, PyTorch's
   scaled_dot_product_attention, which picks its memory-efficient kernel), the Bahdanau step's
   forward+backward (eager and torch.compile), G2P training tokens/s (eager), the CNN's inference (eager);
and writes the table with the GPU, driver, commit and date. `--device cpu` runs the same on the CPU (with
programs compiled for OpenCL on PoCL: a dry run of the script, not a measurement)."""
import argparse
import datetime
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks/harness"))

import bahdanau  # noqa: E402
import cnn  # noqa: E402
import g2p  # noqa: E402
import sdpa  # noqa: E402
from common import AttncError, Program, read_safetensors, reference_models, save_inputs, write_safetensors  # noqa: E402

GOLDENS = REPO / "test/Numeric/goldens"
# (program, golden cases, inputs, outputs), as test/Numeric checks them.
EXAMPLES = [
    ("attention_block", ("b1_s5", "b7_s13"), "x valid", "y"),
    ("cnn_self_attention", ("b1", "b7"), "image", "logits"),
    ("cnn_spatial_attention", ("b1_8x8", "b7_8x8"), "image", "logits probs attention"),
    ("seq2seq_bahdanau", ("b1_s5", "b7_s9"), "src src_len", "phonemes attention"),
    ("seq2seq_luong", ("b1_s5", "b7_s9"), "src src_len", "tokens attention"),
    ("transformer_encoder", ("b1_s6", "b7_s11"), "x valid", "h2"),
]
RTOL, ATOL = 1e-4, 1e-6
RUNS, WARMUP = 20, 3


def log(message):
    print(message, file=sys.stderr, flush=True)


def synchronized(device):
    return (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)


def median_ms(fn, device, runs=RUNS, warmup=WARMUP):
    sync = synchronized(device)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


PROFILES = None  # `profile` tables of the workloads, with --profile


def profile(program, weights, files, grad=False):
    """Appends the program's `profile` (time per kernel) on these inputs to PROFILES, with --profile."""
    if PROFILES is not None:
        inputs = [a for name, path in files.items() for a in ("--in", f"{name}={path}")]
        PROFILES.append(program.run("profile", "--weights", weights, *inputs, "--runs", 5,
                                    *(["--grad"] if grad else [])))


def check_examples(bundle, work):
    """Rows (example, case, worst relative error beyond the absolute tolerance, pass)."""
    rows = []
    for name, cases, inputs, outputs in EXAMPLES:
        program = Program(bundle / name)
        for case in cases:
            folder = GOLDENS / name / case
            out = work / f"{name}-{case}"
            args = [a for i in inputs.split() for a in ("--in", f"{i}={folder / i}.npy")]
            try:
                program.run("infer", "--weights", folder / "weights.safetensors", *args, "--out", out)
            except AttncError as error:
                rows.append((name, case, float("inf"), False))
                log(f"[check] {name} {case}: FAILED: {error}")
                continue
            worst = 0.0
            for o in outputs.split():
                actual, expected = np.load(out / f"{o}.npy"), np.load(folder / f"{o}.npy")
                if actual.shape != expected.shape:
                    worst = float("inf")
                    continue
                excess = np.abs(actual.astype(np.float64) - expected) - ATOL
                worst = max(worst, float(np.max(excess / np.maximum(np.abs(expected), 1e-30), initial=0)))
            rows.append((name, case, worst, worst <= RTOL))
            log(f"[check] {name} {case}: {'ok' if worst <= RTOL else 'FAILED'} ({worst:.2e})")
    return rows


def fma_peak(bundle):
    """(GPU name, GFLOP/s) from the bundle's fma_peak, or None."""
    if not (bundle / "fma_peak").exists():
        return None
    out = subprocess.run([str(bundle / "fma_peak")], capture_output=True, text=True)
    match = re.search(r"(.*): fp32 FMA peak ([0-9.]+) GFLOP/s", out.stdout)
    return (match.group(1), float(match.group(2))) if match else None


def bench_sdpa(bundle, work, device, lengths):
    rows = []
    for length in lengths:
        for causal in (False, True):
            rng = np.random.default_rng(length)
            arrays = {n: rng.standard_normal((sdpa.BATCH, length, sdpa.WIDTH), dtype=np.float32) for n in "qkv"}
            files = save_inputs(work / f"sdpa-{length}", **arrays)
            program = Program(bundle / ("sdpa_causal" if causal else "sdpa"))
            weights = program.default_weights()
            ours = program.bench(weights, files, runs=RUNS, warmup=WARMUP)
            profile(program, weights, files)
            q, k, v = (torch.from_numpy(arrays[n]).to(device) for n in "qkv")
            with torch.inference_mode():
                expected = sdpa.torch_sdpa(q, k, v, causal).cpu().numpy()
                theirs = median_ms(lambda: sdpa.torch_sdpa(q, k, v, causal), device)
            error = float(np.max(np.abs(program.infer(weights, files, work / "sdpa-out")["o"] - expected)))
            rows.append((sdpa.label(length, causal), ours, theirs, sdpa.flops(length, causal) / ours / 1e6, error))
            log(f"[sdpa] {rows[-1][0]}: attnc {ours:.3f} ms, PyTorch {theirs:.3f} ms, |Δ| ≤ {error:.1e}")
    return rows


def bench_bahdanau(bundle, work, device):
    rng = np.random.default_rng(2)
    shapes = {"query": (bahdanau.BATCH, bahdanau.HIDDEN), "values": (bahdanau.BATCH, bahdanau.SOURCE, bahdanau.HIDDEN),
              "target": (bahdanau.BATCH, bahdanau.HIDDEN)}
    arrays = {n: rng.standard_normal(s, dtype=np.float32) for n, s in shapes.items()}
    files = save_inputs(work / "bahdanau", **arrays)
    program = Program(bundle / "bahdanau_step")
    weights = program.default_weights()
    ours = program.bench(weights, files, runs=RUNS, warmup=WARMUP, grad=True)
    profile(program, weights, files, grad=True)
    module = bahdanau.torch_module(read_safetensors(weights)).to(device)
    q, v, t = (torch.from_numpy(arrays[n]).to(device) for n in ("query", "values", "target"))
    (_, eager), (_, compiled) = bahdanau.torch_peers(module, q, v, t)
    loss, grads = eager()
    gradients = program.grad(weights, files, work / "bahdanau-grad")
    expected = {"loss": loss.item(), **{f"grad.context.{n}": g.cpu().numpy()
                                        for (n, _), g in zip(module.named_parameters(), grads)}}
    error = max(float(np.max(np.abs(gradients[n] - x) / (np.max(np.abs(x)) + 1e-30))) for n, x in expected.items())
    log(f"[bahdanau] attnc {ours:.3f} ms; loss and gradients within {error:.1e} of PyTorch's (relative to each's largest)")
    return ours, median_ms(eager, device), median_ms(compiled, device, warmup=10), error


def bench_cnn(bundle, work, device):
    """Rows (batch, attnc ms, PyTorch eager ms) of workload 4's CNN inference; the logits checked first."""
    module = cnn.torch_module()
    weight_file = work / "cnn.safetensors"
    write_safetensors(weight_file, {k: v.numpy() for k, v in reference_models().weights(module).items()})
    module.to(device)
    program = Program(bundle / cnn.MODEL.stem)
    rows = []
    rng = np.random.default_rng(4)
    for batch in cnn.BATCHES:
        image = rng.standard_normal((batch, 1, cnn.SIZE, cnn.SIZE), dtype=np.float32)
        files = save_inputs(work / f"cnn-{batch}", image=image)
        logits = program.infer(weight_file, files, work / f"cnn-out-{batch}")["logits"]
        x = torch.from_numpy(image).to(device)
        with torch.inference_mode():
            expected = module(x)["logits"].cpu().numpy()
            theirs = median_ms(lambda: module(x), device)
        error = float(np.max(np.abs(logits - expected)))
        ours = program.bench(weight_file, files, runs=RUNS, warmup=WARMUP)
        profile(program, weight_file, files)
        rows.append((batch, ours, theirs, error))
        log(f"[cnn] batch {batch}: attnc {ours:.3f} ms, PyTorch {theirs:.3f} ms, |Δ logits| ≤ {error:.1e}")
    return rows


def bench_g2p(bundle, work, device, warmup_steps, timed_steps):
    program = Program(bundle / "seq2seq_bahdanau")
    weight_file = program.init(work / "g2p-init.safetensors", seed=1)
    total = warmup_steps + timed_steps
    out = program.run("train", "--weights", weight_file, "--tsv", bundle / "g2p-train.tsv", "--out",
                      work / "g2p-ckpt.safetensors", "--steps", total, "--batch", g2p.BATCH, "--seed", 1,
                      "--log-every", total, "--checkpoint-every", 10 * total, timeout=240)
    ours = float(re.findall(r"([0-9.]+) tokens/s", out)[-1])
    data = g2p.batches(g2p.read_examples(bundle / "g2p-train.tsv"), total)
    profile(program, weight_file, save_inputs(work / "g2p-batch", **dict(zip(("src", "src_len", "tgt"), data[0]))),
            grad=True)
    model = reference_models().Seq2SeqBahdanau(g2p.V_IN, g2p.V_OUT, g2p.EMBED, g2p.ENCODER, g2p.DECODER, g2p.UNITS)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in read_safetensors(weight_file).items()})
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=g2p.LR)
    sync = synchronized(device)

    def step(batch):
        src, src_len, tgt = (torch.from_numpy(x) for x in batch)
        src, tgt = src.to(device), tgt.to(device)  # the packed encoder keeps the lengths on the host
        optimizer.zero_grad(set_to_none=True)
        state = model.encode(src, src_len)
        previous = torch.cat([torch.full_like(tgt[:, :1], g2p.START), tgt[:, :-1]], 1)
        logits = []
        for t in range(tgt.shape[1]):
            state, scores, _ = model.step_rows(previous[:, t], state, slice(None))
            logits.append(scores)
        loss = torch.nn.functional.cross_entropy(torch.stack(logits, 1).flatten(0, 1), tgt.flatten().long(),
                                                 ignore_index=g2p.PAD, label_smoothing=g2p.SMOOTHING)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), g2p.CLIP)
        optimizer.step()
        sync()

    theirs, _ = g2p.train_rate(step, data[:warmup_steps], data[warmup_steps:])
    return ours, theirs


def gpu_description(device):
    if device != "cuda":
        return "no GPU (dry run on the CPU)"
    driver = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                            capture_output=True, text=True).stdout.strip()
    return f"{driver}; CUDA (PyTorch) {torch.version.cuda}"


FAILURES = {}  # section -> why it measured nothing


SECTIONS = ("check", "sdpa", "bahdanau", "cnn", "g2p")
ONLY = set(SECTIONS)  # --only


def attempt(section, fn, *args):
    """fn(*args), or None with the reason kept for the table when it fails: one broken workload leaves the
    others' numbers (device time is short). A section left out by --only is not run."""
    if section not in ONLY:
        FAILURES[section] = "left out by --only"
        return None
    try:
        return fn(*args)
    except Exception as error:  # noqa: BLE001 - any failure of a program or a peer ends only its section
        FAILURES[section] = f"{type(error).__name__}: {error}".splitlines()[0]
        log(f"[{section}] FAILED: {FAILURES[section]}")
        return None


def report(args, target, commit, checks, peak, sdpa_rows, bahdanau_times, cnn_rows, g2p_rates):
    lines = [f"# attnc on a GPU: {gpu_description(args.device)}", "",
             f"Programs compiled with `--target={target}` at commit `{commit}`; measured on "
             f"{datetime.date.today().isoformat()} by `benchmarks/gpu/run.py`. PyTorch {torch.__version__} on "
             f"the same device ({args.device}). Medians of {RUNS} runs; attnc's inputs and weights stay on the "
             "device across runs and a run ends when its outputs are complete there, as PyTorch's are timed.", ""]
    if peak:
        lines += [f"fp32 FMA peak ({peak[0]}, no tensor cores): {peak[1]:.0f} GFLOP/s.", ""]

    def section(title, section_name, header, rows):
        nonlocal lines
        lines += [f"## {title}", ""]
        if section_name in FAILURES:
            lines += [f"Not measured: {FAILURES[section_name]}", ""]
            return
        lines += [header, "|" + "---|" * (header.replace("\\|", "").count("|") - 1), *rows, ""]

    section("Goldens", "check", "| example | case | largest (\\|Δ\\| − 1e-6) / \\|expected\\| | within 1e-4 |",
            [f"| {n} | {c} | {w:.2e} | {'yes' if ok else '**no**'} |" for n, c, w, ok in checks or []])
    share = (lambda g: f"{100 * g / peak[1]:.0f}%") if peak else (lambda g: "")
    section("SDPA forward (batch 4, 8 heads × 64, fp32)", "sdpa",
            "| shape | attnc ms | attnc GFLOP/s | % of FMA peak | PyTorch ms | PyTorch / attnc | largest \\|Δ\\| |",
            [f"| {label} | {a:.3f} | {g:.0f} | {share(g)} | {p:.3f} | {p / a:.2f}× | {e:.1e} |"
             for label, a, p, g, e in sdpa_rows or []])
    section("Bahdanau step forward+backward (batch 64, source 40, hidden 256, units 256)", "bahdanau",
            "| attnc ms | PyTorch eager ms | eager / attnc | torch.compile ms | compile / attnc | largest gradient \\|Δ\\| / largest \\|gradient\\| |",
            [f"| {a:.3f} | {e:.3f} | {e / a:.2f}× | {c:.3f} | {c / a:.2f}× | {r:.1e} |"
             for a, e, c, r in ([bahdanau_times] if bahdanau_times else [])])
    section(f"CNN with spatial attention, inference on {cnn.SIZE}×{cnn.SIZE} images", "cnn",
            "| batch | attnc ms | PyTorch eager ms | PyTorch / attnc | largest \\|Δ logits\\| |",
            [f"| {b} | {a:.3f} | {p:.3f} | {p / a:.2f}× | {e:.1e} |" for b, a, p, e in cnn_rows or []])
    section("G2P training (examples/seq2seq_bahdanau.attn, batch 64)", "g2p",
            "| attnc tokens/s | PyTorch eager tokens/s | attnc / eager |",
            [f"| {a:.0f} | {p:.0f} | {a / p:.2f}× |" for a, p in ([g2p_rates] if g2p_rates else [])])
    lines += ["Goals (docs/gpu.md): SDPA L=2048 non-causal ≥ 40% of the FMA peak; Bahdanau forward+backward ≥ 3× "
              "PyTorch eager; G2P training ≥ 3× PyTorch eager; every golden within 1e-4."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "build/gpu-bundle")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/RESULTS-gpu.md")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps: a dry run")
    parser.add_argument("--profile", type=Path, help="also write each workload's `profile` (time per kernel) here")
    parser.add_argument("--only", help=f"run only these sections, comma-separated ({', '.join(SECTIONS)})")
    args = parser.parse_args()
    if args.only:
        ONLY.intersection_update(args.only.split(","))
    global PROFILES
    PROFILES = [] if args.profile else None
    bundle = args.bundle.resolve()
    target = (bundle / "target").read_text().strip()
    commit = (bundle / "commit").read_text().strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checks = attempt("check", check_examples, bundle, work)
        peak = fma_peak(bundle) if args.device == "cuda" and "sdpa" in ONLY else None
        sdpa_rows = attempt("sdpa", bench_sdpa, bundle, work, args.device, (128,) if args.quick else (512, 2048))
        bahdanau_times = attempt("bahdanau", bench_bahdanau, bundle, work, args.device)
        cnn_rows = attempt("cnn", bench_cnn, bundle, work, args.device)
        g2p_rates = attempt("g2p", bench_g2p, bundle, work, args.device, *((2, 4) if args.quick else (10, 60)))
    args.out.write_text(report(args, target, commit, checks, peak, sdpa_rows, bahdanau_times, cnn_rows, g2p_rates))
    log(f"wrote {args.out}")
    if args.profile:
        args.profile.write_text("\n".join(PROFILES))
    failed = {name for name, why in FAILURES.items() if why != "left out by --only"}
    return 0 if not failed and all(ok for *_, ok in checks or []) else 1


if __name__ == "__main__":
    sys.exit(main())
