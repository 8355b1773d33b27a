"""Weakly supervised facial attribute manipulation (Yilin Wang, Suhang Wang, Guojun Qi,
Jiliang Tang and Baoxin Li, "Weakly Supervised Facial Attribute Manipulation via Deep
Adversarial Network", WACV 2018): a generator turns a source face into the same face with
the attribute of one or more reference faces, learnt from image-level labels only.

Three networks (`zoo.models.attribute_gan`), three optimizers, one state, as in the
adversarial task. One `train_step` on a batch of real faces with attribute labels:
- the faces lacking the attribute `config.manipulation.attribute` are the sources (the
  others only serve as real examples); each source gets `num_references` references
  drawn from the batch's faces that have it (no pairs, no before/after images);
- one update of the global discriminator D (real faces vs targets: realism) and of the
  attribute discriminator A (real faces with the attribute vs real faces without it and
  targets), each with its own optimizer state;
- one generator update on
    content_weight * ||phi(target) - phi(source)||^2      (perceptual content loss)
  + adversarial_weight * -log D(target)                     (global adversarial loss)
  + attribute_weight * -log A(target)                       (attribute adversarial loss)
  + pixel_weight * |target - source|                        (off by default; not the paper's)
  with the updated discriminators (logistic losses, non-saturating for G).

phi, the perceptual features, are the first `perceptual_layers` blocks of a FIXED network,
loaded on the host, closed over as constants, never trained here: by default the attribute
classifier trained beforehand by `face_attribute_classifier` on the same images' labels
(`config.manipulation.classifier`: its workdir or checkpoint); with
`config.manipulation.perceptual=vgg16:DIR` (or `vgg19:DIR`) the paper's ImageNet VGG,
converted from Keras Applications' `_notop` file (`python -m zoo.models.convert
--from=keras --model=vgg16`), its relu layers ending each block (relu1_2, relu2_2, ...) on
Caffe's input (BGR 0-255 minus the ImageNet mean). `zoo.evaluators.attribute_manipulation`
judges the results with another classifier, trained apart from phi (the `judge` stage of
`face_attributes`: another seed, data order and width), and measures the perceptual
distance in that judge's blocks, so both settings are compared on one scale and neither
is measured by the network the generator was trained against.

`predict_fn(state, {'source': [N, S, S, 3], 'references': [N, R, S, S, 3]})` (in [-1, 1])
-> {'target', 'mask' (where the generator painted), 'target_map' / 'reference_map' (the
attribute discriminator's logit maps at S/8: the localisation)}.
"""
import json
import os
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from zoo import checkpoints
from zoo.models import attribute_gan
from zoo.tasks import adversarial, classification, optimizers
from zoo.tasks.sharding import along_data

NETWORKS = ("generator", "discriminator", "attribute_discriminator")


@flax.struct.dataclass
class ManipulationState:
  step: jax.Array
  params: Any  # {name: ...} for NETWORKS
  model_state: Any  # {name: {}}: no network keeps batch statistics
  opt_state: Any  # {name: ...}: one optimizer state each


class FrozenClassifier:
  """A trained `face_attribute_classifier` run, for inference only: `logits(x)`,
  `features(x)` (block maps and pooled vector) of images in [-1, 1]."""

  def __init__(self, path: str, data_config):
    if "{runs}" in path or not path:
      raise ValueError(f"attribute classifier '{path}': train face_attribute_classifier "
                       "first and pass its workdir (--config.manipulation.classifier=DIR)")
    workdir = path if os.path.exists(os.path.join(path, "config.json")) else os.path.dirname(
        os.path.dirname(os.path.abspath(path)))
    try:
      with open(os.path.join(workdir, "config.json")) as f:
        trained = ml_collections.ConfigDict(json.load(f))
    except FileNotFoundError:
      raise ValueError(f"attribute classifier '{path}': no config.json of a "
                       "face_attribute_classifier run there") from None
    if trained.task != "attribute_classification" or trained.data.name != data_config.name:
      raise ValueError(f"attribute classifier '{path}' is a {trained.task} run on "
                       f"'{trained.data.name}', not an attribute classifier of "
                       f"'{data_config.name}'")
    if trained.get("input_normalization", "inception") != "inception":
      raise ValueError(f"attribute classifier '{path}' reads {trained.input_normalization}"
                       "-normalised images; the generator's are in [-1, 1] (inception)")
    from zoo.data import pipeline  # pylint: disable=import-outside-toplevel
    self.attributes = tuple(pipeline.data_module(data_config).ATTRIBUTES)
    self.model = classification.build_model(trained.model, len(self.attributes))
    self.params = checkpoints.load_params(path)["params"]
    self.path = path

  def logits(self, x):
    return self.model.apply({"params": self.params}, x)

  def features(self, x):
    return self.model.apply({"params": self.params}, x, features=True)[1]


