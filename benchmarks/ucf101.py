"""Times the UCF101 prepare step (`zoo.data.prepare.ucf101`) and reading its records back.

  python -m benchmarks.ucf101 --dir=/tmp/bench_ucf101 [--clips=12] [--tvl1_clips=4]

Writes UCF101-sized clips (320x240 XVID at 25 fps, `--seconds` long; the stand-in's
drawn content, NOT real video) into DIR/src once, then prepares them with each flow
method with 1 and with 2 worker processes, and prints wall-clock clips/s, CPU seconds per
clip (this process and its workers), video bytes/s, bytes written per clip and the time
and disk projected for UCF101's 13,320 clips (scaled by kept frames: UCF101 clips average
7.21 s, 72 frames at 10 fps) on `--cores` cores from the CPU time (the figure that holds
on a shared machine, where wall time depends on the other users). Then where one clip's
CPU time goes (decoding, flow, JPEG encoding), and reading the Farneback records back:
decoding alone, decoding + training preprocessing, and decoding + `all_steps` (every
step, for a feature cache), one thread.
"""
import argparse
import os
import resource
import shutil
import time

import cv2

import ml_collections
import numpy as np

from zoo.data import ucf101
from zoo.data.prepare import ucf101 as prepare_ucf101
from zoo.data.prepare import ucf101_stand_in

UCF101_CLIPS, UCF101_FRAMES_PER_CLIP = 13_320, 72.1  # 7.21 s on average, at 10 fps


def _subset(src: str, dst: str, count: int):
  """A src of the first `count` clips of `src`'s split 1 (the videos linked, not copied)."""
  lists = os.path.join(dst, prepare_ucf101.LIST_DIR)
  os.makedirs(lists, exist_ok=True)
  if not os.path.exists(os.path.join(dst, prepare_ucf101.VIDEO_DIR)):
    os.symlink(os.path.join(src, prepare_ucf101.VIDEO_DIR),
               os.path.join(dst, prepare_ucf101.VIDEO_DIR))
  shutil.copy(os.path.join(src, prepare_ucf101.LIST_DIR, "classInd.txt"), lists)
  for name in ("trainlist01.txt", "testlist01.txt"):
    with open(os.path.join(src, prepare_ucf101.LIST_DIR, name), "rb") as f:
      lines = f.read().split(b"\r\n")
    keep = lines[:count // 2] if name.startswith("train") else lines[:count - count // 2]
    with open(os.path.join(lists, name), "wb") as f:
      f.write(b"\r\n".join(keep) + b"\r\n")


def _size(path: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _cpu() -> float:
  """CPU seconds of this process and its finished children (the workers)."""
  own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                   resource.RUSAGE_CHILDREN))
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_prepare(src, dst, method, workers, cores):
  shutil.rmtree(dst, ignore_errors=True)
  start, cpu = time.perf_counter(), _cpu()
  manifest = prepare_ucf101.prepare(src, dst, flow=method, workers=workers, progress=False)
  seconds, cpu = time.perf_counter() - start, _cpu() - cpu
  video = sum(os.path.getsize(os.path.join(src, r["path"])) for r in manifest["records"])
  n, frames = manifest["num_clips"], manifest["num_frames"]
  written = _size(dst)
  scale = UCF101_FRAMES_PER_CLIP / (frames / n)  # UCF101's clips against these
  return {"method": method, "workers": workers, "clips": n, "seconds": seconds,
          "clips_per_s": n / seconds, "cpu_s_per_clip": cpu / n,
          "video_mb_per_s": video / seconds / 1e6,
          "kb_per_clip": written / n / 1e3, "frames_per_clip": frames / n,
          "ucf101_hours": UCF101_CLIPS * scale * cpu / n / cores / 3600,
          "ucf101_gb": UCF101_CLIPS * scale * written / n / 1e9,
          "video_kb_per_clip": video / n / 1e3}


def bench_stages(src, clip_file, method, repeats=1):
  """CPU seconds of one clip's decoding, flow and JPEG encoding, and its record's bytes."""
  cv2.setNumThreads(1)
  start = time.process_time()
  for _ in range(repeats):
    frames = prepare_ucf101.decode_clip(os.path.join(src, clip_file), 10)
  decode = (time.process_time() - start) / repeats
  grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
  start = time.process_time()
  flows = [prepare_ucf101.compute_flow(a, b, method) for a, b in zip(grey, grey[1:])]
  flow = time.process_time() - start
  start = time.process_time()
  rgb = [prepare_ucf101.encode_jpeg(f, prepare_ucf101.RGB_QUALITY) for f in frames]
  xy = [prepare_ucf101.encode_jpeg(np.concatenate([f[..., 0], f[..., 1]]),
                                   prepare_ucf101.FLOW_QUALITY) for f in flows]
  encode = time.process_time() - start
  return {"frames": len(frames), "decode_s": decode, "flow_s": flow, "encode_s": encode,
          "rgb_kb_per_frame": sum(map(len, rgb)) / len(rgb) / 1e3,
          "flow_kb_per_field": sum(map(len, xy)) / len(xy) / 1e3}


