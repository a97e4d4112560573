import platform
import subprocess
import sys

import pytest
import torch

from upnn import device


def test_resolve_names_the_bad_device_and_the_allowed_ones():
    assert device.resolve("cpu") == torch.device("cpu")
    assert device.resolve("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'; allowed: auto, cpu, cuda, cuda:N"):
        device.resolve("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'cuda' requested but torch sees no CUDA device"):
            device.resolve("cuda")


def test_seed_everything_repeats_model_init_and_data_order():
    a = (device.seed_everything(3), torch.nn.Linear(4, 4).weight.detach().clone())
    b = (device.seed_everything(3), torch.nn.Linear(4, 4).weight.detach().clone())
    assert torch.equal(a[1], b[1])
    assert torch.equal(torch.randperm(10, generator=a[0]), torch.randperm(10, generator=b[0]))


# Page faults of 20 training-like steps, each holding eight fresh 1.5 MiB activations at once
# and then freeing them, before and after reuse_cpu_memory (in its own process: the setting is
# process-wide). By default glibc returns the freed top of its heap to the system, so every
# step faults its pages in again (~8 * 375).
_FAULTS = """
import resource, torch
from upnn import device
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        held = [torch.ones(10, 1200, 32) for _ in range(8)]
        del held
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
plain = faults()
applied = device.reuse_cpu_memory()
faults()
print(plain, applied, faults())
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_reuse_cpu_memory_stops_the_page_faults_of_fresh_activations():
    out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True, check=True)
    plain, applied, reused = out.stdout.split()
    assert applied == "True"
    assert int(plain) > 20 * 1000 and int(reused) < 100, out.stdout
