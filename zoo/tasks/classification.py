"""Image classification: softmax cross-entropy (optional label smoothing), top-1/top-5.

The task owns its train state, its batch structure ({'image': uint8 [N,H,W,3],
'label': int32 [N]}) and a pure `train_step`; the loop only sees pytrees. Models with
auxiliary classifiers (GoogLeNet, Inception-v3) return `(logits, (aux, ...))` in
training; each auxiliary loss is added with weight `config.aux_loss_weight`. Evaluation
images of shape [N, K, H, W, 3] (multi-crop testing) get the mean of their K predicted
distributions.
"""
import functools
import importlib
import os
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from zoo.data import pipeline
from zoo.tasks import optimizers

# ImageNet channel statistics on the 0-255 scale; images arrive as uint8.
MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STDDEV_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # Caffe / Keras ResNet50: BGR, mean removed
NORMALIZATIONS = ("imagenet", "inception", "caffe", "mean:R,G,B", "mean:FILE.npy")


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  model_state: Any  # non-trained collections, e.g. {'batch_stats': ...}; {} if none
  opt_state: Any
  ema_params: Any  # None when config.ema_decay == 0


_SWITCH = {"auto": None, "on": True, "off": False}


def build_model(model_config, num_classes: int, **derived) -> nn.Module:
  """`zoo.models.<name>.Model(num_classes=..., **the other model fields, **derived)`
  (`derived`: fields computed at run time, e.g. an embedding size set by the data)."""
  kwargs = {**model_config.to_dict(), **derived}
  name = kwargs.pop("name")
  kwargs["dtype"] = jnp.dtype(kwargs["dtype"])
  kwargs["param_dtype"] = jnp.dtype(kwargs["param_dtype"])
  if "conv_matmul_grads" in kwargs:  # 'auto' lets the layer pick by backend
    if kwargs["conv_matmul_grads"] not in _SWITCH:
      raise ValueError(f"--config.model.conv_matmul_grads={kwargs['conv_matmul_grads']}: "
                       f"expected one of {', '.join(_SWITCH)}")
    kwargs["conv_matmul_grads"] = _SWITCH[kwargs["conv_matmul_grads"]]
  module = importlib.import_module(f"zoo.models.{name}")
  return module.Model(num_classes=num_classes, **kwargs)


@functools.lru_cache(maxsize=8)
def _mean(spec: str) -> np.ndarray:
  """The RGB mean (0-255) of a 'mean:' normalisation: 'R,G,B' or a .npy file of [3] or
  [H, W, 3] (a mean image, as MatConvNet's networks subtract)."""
  if spec.endswith(".npy"):
    if not os.path.isfile(spec):
      raise ValueError(f"--config.input_normalization='mean:{spec}': no such file")
    mean = np.load(spec).astype(np.float32)
  else:
    try:
      mean = np.asarray([float(v) for v in spec.split(",")], np.float32)
    except ValueError:
      mean = np.zeros((0,), np.float32)
  if mean.shape[-1] != 3 or mean.ndim not in (1, 3):
    raise ValueError(f"--config.input_normalization='mean:{spec}': expected mean:R,G,B or "
                     f"mean:FILE.npy holding [3] or [H, W, 3], got shape {mean.shape}")
  return mean


def normalize(images, dtype, mode: str = "imagenet"):
  """uint8 RGB -> model input: 'imagenet' per-channel mean/std, 'inception' [-1, 1]
  (TF-slim and Keras InceptionV3), 'caffe' BGR minus the mean (Keras ResNet50 weights),
  'mean:R,G,B' or 'mean:FILE.npy' RGB 0-255 minus a mean or mean image (MatConvNet)."""
  x = images.astype(jnp.float32)
  if mode.startswith("mean:"):
    mean = _mean(mode[len("mean:"):])
    if mean.ndim == 3 and images.ndim >= 3 and mean.shape != tuple(images.shape[-3:]):
      raise ValueError(f"--config.input_normalization='{mode}': a {mean.shape[0]}x"
                       f"{mean.shape[1]} mean image, but the images are "
                       f"{images.shape[-3]}x{images.shape[-2]} (--config.data.image_size)")
    x = x - jnp.asarray(mean)
  elif mode == "imagenet":
    x = (x - jnp.asarray(MEAN_RGB)) / jnp.asarray(STDDEV_RGB)
  elif mode == "inception":
    x = x / 127.5 - 1.0
  elif mode == "caffe":
    x = x[..., ::-1] - jnp.asarray(CAFFE_MEAN_BGR)
  else:
    raise ValueError(f"--config.input_normalization='{mode}': expected one of {NORMALIZATIONS}")
  return x.astype(dtype)


