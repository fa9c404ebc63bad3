"""Workload 6: attnc's hand schedules and its tuned ones (the tuning database `make tune` made) against Halide's
autoschedulers, compiled from the same source (`attnc --autoschedule NAME`, with `--estimate` sizes where attnc
takes them), on the forward passes of workloads 1 and 2. Each program's output is checked against the
hand-scheduled one's."""
import bahdanau
import sdpa
from common import TOLERANCE, AttncError, Goal, Result, Table, fmt_ms, log, max_difference

AUTOSCHEDULERS = ("adams2019", "li2018", "mullapudi2016")
SLOW_MS = 5000  # a program slower than this is timed once


def bench(program, case):
    """Milliseconds: one probe run first, so that a very slow schedule does not take minutes."""
    weights = program.default_weights()
    probe = program.bench(weights, case.inputs, runs=1, warmup=0)
    return probe if probe > SLOW_MS else program.bench(weights, case.inputs, runs=case.runs, warmup=case.warmup)


def output(ctx, program, case, tag):
    folder = ctx.work / f"schedule-out-{tag}"
    return program.infer(program.default_weights(), case.inputs, folder)[case.output]


def autoschedule_flags(ctx, name, case):
    flags = ["--autoschedule", name]
    if ctx.attnc.accepts("--estimate"):
        flags += ["--estimate", ",".join(f"{dim}={size}" for dim, size in case.estimates.items())]
    return tuple(flags)


def run(ctx):
    table = Table("6. Hand and tuned schedules against Halide's autoschedulers (forward)",
                  ["workload", "hand", "tuned", *AUTOSCHEDULERS])
    goals = []
    problems, compiled = {}, {}  # keyed by (model, scheduler), so that each is said once
    cases = sdpa.schedule_cases(ctx) + bahdanau.schedule_cases(ctx)
    for number, case in enumerate(cases):
        log(f"[schedules] {case.label}")
        hand_program = ctx.attnc.compile(case.model)
        hand = bench(hand_program, case)
        expected = output(ctx, hand_program, case, f"{number}-hand")
        row = [case.label, fmt_ms(hand)]
        tuned_program = ctx.attnc.compile_tuned(case.model, case.estimates)
        tuned = None
        if tuned_program is None:
            row.append("n/a (no database)")
        else:
            tuned = bench(tuned_program, case)
            error = max_difference(output(ctx, tuned_program, case, f"{number}-tuned"), expected)
            if error > TOLERANCE:
                problems[(case.model.name, "tuned")] = (f"**{case.label}, tuned: the output DISAGREES with the "
                                                        f"hand schedule's** ({error:.1e})")
            row.append(f"{fmt_ms(tuned)} ({tuned / hand:.2f}×)")
            log(f"    tuned: {row[-1]}")
        best_autoscheduled = None
        for name in AUTOSCHEDULERS:
            flags = autoschedule_flags(ctx, name, case)
            key = (case.model.name, name)
            try:
                program = ctx.attnc.compile(case.model, flags, timeout=ctx.compile_timeout)
            except AttncError as error:
                log(f"    {name}: {error}")
                if "Unknown command line argument '--autoschedule'" in str(error):
                    row.append("n/a (flag missing)")
                else:
                    row.append("n/a (compile failed)")
                    problems.setdefault(key, f"`{' '.join(key)}` does not compile: {error}")
                continue
            compiled[key] = f"{' '.join(key)} {program.compile_seconds:.0f} s"
            try:
                ms = bench(program, case)
                error = max_difference(output(ctx, program, case, f"{number}-{name}"), expected)
            except AttncError as failure:
                log(f"    {name}: {failure}")
                row.append("n/a (run failed)")
                problems.setdefault(key, f"{case.label}, {name}: {failure}")
                continue
            if error > TOLERANCE:
                problems[key] = (f"**{case.label}, {name}: the output DISAGREES with the hand schedule's** "
                                 f"({error:.1e})")
            cell = f"{fmt_ms(ms)} ({ms / hand:.2f}×)" + (" (1 run)" if ms > SLOW_MS else "")
            row.append(cell)
            log(f"    {name}: {cell}")
            best_autoscheduled = ms if best_autoscheduled is None else min(best_autoscheduled, ms)
        table.rows.append(row)
        goals.append(Goal(f"{case.label}: tuned ≥ 1.0× the best autoscheduler",
                          best_autoscheduled / tuned if tuned and best_autoscheduled else None, 1.0))
    if ctx.attnc.accepts("--estimate"):
        sizes = {case.model.name: ", ".join(f"{d}={n}" for d, n in case.estimates.items()) for case in cases}
        planned = "planned for " + "; ".join(f"{model} {dims}" for model, dims in sizes.items())
    else:
        planned = "planned for attnc's default sizes (it takes no --estimate)"
    table.notes += [
        "Each cell: the median time of the program compiled with `--autoschedule NAME` (tuned: with the tuning "
        "database and `--estimate` the workload's sizes), and in parentheses its "
        "time over the hand schedule's (above 1: the hand schedule is faster); runs and warm-ups as in the "
        f"workload's own table, except that a program slower than {SLOW_MS / 1000:g} s is timed once. One "
        f"autoscheduled program per model, {planned}; a compile may take "
        f"{ctx.compile_timeout:g} s at most.",
        f"Every other program's output is compared with the hand schedule's (tolerance {TOLERANCE:.0e}).",
    ] + ([f"Autoscheduled compile times: {'; '.join(compiled.values())}."] if compiled else [])
    table.notes += list(problems.values())
    return Result([table], goals)
