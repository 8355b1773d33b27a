"""Video2Vec's learning problem: clips into the word-vector space of their class names.

Li, Hu and Li (ICIP 2016, ICPR 2016): a hinge ranking loss on cosine similarities makes a
clip's embedding closer to its class's name vector than to any other training class's by
a margin (0.4 for zero-shot learning, 0.55 for recognition and retrieval), plus the
softmax loss of a recognition head. Batches: {'rgb', 'flow': per-step features [N, T, F]
(or frames with `model.freeze_cnn=False`), 'length': int32 [N], 'label': int32 [N]}.

Class-name vectors are the mean word vectors of each name's words (`zoo.data.word_vectors`);
only the training classes (the seen ones under zero-shot learning) enter the losses.
"""
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from zoo.data import ucf101, video_features, word_vectors
from zoo.tasks import classification, optimizers


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  model_state: Any  # {}: no batch norm
  opt_state: Any
  ema_params: Any = None


def cosine_similarities(embeddings, class_vectors):
  """[N, C] cosines between embeddings [N, D] and class vectors [C, D]."""
  e = embeddings / (jnp.linalg.norm(embeddings, axis=-1, keepdims=True) + 1e-8)
  v = class_vectors / (jnp.linalg.norm(class_vectors, axis=-1, keepdims=True) + 1e-8)
  return e @ v.T


def hinge_rank_loss(similarities, labels, margin: float, class_mask):
  """Per-example sum over the other classes j in `class_mask` of
  max(0, margin - cos(e, v_label) + cos(e, v_j))."""
  true = jnp.take_along_axis(similarities, labels[:, None], axis=-1)
  others = class_mask[None, :] * (1.0 - jax.nn.one_hot(labels, similarities.shape[-1]))
  return jnp.sum(jax.nn.relu(margin - true + similarities) * others, axis=-1)


def class_name_vectors(config):
  """[classes, dim] name vectors of the prepared dataset's classes."""
  words = ucf101.read_manifest(config.data.dir)["class_words"]
  return word_vectors.class_vectors(word_vectors.load(config.word_vectors), words)


MEAN_UCF101_STEPS = 72  # a UCF101 clip's mean length at 10 fps (7.2 s): --describe's length


def describe_inputs(config):
  """(model, one example's inputs) for `--describe`, without data: the prepared dataset's
  classes if `data.dir` holds one, else UCF101's 101; `max_steps` steps (whole clips, 0:
  MEAN_UCF101_STEPS) of per-step features of
  `model.fc_features` (or frames with `model.freeze_cnn=False`)."""
  try:
    num_classes = ucf101.num_classes(config.data)
  except (OSError, ValueError):
    num_classes = 101
  d, steps = config.data, config.data.max_steps or MEAN_UCF101_STEPS
  model = classification.build_model(config.model, num_classes,
                                     embed_dim=word_vectors.load(config.word_vectors).dim)
  if config.model.freeze_cnn:
    rgb = flow = jax.ShapeDtypeStruct((1, steps, config.model.fc_features), jnp.float32)
  else:
    rgb = jax.ShapeDtypeStruct((1, steps, d.image_size, d.image_size, 3), jnp.float32)
    flow = jax.ShapeDtypeStruct((1, steps, d.image_size, d.image_size, 2 * d.flow_stack),
                                jnp.float32)
  return model, (rgb, flow, jax.ShapeDtypeStruct((1,), jnp.int32))