def bench_read(data_dir, repeats=2):
  config = ml_collections.ConfigDict(dict(
      dir=data_dir, split_index=1, classes=(), max_steps=25, flow_stack=10, image_size=224,
      resize_size=256))
  source = ucf101.ClipSource(data_dir, ucf101.read_manifest(data_dir)["records"])
  train = ucf101.preprocess(config, train=True)
  rng = np.random.default_rng(0)
  results = {}
  for name, fn in [("decode", lambda r: r), ("decode + train preprocess", lambda r: train(r, rng)),
                   ("decode + all_steps", lambda r: ucf101.all_steps(config, r))]:
    start = time.perf_counter()
    for _ in range(repeats):
      for i in range(len(source)):
        fn(source[i])
    results[name] = repeats * len(source) / (time.perf_counter() - start)
  return results


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--dir", required=True)
  parser.add_argument("--clips", type=int, default=12, help="clips prepared with Farneback")
  parser.add_argument("--tvl1_clips", type=int, default=4, help="clips prepared with TV-L1")
  parser.add_argument("--seconds", type=float, default=7.2)
  parser.add_argument("--methods", default="farneback,tvl1")
  parser.add_argument("--workers", default="1,2")
  parser.add_argument("--cores", type=int, default=2, help="cores of the projection")
  parser.add_argument("--stages", type=int, default=1, help="0: skip the per-stage timing")
  args = parser.parse_args()
  src = os.path.join(args.dir, "src")
  if not os.path.exists(os.path.join(src, prepare_ucf101.STAND_IN_MARKER)):
    ucf101_stand_in.generate(src, objects=("ball", "box"), motions=("rolling", "spinning"),
                             groups=3, clips_per_group=2, height=240, width=320,
                             seconds=(args.seconds, args.seconds), num_splits=1)
  rows = []
  for method in args.methods.split(","):
    count = args.clips if method == "farneback" else args.tvl1_clips
    subset = os.path.join(args.dir, f"src_{count}")
    _subset(src, subset, count)
    for workers in (int(w) for w in args.workers.split(",")):
      row = bench_prepare(subset, os.path.join(args.dir, f"dst_{method}_{workers}"), method,
                          workers, args.cores)
      rows.append(row)
      print(row, flush=True)
  print(f"\n| flow | workers | clips | wall s | clips/s | CPU s/clip | video MB/s | "
        f"KB written/clip | UCF101 hours on {args.cores} cores | UCF101 GB |\n"
        f"|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['method']} | {r['workers']} | {r['clips']} | {r['seconds']:.1f} | "
          f"{r['clips_per_s']:.3f} | {r['cpu_s_per_clip']:.2f} | {r['video_mb_per_s']:.3f} | "
          f"{r['kb_per_clip']:.0f} | {r['ucf101_hours']:.1f} | {r['ucf101_gb']:.1f} |")
  print(f"\nclips: {rows[0]['frames_per_clip']:.1f} frames kept, "
        f"{rows[0]['video_kb_per_clip']:.0f} KB of video each")
  first = ucf101.read_manifest(os.path.join(args.dir, f"dst_{rows[0]['method']}_"
                                                    f"{rows[0]['workers']}"))["records"][0]
  print("\n| one clip, CPU s | frames | decode | flow | JPEG encode | RGB KB/frame | "
        "flow KB/field |\n|---|---|---|---|---|---|---|")
  for method in args.methods.split(",") if args.stages else ():
    st = bench_stages(src, first["path"], method)
    print(f"| {method} | {st['frames']} | {st['decode_s']:.2f} | {st['flow_s']:.2f} | "
          f"{st['encode_s']:.2f} | {st['rgb_kb_per_frame']:.1f} | "
          f"{st['flow_kb_per_field']:.1f} |", flush=True)
  if "farneback" in args.methods:
    read = bench_read(os.path.join(args.dir, f"dst_farneback_{args.workers.split(',')[0]}"))
    print("\n| reading back (one thread) | clips/s |\n|---|---|")
    for name, rate in read.items():
      print(f"| {name} | {rate:.2f} |")


if __name__ == "__main__":
  main()
