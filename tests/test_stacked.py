import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from upnn import stacked, train


def test_mlp_is_seeded_and_initialised_like_nn_linear():
    a, b, c = (stacked.mlp([2, 16, 2], "relu", seed=s) for s in (3, 3, 4))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
        assert not torch.equal(v, c.state_dict()[k])
    w = stacked.mlp([64, 512], seed=0)[0].weight.detach()
    assert w.abs().max() <= 1 / 8 and float(w.std()) == pytest.approx(1 / 8 / 3**0.5, rel=0.05)
    assert [type(m).__name__ for m in stacked.mlp([2, 4, 4, 3], "tanh", seed=0)] == [
        "Linear", "Tanh", "Linear", "Tanh", "Linear"]


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(ValueError, match="unknown activation 'gelu'; allowed: relu, tanh, sigmoid"):
        stacked.mlp([2, 2], "gelu", seed=0)
    with pytest.raises(ValueError, match="unsupported layer Dropout"):
        stacked.Stacked([torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout())])
    model = stacked.Stacked([stacked.mlp([2, 2], seed=0)])
    with pytest.raises(ValueError, match="one generator per seed"):
        stacked.train_epoch(model, stacked.adam(model.parameters(), 0.1, torch.device("cpu")),
                            torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), [], 2)


@pytest.mark.parametrize("kind", ["mlp", "embedding"])
def test_stacked_forward_equals_each_net_and_vmap(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        nets = [stacked.mlp([3, 8, 8, 2], "tanh", seed=s) for s in range(4)]
        x = torch.randn(4, 5, 3)
    else:
        nets = [stacked.embedding_mlp(11, 3, [6, 3], seed=s) for s in range(4)]
        x = torch.randint(0, 11, (4, 5))
    model = stacked.Stacked(nets)
    out = model(x)
    assert out.shape == (4, 5, nets[0](x[0]).shape[-1])
    for i, net in enumerate(nets):
        torch.testing.assert_close(out[i], net(x[i]))
        for k, v in model.seed_state(i).items():
            assert torch.equal(v, net.state_dict()[k])
    params, _ = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    ref = vmap(lambda p, xi: functional_call(base, p, (xi,)))(params, x)
    torch.testing.assert_close(out, ref)
    flat = model.flat()(x.flatten(0, 1))
    torch.testing.assert_close(flat.view_as(out), out)


def test_partial_forward_in_float64_from_the_embedding_output():
    nets = [stacked.embedding_mlp(7, 2, [4, 3], seed=s) for s in range(2)]
    model = stacked.Stacked(nets)
    emb = model.stacked[0].detach()
    full = model(torch.arange(7).expand(2, 7))
    rest = model(emb.double(), start=1, dtype=torch.float64)
    assert rest.dtype == torch.float64
    torch.testing.assert_close(rest.float(), full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "embedding"])
def test_batched_training_reaches_the_weights_of_training_each_seed_alone(kind):
    """Stacked training vs upnn.train.train_epoch on every seed's own net, same batch orders."""
    gen = torch.Generator().manual_seed(1)
    if kind == "mlp":
        x = torch.rand(90, 2, generator=gen) * 2 - 1
        y = (x[:, 0] > 0).long()

        def make(s):
            return stacked.mlp([2, 16, 16, 2], "relu", seed=s)
    else:
        x = torch.arange(40)
        y = torch.randint(0, 3, (40,), generator=gen)

        def make(s):
            return stacked.embedding_mlp(40, 4, [8, 3], seed=s)
    seed_ids, epochs, batch, lr = (0, 1, 5), 4, 32, 0.01
    dev = torch.device("cpu")

    alone = []
    for s in seed_ids:
        net, g = make(s), torch.Generator().manual_seed(s)
        opt = stacked.adam(net.parameters(), lr, dev)
        for _ in range(epochs):
            train.train_epoch(net, opt, x, y, batch, g)
        alone.append(net.state_dict())

    model = stacked.Stacked([make(s) for s in seed_ids])
    opt = stacked.adam(model.parameters(), lr, dev)
    gens = [torch.Generator().manual_seed(s) for s in seed_ids]
    for _ in range(epochs):
        losses = stacked.train_epoch(model, opt, x, y, gens, batch)
    assert losses.shape == (3,)
    moved = False
    for i, ref in enumerate(alone):
        for k, v in model.seed_state(i).items():
            torch.testing.assert_close(v, ref[k], rtol=1e-5, atol=1e-6)
            moved |= not torch.allclose(v, make(seed_ids[i]).state_dict()[k])
    assert moved  # training changed the weights, so the comparison means something


@pytest.mark.parametrize("kind", ["mlp", "embedding"])
def test_batched_training_is_deterministic(kind):
    """Two runs from the same seeds end at bit-identical losses and weights (autograd's embedding
    backward accumulates repeated rows; the result must not depend on the run)."""
    gen = torch.Generator().manual_seed(4)
    if kind == "mlp":
        x, nets = torch.rand(64, 2, generator=gen), lambda: [stacked.mlp([2, 8, 2], seed=s) for s in (0, 1)]
    else:
        x, nets = torch.arange(30), lambda: [stacked.embedding_mlp(30, 4, [8, 2], seed=s) for s in (0, 1)]
    y = torch.randint(0, 2, (len(x),), generator=gen)

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model = stacked.Stacked(nets())
        opt = stacked.adam(model.parameters(), 0.01, torch.device("cpu"))
        gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
        losses = torch.stack([stacked.train_epoch(model, opt, x, y, gens, 16) for _ in range(3)])
        return losses, [p.detach().clone() for p in model.stacked]

    (la, pa), (lb, pb) = run(), run()
    assert torch.equal(la, lb)
    assert all(torch.equal(a, b) for a, b in zip(pa, pb, strict=True))


def test_share_is_a_view():
    x = torch.randn(5, 2)
    s = stacked.share(x, 3)
    assert s.shape == (3, 5, 2) and s.data_ptr() == x.data_ptr()


def test_bench_script_runs_and_prints_every_case():
    """bench/stacked.py (not a timing test: one tiny run, to keep the script working)."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "bench/stacked.py", "--epochs", "1", "--repeat", "1"],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.count("[toy2d:") == 1 and out.count("[words:") == 1
    for line in ("training", "full epoch"):
        assert out.count(f"  {line}") == 2, out
    assert "batched" in out and "vmap" in out