class Task:
  """Video embedding. Methods are pure functions of their arguments and the config."""

  # Losses and metrics average over batch['mask'] where the loop pads a batch that does
  # not split over the devices (Video2Vec's 30 on 8): nothing mixes examples.
  MASKED_BATCHES = True

  def __init__(self, config, *, data, steps_per_epoch: int, total_steps: int):
    del data
    self.config = config
    vectors = class_name_vectors(config)
    self.class_vectors = jnp.asarray(vectors)
    self.num_classes = len(vectors)
    seen = video_features.seen_classes(config.data, self.num_classes)
    self.train_mask = jnp.zeros(self.num_classes).at[jnp.asarray(seen)].set(1.0)
    # The embedding lives in the word vectors' space: its size is theirs.
    self.model = classification.build_model(config.model, self.num_classes,
                                            embed_dim=vectors.shape[1])
    self.dtype = jnp.dtype(config.model.dtype)
    self.tx, self.schedule = optimizers.make_optimizer(config, steps_per_epoch, total_steps)

  def _inputs(self, batch):
    rgb, flow = batch["rgb"], batch["flow"]
    if not self.config.model.freeze_cnn:  # frames: the normalisations the two CNNs were trained with
      rgb = classification.normalize(rgb, self.dtype, "imagenet")
      flow = classification.normalize(flow, self.dtype, "inception")
    return rgb.astype(self.dtype), flow.astype(self.dtype), batch["length"]

  def dummy_batch(self, batch_size: int = 1):
    d, steps = self.config.data, max(1, self.config.data.max_steps)  # any length: init only
    if not self.config.model.freeze_cnn:
      s = d.image_size
      rgb = jnp.zeros((batch_size, steps, s, s, 3), jnp.uint8)
      flow = jnp.zeros((batch_size, steps, s, s, 2 * d.flow_stack), jnp.uint8)
    else:
      rgb_dim, flow_dim = video_features.feature_dims(d)
      rgb = jnp.zeros((batch_size, steps, rgb_dim), jnp.float16)
      flow = jnp.zeros((batch_size, steps, flow_dim), jnp.float16)
    return {"rgb": rgb, "flow": flow, "length": jnp.ones((batch_size,), jnp.int32),
            "label": jnp.zeros((batch_size,), jnp.int32)}

  def init(self, rng) -> TrainState:
    rgb, flow, length = self._inputs(self.dummy_batch())
    params = self.model.init({"params": rng, "dropout": rng}, rgb, flow, length,
                             train=True)["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state={},
                      opt_state=self.tx.init(params))

  def losses(self, outputs, labels):
    """Per-example hinge ranking and softmax losses over the training classes."""
    sims = cosine_similarities(outputs["embedding"], self.class_vectors)
    hinge = hinge_rank_loss(sims, labels, self.config.margin, self.train_mask)
    logits = jnp.where(self.train_mask > 0, outputs["logits"], -1e9)
    softmax = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return hinge, softmax, sims

  def train_step(self, state: TrainState, batch, rng):
    labels = batch["label"]
    mask = batch.get("mask", jnp.ones(labels.shape, jnp.float32))
    mean = lambda x: jnp.sum(x * mask) / jnp.sum(mask)  # over the real examples

    def loss_fn(params):
      params = optimizers.stop_frozen(self.config, params)
      outputs = self.model.apply({"params": params}, *self._inputs(batch), train=True,
                                 rngs={"dropout": rng})
      hinge, softmax, sims = self.losses(outputs, labels)
      loss = mean(hinge) + self.config.softmax_weight * mean(softmax)
      return loss, (outputs, sims, {"hinge_loss": mean(hinge), "softmax_loss": mean(softmax)})

    (loss, (outputs, sims, parts)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    nearest = jnp.argmax(jnp.where(self.train_mask > 0, sims, -2.0), axis=-1)
    metrics = {"loss": loss, **parts,
               "accuracy": mean(classification.topk_correct(outputs["logits"], labels, 1)),
               "embedding_accuracy": mean(nearest == labels),
               "grad_norm": optimizers.global_norm(grads),
               "learning_rate": self.schedule(state.step)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  def predict_fn(self, state: TrainState, batch):
    """{'embedding': unit-norm [N, D], 'similarities': cosines to every class [N, C],
    'logits': the softmax head's [N, C]}."""
    outputs = self.model.apply({"params": state.params}, *self._inputs(batch), train=False)
    e = outputs["embedding"]
    return {"embedding": e / (jnp.linalg.norm(e, axis=-1, keepdims=True) + 1e-8),
            "similarities": cosine_similarities(e, self.class_vectors),
            "logits": outputs["logits"]}

