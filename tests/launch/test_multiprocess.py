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

from conftest import launch, launch_processes
from test_train import _flatten, final_state

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
  # Adam divides by the root of the squared gradients: where a gradient is near zero its
  # round-off can flip the sign of a whole update, so an array is compared against its
  # own scale (seen: gan_mixture's 1.9e-5 on a bias of scale 3e-3 after 3 steps).
  for (key, x), (_, y) in zip(_flatten(final_state(a_dir, step)["params"]),
                              _flatten(final_state(b_dir, step)["params"])):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-2 * np.abs(x).max() + 1e-7,
                               err_msg=key)


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
