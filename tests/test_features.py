"""Tests for upnn.features: the one feature level of every stage."""

import pathlib
import re

import pytest
import torch
from torch import nn

from upnn import features, models, robustness, uncertainty


def test_split_head_takes_the_parameter_free_prefix():
    m = models.build("resnet9", in_channels=3, image_size=16, width=0.125)
    prefix, rest = features.split_head(m.head)
    assert [type(p) for p in prefix] == [nn.MaxPool2d, nn.Flatten]
    assert [type(p) for p in rest] == [nn.Linear]
    x = torch.rand(2, 3, 16, 16)
    z = features.extract(m, x)
    assert z.shape == (2, rest[0].in_features) and not z.requires_grad
    torch.testing.assert_close(rest(z), m.eval()(x))
    prefix, rest = features.split_head(nn.Linear(4, 2))  # googlenet's head: no prefix
    assert isinstance(prefix, nn.Identity) and isinstance(rest, nn.Linear)


def test_range_scaled_maps_the_unit_box_onto_the_feature_box():
    lo, hi = torch.tensor([0.0, -1.0, 2.0]), torch.tensor([2.0, 1.0, 2.0])
    scaled = features.RangeScaled(nn.Identity(), lo, hi)
    torch.testing.assert_close(scaled(torch.tensor([[0.0, 0.5, 0.7]])),
                               torch.tensor([[0.0, 0.0, 2.0]]))
    z = torch.tensor([[1.0, 1.0, 2.0]])
    torch.testing.assert_close(scaled(scaled.to_unit(z)), z)
    assert scaled.to_unit(z)[0, 2] == 0  # a constant feature has no room


def test_head_net_is_the_models_own_head_in_unit_coordinates():
    torch.manual_seed(0)
    m = models.build("cnn4", in_channels=1, image_size=12, width=0.125).eval()
    x = torch.rand(20, 1, 12, 12)
    z = features.extract(m, x)
    net = features.head_net(m, z)
    lo, hi = features.box(z)
    assert torch.equal(lo, z.amin(0)) and torch.equal(hi, z.amax(0))
    torch.testing.assert_close(net(net.to_unit(z)), m(x))


def test_unit_bounds_contain_the_point_and_the_unit_box():
    u = torch.tensor([[-0.2, 0.5, 1.3]])
    lo, hi = features.unit_bounds(u)
    assert torch.equal(lo, torch.tensor([[-0.2, 0.0, 0.0]]))
    assert torch.equal(hi, torch.tensor([[1.0, 1.0, 1.3]]))


def test_both_stages_use_the_one_feature_module(monkeypatch):
    calls = []
    real = features.extract

    def counting(model, x, batch_size=1024):
        calls.append(len(x))
        return real(model, x, batch_size)

    monkeypatch.setattr(features, "extract", counting)
    torch.manual_seed(0)
    m = models.build("cnn3", in_channels=1, image_size=12, width=0.25).eval()
    x, y = torch.rand(30, 1, 12, 12), torch.arange(30) % 10
    robustness.evaluate_checkpoint(m, "feature", x[:10], y[:10], x, [{"name": "osnt"}], eps=[0.1])
    assert calls == [30, 10]
    uncertainty.evaluate_checkpoint(m, "feature", (x, y), (x[:10], y[:10]), classes=[0], n_dims=2,
                                  method="mc", n_points=4, eps=0.1, alpha=0.05, steps=1,
                                  head={"epochs": 0})
    assert calls[2:] == [30, 10]


@pytest.mark.parametrize("pattern", [r"def split_head\b", r"class RangeScaled\b",
                                     r"def (feature_box|extract_features|feature_eps)\b"])
def test_no_second_definition_of_the_feature_level(pattern):
    src = pathlib.Path(features.__file__).parent
    hits = [p.name for p in src.rglob("*.py")
            if p.name != "features.py" and re.search(pattern, p.read_text())]
    assert not hits, f"{pattern} is defined outside upnn.features: {hits}"
