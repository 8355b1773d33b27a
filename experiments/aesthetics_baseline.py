"""The binary baseline of relative aesthetics: one RAPID channel (global and local column) trained as a high/low softmax classifier on AVA (mean rating >= 5).

Default: AVA from --config.data.dir, RAPID columns at 230x230, trained on every training
image; tested as the relative network is (ranking pairs by comparing the two scores,
classification by the softmax decision), on the custom and standard test sets.
"""
from experiments import _aesthetics

VARIANTS = {
    "synthetic": "on the AVA-format stand-in (drawn photographs, simulated voters), 64x64 views; minutes on a CPU",
    "smoke": "a few steps on a tiny stand-in, for tests",
}


def get_config(arg=None):
  config = _aesthetics.base_config(relative=False)
  if arg in ("synthetic", "smoke"):
    _aesthetics.use_stand_in(config, smoke=arg == "smoke")
  return config
