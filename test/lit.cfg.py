# lit configuration for every attnc suite: Frontend (.attn through attnc), Dialect/Transforms (.mlir through
# attn-opt), Conversion (Halide statements), Numeric and Integration (compiled programs against goldens).
import ctypes.util
import os
import shutil

import lit.formats

config.name = "attnc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".attn", ".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["Unit", "Fuzz", "Toolchain", "tools", "Inputs", "goldens", "models", "check_case.sh", "reference_models.py", "gen_goldens.py", "__pycache__", "CMakeLists.txt", "lit.cfg.py"]

path = [
    os.path.join(config.attn_obj_root, "compiler"),
    os.path.join(config.attn_obj_root, "test", "tools"),
    config.llvm_tools_dir,
    config.environment.get("PATH", os.environ.get("PATH", "")),
]
config.environment["PATH"] = os.pathsep.join(path)
# attnc reads the default tuning database under the cache directory: tests see none that a user made.
config.environment["XDG_CACHE_HOME"] = os.path.join(config.attn_obj_root, "test", "cache")
# A sanitizer build (make check-sanitize): AddressSanitizer reserves terabytes of address space, so tests
# that cap a program's memory with `ulimit -v` run it without the cap there.
if config.attn_sanitize:
    config.available_features.add("asan")
# Data-parallel training: attnc built with Open MPI, and mpirun to start ranks (oversubscribed: more ranks
# than cores is fine; as root, Open MPI wants to be told; shared memory between the ranks, no network).
if config.attn_mpi and shutil.which("mpirun") and not config.attn_sanitize:
    config.available_features.add("mpi")
# `--param attn_target=TARGET` compiles every program of the suites for TARGET (host-opencl: the GPU
# schedules, run by PoCL on this CPU): feature `gpu` for a GPU target; tests that choose their own target or
# need the CPU's say UNSUPPORTED: gpu.
attn_target = lit_config.params.get("attn_target", "")
if attn_target:
    config.test_exec_root = os.path.join(config.attn_obj_root, "test-" + attn_target)
    if any(word in attn_target.split("-") for word in ("cuda", "opencl", "metal", "vulkan")):
        config.available_features.add("gpu")
    config.substitutions.insert(0, (r"(?<![\w./%-])attnc (?!--target)(?!tune)", "attnc --target=" + attn_target + " "))
# Where no CUDA driver library is installed, a CUDA program's advice when it finds none is checked.
if ctypes.util.find_library("cuda") is None:
    config.available_features.add("no-cuda-driver")
# CUDA's assembler checks the PTX of CUDA targets (test/GPU) without a GPU.
ptxas = shutil.which("ptxas") or ("/usr/local/cuda/bin/ptxas" if os.access("/usr/local/cuda/bin/ptxas", os.X_OK) else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
else:
    lit_config.note("ptxas not found (no CUDA toolkit in PATH or /usr/local/cuda): the PTX checks are skipped")
config.substitutions.append(("%mpirun", "mpirun --oversubscribe --allow-run-as-root --mca btl self,vader -np"))
config.substitutions.append(("%examples", os.path.join(config.attn_src_root, "examples")))
config.substitutions.append(("%goldens", os.path.join(config.attn_src_root, "test", "Numeric", "goldens")))
config.substitutions.append(("%models", os.path.join(config.attn_src_root, "test", "Numeric", "models")))
