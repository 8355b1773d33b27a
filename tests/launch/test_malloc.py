"""The preloaded allocator of CPU runs (launch/malloc.py): when it applies, and the switch."""
import os
import subprocess
import sys

import pytest

from launch import malloc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLEAN = {k: v for k, v in os.environ.items()
         if k not in ("LD_PRELOAD", "ZOO_MALLOC", "ZOO_MALLOC_APPLIED", "JAX_PLATFORMS")}


def test_environment_preloads_mimalloc_on_cpu_only():
  env = malloc.environment([], CLEAN)
  assert env["LD_PRELOAD"].endswith("libmimalloc.so") and os.path.exists(env["LD_PRELOAD"])
  assert env["MIMALLOC_PURGE_DELAY"] == "-1" and env["MIMALLOC_ARENA_MAX_OBJECT_SIZE"] == "32GiB"
  assert malloc.environment([], {**CLEAN, "JAX_PLATFORMS": "cpu"}) == env
  assert malloc.environment([], {**CLEAN, "JAX_PLATFORMS": "cuda"}) == {}
  assert malloc.environment([], {**CLEAN, "JAX_PLATFORMS": "tpu,cpu"}) == {}
  assert malloc.environment(["--malloc=system"], CLEAN) == {}
  assert malloc.environment([], {**CLEAN, "ZOO_MALLOC": "system"}) == {}
  assert malloc.environment([], {**CLEAN, **env}) == {}  # applied once, never again
  # The flag wins over the environment; another preload is kept behind ours.
  assert malloc.environment(["--malloc", "mimalloc"], {**CLEAN, "ZOO_MALLOC": "system"}) == env
  kept = malloc.environment([], {**CLEAN, "LD_PRELOAD": "/lib/other.so"})["LD_PRELOAD"]
  assert kept == env["LD_PRELOAD"] + " /lib/other.so"


def test_bad_choice_names_the_flag():
  with pytest.raises(SystemExit, match=r"--malloc / ZOO_MALLOC .* not 'jemalloc'"):
    malloc.choice(["--malloc=jemalloc"], CLEAN)


@pytest.mark.parametrize("extra, expected", [({}, "mimalloc"), ({"ZOO_MALLOC": "system"}, "system")])
def test_reexec_runs_the_same_command_under_the_allocator(extra, expected):
  code = "from launch import malloc; malloc.reexec(); import sys; print(malloc.active(), sys.argv[1:])"
  out = subprocess.run([sys.executable, "-c", code, "a", "--b=1"], cwd=ROOT, env={**CLEAN, **extra},
                       capture_output=True, text=True, check=True).stdout
  assert out.split("\n")[0] == f"{expected} ['a', '--b=1']"
