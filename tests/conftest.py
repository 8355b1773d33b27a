"""Every test sees eight CPU devices, so sharding bugs show up on a laptop. Tests and the
runs they launch share one persistent compilation cache (`launch/compilation_cache.py`:
`$ZOO_COMPILATION_CACHE_DIR`, else the user's), so the pytest workers and a second
`make test` read the steps compiled before; no test depends on what it holds.

`$ZOO_TEST_XLA_FLAGS` joins every test process's XLA_FLAGS (not the benchmarks' tests,
which time programs): `make test`, whose tests compile far more than they run, sets
`--xla_backend_optimization_level=0` (README)."""
import os
import socket
import subprocess
import sys

EXTRA_XLA_FLAGS = os.environ.get("ZOO_TEST_XLA_FLAGS", "")


def xla_flags(devices: int = 8) -> str:
  """XLA_FLAGS for a test process with `devices` CPU devices."""
  return f"--xla_force_host_platform_device_count={devices} {EXTRA_XLA_FLAGS}".strip()


if EXTRA_XLA_FLAGS not in os.environ.setdefault("XLA_FLAGS", xla_flags()):
  os.environ["XLA_FLAGS"] += f" {EXTRA_XLA_FLAGS}"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from launch import compilation_cache  # pylint: disable=wrong-import-position

os.environ.setdefault(compilation_cache.ENV, compilation_cache.default_dir())  # subprocesses
compilation_cache.enable(os.environ[compilation_cache.ENV])


def launch(*args, devices=8, check=True, timeout=600, wait=True):
  """Runs `python -m launch.run ARGS` in a subprocess with `devices` CPU devices."""
  env = dict(os.environ, XLA_FLAGS=xla_flags(devices), PYTHONUNBUFFERED="1")
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


def write_tfds_build(data_dir, name, splits, *, config=None, file_format="array_record"):
  """Writes a tfds build as `tfds build --file_format=...` lays it out, from the dataset's
  own tfds features: `DIR/NAME[/CONFIG]/VERSION/` with dataset_info.json, features.json
  and the shards. `splits` maps a split name to its shards, each a list of records
  (dicts of the dataset's features; uint8 images are stored as JPEG, bytes as they are).
  Returns the version folder."""
  import io
  import numpy as np
  import tensorflow_datasets as tfds
  from array_record.python import array_record_module
  from PIL import Image
  full = f"{name}/{config}" if config else name
  builder = tfds.builder(full, data_dir=str(data_dir), file_format=file_format)
  features = builder.info.features
  os.makedirs(builder.data_dir, exist_ok=True)
  infos = []
  for split, shards in splits.items():
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir, dataset_name=name, split=split,
        filetype_suffix=file_format)
    for k, records in enumerate(shards):
      path = os.fspath(template.sharded_filepath(shard_index=k, num_shards=len(shards)))
      writer = array_record_module.ArrayRecordWriter(path, "group_size:1")
      for record in records:
        record = dict(record)
        if isinstance(record.get("image"), np.ndarray):
          jpeg = io.BytesIO()
          Image.fromarray(record["image"]).save(jpeg, format="JPEG", quality=90)
          record["image"] = jpeg.getvalue()
        writer.write(features.serialize_example(features.encode_example(record)))
      writer.close()
    infos.append(tfds.core.SplitInfo(name=split, shard_lengths=[len(s) for s in shards],
                                     num_bytes=0, filename_template=template))
  builder.info.set_splits(tfds.core.SplitDict(infos))
  builder.info.write_to_directory(builder.data_dir)
  return os.fspath(builder.data_dir)
