"""Rows a step makes itself (GAN noise, generated samples, drawn references) split along
the mesh's `data` axis like the batch, so each device computes its share instead of all."""
import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


@functools.lru_cache(maxsize=4)
def _rows_sharding(devices: tuple):
  return NamedSharding(Mesh(np.asarray(devices), ("data",)), P("data"))


def along_data(x):
  """`x` constrained to have its leading axis split over every device (the loop's mesh:
  `launch.train.Setup`); as it is on one device or when the rows do not divide evenly."""
  devices = tuple(jax.devices())
  if len(devices) == 1 or x.shape[0] % len(devices):
    return x
  return jax.lax.with_sharding_constraint(x, _rows_sharding(devices))