class FrozenVGG:
  """An ImageNet VGG converted from Keras (`vgg16:DIR` or `vgg19:DIR`), for the content
  loss: `features(x)` of images in [-1, 1] -> {'blocks': the first `num_blocks` blocks'
  last ReLU}."""
  DEPTHS = {"vgg16": 16, "vgg19": 19}

  def __init__(self, spec: str, num_blocks: int):
    from zoo.models import vgg  # pylint: disable=import-outside-toplevel
    name, _, path = spec.partition(":")
    if name not in self.DEPTHS or not path:
      raise ValueError(f"--config.manipulation.perceptual='{spec}': expected vgg16:DIR or "
                       "vgg19:DIR, weights converted by python -m zoo.models.convert "
                       "--from=keras --model=vgg16 --h5=vgg16_weights_tf_dim_ordering_tf_"
                       "kernels_notop.h5 --out=DIR")
    self.model = vgg.Model(num_classes=0, depth=self.DEPTHS[name])
    params = checkpoints.load_params(path)["params"]
    needed = [f"block{b + 1}_conv{i + 1}" for b in range(num_blocks)
              for i in range(vgg.CONVS[self.model.depth][b])]
    missing = [n for n in needed if n not in params]
    if missing:
      raise ValueError(f"--config.manipulation.perceptual='{spec}': {path} has no "
                       f"{missing[0]} of {name.upper()} (converted with another --model?)")
    self.params = {n: params[n] for n in needed}
    self.num_blocks, self.path = num_blocks, path

  def features(self, x):
    bgr = ((x + 1.0) * 127.5)[..., ::-1] - jnp.asarray(classification.CAFFE_MEAN_BGR)
    return self.model.apply({"params": self.params}, bgr, features=True,
                            num_blocks=self.num_blocks)


def perceptual_network(config):
  """phi of the content loss (see the module docstring)."""
  m = config.manipulation
  if m.get("perceptual", ""):
    return FrozenVGG(m.perceptual, m.perceptual_layers)
  return FrozenClassifier(m.classifier, config.data)


def perceptual_distance(features_a, features_b, layers: int):
  """Per-example mean squared difference of the first `layers` block maps, averaged."""
  terms = [jnp.mean(jnp.square(a - b), axis=(1, 2, 3))
           for a, b in zip(features_a["blocks"][:layers], features_b["blocks"][:layers])]
  return sum(terms) / len(terms)


def masked_mean(x, mask):
  return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def discriminator_loss(real, fake, real_mask, fake_mask):
  """-log D(x) over the real rows and -log(1 - D(G)) over the target rows (logits)."""
  return (masked_mean(jax.nn.softplus(-real), real_mask)
          + masked_mean(jax.nn.softplus(fake), fake_mask))


def attribute_discriminator_loss(real, fake, has, source):
  """A's loss: real faces with the attribute are positive; real faces without it and the
  targets (generated from the sources) negative. Image-level labels only."""
  return (masked_mean(jax.nn.softplus(-real), has) + masked_mean(jax.nn.softplus(real), 1 - has)
          + masked_mean(jax.nn.softplus(fake), source))


