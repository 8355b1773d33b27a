"""launch.hugepages: the launchers restart themselves with glibc's huge-page tunable, and
with it large buffers are backed by 2 MiB pages."""
import os
import subprocess
import sys

import pytest

from launch import hugepages

_PROBE = """
from launch import hugepages
hugepages.reexec()
import ctypes, os
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
p = libc.malloc(64 << 20)  # 64 MiB: glibc serves it with its own mmap
ctypes.memset(p, 1, 64 << 20)  # (numpy would madvise huge pages itself)
huge_kb = sum(int(line.split()[1]) for line in open("/proc/self/smaps_rollup")
              if line.startswith("AnonHugePages:"))
print(os.environ.get("GLIBC_TUNABLES"), huge_kb)
"""


def _probe(**env):
  base = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
  out = subprocess.run([sys.executable, "-c", _PROBE], env={**base, **env}, check=True,
                       capture_output=True, text=True, cwd=os.path.dirname(
                           os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
  tunables, huge_kb = out.stdout.split()
  return tunables, int(huge_kb)


@pytest.mark.skipif(not hugepages.wanted({}), reason="not Linux with glibc")
def test_reexec_adds_the_tunable_and_gets_huge_pages():
  tunables, huge_kb = _probe()
  assert tunables == hugepages.TUNABLE
  thp = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
  if "[never]" not in thp:
    assert huge_kb >= 32 << 10  # most of the 64 MiB array in 2 MiB pages
  # Kept as the user set it: other tunables extended, an explicit choice left alone.
  assert _probe(GLIBC_TUNABLES="glibc.malloc.tcache_count=0")[0] == (
      "glibc.malloc.tcache_count=0:" + hugepages.TUNABLE)
  tunables, huge_kb = _probe(GLIBC_TUNABLES="glibc.malloc.hugetlb=0")
  assert tunables == "glibc.malloc.hugetlb=0" and huge_kb < 32 << 10
