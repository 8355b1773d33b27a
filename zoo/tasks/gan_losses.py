"""The adversarial losses of `zoo.tasks.adversarial`, all in one place (`config.gan.loss`).

Each takes the discriminator's raw outputs on real data (`real`) and on generated samples
(`fake`): logits for the logistic losses, scores otherwise, and returns scalars to
*minimise*.

- 'saturating': the minimax game of Goodfellow et al., "Generative Adversarial Nets"
  (NeurIPS 2014), eq. 1: D ascends log D(x) + log(1 - D(G(z))), G descends
  log(1 - D(G(z))). Early on, when D rejects the samples confidently, that term
  saturates and G's gradient vanishes (the paper's section 3).
- 'non_saturating': the same D; G ascends log D(G(z)) instead, the paper's advice ("same
  fixed point, much stronger gradients early in learning"). The default.
- 'least_squares': Mao et al., "Least Squares Generative Adversarial Networks" (ICCV 2017),
  eq. 2 with a = 0, b = c = 1: D minimises 1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2, G 1/2 (D(G(z)) - 1)^2.
- 'wgan_gp': Gulrajani et al., "Improved Training of Wasserstein GANs" (NeurIPS 2017),
  Algorithm 1: the critic minimises D(G(z)) - D(x) + lambda (||grad D(x_hat)|| - 1)^2 at
  random interpolates x_hat (lambda = 10, 5 critic steps per generator step, Adam 1e-4,
  beta1 = 0, beta2 = 0.9); G minimises -D(G(z)). The penalty is `gradient_penalty`.
- 'hinge': Lim & Ye, "Geometric GAN" (2017), as used by Miyato et al. (SN-GAN, ICLR 2018):
  D minimises max(0, 1 - D(x)) + max(0, 1 + D(G(z))), G minimises -D(G(z)).
"""
import jax
import jax.numpy as jnp

LOSSES = ("saturating", "non_saturating", "least_squares", "wgan_gp", "hinge")
LOGISTIC = ("saturating", "non_saturating")  # D's output is the logit of P(real)


def check(name: str):
  if name not in LOSSES:
    raise ValueError(f"--config.gan.loss='{name}': expected one of {', '.join(LOSSES)}")


def discriminator_loss(name: str, real, fake):
  """The discriminator's (critic's) loss, without WGAN-GP's gradient penalty."""
  if name in LOGISTIC:  # -log D(x) - log(1 - D(G(z))), D = sigmoid(logit)
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
  if name == "least_squares":
    return 0.5 * jnp.mean(jnp.square(real - 1)) + 0.5 * jnp.mean(jnp.square(fake))
  if name == "wgan_gp":
    return jnp.mean(fake) - jnp.mean(real)
  if name == "hinge":
    return jnp.mean(jax.nn.relu(1 - real)) + jnp.mean(jax.nn.relu(1 + fake))
  raise ValueError(f"unknown GAN loss '{name}'")


def generator_loss(name: str, fake):
  """The generator's loss on the discriminator's outputs for its samples."""
  if name == "saturating":  # log(1 - D(G(z))) = -softplus(logit)
    return -jnp.mean(jax.nn.softplus(fake))
  if name == "non_saturating":  # -log D(G(z)) = softplus(-logit)
    return jnp.mean(jax.nn.softplus(-fake))
  if name == "least_squares":
    return 0.5 * jnp.mean(jnp.square(fake - 1))
  if name in ("wgan_gp", "hinge"):
    return -jnp.mean(fake)
  raise ValueError(f"unknown GAN loss '{name}'")


def gradient_penalty(critic, real, fake, key):
  """WGAN-GP's E[(||grad_x critic(x_hat)||_2 - 1)^2] at x_hat = e x + (1 - e) G(z), e ~ U[0, 1]
  per example. `critic` maps a batch to one score per example, each depending on its own
  example only (no batch norm)."""
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1))
  x_hat = eps * real + (1 - eps) * fake
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=-1) + 1e-12)
  return jnp.mean(jnp.square(norms - 1))


def d_probability(name: str, outputs):
  """What to log as D(x) / D(G(z)): the probability for the logistic losses, else the raw
  output (a least-squares target in [0, 1], a critic score)."""
  return jax.nn.sigmoid(outputs) if name in LOGISTIC else outputs