class Task:

  def __init__(self, config, *, data, steps_per_epoch: int, total_steps: int):
    self.config, m = config, config.manipulation
    attributes = tuple(getattr(data, "ATTRIBUTES", ()))
    if m.attribute not in attributes:
      raise ValueError(f"--config.manipulation.attribute='{m.attribute}': data "
                       f"'{config.data.name}' has {', '.join(attributes) or 'no attributes'}")
    self.index = attributes.index(m.attribute)
    self.size = config.data.image_size
    self.nets = attribute_gan.networks(config.model, image_size=self.size)
    self.phi = perceptual_network(config)
    self.tx, self.schedule = optimizers.make_optimizer(config, steps_per_epoch, total_steps)

  def init(self, rng) -> ManipulationState:
    keys = jax.random.split(rng, 3)
    x = jnp.zeros((2, self.size, self.size, 3))
    refs = jnp.zeros((2, self.config.manipulation.num_references) + x.shape[1:])
    params = {"generator": self.nets["generator"].init(keys[0], x, refs)["params"],
              "discriminator": self.nets["discriminator"].init(keys[1], x, train=True)["params"],
              "attribute_discriminator": self.nets["attribute_discriminator"].init(
                  keys[2], x)["params"]}
    return ManipulationState(step=jnp.zeros((), jnp.int32), params=params,
                             model_state={n: {} for n in NETWORKS},
                             opt_state={n: self.tx.init(params[n]) for n in NETWORKS})

  def _generate(self, params, source, references, **kw):
    return self.nets["generator"].apply({"params": params}, source, references, **kw)

  def _d(self, params, x):
    return self.nets["discriminator"].apply({"params": params}, x, train=True)

  def _a(self, params, x, **kw):
    return self.nets["attribute_discriminator"].apply({"params": params}, x, **kw)

  def _pair(self, batch, key):
    """(images, has, source mask, references [N, R, ...]): references drawn from the
    batch's faces with the attribute (uniformly, with replacement)."""
    images = adversarial.to_model_space(batch["image"])
    has = (batch["attributes"][:, self.index] > 0).astype(jnp.float32)
    n, r = images.shape[0], self.config.manipulation.num_references
    logits = jnp.where(has > 0, 0.0, -1e9)
    picks = jax.random.categorical(key, jnp.broadcast_to(logits, (n * r, n)))
    # Without any face with the attribute in the batch, no source is edited this step.
    source = (1 - has) * jnp.any(has > 0)
    return images, has, source, along_data(images[picks].reshape((n, r) + images.shape[1:]))

  def _update(self, name, grads, state):
    updates, opt = self.tx.update(grads, state.opt_state[name], state.params[name])
    return optax.apply_updates(state.params[name], updates), opt

  def train_step(self, state: ManipulationState, batch, rng):
    m = self.config.manipulation
    images, has, source, references = self._pair(batch, rng)
    target = along_data(jax.lax.stop_gradient(
        self._generate(state.params["generator"], images, references)))

    def d_loss_fn(p):
      return discriminator_loss(self._d(p, images), self._d(p, target), jnp.ones_like(has),
                                source)

    def a_loss_fn(p):
      return attribute_discriminator_loss(self._a(p, images), self._a(p, target), has, source)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.params["discriminator"])
    a_loss, a_grads = jax.value_and_grad(a_loss_fn)(state.params["attribute_discriminator"])
    params_d, opt_d = self._update("discriminator", d_grads, state)
    params_a, opt_a = self._update("attribute_discriminator", a_grads, state)
    phi_source = self.phi.features(images)

    def g_loss_fn(p):
      target = along_data(self._generate(p, images, references))
      content = perceptual_distance(self.phi.features(target), phi_source, m.perceptual_layers)
      terms = {"content_loss": masked_mean(content, source),
               "adversarial_loss": masked_mean(jax.nn.softplus(-self._d(params_d, target)),
                                               source),
               "attribute_loss": masked_mean(jax.nn.softplus(-self._a(params_a, target)),
                                             source),
               "pixel_loss": masked_mean(jnp.mean(jnp.abs(target - images), (1, 2, 3)),
                                         source)}
      total = (m.content_weight * terms["content_loss"]
               + m.adversarial_weight * terms["adversarial_loss"]
               + m.attribute_weight * terms["attribute_loss"] + m.pixel_weight * terms["pixel_loss"])
      return total, terms

    (g_loss, terms), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        state.params["generator"])
    params_g, opt_g = self._update("generator", g_grads, state)
    metrics = {"g_loss": g_loss, "d_loss": d_loss, "a_loss": a_loss, **terms,
               "g_grad_norm": optimizers.global_norm(g_grads),
               "sources": jnp.sum(source), "learning_rate": self.schedule(state.step)}
    new_state = state.replace(
        step=state.step + 1,
        params={"generator": params_g, "discriminator": params_d,
                "attribute_discriminator": params_a},
        opt_state={"generator": opt_g, "discriminator": opt_d, "attribute_discriminator": opt_a})
    return new_state, metrics

  def predict_fn(self, state: ManipulationState, batch):
    target, mask = self._generate(state.params["generator"], batch["source"],
                                  batch["references"], return_mask=True)
    a = state.params["attribute_discriminator"]
    return {"target": target, "mask": mask,
            "target_map": self._a(a, target, return_map=True)[1],
            "reference_map": self._a(a, batch["references"][:, 0], return_map=True)[1]}
