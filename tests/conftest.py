"""Every test sees eight CPU devices, so sharding bugs show up on a laptop."""
import os
import socket
import subprocess
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


def launch(*args, devices=8, check=True, timeout=600, wait=True):
  """Runs `python -m launch.run ARGS` in a subprocess with `devices` CPU devices."""
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             PYTHONUNBUFFERED="1")
  command = [sys.executable, "-m", "launch.run", *args]
  if not wait:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
  proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(f"launch.run {' '.join(args)} exited {proc.returncode}:\n"
                         f"{proc.stderr[-4000:]}")
  return proc


def launch_processes(*args, num_processes=2, devices=4, wait=True):
  """Runs `launch.run ARGS` as `num_processes` processes joined on a free localhost port
  (`wait=False`: returns them running)."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  procs = [launch(*args, f"--coordinator_address=127.0.0.1:{port}",
                  f"--num_processes={num_processes}", f"--process_id={i}", devices=devices,
                  wait=False) for i in range(num_processes)]
  if not wait:
    return procs
  for proc in procs:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]


def training_started(workdir):
  """True once the run in `workdir` has logged its first train metrics."""
  path = os.path.join(workdir, "metrics.jsonl")
  return os.path.exists(path) and os.path.getsize(path) > 0


def error_line(stderr: str) -> str:
  """The launcher's one-line `error: ...` message (library threads may log around it)."""
  lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
  assert len(lines) == 1, stderr[-3000:]
  return lines[0]
