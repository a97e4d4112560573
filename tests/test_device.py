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




def test_channels_last_is_the_same_net_in_another_layout():
    """Issue 26 item 4: memory_format channels_last puts every convolution weight in NHWC; the
    logits and input gradients equal the contiguous net's at float level."""
    from upnn import models

    net = models.build("resnet9", in_channels=1, image_size=28, num_classes=10, width=0.25).eval()
    x = torch.rand(8, 1, 28, 28, requires_grad=True)
    want = net(x)
    (g_want,) = torch.autograd.grad(want.sum(), x)
    same = device.with_memory_format(net, "contiguous")
    assert same is net and all(p.is_contiguous() for p in net.parameters())
    nhwc = device.with_memory_format(net, "channels_last")
    convs = [m.weight for m in nhwc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert any(not w.is_contiguous() for w in convs)  # (a 1-channel or 1×1 one is both)
    got = nhwc(x)
    (g_got,) = torch.autograd.grad(got.sum(), x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g_got, g_want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="unknown memory_format 'nhwc'; allowed: contiguous, "
                                         "channels_last"):
        device.with_memory_format(net, "nhwc")


def test_training_in_channels_last_is_another_fingerprint_and_its_checkpoints_load(tmp_path):
    from upnn import data, models, train

    xtr, ytr = data.load_split("digits", "train", image_size=28, limit=64)
    xte, yte = data.load_split("digits", "test", image_size=28, limit=32)
    d = tuple(torch.as_tensor(a) for a in (xtr, ytr, xte, yte))
    cfg = train.TrainConfig(epochs=1, batch_size=32, lr=1e-3)
    train.train("cnn3", d, cfg, tmp_path / "a", width=0.25, progress=False)
    train.train("cnn3", d, cfg, tmp_path / "b", width=0.25, progress=False,
                memory_format="channels_last")
    a, b = (torch.load(tmp_path / f / "epoch001.pt", weights_only=True) for f in ("a", "b"))
    assert a["fingerprint"] != b["fingerprint"]
    net = models.load(str(tmp_path / "b" / "epoch001.pt")).eval()  # loads as any checkpoint
    ref = models.load(str(tmp_path / "a" / "epoch001.pt")).eval()
    with torch.no_grad():
        torch.testing.assert_close(net(d[2]), ref(d[2]), rtol=1e-3, atol=1e-4)
