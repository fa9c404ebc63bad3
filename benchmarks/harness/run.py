"""The benchmark harness behind `make bench`: runs each workload with attnc and with its peers (PyTorch eager
and torch.compile, ONNX Runtime, TensorFlow/Keras) on identical shapes, weights and thread counts, and
writes RESULTS.md: the machine, the commit, the date, the library versions, a table per workload and the
acceptance goals with pass or miss, followed by the latest run on each other CPU the file was written on.

    python run.py --build build --out benchmarks/RESULTS.md [--runs 5] [--only sdpa,bahdanau,...] [--quick]
    python run.py --build build --tune     # `make tune`: attnc tune at each workload's sizes, nothing measured

Run it with the interpreter of .deps/bench-venv (scripts/bench-deps.sh installs it)."""
import argparse
import concurrent.futures
import datetime
import importlib.metadata
import multiprocessing
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bahdanau  # noqa: E402
import cnn  # noqa: E402
import compile_time  # noqa: E402
import distributed  # noqa: E402
import g2p  # noqa: E402
import schedules  # noqa: E402
import sdpa  # noqa: E402
from common import REPO, THREADS, Attnc, Context, Table, log, set_torch_threads  # noqa: E402

# In the order they run and appear; compile times come after the workloads whose compiles they reuse.
WORKLOADS = {"sdpa": sdpa, "bahdanau": bahdanau, "g2p": g2p, "cnn": cnn, "compile": compile_time,
             "schedules": schedules, "distributed": distributed}
LIBRARIES = [("PyTorch", "torch"), ("ONNX Runtime", "onnxruntime"), ("ONNX", "onnx"), ("onnxscript", "onnxscript"),
             ("TensorFlow", "tensorflow-cpu"), ("Keras", "keras"), ("NumPy", "numpy")]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build", help="attnc's build folder (default: build)")
    parser.add_argument("--out", default=str(REPO / "benchmarks/RESULTS.md"), help="the results file to write")
    parser.add_argument("--runs", type=int, default=5,
                        help="timed runs per measurement, at least 5 (default 5; ten times as many for the "
                             "workloads of a few milliseconds)")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads to run (default: all of {','.join(WORKLOADS)})")
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps: a smoke test")
    parser.add_argument("--compile-timeout", type=float, default=300,
                        help="seconds an autoscheduled compile may take (default 300)")
    parser.add_argument("--work", help="scratch folder: each run makes its programs, weights and inputs in a new "
                                       "folder inside it (default: BUILD/bench)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (by default it is removed)")
    parser.add_argument("--tuning-db", help="the tuning database of the tuned programs (default: attnc's, "
                                            "~/.cache/attnc/tuning.jsonl)")
    parser.add_argument("--tune", action="store_true",
                        help="instead of measuring: run `attnc tune` on each workload's models at its sizes, "
                             "into the tuning database (what `make tune` does; at most 13 minutes)")
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.runs < 5 and not args.quick:
        parser.error("--runs must be at least 5 (the results report medians of 5 or more runs)")
    return args


#===------------------------------------------------------------------------------------------------------===#
# The machine and the software
#===------------------------------------------------------------------------------------------------------===#


def cpu_description():
    model, flags, numbers = platform.processor() or "unknown CPU", set(), {}
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("cpu family", "model"):
                numbers.setdefault(key.strip(), value.strip())
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    if numbers:  # virtual machines often name the CPU only by its brand
        model += f" (family {numbers.get('cpu family', '?')}, model {numbers.get('model', '?')})"
    vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {vectors}, caches {cache_sizes()}"


def cache_sizes():
    """The data caches of CPU 0 from sysfs, as 'L1d 32K, L2 1024K, L3 32768K'."""
    sizes = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
        except OSError:
            continue
        if kind != "Instruction":
            sizes.append(f"L{level}{'d' if kind == 'Data' else ''} {size}")
    return ", ".join(sizes) or "unknown"


def tune(ctx, only):
    """`make tune`: attnc tune on every workload's models at the sizes the workload runs them."""
    for name in only:
        for model, estimates, flags, budget, forward in getattr(WORKLOADS[name], "tune_cases", lambda ctx: [])(ctx):
            log(f"[tune] {name}: {Path(model).name}")
            ctx.attnc.tune(model, estimates, budget, flags, forward)
    log(f"tuned into {ctx.attnc.database()}")


def fp32_peak(work):
    """GFLOP/s of benchmarks/harness/fma_peak.c on THREADS threads (built into `work` on first use; a run
    takes a fraction of a second), or None if it does not build or run."""
    binary = work / "fma_peak"
    source = Path(__file__).resolve().parent / "fma_peak.c"
    try:
        if not binary.exists():
            subprocess.run(["gcc", "-O2", "-march=native", "-pthread", str(source), "-o", str(binary)], check=True,
                           capture_output=True, text=True)
        out = subprocess.run([str(binary), str(THREADS)], check=True, capture_output=True, text=True).stdout
        return float(out.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError) as error:
        log(f"fma_peak: {getattr(error, 'stderr', None) or error}")
        return None


