"""Runs every `:smoke` variant of every experiment on N devices and prints a table of
variant -> ok / error (the run's one-line error).

  python -m launch.smoke_table [--devices=8] [--dir=DIR] [--only=NAME,...]

Each variant runs as `launch.run` in a process of its own (fake CPU devices on the CPU,
`--xla_force_host_platform_device_count`), one after another, its workdir in DIR (default:
a fresh temporary folder, so the prerequisite runs that stages need are made there once
and shared). Exit status 1 if any variant failed. `make test-all` runs it.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke_variants():
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  return [f"{name}:{variant}" for name in config_lib._experiment_names()  # pylint: disable=protected-access
          for variant in config_lib._experiment_module(name).VARIANTS  # pylint: disable=protected-access
          if variant and variant.startswith("smoke")]


def run(spec: str, workdir: str, devices: int, timeout: int):
  """(ok, seconds, the error line or '')."""
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  start = time.time()
  try:
    proc = subprocess.run([sys.executable, "-m", "launch.run", f"--experiment={spec}",
                           f"--workdir={workdir}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return False, time.time() - start, f"timed out after {timeout} s"
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
  message = errors[-1] if errors else (proc.stderr.strip().splitlines() or [""])[-1]
  return proc.returncode == 0, time.time() - start, "" if proc.returncode == 0 else message


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--devices", type=int, default=8)
  parser.add_argument("--dir", default=None, help="where the workdirs go (default: temporary)")
  parser.add_argument("--only", default="", help="comma-separated experiments (default: all)")
  parser.add_argument("--timeout", type=int, default=1800, help="seconds per variant")
  args = parser.parse_args()
  folder = args.dir or tempfile.mkdtemp(prefix="smoke_table_")
  only = set(filter(None, args.only.split(",")))
  specs = [s for s in smoke_variants() if not only or s.split(":")[0] in only]
  print(f"{len(specs)} smoke variants on {args.devices} devices; workdirs in {folder}",
        flush=True)
  rows = []
  for spec in specs:
    ok, seconds, message = run(spec, os.path.join(folder, spec.replace(":", "_")),
                               args.devices, args.timeout)
    rows.append((spec, ok, seconds, message))
    print(f"  {spec}: {'ok' if ok else 'ERROR'} ({seconds:.0f} s)", flush=True)
  print(f"\n| variant ({args.devices} devices) | result | s |\n|---|---|---:|")
  for spec, ok, seconds, message in rows:
    result = "ok" if ok else "error: " + message.removeprefix("error: ").replace("|", "\\|")
    print(f"| {spec} | {result} | {seconds:.0f} |")
  failed = [spec for spec, ok, _, _ in rows if not ok]
  print(f"\n{len(rows) - len(failed)} of {len(rows)} ok" + (
      f"; failed: {', '.join(failed)}" if failed else ""))
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  main()
