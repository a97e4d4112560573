import ctypes
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


# Where glibc puts a fresh 20 MiB tensor, before and after reuse_cpu_memory (in its own
# process: the setting is process-wide): mallinfo2's hblkhd counts the bytes in mmapped blocks
# (glibc's default for anything above 128 KiB, unmapped again on free, so every such
# activation faults its pages in anew), arena the bytes in the heap, which are kept and reused.
_WHERE = """
import ctypes, torch
from upnn import device
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
def mmapped_by_new_tensor():
    before = libc.mallinfo2().hblkhd
    x = torch.ones(5 << 20)  # 20 MiB
    return libc.mallinfo2().hblkhd - before
print(mmapped_by_new_tensor() >> 20, device.reuse_cpu_memory(), mmapped_by_new_tensor() >> 20)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_reuse_cpu_memory_keeps_activations_in_the_heap():
    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("glibc older than 2.33: no mallinfo2")
    out = subprocess.run([sys.executable, "-c", _WHERE], capture_output=True, text=True, check=True)
    plain, applied, reused = out.stdout.split()
    assert (int(plain), applied, int(reused)) == (20, "True", 0), out.stdout
