"""The allocator tuning that ``import bpnn`` applies: freed array memory is reused."""

import os
import platform
import subprocess
import sys

import pytest

# a training step's pattern: several 1 MiB arrays alive together (activations), then freed;
# 50 such steps, counting the page faults they take
FAULTS_OF_REUSE = """
import resource
import numpy as np
import bpnn
def step():
    arrays = [np.ones(2**17) for _ in range(8)]
    del arrays
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
before = faults()
for _ in range(50):
    step()
print(faults() - before)
"""

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt tuning exists only with glibc")


def page_faults(tune: str) -> int:
    env = dict(os.environ, BPNN_TUNE_MALLOC=tune)
    result = subprocess.run([sys.executable, "-c", FAULTS_OF_REUSE], env=env, check=True,
                            capture_output=True, text=True)
    return int(result.stdout)


@glibc_only
def test_import_makes_freed_arrays_reused_without_page_faults():
    # 50 x 8 MiB = 102,400 pages of 4 KiB: glibc's defaults trim the freed heap and fault on
    # each page again
    assert page_faults("0") > 25_000
    assert page_faults("1") < 1_000


@glibc_only
def test_tune_allocator_reports_success_on_glibc():
    from bpnn.backend import tune_allocator

    assert tune_allocator() is True
