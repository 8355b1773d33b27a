"""Whole clips against the old cap of 25 steps: Video2Vec's padding and train step time.

`python -m benchmarks.video2vec_lengths` takes UCF101-like clip lengths (`ucf101_like_lengths`:
split 1's 9,537 training clips, log-normal durations with UCF101's mean, shortest and longest
clip, at 10 fps), orders an epoch as the training pipeline does (`zoo.data.sequences`) and
reports the padding fraction and the steps a clip feeds, with and without the cap; then times
the paper-size train step (`video_embedding`, fc7 4096, LSTMs of 1024, batch 30, 101
classes) at the cap's length and at the given bucket lengths, in one process, and gives the
epoch's time against the cap's from a straight line through those times. No data is read:
class-name vectors are random and the features zeros (neither changes the step's cost).
"""
import argparse
import statistics
import time

import numpy as np

from benchmarks import harness

UCF101_TRAIN_CLIPS = 9_537  # split 1's training list
UCF101_SECONDS = (7.21, 1.06, 71.04)  # mean, shortest, longest clip (Soomro et al. 2012)


def ucf101_like_lengths(seed: int = 0, fps: float = 10.0) -> np.ndarray:
  """Steps of 9,537 clips whose durations are log-normal (sigma 0.6) with UCF101's mean,
  clipped to its shortest and longest clip."""
  mean, low, high = UCF101_SECONDS
  sigma = 0.6
  seconds = np.random.default_rng(seed).lognormal(np.log(mean) - sigma ** 2 / 2, sigma,
                                                  UCF101_TRAIN_CLIPS)
  return np.round(np.clip(seconds, low, high) * fps).astype(np.int64)


def padding(cap: int, batch: int) -> dict:
  from zoo.data import sequences  # pylint: disable=import-outside-toplevel
  lengths = ucf101_like_lengths()
  order, pads = sequences.train_order(lengths, seed=0, epoch=0, global_batch=batch)
  capped = np.minimum(lengths, cap)
  return {
      "mean_clip_steps": float(lengths.mean()),
      "capped": {"padding_fraction": float(1 - capped.mean() / cap),
                 "steps_fed_fraction": float(capped.sum() / lengths.sum()), "length": cap},
      "whole": {"padding_fraction": sequences.padding_fraction(lengths, order, pads, batch),
                "steps_fed_fraction": 1.0, "buckets": sorted(set(pads.tolist())),
                "mean_padded_length": float(pads.mean())},
      "pads": pads.tolist(),
  }


def step_times(lengths, batch: int, steps: int) -> dict:
  """Median seconds of the paper-size train step at each sequence length."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  from zoo.data import video_features  # pylint: disable=import-outside-toplevel
  from zoo.tasks import video_embedding  # pylint: disable=import-outside-toplevel
  config = config_lib.resolve("video2vec", [f"batch_size={batch}", "model.dropout_rate=0.5"])
  vectors = np.random.default_rng(0).normal(size=(101, 50)).astype(np.float32)
  video_embedding.class_name_vectors = lambda _: vectors
  video_features.feature_dims = lambda _: (4096, 4096)
  task = video_embedding.Task(config, data=None, steps_per_epoch=300, total_steps=18_000)
  state = jax.jit(task.init)(jax.random.key(0))
  step = jax.jit(task.train_step, donate_argnums=(0,))
  times = {}
  for length in lengths:
    batch_ = {"rgb": jnp.zeros((batch, length, 4096), jnp.float16),
              "flow": jnp.zeros((batch, length, 4096), jnp.float16),
              "length": jnp.full((batch,), length, jnp.int32),
              "label": jnp.zeros((batch,), jnp.int32)}
    state, metrics = step(state, batch_, jax.random.key(1))  # compiles
    jax.block_until_ready(metrics)
    seconds = []
    for _ in range(steps):
      start = time.perf_counter()
      state, metrics = step(state, batch_, jax.random.key(1))
      jax.block_until_ready(metrics)
      seconds.append(time.perf_counter() - start)
    times[int(length)] = statistics.median(seconds)
  return times


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--cap", type=int, default=25, help="the old max_steps")
  parser.add_argument("--batch", type=int, default=30)
  parser.add_argument("--lengths", default="80", help="bucket lengths timed beside the cap")
  parser.add_argument("--steps", type=int, default=2, help="timed steps per length")
  parser.add_argument("--out", default="bench")
  args = parser.parse_args()
  results = padding(args.cap, args.batch)
  timed = [args.cap] + [int(t) for t in args.lengths.split(",")]
  times = step_times(timed, args.batch, args.steps)
  slope, intercept = np.polyfit(list(times), list(times.values()), 1)
  epoch = float(np.mean([intercept + slope * p for p in results.pop("pads")]))
  results.update({"step_s": times, "epoch_time_ratio": epoch / times[args.cap],
                  "device": __import__("jax").devices()[0].device_kind})
  c, w = results["capped"], results["whole"]
  table = "\n".join([
      "| | padding | steps fed | train step |", "|---|---:|---:|---|",
      f"| cap of {args.cap} steps | {c['padding_fraction']:.1%} | {c['steps_fed_fraction']:.1%} "
      f"| {times[args.cap]:.2f} s |",
      f"| whole clips, {len(w['buckets'])} buckets (mean {w['mean_padded_length']:.1f} steps) | "
      f"{w['padding_fraction']:.1%} | 100% | "
      + ", ".join(f"{times[t]:.2f} s at {t}" for t in timed[1:])
      + f"; an epoch {results['epoch_time_ratio']:.2f}x the cap's |"])
  harness.write_report(args.out, "video2vec_lengths", results, table)


if __name__ == "__main__":
  main()
