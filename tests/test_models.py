import pytest
import torch
from torch import nn

from upnn import models


def convs(module):
    return [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
            for m in module.modules() if isinstance(m, nn.Conv2d)]


def linears(module):
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("name", models.MODELS)
@pytest.mark.parametrize(("c", "s"), [(1, 28), (3, 32)])
def test_split_equals_whole_net(name, c, s):
    torch.manual_seed(0)
    m = models.build(name, in_channels=c, image_size=s, width=0.25).eval()
    x = torch.rand(3, c, s, s)
    out = m(x)
    assert out.shape == (3, 10)
    torch.testing.assert_close(out, m.head(m.features(x)), rtol=0, atol=0)


def test_cnn3_exact_layers_mnist():
    m = models.build("cnn3", in_channels=1, image_size=28)
    assert convs(m.features) == [(1, 16, 5, 3, 1), (16, 64, 3, 2, 1), (64, 256, 3, 2, 1)]
    assert linears(m.head) == [(2304, 10)]
    assert m.features(torch.zeros(1, 1, 28, 28)).shape == (1, 256, 3, 3)


def test_cnn4_exact_layers_cifar():
    m = models.build("cnn4", in_channels=3, image_size=32)
    assert convs(m.features) == [(3, 32, 3, 2, 0), (32, 64, 3, 2, 0), (64, 128, 3, 2, 0),
                                 (128, 256, 3, 2, 0)]
    assert linears(m.head) == [(256, 64), (64, 10)]
    # MNIST-size input is padded to 32 so the same layers fit
    m28 = models.build("cnn4", in_channels=1, image_size=28)
    assert linears(m28.head) == [(256, 64), (64, 10)]


@pytest.mark.parametrize(("c", "s", "pool"), [(3, 32, 4), (1, 28, 3)])
def test_resnet9_exact_layers(c, s, pool):
    m = models.build("resnet9", in_channels=c, image_size=s)
    assert [k[:2] for k in convs(m.features)] == [
        (c, 64), (64, 128), (128, 128), (128, 128), (128, 256), (256, 512), (512, 512),
        (512, 512)]
    assert all(k[2:] == (3, 1, 1) for k in convs(m.features))
    assert sum(isinstance(x, nn.BatchNorm2d) for x in m.features.modules()) == 8
    assert isinstance(m.head[0], nn.MaxPool2d) and m.head[0].kernel_size == pool
    assert linears(m.head) == [(512, 10)]
    assert m.features(torch.zeros(1, c, s, s)).shape == (1, 512, pool, pool)


def test_googlenet_cifar_shapes():
    m = models.build("googlenet", in_channels=3, image_size=32)
    blocks = [x for x in m.modules() if isinstance(x, models.Inception)]
    assert [b.out_channels for b in blocks] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert m.features(torch.zeros(2, 3, 32, 32)).shape == (2, 1024)
    assert linears(m.head) == [(1024, 10)]


def test_width_scales_channels():
    m = models.build("cnn3", in_channels=1, image_size=28, width=0.5)
    assert convs(m.features)[0][:2] == (1, 8)
    assert linears(m.head) == [(128 * 9, 10)]


def test_checkpoint_rebuild(tmp_path):
    from upnn import checkpoint

    torch.manual_seed(0)
    m = models.build("resnet9", in_channels=3, image_size=32, width=0.125).eval()
    checkpoint.save({"model": m.state_dict(), "meta": m.meta}, tmp_path / "c.pt")
    back = models.load(str(tmp_path / "c.pt"))
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(back(x), m(x))


def test_bad_name_and_width():
    with pytest.raises(ValueError, match="unknown model 'vgg'; allowed: cnn3, cnn4, resnet9"):
        models.build("vgg", in_channels=1, image_size=28)
    with pytest.raises(ValueError, match="width must be > 0"):
        models.build("cnn3", in_channels=1, image_size=28, width=0)


# ------------------------------------------------------------------------------ by reference


def tiny_python_net(num_classes: int = 4) -> torch.nn.Module:
    """A net a researcher defines in their own module (``python:`` reference)."""
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(4, num_classes))


def test_a_torchvision_reference_is_split_at_its_head_with_normalize_inside():
    norm = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    model = models.build("mine", in_channels=3, image_size=32, num_classes=3,
                         ref="torchvision:resnet18", kwargs={"num_classes": 3}, head="fc",
                         normalize=norm).eval()
    x = torch.rand(2, 3, 32, 32)
    feats = model.features(x)
    assert feats.shape == (2, 512) and isinstance(model.head, torch.nn.Linear)
    torch.testing.assert_close(model(x), model.head(feats))
    assert model.meta["ref"] == "torchvision:resnet18" and model.meta["normalize"] == norm
    # the checkpoint round trip rebuilds the same net
    again = models.from_checkpoint({"meta": model.meta, "model": model.state_dict()})
    torch.testing.assert_close(again(x), model(x))
    # inputs stay in [0, 1]: the first feature layer is the stated normalisation
    first = model.features[0]
    torch.testing.assert_close(first(torch.full((1, 3, 2, 2), 0.75)), torch.ones(1, 3, 2, 2))


def test_a_python_reference_and_a_head_that_is_not_the_last_step():
    ref = "python:test_models:tiny_python_net"
    model = models.build("mine", in_channels=3, image_size=16, ref=ref,
                         kwargs={"num_classes": 4}, head="4")
    assert model(torch.rand(3, 3, 16, 16)).shape == (3, 4)
    with pytest.raises(ValueError, match=r"'1' is not the net's last step"):
        models.build("mine", in_channels=3, image_size=16, ref=ref, head="1")
    with pytest.raises(ValueError, match=r"no module 'head' to split at"):
        models.build("mine", in_channels=3, image_size=16, ref=ref, head="head")
    with pytest.raises(ValueError, match=r"allowed: torchvision:..., timm:..., python:..."):
        models.build("mine", in_channels=3, image_size=16, ref="keras:resnet")


def test_a_timm_reference_needs_the_extra():
    try:
        import timm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install 'upnn\[timm\]'"):
            models.build("mine", in_channels=3, image_size=32, ref="timm:resnet18")
        pytest.skip("timm is not installed (the optional extra upnn[timm])")
    model = models.build("mine", in_channels=3, image_size=32, ref="timm:resnet18",
                         kwargs={"num_classes": 3}).eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model.head(model.features(x)))
