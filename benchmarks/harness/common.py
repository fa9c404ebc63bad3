"""What every workload of the benchmark harness shares: the thread count, the timing rule (median of N runs
after warm-up), safetensors and .npy files for handing the same weights and inputs to attnc and the peers,
the attnc compiler and the programs it makes, numeric agreement checks, and the tables and goals that
run.py writes into RESULTS.md."""
import functools
import importlib.util
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
THREADS = 2  # every framework, every workload
TOLERANCE = 1e-4  # for a peer's results against attnc's


def log(message):
    print(message, flush=True)


#===------------------------------------------------------------------------------------------------------===#
# Timing
#===------------------------------------------------------------------------------------------------------===#


def median_ms(fn, runs, warmup):
    """The median wall time of `fn()` in milliseconds over `runs` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def timed(fn):
    """(result of fn(), seconds it took)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


#===------------------------------------------------------------------------------------------------------===#
# Files: safetensors (the weights) and .npy (the inputs)
#===------------------------------------------------------------------------------------------------------===#

_SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read_safetensors(path):
    """name -> array for every tensor of a safetensors file (u64 header length, JSON header, data)."""
    blob = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + length])
    data = memoryview(blob)[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(entry["shape"]).copy()
    return tensors


def write_safetensors(path, tensors):
    """Writes float32 tensors (name -> array) as a safetensors file."""
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def save_inputs(folder, **arrays):
    """Saves each array as FOLDER/NAME.npy; returns name -> path, the form Program takes inputs in."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, array in arrays.items():
        paths[name] = Path(folder) / f"{name}.npy"
        np.save(paths[name], array)
    return paths


def max_difference(actual, expected):
    """max |actual - expected| / max(max |expected|, 1): one number for a numeric agreement note."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"shape {actual.shape} against {expected.shape}")
    return float(np.max(np.abs(actual - expected)) / max(float(np.max(np.abs(expected))), 1.0))


def check(name, actual, expected):
    """(name, difference) of a peer's result from attnc's; logged, and flagged when beyond TOLERANCE."""
    error = max_difference(actual, expected)
    log(f"    check: {name} {'agrees' if error <= TOLERANCE else 'DISAGREES'} with attnc (max difference {error:.1e})")
    return name, error


def checks_note(checks):
    """One sentence for a table's notes from check() results."""
    bad = [name for name, error in checks if error > TOLERANCE]
    verdict = f"**{', '.join(bad)} DISAGREE**" if bad else "all agree"
    listed = "; ".join(f"{name} {error:.0e}" for name, error in checks)
    return (f"Checked once against attnc's results (max difference relative to the largest value, tolerance "
            f"{TOLERANCE:.0e}): {listed}; {verdict}.")


#===------------------------------------------------------------------------------------------------------===#
# attnc and its programs
#===------------------------------------------------------------------------------------------------------===#


class AttncError(RuntimeError):
    """attnc or a program it made failed; the message is its first line of output."""


def _first_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else "(no output)"


class Program:
    """A program attnc compiled: `info`, `init`, `infer`, `grad`, `bench` and `train` through its command line."""

    def __init__(self, path):
        self.path = Path(path)
        self.compile_seconds = None
        self._bench = {}  # the times measured, so that a later table can reuse one

    def run(self, command, *args, timeout=None):
        proc = subprocess.run([str(self.path), command, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise AttncError(f"{self.path.name} {command}: {_first_line(proc.stderr or proc.stdout)}")
        return proc.stdout

    @staticmethod
    def _inputs(inputs):
        return [arg for name, path in inputs.items() for arg in ("--in", f"{name}={path}")]

    def init(self, out, seed=1):
        self.run("init", "--out", out, "--seed", seed)
        return Path(out)

    def default_weights(self):
        """PROGRAM.safetensors from `init --seed 1`, made on first use. attnc's init is deterministic per
        parameter name, so every program compiled from one model gets the same weights."""
        path = self.path.with_suffix(".safetensors")
        return path if path.exists() else self.init(path)

    def infer(self, weights, inputs, out):
        """Runs the model once; returns output name -> array."""
        self.run("infer", "--weights", weights, *self._inputs(inputs), "--out", out, "--threads", THREADS)
        return {p.stem: np.load(p) for p in Path(out).glob("*.npy")}

    def grad(self, weights, inputs, out):
        """The loss and parameter gradients of the gradient program: {'loss': ..., 'grad.NAME': ...}."""
        self.run("grad", "--weights", weights, *self._inputs(inputs), "--out", out, "--threads", THREADS)
        return {p.stem: np.load(p) for p in Path(out).glob("*.npy")}

    def bench(self, weights, inputs, runs, warmup, grad=False):
        """The median time of one run in milliseconds, as `bench` measures it (once per set of arguments)."""
        key = self._key(weights, inputs, runs, warmup, grad)
        if key not in self._bench:
            self._bench[key] = self._measure(weights, inputs, runs, warmup, grad)
        return self._bench[key]

    def _key(self, weights, inputs, runs, warmup, grad):
        return (str(weights), tuple(sorted((k, str(v)) for k, v in inputs.items())), runs, warmup, grad)

    def _measure(self, weights, inputs, runs, warmup, grad):
        time.sleep(PAUSE)
        out = self.run("bench", "--weights", weights, *self._inputs(inputs), "--runs", runs, "--warmup", warmup,
                       "--threads", THREADS, *(["--grad"] if grad else []))
        match = re.search(r"median ([0-9.eE+-]+) ms", out)
        if not match:
            raise AttncError(f"{self.path.name} bench: no median in its output: {_first_line(out)}")
        return float(match.group(1))


ROUNDS = 5  # of bench_in_turn
PAUSE = 0.5  # seconds before each measurement: the peers' worker threads (OpenMP, ONNX Runtime) stop spinning


def bench_in_turn(programs, weights, inputs, runs, warmup, grad=False, peers=(), rounds=ROUNDS):
    """The median time of one run in milliseconds of each of `programs` on the same weights and inputs, then of
    each of `peers`: each program's `bench` and each peer's timing in turn, `rounds` times over, and per program
    or peer the median of its rounds, so that a slow spell of a shared machine falls on every one alike rather
    than on whichever ran during it (attnc's speed-ups over its peers and hand against tuned schedules are
    measured this way). A peer is a callable that runs it once; a round of it is median_ms(peer, runs, warmup),
    after a pause for the worker threads of whatever ran before to stop spinning. A program listed twice is
    measured once; `Program.bench` with the same arguments returns these figures later."""
    unique = list({id(p): p for p in programs}.values())
    times_of = {id(p): [] for p in unique}
    peer_rounds = [[] for _ in peers]
    for _ in range(rounds):
        for p in unique:
            times_of[id(p)].append(p._measure(weights, inputs, runs, warmup, grad))
        for times, peer in zip(peer_rounds, peers):
            time.sleep(PAUSE)
            times.append(median_ms(peer, runs, warmup))
    medians = {key: statistics.median(times) for key, times in times_of.items()}
    for p in unique:
        p._bench[p._key(weights, inputs, runs, warmup, grad)] = medians[id(p)]
    return [medians[id(p)] for p in programs] + [statistics.median(times) for times in peer_rounds]


@dataclass
class Attnc:
    """The compiler in BUILD/compiler: compiles each (model, flags) once into a fresh folder under `work`, and
    keeps every cold compile time it measured (compile_seconds) for the compile-time table."""
    build: Path
    work: Path
    tuning_db: Path = None  # the tuning database tuned programs read (None: attnc's default one)
    programs: dict = field(default_factory=dict)
    compile_seconds: dict = field(default_factory=dict)
    help: str = None

    @property
    def binary(self):
        return self.build / "compiler" / "attnc"

    def compile_fresh(self, model, flags=(), timeout=None):
        """Compiles `model` into a new folder (nothing cached from an earlier compile); returns the program,
        whose compile_seconds says how long it took. Raises AttncError with attnc's first line of output when
        it fails, or when it runs past `timeout` seconds."""
        self.work.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=Path(model).stem + ".", dir=self.work))
        out = folder / Path(model).stem
        start = time.perf_counter()
        # Hand schedules unless the flags name a tuning database: none a user made on this machine applies.
        hand = ("--tuning-db=none",) if self.accepts("--tuning-db") and "--tuning-db" not in flags else ()
        try:
            proc = subprocess.run([str(self.binary), *hand, *flags, str(model), "-o", str(out)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            shutil.rmtree(folder, ignore_errors=True)
            raise AttncError(f"compile timed out after {timeout:g} s") from None
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise AttncError(_first_line(proc.stderr or proc.stdout).replace(f"{REPO}/", ""))
        if not flags:
            self.compile_seconds.setdefault(Path(model).resolve(), []).append(seconds)
        program = Program(out)
        program.compile_seconds = seconds
        return program

    def compile(self, model, flags=(), timeout=None):
        """The program for `model` compiled with `flags`, compiled on first use. A compile that failed fails
        again without running attnc."""
        key = (Path(model).resolve(), tuple(flags))
        if key not in self.programs:
            log(f"  compiling {Path(model).name} {' '.join(flags)}".rstrip())
            try:
                self.programs[key] = self.compile_fresh(model, flags, timeout)
            except AttncError as error:
                self.programs[key] = error
        if isinstance(self.programs[key], AttncError):
            raise self.programs[key]
        return self.programs[key]

    def database(self):
        """The tuning database tuned programs read: --tuning-db of run.py, else attnc's default location."""
        if self.tuning_db:
            return self.tuning_db
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(cache) / "attnc" / "tuning.jsonl"

    def has_database(self):
        """Whether attnc takes --tuning-db and the database exists (make tune makes it)."""
        return self.accepts("--tuning-db") and self.database().exists()

    def tuned_flags(self, estimates, flags=()):
        """The flags of a program compiled with the tuning database at `estimates` ({dim: size}), or None
        without a database."""
        if not self.has_database():
            return None
        sizes = ",".join(f"{dim}={size}" for dim, size in estimates.items())
        return (*flags, "--tuning-db", str(self.database()), "--estimate", sizes)

    def compile_tuned(self, model, estimates, flags=()):
        """The program compiled with the tuning database (see tuned_flags), or None without one."""
        tuned = self.tuned_flags(estimates, flags)
        return None if tuned is None else self.compile(model, tuned)

    def tune(self, model, estimates, budget, flags=(), forward=False):
        """Runs `attnc tune` on `model` at `estimates` for `budget` seconds into the tuning database (with
        `forward`, the inference kernels only), its progress shown as it goes; raises AttncError if it fails."""
        sizes = ",".join(f"{dim}={size}" for dim, size in estimates.items())
        command = [str(self.binary), "tune", *flags, *(["--forward"] if forward else []), str(model),
                   "--estimate", sizes, "--budget", str(budget), "--tuning-db", str(self.database())]
        log(f"  {' '.join(command[1:])}")
        if subprocess.run(command).returncode != 0:
            raise AttncError(f"attnc tune failed on {Path(model).name}")

    def accepts(self, flag):
        """Whether `attnc --help` lists `flag`."""
        if self.help is None:
            self.help = subprocess.run([str(self.binary), "--help"], capture_output=True, text=True).stdout
        return re.search(rf"(^|\s){re.escape(flag)}[\s=<]", self.help, re.M) is not None

    def version(self):
        proc = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True)
        return _first_line(proc.stdout) if proc.returncode == 0 else "unknown"


#===------------------------------------------------------------------------------------------------------===#
# Peers' set-up
#===------------------------------------------------------------------------------------------------------===#

_tf = None


def tensorflow():
    """TensorFlow, imported on first use (slow, and it logs a lot) and set to THREADS intra-op threads and one
    inter-op thread before it runs anything."""
    global _tf
    if _tf is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with _quiet_stderr():
            import tensorflow as tf
            import keras  # noqa: F401  (its import logs too)
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        _tf = tf
    return _tf


class _quiet_stderr:
    """Sends file descriptor 2 to a temporary file, and shows what was written only if an exception escapes."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.file = tempfile.TemporaryFile()
        os.dup2(self.file.fileno(), 2)

    def __exit__(self, kind, value, traceback):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        if kind is not None:
            self.file.seek(0)
            sys.stderr.write(self.file.read().decode(errors="replace"))
        self.file.close()
        return False


def set_torch_threads():
    """THREADS intra-op threads and one inter-op thread for PyTorch; before it runs anything."""
    import logging
    import torch
    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime is found"


def ort_session(model_bytes):
    """An ONNX Runtime CPU session with THREADS intra-op threads, one inter-op thread, sequential execution."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


@functools.cache
def reference_models():
    """test/Numeric/reference_models.py (the PyTorch modules whose weight keys are attnc's), imported by path."""
    spec = importlib.util.spec_from_file_location("reference_models", REPO / "test/Numeric/reference_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#===------------------------------------------------------------------------------------------------------===#
# Results: tables and goals
#===------------------------------------------------------------------------------------------------------===#


@dataclass
class Table:
    title: str
    header: list
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def markdown(self, level=3):
        lines = [f"{'#' * level} {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---" for _ in self.header) + "|"]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


@dataclass
class Goal:
    """An acceptance goal: `measured` is a number (None when it could not be measured) compared with `target`."""
    text: str
    measured: float = None
    target: float = 0.0
    unit: str = "×"
    at_most: bool = False  # the goal is measured <= target (compile time) rather than >=

    @property
    def verdict(self):
        if self.measured is None:
            return "n/a"
        ok = self.measured <= self.target if self.at_most else self.measured >= self.target
        return "pass" if ok else "miss"

    def row(self):
        value = "n/a" if self.measured is None else f"{self.measured:.2f}{self.unit}"
        return [self.text, value, f"{'≤' if self.at_most else '≥'} {self.target:g}{self.unit}", self.verdict]


@dataclass
class Result:
    tables: list = field(default_factory=list)
    goals: list = field(default_factory=list)


def fmt_ms(value):
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value:.3f} ms" if value < 1 else f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def speedup(peer_ms, attnc_ms):
    """peer / attnc: how many times faster attnc is (None when either is missing)."""
    if not isinstance(peer_ms, (int, float)) or not isinstance(attnc_ms, (int, float)):
        return None
    return peer_ms / attnc_ms


def fmt_ratio(value):
    return "n/a" if value is None else f"{value:.2f}×"


def hand_and_tuned(ctx, model, estimates, flags=()):
    """The program of `model` with attnc's hand schedules, and the one compiled with the tuning database at
    `estimates` sizes (the hand one again when there is no database)."""
    hand = ctx.attnc.compile(model, flags)
    return hand, ctx.attnc.compile_tuned(model, estimates, flags) or hand


def tuned_note(ctx):
    """What `attnc` and `attnc hand` stand for in the tables."""
    if not ctx.attnc.has_database():
        return ("attnc: the hand schedules; there is no tuning database (`make tune` makes one), so there is no "
                "tuned program.")
    return (f"attnc: compiled with the tuning database `{ctx.attnc.database()}` (`make tune` on this machine) "
            "with --estimate the workload's sizes; attnc hand: the same model with --tuning-db=none.")


@dataclass
class Case:
    """One attnc measurement that the schedules table repeats with each autoscheduler."""
    label: str
    model: Path
    inputs: dict
    runs: int
    warmup: int
    output: str  # the output compared with the hand schedule's
    estimates: dict  # dimension -> the size the autoschedulers plan for


@dataclass
class Context:
    """What every workload reads: the compiler, a scratch folder, the run counts and the machine's peak."""
    attnc: Attnc
    work: Path
    runs: int
    quick: bool
    peak_gflops: float = None
    threads: int = THREADS
    compile_timeout: float = 300  # seconds an autoscheduled compile may take

    @property
    def fast_runs(self):
        """Runs for workloads of a few milliseconds or less, whose single runs scatter more."""
        return self.runs * 10
