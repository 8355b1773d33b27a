"""`benchmarks.flops`: a GAN's compiled step on 8 devices does a fraction of one device's
work per device, its generated samples split along `data` like the real batch."""
import re
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow  # compiles the step twice, each in a process of its own
def test_gan_step_splits_generated_samples_over_eight_devices():
  proc = subprocess.run([sys.executable, "-m", "benchmarks.flops",
                         "--experiment=gan_mixture:smoke"], cwd=ROOT, capture_output=True,
                        text=True, timeout=900, check=True)
  ratio = float(re.search(r"8: [\d.]+ MFLOP \(([\d.]+)\)", proc.stdout).group(1))
  # 0.16 measured (the optimizer's updates stay replicated); 0.72 with the noise replicated
  assert ratio < 0.25, proc.stdout
