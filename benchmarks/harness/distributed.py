"""Workload 7: data-parallel training over MPI on this machine (docs/distributed.md): the G2P example trained
by one process on THREADS threads against THREADS ranks of one thread each (`attnc --distributed=mpi`,
`mpirun`), same global batch, seed and initial weights, in target tokens per second, with the time rank 0
waited in sums per step. With one bucket for all gradients (summed after the backward pass) beside the
default buckets (summed as the backward pass finishes them), to show what the overlap gains."""
import re
import shutil
import statistics
import subprocess

from common import REPO, THREADS, AttncError, Result, Table, log

MODEL = REPO / "examples/seq2seq_bahdanau.attn"
DATA = REPO / "examples/data/g2p/train.tsv"
BATCH = 64
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--mca", "btl", "self,vader"]


def train(ctx, command, weights, steps, threads, *flags):
    """(tokens/s, ms per step in sums or None) from the last progress line of `train`."""
    out = ctx.work / "dp-ckpt.safetensors"
    args = [*command, "train", "--weights", str(weights), "--tsv", str(DATA), "--out", str(out), "--steps",
            str(steps), "--batch", str(BATCH), "--seed", "1", "--log-every", str(steps), "--checkpoint-every",
            str(10 * steps), "--threads", str(threads), *flags]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AttncError(f"{' '.join(args[:3])}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    rate = re.findall(r"([0-9.]+) tokens/s", proc.stdout)
    sums = re.findall(r"sums ([0-9.]+) ms/step", proc.stdout)
    if not rate:
        raise AttncError(f"train printed no tokens/s: {proc.stdout.strip()[-200:]}")
    return float(rate[-1]), float(sums[-1]) if sums else None


def run(ctx):
    table = Table(f"7. Data-parallel G2P training over MPI (examples/seq2seq_bahdanau.attn, batch {BATCH})",
                  ["processes × threads", "target tokens/s", "speed-up", "rank 0 in sums per step"])
    if not shutil.which("mpirun"):
        table.notes.append("Not measured: no mpirun (scripts/bootstrap.sh installs Open MPI).")
        return Result([table], [])
    program = ctx.attnc.compile(MODEL)
    ranked = ctx.attnc.compile(MODEL, ("--distributed=mpi",))
    weights = program.init(ctx.work / "dp-init.safetensors", seed=1)
    steps = 60 if ctx.quick else 300
    runs = {
        f"1 × {THREADS}": ([str(program.path)], THREADS, ()),
        f"{THREADS} × 1": ([*MPIRUN, "-np", str(THREADS), str(ranked.path)], 1, ()),
        f"{THREADS} × 1, one bucket": ([*MPIRUN, "-np", str(THREADS), str(ranked.path)], 1,
                                       ("--bucket-kib", "65536")),
    }
    samples = {name: [] for name in runs}
    for round in range(3):  # in turn, so that a slow spell of a shared machine does not fall on one only
        for name, (command, threads, flags) in runs.items():
            log(f"[distributed] {name} (round {round + 1})")
            samples[name].append(train(ctx, command, weights, steps, threads, *flags))
    base = statistics.median(rate for rate, _ in samples[f"1 × {THREADS}"])
    for name, values in samples.items():
        rate = statistics.median(r for r, _ in values)
        sums = [s for _, s in values if s is not None]
        table.rows.append([name, f"{rate:.0f}", f"{rate / base:.2f}×",
                           f"{min(sums):.1f}–{max(sums):.1f} ms" if sums else ""])
    table.notes += [
        f"`train --steps {steps} --batch {BATCH} --seed 1` from the same initial weights, the rate of the last "
        "progress line; the median of 3 runs each, the three kinds in turn. Hand schedules (no tuning database). "
        f"Ranks: `mpirun -np {THREADS}` of the program built with `attnc --distributed=mpi`, each rank on its part "
        "of every batch of 64 (docs/distributed.md); speed-up: over the one-process run.",
        "Rank 0 in sums: the time it waited at sums of batch statistics, token counts and gradients per step "
        "(communication and waiting for the other rank), the range over the 3 runs. One bucket: every "
        "gradient summed after the backward pass (`--bucket-kib 65536`) instead of 256 KiB buckets summed as "
        "the backward pass finishes them.",
    ]
    return Result([table], [])