class Speed:
    """The machine's fp32 peak between workloads. A virtual machine's host can hold a core back for minutes
    (a spent burst budget, a busy neighbour): then THREADS threads run no faster than one, and every parallel
    time is wrong. Before each workload the harness waits until the peak is back within TOLERANCE of the best
    it has seen, and a workload after which the peak had dropped says so in its notes."""
    TOLERANCE = 0.9
    WAIT = 240  # seconds, at most, before a workload

    def __init__(self, work, peak):
        self.work, self.best = work, peak

    def measure(self):
        peak = fp32_peak(self.work)
        if peak and (not self.best or peak > self.best):
            self.best = peak
        return peak

    def slow(self, peak):
        return peak is not None and self.best is not None and peak < self.TOLERANCE * self.best

    def settle(self, name):
        """Waits until the machine runs at full speed again (or WAIT seconds passed)."""
        start = time.monotonic()
        peak = self.measure()
        if self.slow(peak):
            log(f"[{name}] the machine runs at {peak:.0f} of {self.best:.0f} GFLOP/s: waiting for full speed")
        while self.slow(peak) and time.monotonic() - start < self.WAIT:
            time.sleep(10)
            peak = self.measure()
        if self.slow(peak):
            log(f"[{name}] still at {peak:.0f} GFLOP/s after {self.WAIT} s: measuring anyway")

    def note(self):
        """A sentence for a workload's notes when the machine had slowed down by its end, else None."""
        peak = self.measure()
        if not self.slow(peak):
            return None
        return (f"The machine had slowed down by the end of this workload: fp32 peak {peak:.0f} of "
                f"{self.best:.0f} GFLOP/s, so some of its times are too slow.")


class OtherLoad:
    """How much of the machine's CPU time other processes take while the harness runs: /proc/stat's busy time
    less this process's and its (waited-for) children's, over the wall time and the cores. On two cores, one
    busy neighbour stalls every parallel region of a peer's thread pool, so this says whether to trust a run."""
    BUSY = 0.05  # above this share the times are noisy

    def __init__(self):
        self.start = self.sample()

    @staticmethod
    def sample():
        try:
            ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        except (OSError, ValueError):
            return None
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait
        own = sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for field in ("ru_utime", "ru_stime"))
        return time.monotonic(), busy, own

    def share(self):
        """The share since this object was made, or None where /proc/stat cannot be read."""
        end = self.sample()
        if self.start is None or end is None:
            return None
        wall = end[0] - self.start[0]
        return max(0.0, (end[1] - self.start[1]) - (end[2] - self.start[2])) / (wall * os.cpu_count())

    def note(self, what):
        """A sentence for RESULTS.md when other processes were busy during `what`, else None."""
        share = self.share()
        if share is None or share <= self.BUSY:
            return None
        log(f"warning: other processes took {share:.0%} of the CPU time during {what}; its times are noisy")
        return f"**The machine was busy**: other processes took {share:.0%} of the CPU time during {what}."


def git(*args):
    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def commit_description():
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changes = git("status", "--porcelain", "--", ".", ":!benchmarks/RESULTS.md")  # the file this run rewrites
    if changes:
        return f"{commit}, with uncommitted changes ({len(changes.splitlines())} files modified or untracked)"
    return commit if changes is not None else f"{commit} (tree state unknown)"


def versions(attnc):
    found = [attnc.version()]
    for label, distribution in LIBRARIES:
        try:
            found.append(f"{label} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{label} not installed")
    return ", ".join(found + [f"Python {platform.python_version()}"])


#===------------------------------------------------------------------------------------------------------===#
# RESULTS.md
#===------------------------------------------------------------------------------------------------------===#


TITLE = "# Benchmark results\n\n"
OTHER_CPUS = "## Other CPUs"
OTHER_CPUS_INTRO = ("The latest run on each other CPU this file has been written on, as that run wrote it (headings "
                    "two levels down), so that every CPU measured keeps its numbers when a run on another rewrites "
                    "the file.")


def machine_key(run_text):
    """The machine a run was measured on: its `- Machine:` line up to the measured peak, or None."""
    match = re.search(r"^- Machine: (.*?)(?:; fp32 peak.*)?$", run_text, re.MULTILINE)
    return match.group(1) if match else None


def other_cpu_runs(path, machine):
    """{machine: run text with headings two levels down} for every CPU but `machine` that the results file
    at `path` holds: its own run and those it carried."""
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    latest, _, carried = text.removeprefix(TITLE).partition("\n" + OTHER_CPUS + "\n")
    runs = {}
    for section in re.split(r"^### ", carried, flags=re.MULTILINE)[1:]:
        name, _, body = section.partition("\n")
        runs[name.strip()] = body.strip("\n")
    key = machine_key(latest)
    if key:
        runs[key] = re.sub(r"^#", "###", latest.strip("\n"), flags=re.MULTILINE)
    runs.pop(machine, None)
    return runs


