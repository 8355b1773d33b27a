"""The face data of `dcgan_faces`, `face_attribute_classifier` and `face_attributes`:
CelebA from `--config.data.dir`, the procedural stand-in, and the smoke runs' tiny faces.

Not an experiment itself (the leading underscore keeps it out of `--list`).
"""
import ml_collections

_PIPELINE = dict(train_split="train", num_threads=2, prefetch_batches=4, prefetch_to_device=2,
                 max_bad_fraction=0.001, seed=0)
SMOKE = dict(image_size=16, num_train=128, num_eval=40)  # `config.data.update(SMOKE)`


def celeb_a(**overrides) -> ml_collections.ConfigDict:
  """tfds celeb_a, its central 108x108 crop at 64x64, flipped in training."""
  return ml_collections.ConfigDict(dict(
      _PIPELINE, name="celeb_a", dir="", image_size=64, crop_size=108, random_flip=True,
      num_threads=16, num_train=0, num_eval=0, **overrides))


def stand_in(num_train: int) -> ml_collections.ConfigDict:
  """The procedural faces (`zoo.data.faces`) at 64x64, 1,000 held out."""
  return ml_collections.ConfigDict(dict(_PIPELINE, name="faces", image_size=64,
                                        random_flip=False, num_train=num_train, num_eval=1_000))
