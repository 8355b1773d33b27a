"""Times convolutions (and max-pooling) on the CPU: XLA's gradients against
zoo.models.conv's matmul gradients, and XLA:CPU's two convolution libraries.

  python -m benchmarks.conv [--cases=a,b,c,d|all] [--contenders=xla:ynnpack,xla:eigen,...]
  python -m benchmarks.conv --model=inception_v3 [--size=299]   # a whole model's step
  python -m benchmarks.conv --pools                            # Inception-v3's max-pools

A contender is PATH:LIBRARY: PATH 'xla' is plain `lax.conv_general_dilated`, 'matmul' is
`conv2d(..., matmul_grads=True)` (the zoo's default on the CPU); LIBRARY is what XLA:CPU
runs its convolutions with, 'eigen' (the zoo's default) or 'ynnpack' (jax 0.10's), set per
jit through `zoo.models.conv.compiler_options`. Per layer it prints the median
milliseconds of the forward pass, the input gradient, the filter gradient and the full
VJP (both gradients), each jitted, after warm-up, the contenders interleaved run by run so
that load on a shared machine hits them alike. Speed-up = first contender's ms / last's.
"""
import argparse
import importlib
import os
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from zoo.models import layers
from zoo.models.conv import CPU_CONVOLUTIONS, compiler_options, conv2d

# name: (description, spatial size, Cin, Cout, kernel, stride, padding)
CASES = {
    "a": ("3x3 64->64, 56x56", 56, 64, 64, 3, 1, "SAME"),
    "b": ("1x1 64->256, 56x56", 56, 64, 256, 1, 1, "SAME"),
    "c": ("7x7/2 3->64, 224x224", 224, 3, 64, 7, 2, "SAME"),
    "d": ("3x3/2 128->128, 56x56", 56, 128, 128, 3, 2, "SAME"),
    # Inception-v3 at 299x299 (zoo/models/inception_v3.py)
    "i1": ("3x3 32->32 VALID, 149x149 (Inception-v3 conv1)", 149, 32, 32, 3, 1, "VALID"),
    "i4": ("3x3 80->192 VALID, 73x73 (Inception-v3 conv4)", 73, 80, 192, 3, 1, "VALID"),
    "i8": ("3x3/2 288->384 VALID, 35x35 (Inception-v3 mixed3)", 35, 288, 384, 3, 2, "VALID"),
    # VGG-F's convolutions at 224x224 (zoo/models/vgg_f.py)
    "vggf1": ("11x11/4 3->64 VALID, 224x224", 224, 3, 64, 11, 4, "VALID"),
    "vggf2": ("5x5 64->256 pad 2, 27x27", 27, 64, 256, 5, 1, ((2, 2), (2, 2))),
    "vggf3": ("3x3 256->256 pad 1, 13x13", 13, 256, 256, 3, 1, ((1, 1), (1, 1))),
    # maps smaller than the kernel (im2col in conv2d): the CPU stand-ins meet these
    "r50s4": ("3x3 512->512, 2x2 (ResNet-50 stage 4 at 64x64)", 2, 512, 512, 3, 1, "SAME"),
    "g5b": ("5x5 48->128, 2x2 (GoogLeNet 5b at 64x64)", 2, 48, 128, 5, 1, "SAME"),
}
OPS = ("forward", "input grad", "filter grad", "full vjp")
# Inception-v3's max-pools at 299x299 (3x3/2 VALID): input shapes without the batch
POOLS = ((147, 147, 64), (71, 71, 192), (35, 35, 288), (17, 17, 768))


def parse_contender(text):
  path, _, library = text.partition(":")
  if path not in ("xla", "matmul") or library not in CPU_CONVOLUTIONS:
    raise argparse.ArgumentTypeError(
        f"contender {text!r}: need xla|matmul : {'|'.join(CPU_CONVOLUTIONS)}")
  return path, library


def layer_fns(stride, padding, contender):
  path, library = contender
  jit = lambda fn: jax.jit(fn, compiler_options=compiler_options(library))
  f = lambda x, k: conv2d(x, k, (stride, stride), padding, matmul_grads=path == "matmul")
  vjp = lambda x, k, dy: jax.vjp(f, x, k)[1](dy)
  return {
      "forward": jit(lambda x, k, dy: f(x, k)),
      "input grad": jit(lambda x, k, dy: vjp(x, k, dy)[0]),
      "filter grad": jit(lambda x, k, dy: vjp(x, k, dy)[1]),
      "full vjp": jit(vjp),
  }


def time_interleaved(fns, args, repeats, warmup):
  """Median seconds of each function, calls interleaved."""
  for _ in range(warmup):
    for fn in fns:
      jax.block_until_ready(fn(*args))
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, t in zip(fns, times):
      start = time.perf_counter()
      jax.block_until_ready(fn(*args))
      t.append(time.perf_counter() - start)
  return [float(np.median(t)) for t in times]


def _name(contender):
  return ":".join(contender)


