"""Several pretrained sources (`init_from=SUBTREE=PATH,...`) and frozen sub-trees
(`frozen=...`): the loop's general features, tested on small parameter trees."""
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from launch import train
from zoo.tasks import optimizers


@flax.struct.dataclass
class State:
  params: dict
  model_state: dict
  ema_params: dict = None


def _state():
  params = {"spatial_cnn": {"conv1": {"kernel": jnp.zeros((3, 3))}},
            "flow_cnn": {"conv1": {"kernel": jnp.zeros((3, 3))}},
            "head": {"kernel": jnp.zeros((2,))}}
  return State(params=params, model_state={"batch_stats": {"spatial_cnn": {"mean": jnp.zeros(3)}}})


def test_init_from_fills_each_named_sub_tree_from_its_own_checkpoint():
  assert train.parse_init_from("a/b=runs/x, flow=runs/y") == [(("a", "b"), "runs/x"),
                                                             (("flow",), "runs/y")]
  assert train.parse_init_from("runs/plain") == [((), "runs/plain")]
  with pytest.raises(ValueError, match="SUBTREE=PATH"):
    train.parse_init_from("runs/x,flow=runs/y")
  vgg = {"params": {"conv1": {"kernel": np.ones((3, 3))}, "fc8": {"kernel": np.ones(9)}},
         "model_state": {"batch_stats": {"mean": np.full(3, 7.0)}}}
  state, copied, skipped = train._merge_pretrained(_state(), vgg, ("spatial_cnn",))
  assert copied == 2 and skipped == []
  np.testing.assert_array_equal(state.params["spatial_cnn"]["conv1"]["kernel"], 1.0)
  np.testing.assert_array_equal(state.model_state["batch_stats"]["spatial_cnn"]["mean"], 7.0)
  np.testing.assert_array_equal(state.params["flow_cnn"]["conv1"]["kernel"], 0.0)  # untouched
  np.testing.assert_array_equal(state.params["head"]["kernel"], 0.0)


def test_frozen_sub_trees_get_no_update_and_no_optimizer_state():
  config = ml_collections.ConfigDict(dict(
      frozen=("spatial_cnn",),
      optimizer=dict(name="adam", momentum=0.9, nesterov=False, weight_decay=1e-4,
                     grad_clip_norm=0.0, rmsprop_decay=0.9, rmsprop_eps=1.0, adam_b1=0.9,
                     adam_b2=0.999),
      schedule=dict(name="constant", base_lr=0.1, warmup_epochs=0.0, decay_epochs=(1.0,),
                    decay_factor=0.1)))
  params = {"spatial_cnn": {"conv1": {"kernel": jnp.ones((64, 64))}},
            "head": {"kernel": jnp.ones((3,))}}
  tx, _ = optimizers.make_optimizer(config, 10, 100)
  opt_state = tx.init(params)
  sizes = [x.size for x in jax.tree.leaves(opt_state)]
  assert 64 * 64 not in sizes and sizes.count(3) == 2  # Adam's two moments, head only

  def loss(p):
    p = optimizers.stop_frozen(config, p)
    return jnp.sum(p["spatial_cnn"]["conv1"]["kernel"] ** 2) + jnp.sum(p["head"]["kernel"] ** 2)

  for _ in range(3):
    grads = jax.grad(loss)(params)
    np.testing.assert_array_equal(grads["spatial_cnn"]["conv1"]["kernel"], 0.0)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(params["spatial_cnn"]["conv1"]["kernel"], 1.0)  # bitwise
  assert np.all(params["head"]["kernel"] < 1.0)
  with pytest.raises(ValueError, match="'nope' is not a parameter sub-tree"):
    optimizers.frozen_mask(ml_collections.ConfigDict(dict(frozen=("nope",))), params)


def test_weights_of_a_run_load_without_orbax_warnings(tmp_path, monkeypatch):
  from launch import checkpoint  # pylint: disable=import-outside-toplevel
  from zoo import checkpoints  # pylint: disable=import-outside-toplevel
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  ckpt.save(3, _state(), {"0": "{}"})
  ckpt.close()
  warnings = []
  monkeypatch.setattr("absl.logging.warning", lambda message, *a, **k: warnings.append(message % a))
  loaded = checkpoints.load_params(str(tmp_path))
  assert loaded["params"]["head"]["kernel"].shape == (2,)
  assert warnings == []  # e.g. orbax's 'Metadata file does not exist' (features stage)
