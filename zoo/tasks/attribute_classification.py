"""Multi-label attribute classification: one sigmoid cross-entropy per binary attribute
(CelebA's 40, or the face stand-in's 7), on {'image': uint8 [N, H, W, 3], 'attributes':
int32 [N, A]}. The judge of the attribute-manipulation experiments
(`experiments/face_attribute_classifier.py`).

The model is `zoo.models.<config.model.name>.Model(num_classes=A, ...)`; A is
`len(data.ATTRIBUTES)`. Images are scaled to [-1, 1] (`config.input_normalization`,
'inception' by default), the generators' range, so the judge reads generated faces as
they are. The state is the classification task's `TrainState`.
"""
import jax
import jax.numpy as jnp
import optax

from zoo.tasks import classification, optimizers


def attribute_loss(logits, attributes):
  """Mean over examples and attributes of the sigmoid cross-entropy."""
  return optax.sigmoid_binary_cross_entropy(logits, attributes.astype(jnp.float32)).mean()


class Task:

  def __init__(self, config, *, data, steps_per_epoch: int, total_steps: int):
    self.config = config
    if not hasattr(data, "ATTRIBUTES"):
      raise ValueError(f"--config.data.name='{config.data.name}' has no ATTRIBUTES to learn")
    self.attributes = tuple(data.ATTRIBUTES)
    self.model = classification.build_model(config.model, len(self.attributes))
    self.normalization = config.get("input_normalization", "inception")
    self.dtype = jnp.dtype(config.model.dtype)
    self.tx, self.schedule = optimizers.make_optimizer(config, steps_per_epoch, total_steps)

  def _images(self, images):
    return classification.normalize(images, self.dtype, self.normalization)

  def init(self, rng) -> classification.TrainState:
    size = self.config.data.image_size
    params = self.model.init(rng, self._images(jnp.zeros((1, size, size, 3), jnp.uint8)))["params"]
    return classification.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                                     model_state={}, opt_state=self.tx.init(params),
                                     ema_params=None)

  def train_step(self, state, batch, rng):
    del rng  # deterministic network
    attributes = batch["attributes"]

    def loss_fn(params):
      logits = self.model.apply({"params": params}, self._images(batch["image"]))
      return attribute_loss(logits, attributes), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    metrics = {"loss": loss, "accuracy": jnp.mean((logits > 0) == (attributes > 0)),
               "grad_norm": optimizers.global_norm(grads),
               "learning_rate": self.schedule(state.step)}
    return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state), metrics

  def predict_fn(self, state, batch):
    """{'logits': [N, A]}: one logit per attribute."""
    return {"logits": self.model.apply({"params": state.params}, self._images(batch["image"]))}
