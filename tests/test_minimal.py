"""Tests for upnn.minimal: the minimal-amplitude bisection and DeepFool's l2."""

import math

import pytest
import torch
from conftest import trained_digits

from upnn import minimal


@pytest.fixture(scope="module")
def net_and_data(tmp_path_factory):
    net, d = trained_digits("cnn3", tmp_path_factory.mktemp("cnn3"), epochs=3, width=0.25,
                            limit_test=60)
    return net, d[2], d[3]


def test_n_bisections():
    assert minimal.n_bisections(0.5, 0.5 / 64) == 6
    assert minimal.n_bisections(0.5, 1 / 255) == 7
    assert minimal.n_bisections(0.1, 0.1) == 1
    with pytest.raises(ValueError, match="resolution"):
        minimal.n_bisections(0.1, 0.2)
    with pytest.raises(ValueError, match="unknown minimal-amplitude attack 'cw'"):
        minimal.check_attack("cw")


def test_bisection_equals_a_fine_grid_search(net_and_data):
    net, x, y = net_and_data
    max_eps, k = 0.25, 64
    found = minimal.minimal_eps(net, x, y, max_eps=max_eps, resolution=max_eps / k, steps=5)
    grid = torch.arange(1, k + 1, dtype=torch.float64) * max_eps / k
    hits = torch.stack([minimal.fooled(net, x, y, torch.full((len(x),), float(e)), steps=5)
                        for e in grid], dim=1)  # (images, grid)
    clean_wrong = net(x).argmax(1) != y
    first = torch.where(hits.any(1), grid[hits.int().argmax(1)], math.inf)
    first[clean_wrong] = 0.0
    # where success is monotone along the grid (once fooled, fooled at every larger ε), the
    # bisection must land on exactly the first fooling grid point
    monotone = (hits.int().diff(dim=1) >= 0).all(1) | clean_wrong
    assert monotone.float().mean() >= 0.8
    assert torch.equal(found[monotone], first[monotone])
    assert (found[clean_wrong] == 0).all()
    assert ((found > 0) & torch.isfinite(found)).any()  # the search did find amplitudes


def test_unreachable_images_are_inf(net_and_data):
    net, x, y = net_and_data
    found = minimal.minimal_eps(net, x, y, max_eps=1e-4, resolution=1e-4)
    correct = net(x).argmax(1) == y
    assert torch.isinf(found[correct]).all() and (found[~correct] == 0).all()


def test_deepfool_l2_is_minimal_and_fools(net_and_data):
    net, x, y = net_and_data
    l2 = minimal.deepfool_l2(net, x, y)
    correct = net(x).argmax(1) == y
    ok = correct & torch.isfinite(l2)
    assert ok.float().mean() > 0.8 * correct.float().mean()
    assert (l2[ok] > 0).all() and (l2[~correct] == 0).all()
    from upnn import attacks

    delta, fooled = attacks.deepfool(net, x, y)
    half = net(x + 0.5 * delta).argmax(1) != y
    assert half[ok].float().mean() < 0.3  # half of DeepFool's step rarely suffices
    torch.testing.assert_close(delta.flatten(1).norm(dim=1)[ok].double(), l2[ok])
