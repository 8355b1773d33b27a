"""JAX's persistent compilation cache, on by default for every command of the zoo.

A relaunch (a resumed run, a sweep's next setting, a test, each host of a preempted pod)
reads the compiled train step instead of compiling it again. `--compilation_cache_dir`
names the folder (default `$ZOO_COMPILATION_CACHE_DIR`, else `~/.cache/zoo/jax`);
`--compilation_cache_dir=` (or the variable set empty) turns it off.

Safety when processes or hosts share it:
- JAX keys an entry by the lowered program, the backend and its version, the devices and
  the XLA flags, so two programs never share an entry. It does not key by the host CPU,
  whose features XLA:CPU compiles for: entries go into a subfolder per CPU model and
  feature set (`cpu-HASH`), so a cache on a file system that hosts of different CPUs share
  never hands one of them code it cannot run.
- Only process 0 of a multi-process run writes entries (JAX's rule); every process reads.
- With a size bound JAX takes a file lock (`filelock`) around each read and write, so a
  reader never sees a half-written entry; the bound keeps the least recently used
  entries (`SIZE_LIMIT_BYTES`). Programs that compiled in under `MIN_COMPILE_SECONDS` are
  not written.
- On a shared file system without working POSIX locks a lock can time out: JAX then warns
  and compiles as if the entry were absent. A damaged entry is the same: a warning and a
  compilation, never a wrong program (entries are zlib-compressed, with a checksum).
"""
import hashlib
import os

from absl import flags

ENV = "ZOO_COMPILATION_CACHE_DIR"
SIZE_LIMIT_BYTES = 8 * 2**30  # least recently used entries are evicted beyond it
# Only programs that took this long to compile are written: train steps, evaluators and
# initialisers, not the many small programs of eager operations (each write scans the
# folder to keep it under the size bound, so thousands of tiny entries would cost more
# than they save).
MIN_COMPILE_SECONDS = 1.0
_HITS, _MISSES = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"


def default_dir() -> str:
  if ENV in os.environ:
    return os.environ[ENV]
  cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(cache, "zoo", "jax")


flags.DEFINE_string(
    "compilation_cache_dir", default_dir(),
    f"JAX's persistent compilation cache (compiled steps reused by later runs, resumes and "
    f"other hosts); default ${ENV}, else ~/.cache/zoo/jax. Empty: off.")


def _cpu_id() -> str:
  """A short hash of the host CPU's model and feature flags (what XLA:CPU compiles for)."""
  try:
    with open("/proc/cpuinfo") as f:
      lines = [l for l in f if l.startswith(("model name", "flags", "Features", "CPU part"))]
  except OSError:
    import platform  # pylint: disable=import-outside-toplevel
    lines = [platform.machine(), platform.processor()]
  return hashlib.sha256("".join(sorted(set(lines))).encode()).hexdigest()[:12]


def enable(directory: str | None) -> str | None:
  """Turns the cache on in `directory` (its per-CPU subfolder, returned); None/'' leaves
  it off. Call before the first compilation."""
  if not directory:
    return None
  import jax  # pylint: disable=import-outside-toplevel
  path = os.path.join(os.path.abspath(os.path.expanduser(directory)), f"cpu-{_cpu_id()}")
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
  jax.config.update("jax_compilation_cache_max_size", SIZE_LIMIT_BYTES)
  _Counter.install()
  return path


def enable_from_flags() -> str | None:
  return enable(flags.FLAGS.compilation_cache_dir)


class _Counter:
  """Counts the cache's hits and misses (jax.monitoring events) in this process."""
  hits = misses = 0
  _installed = False

  @classmethod
  def install(cls):
    if cls._installed:
      return
    import jax  # pylint: disable=import-outside-toplevel

    def listen(event, **kwargs):
      del kwargs
      if event == _HITS:
        cls.hits += 1
      elif event == _MISSES:
        cls.misses += 1

    jax.monitoring.register_event_listener(listen)
    cls._installed = True


def counts() -> tuple[int, int]:
  """(hits, misses) of the persistent cache so far in this process."""
  return _Counter.hits, _Counter.misses


def describe_since(before: tuple[int, int]) -> str | None:
  """'cache' if every compilation since `before` (a `counts()`) was read from the
  persistent cache, 'compiled' if any was compiled while it was on, None if it is off."""
  import jax  # pylint: disable=import-outside-toplevel
  if not jax.config.jax_compilation_cache_dir:
    return None
  hits, misses = (now - then for now, then in zip(counts(), before))
  return "cache" if hits and not misses else "compiled"
