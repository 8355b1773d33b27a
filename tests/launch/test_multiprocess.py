"""One experiment per task kind on 2 processes x 4 devices gives what 1 process x 8
devices does (to float32 round-off: only the cross-process sums add in another order),
evaluators included (each process reads its own rows; the results are gathered), and a
checkpoint saved on one process count resumes on the other. Classification's are in
test_train.py (`test_two_processes_of_four_devices_match_one_process_of_eight`) and
test_reliability.py (`test_resume_across_process_counts`)."""
import json
import os

import numpy as np
import pytest

from etils import epath

from conftest import launch, launch_processes
from test_train import _flatten
from zoo import checkpoints

CASES = [  # (task kind, experiment, overrides): stages' runs are shared through tmp_path
    ("adversarial", "gan_mixture:smoke", ()),
    ("relative_ranking", "aesthetics_relative:smoke", ("--config.data.dir={tmp}/ava",)),
    ("video_embedding", "video2vec:smoke", ()),
    ("attribute_manipulation", "face_attributes:smoke", ()),
]
NOT_RESULTS = ("wall_time_s", "first_step_s", "train_steps_per_s", "processes",
               "train_steps_this_run", "already_finished")


def results(workdir):
  """results.json's numbers (evaluators' metrics, steps), without timings and layout."""
  with open(os.path.join(workdir, "results.json")) as f:
    found = json.load(f)
  return {k: v for k, v in found.items() if isinstance(v, (int, float))
          and not isinstance(v, bool) and k not in NOT_RESULTS}


def final_state(workdir, step):
  return checkpoints.restore_on_host(epath.Path(workdir) / "checkpoints" / str(step) / "state")


def two_processes(*args):
  """`launch_processes` with room for a loaded machine (its runs compile for minutes)."""
  procs = launch_processes(*args, wait=False)
  for proc in procs:
    out, _ = proc.communicate(timeout=1800)
    assert proc.returncode == 0, out[-3000:]


def assert_same_run(a_dir, b_dir, step):
  a, b = results(a_dir), results(b_dir)
  assert a.keys() == b.keys() and a["step"] == step
  for key in a:
    assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-5), key
  # Adam divides by the root of the squared gradients: where a gradient is at round-off
  # level its noise sets the sign of a whole update (seen: 1 of gan_mixture's 128
  # generator biases; face_attributes' last generator bias, 8 values near 1e-5). So at
  # most 1 element in 1000 may differ beyond round-off, and none by more than the updates
  # could move it (2 x learning rate x steps; Adam's update is at most about lr).
  bound = 2 * 1e-3 * step
  off, total = 0, 0
  for (key, x), (_, y) in zip(_flatten(final_state(a_dir, step)["params"]),
                              _flatten(final_state(b_dir, step)["params"])):
    assert np.abs(x - y).max() <= bound, key
    off += int(np.sum(~np.isclose(x, y, rtol=1e-4, atol=1e-6)))
    total += x.size
  assert off <= total / 1000, (off, total)


@pytest.mark.slow  # four runs of the loop each (two of them on two processes)
@pytest.mark.parametrize("kind, experiment, overrides", CASES, ids=[c[0] for c in CASES])
def test_two_processes_match_one_and_resume_each_other(kind, experiment, overrides,
                                                       tmp_path):
  del kind
  args = [f"--experiment={experiment}"] + [o.format(tmp=tmp_path) for o in overrides]
  one, two = str(tmp_path / "one"), str(tmp_path / "two")
  launch(*args, "--config.total_steps=3", f"--workdir={one}", timeout=1800)  # + its stages
  two_processes(*args, "--config.total_steps=3", f"--workdir={two}")
  with open(os.path.join(two, "results.json")) as f:
    assert json.load(f)["processes"] == 2
  assert_same_run(one, two, 3)
  # each resumes the other's process count's checkpoint: 1 x 8 -> 2 x 4 and 2 x 4 -> 1 x 8
  two_processes(*args, "--config.total_steps=6", f"--workdir={one}")
  launch(*args, "--config.total_steps=6", f"--workdir={two}", timeout=1800)
  assert_same_run(one, two, 6)
