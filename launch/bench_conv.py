"""Times XLA's convolution gradients against zoo.models.conv's matmul gradients.

`python -m launch.bench_conv --model=vgg_f` instead times a whole model's gradient step
(loss and gradients of all parameters) both ways.

`python -m launch.bench_conv` prints, per layer, the median milliseconds of the forward
pass, the input gradient, the filter gradient and the full VJP (both gradients) for the
plain `lax.conv_general_dilated` ("XLA") and for `conv2d(..., matmul_grads=True)`, each
jitted, after warm-up, the two paths interleaved run by run so that load on a shared
machine hits both alike. Speed-up = XLA ms / matmul ms.
"""
import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from zoo.models.conv import conv2d

# name: (description, spatial size, Cin, Cout, kernel, stride, padding)
CASES = {
    "a": ("3x3 64->64, 56x56", 56, 64, 64, 3, 1, "SAME"),
    "b": ("1x1 64->256, 56x56", 56, 64, 256, 1, 1, "SAME"),
    "c": ("7x7/2 3->64, 224x224", 224, 3, 64, 7, 2, "SAME"),
    "d": ("3x3/2 128->128, 56x56", 56, 128, 128, 3, 2, "SAME"),
    # VGG-F's convolutions at 224x224 (zoo/models/vgg_f.py)
    "vggf1": ("11x11/4 3->64 VALID, 224x224", 224, 3, 64, 11, 4, "VALID"),
    "vggf2": ("5x5 64->256 pad 2, 27x27", 27, 64, 256, 5, 1, ((2, 2), (2, 2))),
    "vggf3": ("3x3 256->256 pad 1, 13x13", 13, 256, 256, 3, 1, ((1, 1), (1, 1))),
    # maps smaller than the kernel (im2col in conv2d): the CPU stand-ins meet these
    "r50s4": ("3x3 512->512, 2x2 (ResNet-50 stage 4 at 64x64)", 2, 512, 512, 3, 1, "SAME"),
    "g5b": ("5x5 48->128, 2x2 (GoogLeNet 5b at 64x64)", 2, 48, 128, 5, 1, "SAME"),
}
OPS = ("forward", "input grad", "filter grad", "full vjp")


def layer_fns(stride, padding, matmul_grads):
  f = lambda x, k: conv2d(x, k, (stride, stride), padding, matmul_grads=matmul_grads)
  vjp = lambda x, k, dy: jax.vjp(f, x, k)[1](dy)
  return {
      "forward": jax.jit(lambda x, k, dy: f(x, k)),
      "input grad": jax.jit(lambda x, k, dy: vjp(x, k, dy)[0]),
      "filter grad": jax.jit(lambda x, k, dy: vjp(x, k, dy)[1]),
      "full vjp": jax.jit(vjp),
  }


def time_pair(fns, args, repeats, warmup):
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


def model_step_fns(model_name, num_classes=1000):
  """Jitted loss-and-gradient functions of `zoo.models.<model_name>`, XLA vs matmul."""
  import importlib
  import optax
  module = importlib.import_module(f"zoo.models.{model_name}")

  def make(matmul_grads):
    model = module.Model(num_classes=num_classes, conv_matmul_grads=matmul_grads)

    def loss(params, rest, x, y):
      outputs, _ = model.apply({"params": params, **rest}, x, train=True, mutable=list(rest),
                               rngs={"dropout": jax.random.key(0)})
      logits = outputs[0] if isinstance(outputs, tuple) else outputs  # auxiliary heads
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return model, jax.jit(jax.value_and_grad(loss))
  return make(False), make(True)


def bench_model(args):
  (model, xla), (_, mm) = model_step_fns(args.model)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((args.batch, args.size, args.size, 3), np.float32))
  y = jnp.asarray(rng.integers(0, 1000, args.batch))
  rest = dict(model.init(jax.random.key(0), x[:1]))
  params = rest.pop("params")
  compile_s = []
  for fn in (xla, mm):
    start = time.perf_counter()
    jax.block_until_ready(fn(params, rest, x, y))
    compile_s.append(time.perf_counter() - start)
  t_xla, t_mm = time_pair([xla, mm], (params, rest, x, y), args.repeats, args.warmup)
  print("| model | input | batch | XLA step s | matmul step s | speed-up | first call s (XLA / matmul) |")
  print("|---|---|---:|---:|---:|---:|---|")
  print(f"| {args.model} | {args.size}x{args.size} | {args.batch} | {t_xla:.2f} | {t_mm:.2f} | "
        f"{t_xla / t_mm:.2f}x | {compile_s[0]:.0f} / {compile_s[1]:.0f} |")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cases", default="a,b,c,d",
                      help=f"comma-separated subset of {','.join(CASES)}, or 'all'")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  parser.add_argument("--repeats", type=int, default=5, help="timed runs per function")
  parser.add_argument("--warmup", type=int, default=1, help="untimed runs after compiling")
  parser.add_argument("--check", action="store_true",
                      help="also check that both paths give the same gradients")
  parser.add_argument("--model", default="",
                      help="time a whole model's loss-and-gradient step instead (vgg_f, resnet)")
  parser.add_argument("--size", type=int, default=224, help="input size with --model")
  args = parser.parse_args(argv)
  if args.model:
    return bench_model(args)
  names = list(CASES) if args.cases == "all" else args.cases.split(",")
  dtype = jnp.dtype(args.dtype)

  print(f"backend {jax.default_backend()}, {jax.device_count()} device(s), "
        f"{os.cpu_count()} CPU(s), batch {args.batch}, {args.dtype}, "
        f"median of {args.repeats}; load average {os.getloadavg()[0]:.1f}\n")
  print("| layer | op | XLA ms | matmul ms | speed-up |")
  print("|---|---|---:|---:|---:|")
  rng = np.random.default_rng(0)
  for name in names:
    desc, size, cin, cout, k, stride, padding = CASES[name]
    x = jnp.asarray(rng.standard_normal((args.batch, size, size, cin), np.float32), dtype)
    kern = jnp.asarray(rng.standard_normal((k, k, cin, cout), np.float32) * 0.1, dtype)
    out = jax.eval_shape(lambda a, b: conv2d(a, b, stride, padding, matmul_grads=False), x, kern)
    dy = jnp.asarray(rng.standard_normal(out.shape, np.float32), dtype)
    xla, mm = layer_fns(stride, padding, False), layer_fns(stride, padding, True)
    if args.check:
      for a, b in zip(xla["full vjp"](x, kern, dy), mm["full vjp"](x, kern, dy)):
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        err = np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30)
        assert err < (1e-4 if dtype == jnp.float32 else 3e-2), (name, err)
    for op in OPS:
      t_xla, t_mm = time_pair([xla[op], mm[op]], (x, kern, dy), args.repeats, args.warmup)
      print(f"| {desc} | {op} | {t_xla * 1e3:.0f} | {t_mm * 1e3:.0f} | "
            f"{t_xla / t_mm:.2f}x |", flush=True)
  print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
  main()
