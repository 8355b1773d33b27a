"""The networks of weakly supervised facial attribute manipulation (Wang et al., "Weakly
Supervised Facial Attribute Manipulation via Deep Adversarial Network", WACV 2018):

- `Generator(source, references)`: an encoder-decoder. The source face is encoded to
  S/4 maps; each reference face (one or more that have the wanted attribute) by a second
  encoder to an attribute code (its maps averaged over space, then over the references);
  the code is tiled over the source's maps, mixed in by residual blocks, and decoded
  with skip connections from the source encoder (so the content need not pass the
  bottleneck). The output blends a generated image into the source through a generated
  mask, `target = m * rgb + (1 - m) * source` (the mask starts near 0: the untrained
  generator copies its source), which keeps content outside the attribute's pixels.
  The paper does not publish its layer sizes; these are ours.
- Global discriminator: DCGAN's (`zoo.models.dcgan.Discriminator`, layer norm), realism.
- `AttributeDiscriminator(image)`: a fully convolutional network giving a map of logits
  at S/8 ("this patch shows the attribute") whose mean is the image's logit, trained on
  image-level labels only; the map localises the attribute (the paper's extra picture).

Group normalisation everywhere (per example: no batch statistics). Images in [-1, 1].
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.models import conv, dcgan


def _norm(channels, dtype, param_dtype):
  return nn.GroupNorm(num_groups=min(8, channels), dtype=dtype, param_dtype=param_dtype)


class Encoder(nn.Module):
  """3x3 conv at full size, then two stride-2 convs: maps at S, S/2, S/4."""
  width: int
  matmul_grads: Any = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    outs = []
    for i, stride in enumerate((1, 2, 2)):
      c = self.width * 2 ** i
      x = conv.Conv(c, (3, 3) if stride == 1 else (4, 4), strides=(stride, stride),
                    padding="SAME", matmul_grads=self.matmul_grads, dtype=self.dtype,
                    param_dtype=self.param_dtype)(x)
      x = nn.relu(_norm(c, self.dtype, self.param_dtype)(x))
      outs.append(x)
    return outs


class Generator(nn.Module):
  width: int = 32
  residual_blocks: int = 2
  mask_bias: float = -2.0  # initial mask sigmoid(-2) = 0.12: starts close to the source
  matmul_grads: Any = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, source, references, return_mask: bool = False):
    """source [N, S, S, 3], references [N, R, S, S, 3] -> target [N, S, S, 3]."""
    kw = dict(matmul_grads=self.matmul_grads, dtype=self.dtype, param_dtype=self.param_dtype)
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    n, r = references.shape[:2]
    skips = Encoder(self.width, name="source_encoder", **kw)(source.astype(self.dtype))
    ref_maps = Encoder(self.width, name="reference_encoder", **kw)(
        references.reshape((n * r,) + references.shape[2:]).astype(self.dtype))[-1]
    code = ref_maps.mean(axis=(1, 2)).reshape(n, r, -1).mean(axis=1)  # the attribute code
    x = skips[-1]
    c = x.shape[-1]
    code_maps = jnp.broadcast_to(code[:, None, None, :], x.shape[:3] + code.shape[-1:])
    x = conv.Conv(c, (3, 3), padding="SAME", **kw)(jnp.concatenate([x, code_maps], -1))
    x = nn.relu(_norm(c, **dt)(x))
    for _ in range(self.residual_blocks):
      y = nn.relu(_norm(c, **dt)(conv.Conv(c, (3, 3), padding="SAME", **kw)(
          jnp.concatenate([x, code_maps], -1))))
      x = x + _norm(c, **dt)(conv.Conv(c, (3, 3), padding="SAME", **kw)(y))
    for skip in (skips[1], skips[0]):
      c = skip.shape[-1]
      x = dcgan.ConvTranspose2x(c, **dt)(x)  # XLA:CPU's nn.ConvTranspose is slow
      x = nn.relu(_norm(c, **dt)(x))
      x = nn.relu(_norm(c, **dt)(conv.Conv(c, (3, 3), padding="SAME", **kw)(
          jnp.concatenate([x, skip], -1))))
    rgb = jnp.tanh(conv.Conv(3, (3, 3), padding="SAME", **kw)(x)).astype(jnp.float32)
    mask = jax.nn.sigmoid(conv.Conv(
        1, (3, 3), padding="SAME", bias_init=nn.initializers.constant(self.mask_bias),
        **kw)(x).astype(jnp.float32))
    target = mask * rgb + (1 - mask) * source.astype(jnp.float32)
    return (target, mask[..., 0]) if return_mask else target


class AttributeDiscriminator(nn.Module):
  """Stride-2 4x4 convs (width, 2 width, 4 width) to S/8, a 3x3 conv, a 1x1 conv to one
  logit per position; the image's logit is their mean."""
  width: int = 32
  matmul_grads: Any = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, return_map: bool = False):
    kw = dict(matmul_grads=self.matmul_grads, dtype=self.dtype, param_dtype=self.param_dtype)
    x = x.astype(self.dtype)
    for i in range(3):
      x = conv.Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding="SAME", **kw)(x)
      if i:
        x = _norm(self.width * 2 ** i, self.dtype, self.param_dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = nn.leaky_relu(conv.Conv(self.width * 4, (3, 3), padding="SAME", **kw)(x), 0.2)
    logit_map = conv.Conv(1, (1, 1), **kw)(x)[..., 0].astype(jnp.float32)
    logit = logit_map.mean(axis=(1, 2))
    return (logit, logit_map) if return_map else logit


_SWITCH = {"auto": None, "on": True, "off": False}


def networks(model_config, *, image_size: int):
  """{'generator', 'discriminator', 'attribute_discriminator'} from `config.model`:
  `g_width`, `residual_blocks`, `mask_bias`, `d_width`, `a_width`, `conv_matmul_grads`,
  `dtype`, `param_dtype`."""
  c = model_config
  if c.conv_matmul_grads not in _SWITCH:
    raise ValueError(f"--config.model.conv_matmul_grads='{c.conv_matmul_grads}': expected "
                     f"one of {', '.join(_SWITCH)}")
  if image_size % 8:
    raise ValueError(f"--config.data.image_size={image_size}: the attribute networks need "
                     "a multiple of 8")
  kw = dict(matmul_grads=_SWITCH[c.conv_matmul_grads], dtype=jnp.dtype(c.dtype),
            param_dtype=jnp.dtype(c.param_dtype))
  return {"generator": Generator(width=c.g_width, residual_blocks=c.residual_blocks,
                                 mask_bias=c.mask_bias, **kw),
          "discriminator": dcgan.Discriminator(image_size=image_size, width=c.d_width,
                                               norm="layer", **kw),
          "attribute_discriminator": AttributeDiscriminator(width=c.a_width, **kw)}