def write_results(path, header, results, failures, machine):
    goals = [goal for result in results.values() for goal in result.goals]
    summary = Table("Acceptance goals", ["goal", "measured", "target", "result"], [goal.row() for goal in goals])
    passed = sum(goal.verdict == "pass" for goal in goals)
    summary.notes.append(f"{passed} of {len(goals)} goals pass.")
    summary.notes += [f"Workload `{name}` failed: {error}" for name, error in failures.items()]
    others = other_cpu_runs(path, machine)
    text = TITLE + header + "\n" + summary.markdown(level=2) + "\n## Workloads\n\n"
    text += "\n".join(table.markdown() for result in results.values() for table in result.tables)
    if others:
        text += f"\n{OTHER_CPUS}\n\n{OTHER_CPUS_INTRO}\n"
        text += "".join(f"\n### {name}\n\n{body}\n" for name, body in sorted(others.items()))
    Path(path).write_text(text)


# Workloads that load peers run in a process of their own: a framework's worker threads outlive its last
# call (TensorFlow's and ONNX Runtime's pools, torch.compile's machinery) and would take cores from the
# next workload's attnc runs.
ISOLATED = ("sdpa", "bahdanau", "g2p", "cnn")


def _run_workload(name, ctx):
    set_torch_threads()
    result = WORKLOADS[name].run(ctx)
    return result, ctx.attnc.compile_seconds


def run_isolated(name, ctx):
    """Runs workload `name` in a fresh process; its compile times join ctx's (the compile-time table reads
    them)."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result, compile_seconds = pool.submit(_run_workload, name, ctx).result()
    for model, seconds in compile_seconds.items():
        known = ctx.attnc.compile_seconds.setdefault(model, [])
        known.extend(s for s in seconds if s not in known)
    return result


def main():
    args = parse_args()
    started = time.perf_counter()
    build = Path(args.build).resolve()
    scratch = Path(args.work).resolve() if args.work else build / "bench"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{datetime.datetime.now():%Y%m%d-%H%M%S}.", dir=scratch))
    set_torch_threads()
    # torch.compile compiles cold (a fresh cache), in this process (no worker pool to count as other load)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="torchinductor.", dir=work)
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"
    attnc = Attnc(build, work, Path(args.tuning_db).resolve() if args.tuning_db else None)
    if not attnc.binary.exists():
        sys.exit(f"run.py: no attnc at {attnc.binary}; build it first (make build)")
    if args.tune:
        tune(Context(attnc=attnc, work=work, runs=args.runs, quick=args.quick), args.only)
        shutil.rmtree(work, ignore_errors=True)
        return 0

    others = OtherLoad()
    date = datetime.datetime.now().astimezone()
    machine, commit, software = cpu_description(), commit_description(), versions(attnc)  # what is measured
    log(f"{machine}; commit {commit}\n{software}")
    log(f"measuring the fp32 peak ({THREADS} threads)")
    peak = fp32_peak(work)
    log(f"    {peak} GFLOP/s")
    ctx = Context(attnc=attnc, work=work, runs=args.runs, quick=args.quick, peak_gflops=peak,
                  compile_timeout=args.compile_timeout)
    results, failures = {}, {}
    speed = Speed(work, peak)
    for name, module in WORKLOADS.items():
        if name not in args.only:
            continue
        try:
            speed.settle(name)
            ctx.peak_gflops = speed.best  # full speed: a measurement in a slow spell would understate it
            during = OtherLoad()
            if name in ISOLATED:
                results[name] = run_isolated(name, ctx)
            else:
                results[name] = module.run(ctx)
            for note in (during.note("this workload"), speed.note()):
                if note:
                    results[name].tables[0].notes.insert(0, note)
        except Exception as error:  # one broken workload should not lose the others' results
            traceback.print_exc()
            failures[name] = f"{type(error).__name__}: {error}"
            log(f"[{name}] FAILED: {failures[name]}")

    minutes = (time.perf_counter() - started) / 60
    header = "\n".join([
        f"Written by `make bench` (`benchmarks/harness/run.py{' --quick' if args.quick else ''}`) on "
        f"{date:%Y-%m-%d %H:%M %Z}; the run took {minutes:.1f} minutes.",
        "",
        f"- Machine: {machine}; fp32 peak on {THREADS} threads "
        + (f"{speed.best:.0f} GFLOP/s, the best of its measurements before each workload" if speed.best
           else "not measured") + " (benchmarks/harness/fma_peak.c).",
        f"- Commit: {commit}.",
        f"- Software: {software}.",
        f"- Threads: {THREADS} everywhere: attnc `--threads {THREADS}`, torch.set_num_threads({THREADS}), ONNX "
        f"Runtime intra-op {THREADS} / inter-op 1, TensorFlow intra-op {THREADS} / inter-op 1.",
        "- Times are medians after warm-up runs; a speed-up is the peer's time over attnc's (above 1: attnc is "
        "faster).",
        f"- {others.note('the run') or 'Other processes took under 5% of the CPU time during the run.'}",
        "",
    ])
    write_results(args.out, header, results, failures, machine)
    log(f"wrote {args.out} ({minutes:.1f} minutes)")
    if args.keep:
        log(f"programs, weights and inputs are in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