def cross_entropy(logits, labels, num_classes: int, label_smoothing: float = 0.0):
  """Per-example softmax cross-entropy against (optionally smoothed) one-hot labels."""
  targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing) \
      if label_smoothing else jax.nn.one_hot(labels, num_classes)
  return optax.softmax_cross_entropy(logits, targets)


def topk_correct(logits, labels, k: int):
  """1.0 where the label is among the k highest logits."""
  # Rank = number of classes scored strictly higher than the true one; ties count for us.
  true = jnp.take_along_axis(logits, labels[:, None], axis=-1)
  return (jnp.sum(logits > true, axis=-1) < k).astype(jnp.float32)


class Task:
  """Classification. Methods are pure functions of their arguments and the config."""

  def __init__(self, config, *, data, steps_per_epoch: int, total_steps: int):
    self.config = config
    self.num_classes = pipeline.num_classes(data, config.data)
    self.model = build_model(config.model, self.num_classes)
    self.dtype = jnp.dtype(config.model.dtype)
    self.normalization = config.input_normalization
    normalize(jnp.zeros((1, 3), jnp.uint8), self.dtype, self.normalization)  # checks the name
    self.tx, self.schedule = optimizers.make_optimizer(config, steps_per_epoch, total_steps)

  def dummy_batch(self, batch_size: int = 1):
    size, channels = self.config.data.image_size, self.config.data.get("channels", 3)
    return {"image": jnp.zeros((batch_size, size, size, channels), jnp.uint8),
            "label": jnp.zeros((batch_size,), jnp.int32)}

  def init(self, rng) -> TrainState:
    images = normalize(self.dummy_batch()["image"], self.dtype, self.normalization)
    # In training mode, so heads used only in training (auxiliary classifiers) exist too.
    variables = self.model.init({"params": rng, "dropout": rng}, images, train=True)
    params = variables.pop("params")
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, model_state=dict(variables),
        opt_state=self.tx.init(params),
        ema_params=params if self.config.ema_decay else None)

  def _apply(self, params, model_state, images, train, rng=None):
    variables = {"params": params, **model_state}
    images = normalize(images, self.dtype, self.normalization)
    if train:
      logits, updates = self.model.apply(variables, images, train=True, rngs={"dropout": rng},
                                         mutable=list(model_state))
      return logits, dict(updates)
    return self.model.apply(variables, images, train=False), model_state

  def train_step(self, state: TrainState, batch, rng):
    labels = batch["label"]

    def loss_fn(params):
      params = optimizers.stop_frozen(self.config, params)
      outputs, model_state = self._apply(params, state.model_state, batch["image"], True, rng)
      logits, aux_logits = outputs if isinstance(outputs, tuple) else (outputs, ())
      xent = lambda z: cross_entropy(z, labels, self.num_classes,
                                     self.config.label_smoothing).mean()
      loss = xent(logits)
      aux = {f"aux_loss_{i}": xent(z) for i, z in enumerate(aux_logits)}
      total = loss + self.config.aux_loss_weight * sum(aux.values())
      if aux:
        aux["total_loss"] = total
      return total, (logits, model_state, {"loss": loss, **aux})

    (_, (logits, model_state, losses)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if ema is not None:
      ema = optimizers.ema_update(ema, params, self.config.ema_decay)
    metrics = {**losses, "accuracy": topk_correct(logits, labels, 1).mean(),
               "grad_norm": optimizers.global_norm(grads), "learning_rate": self.schedule(state.step)}
    new_state = state.replace(step=state.step + 1, params=params, model_state=model_state,
                              opt_state=opt_state, ema_params=ema)
    return new_state, metrics

  def predict_fn(self, state: TrainState, batch):
    """{'logits': [N, classes]}, from the averaged weights when EMA is on. For K crops per
    example ([N, K, H, W, 3]) the logits are the log of the mean predicted distribution."""
    params = state.ema_params if state.ema_params is not None else state.params
    images = batch["image"]
    if images.ndim == 4:
      return {"logits": self._apply(params, state.model_state, images, False)[0]}
    n, k = images.shape[:2]
    logits, _ = self._apply(params, state.model_state, images.reshape((n * k,) + images.shape[2:]),
                            False)
    log_probs = jax.nn.log_softmax(logits).reshape(n, k, -1)
    return {"logits": jax.nn.logsumexp(log_probs, axis=1) - jnp.log(k)}
