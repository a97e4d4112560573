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


