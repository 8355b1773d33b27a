"""The memory allocator of CPU runs: mimalloc, preloaded, unless switched off.

XLA:CPU allocates a step's large temporaries afresh on every run, and glibc maps and
unmaps each of them, so a step pays for its buffers in page faults and in the kernel's
zeroing of fresh pages (~946,000 faults per Inception-v3 step; BENCHMARKS.md, "The
allocator"). mimalloc, told to keep freed memory and to serve even the largest buffers
from its arenas (`SETTINGS`), reuses them and the faults go. The library comes from the
`cmeel-mimalloc` wheel (a dependency), so no system package is needed.

An allocator must be in place before the process starts, so the entry points
(`launch.run`, `benchmarks.step`, `benchmarks.keras_step`) call `reexec()` before they
import jax: it re-executes the same command with `LD_PRELOAD` set. `make` does the same
for its commands through `python -m launch.malloc`, which prints the environment.

Never on a GPU or TPU (there XLA's device allocator owns the big buffers): the preload
is skipped when a CUDA or TPU plugin of jax is installed, unless `JAX_PLATFORMS=cpu`.
Switch it off with `--malloc=system` on the command line or `ZOO_MALLOC=system` in the
environment. Nothing depends on it: the tests pass either way.
"""
import importlib.util
import os
import pathlib
import sys
import sysconfig

CHOICES = ("mimalloc", "system")
FLAG_HELP = ("The memory allocator of a CPU run (launch/malloc.py): mimalloc, preloaded, "
             "or the C library's (system). Default: ZOO_MALLOC, else mimalloc.")
# Keep freed memory mapped for reuse (the default returns it after 1 s), and serve objects
# up to 32 GiB from mimalloc's arenas (the default, 2 GiB, sends Inception-v3's 3.9 GB
# temporary buffer to a fresh mmap on every step, zeroed page by page by the kernel).
SETTINGS = {"MIMALLOC_PURGE_DELAY": "-1", "MIMALLOC_ARENA_MAX_OBJECT_SIZE": "32GiB"}
_APPLIED = "ZOO_MALLOC_APPLIED"  # set in the re-executed process: never re-exec twice
_ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "libtpu")


def library() -> pathlib.Path | None:
  """libmimalloc.so from the cmeel-mimalloc wheel, or None when it is not installed."""
  for key in ("platlib", "purelib"):  # the wheel installs under site-packages/cmeel.prefix
    candidate = pathlib.Path(sysconfig.get_paths()[key]) / "cmeel.prefix/lib/libmimalloc.so"
    if candidate.exists():
      return candidate
  return None


def choice(argv=None, environ=None) -> str:
  """The allocator asked for: `--malloc=` on the command line, else `ZOO_MALLOC`."""
  argv = sys.argv if argv is None else argv
  environ = os.environ if environ is None else environ
  value = environ.get("ZOO_MALLOC", "mimalloc")
  for i, arg in enumerate(argv):
    if arg.startswith("--malloc="):
      value = arg.split("=", 1)[1]
    elif arg == "--malloc" and i + 1 < len(argv):
      value = argv[i + 1]
  if value not in CHOICES:
    raise SystemExit(f"error: --malloc / ZOO_MALLOC must be one of {', '.join(CHOICES)}, "
                     f"not {value!r}")
  return value


def _on_accelerator(environ) -> bool:
  platforms = environ.get("JAX_PLATFORMS", "")
  if platforms:
    return platforms.split(",")[0].strip() not in ("cpu", "")
  return any(importlib.util.find_spec(name) is not None for name in _ACCELERATOR_PLUGINS)


def environment(argv=None, environ=None) -> dict[str, str]:
  """The variables that put mimalloc under this command; empty when it should not."""
  environ = os.environ if environ is None else environ
  if choice(argv, environ) != "mimalloc" or environ.get(_APPLIED) or \
      not sys.platform.startswith("linux") or _on_accelerator(environ):
    return {}
  lib = library()
  if lib is None:
    return {}
  preload = " ".join(p for p in (str(lib), environ.get("LD_PRELOAD", "")) if p)
  return {"LD_PRELOAD": preload, _APPLIED: "1", **SETTINGS}


def active() -> str:
  """The allocator this process runs under, read from its own memory map."""
  try:
    with open("/proc/self/maps") as f:
      return "mimalloc" if "libmimalloc" in f.read() else "system"
  except OSError:
    return "system"


def reexec():
  """Re-executes this command under mimalloc when it should run under it; else returns."""
  extra = environment()
  if not extra:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  # sys.orig_argv: the interpreter's own options and `-m MODULE` as they were given.
  os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **extra})


if __name__ == "__main__":
  # `env $(python -m launch.malloc) COMMAND` runs COMMAND under the allocator (make does).
  print(" ".join(f"{k}={v}" for k, v in environment().items()))
