"""Relative aesthetics (Gattupalli et al., ICPR 2016): a Siamese pair of RAPID channels trained on AVA pairs with the hinge max(0, delta - y d).

Default: the paper's setting on AVA from --config.data.dir (AVA.txt, images/,
aesthetics_image_lists/): RAPID columns at 230x230 (global view and native crop), pairs
with mean ratings >= 1 apart, vote variance <= 2.6, same challenge. Tested on ranking and
classification (threshold chosen on validation images), custom and standard test sets.
"""
from experiments import _aesthetics

VARIANTS = {
    "synthetic": "on the AVA-format stand-in (drawn photographs, simulated voters), 64x64 views; minutes on a CPU",
    "smoke": "a few steps on a tiny stand-in, for tests",
}


def get_config(arg=None):
  config = _aesthetics.base_config(relative=True)
  if arg in ("synthetic", "smoke"):
    _aesthetics.use_stand_in(config, smoke=arg == "smoke")
  return config
