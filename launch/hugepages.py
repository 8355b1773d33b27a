"""Transparent huge pages for XLA:CPU's buffers, through glibc's `glibc.malloc.hugetlb=1`.

XLA:CPU allocates a step's large temporaries afresh on every run, glibc serves each with a
new `mmap`, and the kernel faults the memory in 4 KiB at a time on first touch, every
step: about 1,000,000 page faults (4 GB) per Inception-v3 train step at batch 32, 1.4 s
of system time on 2 cores. With the tunable glibc asks for 2 MiB pages where the kernel
allows them (`/sys/kernel/mm/transparent_hugepage/enabled`: 'always' or 'madvise'):
about 3,000 faults, and the step 5.4 -> 5.0 s (ResNet-50: 4.1 -> 3.7 s) on the 2-core
development machine (BENCHMARKS.md).

glibc reads tunables once, when a process starts, so `reexec()` starts the command again
(`os.execve`: same process id, same arguments) with the tunable added to
`GLIBC_TUNABLES`, unless that already names `glibc.malloc.hugetlb` (set
`GLIBC_TUNABLES=glibc.malloc.hugetlb=0` to opt out) or this is not Linux with glibc.
The launchers call it first thing in `__main__`; `make` sets the variable for tests.
"""
import os
import platform
import sys

TUNABLE = "glibc.malloc.hugetlb=1"


def wanted(environ=os.environ) -> bool:
  """Whether this process should be restarted with the tunable."""
  if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
    return False
  return "glibc.malloc.hugetlb" not in environ.get("GLIBC_TUNABLES", "")


def reexec():
  """Restarts this process with `glibc.malloc.hugetlb=1` if `wanted()`; else returns."""
  if not wanted():
    return
  tunables = os.environ.get("GLIBC_TUNABLES", "")
  env = dict(os.environ, GLIBC_TUNABLES=f"{tunables}:{TUNABLE}" if tunables else TUNABLE)
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, sys.orig_argv, env)
