"""Results of a prerequisite run, reported as this run's: e.g. the zero-shot figures of
the split runs an experiment trained as stages, beside its own recognition results.

Built from an entry of `config.evals` (`type='results_of'`, `workdir_suffix`: the run is
`WORKDIR + workdir_suffix`; `prefix`: which of its results, e.g. 'zsl/', copied without
the prefix so they land under this entry's name).
"""
import json
import os


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    del config, predict_fn, to_device, process_index, process_count
    self.eval_config = eval_config

  def run(self, state, workdir=None) -> dict:
    del state
    path = os.path.join(os.path.abspath(workdir) + self.eval_config.workdir_suffix,
                        "results.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path}: the stage run it reports has not finished")
    with open(path) as f:
      results = json.load(f)
    prefix = self.eval_config.prefix
    return {k[len(prefix):]: v for k, v in results.items() if k.startswith(prefix)}
