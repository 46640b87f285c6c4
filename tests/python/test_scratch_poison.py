"""Kernels never read scratch they did not write.

gconv does not zero its per-call scratch. With GCONV_POISON_SCRATCH set it
fills it with NaN instead, so any kernel that read a slot it had not
written would turn outputs into NaN: the algorithm and ISA-family suites
(every algorithm forced on both layouts and dtypes, strides, dilations,
paddings, tails) and the gradient suite must still pass.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_algorithm_suites_pass_with_nan_filled_scratch():
    env = dict(os.environ, GCONV_POISON_SCRATCH="1")
    suites = [str(HERE / name) for name in ("test_algorithms.py", "test_isa.py", "test_grad.py")]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *suites],
                            env=env, cwd=HERE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