def bench_model(args):
  """Loss and gradients of every parameter of `zoo.models.<model>`, per contender."""
  import optax
  module = importlib.import_module(f"zoo.models.{args.model}")
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((args.batch, args.size, args.size, 3), np.float32))
  y = jnp.asarray(rng.integers(0, 1000, args.batch))
  fns, first_call = [], []
  for path, library in args.contenders:
    model = module.Model(num_classes=1000, conv_matmul_grads=path == "matmul")

    def loss(params, rest, x, y, model=model):
      outputs, _ = model.apply({"params": params, **rest}, x, train=True, mutable=list(rest),
                               rngs={"dropout": jax.random.key(0)})
      logits = outputs[0] if isinstance(outputs, tuple) else outputs  # auxiliary heads
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    fns.append(jax.jit(jax.value_and_grad(loss), compiler_options=compiler_options(library)))
  rest = dict(model.init(jax.random.key(0), x[:1]))
  params = rest.pop("params")
  for fn in fns:
    start = time.perf_counter()
    jax.block_until_ready(fn(params, rest, x, y))
    first_call.append(time.perf_counter() - start)
  times = time_interleaved(fns, (params, rest, x, y), args.repeats, args.warmup)
  names = [_name(c) for c in args.contenders]
  print(f"| model | input | batch | {' | '.join(f'{n} step s' for n in names)} | speed-up "
        f"| first call s ({' / '.join(names)}) |")
  print("|---|---|---:|" + "---:|" * len(names) + "---:|---|")
  print(f"| {args.model} | {args.size}x{args.size} | {args.batch} | "
        f"{' | '.join(f'{t:.2f}' for t in times)} | {times[0] / times[-1]:.2f}x | "
        f"{' / '.join(f'{t:.0f}' for t in first_call)} |")


def bench_pools(args):
  """Forward + gradient of Inception-v3's max-pools: `nn.max_pool` (XLA's reduce-window
  and select-and-scatter) against `zoo.models.layers.max_pool`."""
  print("| max-pool 3x3/2 input | flax ms | zoo ms | speed-up |")
  print("|---|---:|---:|---:|")
  rng = np.random.default_rng(0)
  total = np.zeros(2)
  for shape in POOLS:
    x = jnp.asarray(rng.standard_normal((args.batch,) + shape, np.float32))
    w = jnp.asarray(rng.standard_normal(
        jax.eval_shape(lambda a: layers.max_pool(a), x).shape, np.float32))
    fns = [jax.jit(jax.value_and_grad(lambda a, pool=pool: jnp.sum(pool(a) * w)))
           for pool in (lambda a: nn.max_pool(a, (3, 3), (2, 2)), layers.max_pool)]
    times = np.array(time_interleaved(fns, (x,), args.repeats, args.warmup))
    total += times
    print(f"| {'x'.join(map(str, shape))} | {times[0] * 1e3:.0f} | {times[1] * 1e3:.0f} | "
          f"{times[0] / times[1]:.2f}x |", flush=True)
  print(f"| all four | {total[0] * 1e3:.0f} | {total[1] * 1e3:.0f} | "
        f"{total[0] / total[1]:.2f}x |")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cases", default="a,b,c,d",
                      help=f"comma-separated subset of {','.join(CASES)}, or 'all'")
  parser.add_argument("--contenders", default="xla:eigen,matmul:eigen",
                      type=lambda s: [parse_contender(c) for c in s.split(",")],
                      help="comma-separated PATH:LIBRARY, PATH xla|matmul, LIBRARY eigen|ynnpack")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  parser.add_argument("--repeats", type=int, default=5, help="timed runs per function")
  parser.add_argument("--warmup", type=int, default=1, help="untimed runs after compiling")
  parser.add_argument("--check", action="store_true",
                      help="also check that all contenders give the same gradients")
  parser.add_argument("--model", default="",
                      help="time a whole model's loss-and-gradient step instead "
                           "(vgg_f, resnet, googlenet, inception_v3)")
  parser.add_argument("--size", type=int, default=224, help="input size with --model")
  parser.add_argument("--pools", action="store_true", help="time max-pooling instead")
  args = parser.parse_args(argv)
  print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), "
        f"{os.cpu_count()} CPU(s), batch {args.batch}, {args.dtype}, median of "
        f"{args.repeats}; load average {os.getloadavg()[0]:.1f}\n")
  if args.model:
    return bench_model(args)
  if args.pools:
    return bench_pools(args)
  names = list(CASES) if args.cases == "all" else args.cases.split(",")
  dtype = jnp.dtype(args.dtype)
  header = " | ".join(f"{_name(c)} ms" for c in args.contenders)
  print(f"| layer | op | {header} | speed-up |")
  print("|---|---|" + "---:|" * (len(args.contenders) + 1))
  rng = np.random.default_rng(0)
  for name in names:
    desc, size, cin, cout, k, stride, padding = CASES[name]
    x = jnp.asarray(rng.standard_normal((args.batch, size, size, cin), np.float32), dtype)
    kern = jnp.asarray(rng.standard_normal((k, k, cin, cout), np.float32) * 0.1, dtype)
    out = jax.eval_shape(lambda a, b: conv2d(a, b, stride, padding, matmul_grads=False), x, kern)
    dy = jnp.asarray(rng.standard_normal(out.shape, np.float32), dtype)
    fns = [layer_fns(stride, padding, c) for c in args.contenders]
    if args.check:
      want = fns[0]["full vjp"](x, kern, dy)
      for f in fns[1:]:
        for a, b in zip(want, f["full vjp"](x, kern, dy)):
          a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
          err = np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30)
          assert err < (1e-4 if dtype == jnp.float32 else 3e-2), (name, err)
    for op in OPS:
      times = time_interleaved([f[op] for f in fns], (x, kern, dy), args.repeats, args.warmup)
      print(f"| {desc} | {op} | {' | '.join(f'{t * 1e3:.0f}' for t in times)} | "
            f"{times[0] / times[-1]:.2f}x |", flush=True)
  print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
  main()
