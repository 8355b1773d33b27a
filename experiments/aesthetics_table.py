"""The eight experiments of relative aesthetics (Gattupalli et al., ICPR 2016, Table 2) in one command: baseline and relative networks, each tested on ranking and classification, custom and standard test sets.

This run trains the relative network (`aesthetics_relative`); its stage `baseline` (the
config `aesthetics_baseline` in `config.stages.baseline`, trained in WORKDIR/baseline by
`launch/stages.py`, skipped once its results.json exists) trains the binary one first. The `table` evaluator tests this network four ways, reads the
baseline's four results and writes WORKDIR/aesthetics_table.md: the 2x4 table in the
paper's layout with the paper's figures beside ours and the data named. `data.dir` is
shared with the stage (one override sets both).
"""
import os

import ml_collections

from experiments import _aesthetics, aesthetics_baseline, aesthetics_relative

VARIANTS = {
    "synthetic": "all eight on the AVA-format stand-in; minutes on two CPU cores",
    "smoke": "a few steps of each training on a tiny stand-in, for tests",
}


def get_config(arg=None):
  config = aesthetics_relative.get_config(arg)
  baseline = aesthetics_baseline.get_config(arg)
  baseline.experiment = "aesthetics_baseline" + (f":{arg}" if arg else "")
  baseline.data.dir = config.data.get_ref("dir")  # one --config.data.dir for both runs
  config.stages = ml_collections.ConfigDict({"baseline": baseline})
  config.evals = ml_collections.ConfigDict(dict(table=ml_collections.ConfigDict(dict(
      type="aesthetics_table", baseline="baseline", evals=config.evals))))
  return config


def stages(config, workdir):
  """The runs this one needs first, each in WORKDIR/NAME (run by `launch/stages.py`)."""
  return [{"name": name, "config": stage, "workdir": os.path.join(workdir, name)}
          for name, stage in config.stages.items()]
