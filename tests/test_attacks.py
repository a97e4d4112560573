"""upnn.attacks: exact agreement with torchattacks 3.5.1, box/ball constraints, determinism,
model hygiene, and SparseFool against a per-sample reference of the authors' algorithm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn
from torch.testing import assert_close

from upnn.attacks import (
    ATTACKS,
    REGISTRY,
    _boundary_normal,
    _deepfool,
    _jacobian,
    _linear_solver,
    attack,
    attack_batched,
    default_steps,
)
from upnn.work import Counted

EPS = 8 / 255
ITERATIVE = ("bim", "illc", "pgd", "ifgsm")
# Exact torchattacks comparisons: both sides run the same float ops in the same order (sign,
# eps·sign added, same clamps; we sum CE where torchattacks averages it, which scales each
# gradient but keeps its sign), so results agree to the last bit; sign(0) = 0 on both sides, so
# zero-gradient elements need no special handling. atol=1e-6 still catches any sign flip (a
# flipped element is off by 2·alpha).
EXACT = {"atol": 1e-6, "rtol": 0.0}


def tiny_net(seed: int = 0) -> nn.Module:
    with torch.random.fork_rng():  # seeded init without touching other tests' global RNG
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
        )


def batch(n: int = 48, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 12, 12, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The nets here are tiny: one intra-op thread is as fast and does not spin on a busy box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return tiny_net().eval()


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return batch()


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny conv net trained on a 10-class prototype task (each class a random 12×12 pattern,
    half signal, half uniform noise); returns the model and 100 fresh test points."""
    g = torch.Generator().manual_seed(0)
    proto = torch.rand(10, 1, 12, 12, generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=g)
        return 0.5 * proto[y] + 0.5 * torch.rand(n, 1, 12, 12, generator=g), y

    net = tiny_net(1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        x, y = draw(128)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x, y = draw(100)
    return net, x, y


def least_likely(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmin(dim=1)


def predicted(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(dim=1)


# ------------------------------------------------------------------ torchattacks equivalence


@pytest.mark.parametrize("name", ["osnt", "fgsm"])
def test_osnt_matches_torchattacks_fgsm(model, data, name):
    x, y = data
    ref = torchattacks.FGSM(model, eps=EPS)(x, y)
    assert_close(attack(name, model, x, y, EPS), ref, **EXACT)


def test_ost_matches_torchattacks_targeted_fgsm(model, data):
    x, y = data
    atk = torchattacks.FGSM(model, eps=EPS)
    atk.set_mode_targeted_by_label(quiet=True)
    ref = atk(x, least_likely(model, x))
    assert_close(attack("ost", model, x, y, EPS), ref, **EXACT)


def test_ost_matches_torchattacks_least_likely_mode(model, data):
    # torchattacks' least-likely target excludes the given label; with y = the prediction the
    # clean argmin is never y, so both definitions pick the same class.
    x, _ = data
    y = predicted(model, x)
    atk = torchattacks.FGSM(model, eps=EPS)
    atk.set_mode_targeted_least_likely(kth_min=1, quiet=True)
    assert_close(attack("ost", model, x, y, EPS), atk(x, y), **EXACT)


@pytest.mark.parametrize(("eps", "alpha", "steps"), [(EPS, 1 / 255, 5), (0.1, 0.02, 7)])
def test_bim_matches_torchattacks_bim(model, data, eps, alpha, steps):
    x, y = data
    ref = torchattacks.BIM(model, eps=eps, alpha=alpha, steps=steps)(x, y)
    assert_close(attack("bim", model, x, y, eps, alpha=alpha, steps=steps), ref, **EXACT)


@pytest.mark.parametrize("eps", [2 / 255, EPS, 0.1, 0.3])
def test_bim_default_steps_match_torchattacks_formula(model, eps):
    ta = torchattacks.BIM(model, eps=eps, alpha=1 / 255, steps=0)  # steps=0: Kurakin's formula
    assert default_steps("bim", eps, None) == (1 / 255, ta.steps)
    assert default_steps("illc", eps, 0.5 / 255) == (0.5 / 255, ta.steps)


def test_bim_default_run_matches_torchattacks(model, data):
    x, y = data
    ref = torchattacks.BIM(model, eps=4 / 255, alpha=1 / 255, steps=0)(x, y)
    assert_close(attack("bim", model, x, y, 4 / 255), ref, **EXACT)


def test_illc_matches_torchattacks_bim_least_likely(model, data):
    x, _ = data
    y = predicted(model, x)
    atk = torchattacks.BIM(model, eps=EPS, alpha=1 / 255, steps=0)
    atk.set_mode_targeted_least_likely(kth_min=1, quiet=True)
    assert_close(attack("illc", model, x, y, EPS), atk(x, y), **EXACT)


def test_illc_targets_clean_argmin_for_any_label(model, data):
    x, y = data
    atk = torchattacks.BIM(model, eps=EPS, alpha=1 / 255, steps=6)
    atk.set_mode_targeted_by_label(quiet=True)
    ref = atk(x, least_likely(model, x))
    assert_close(attack("illc", model, x, y, EPS, steps=6), ref, **EXACT)


@pytest.mark.parametrize(("eps", "alpha", "steps"), [(EPS, 2 / 255, 4), (0.1, 0.1 / 4, 4),
                                                     (0.05, 0.02, 6)])
def test_pgd_matches_torchattacks_pgd_without_random_start(model, data, eps, alpha, steps):
    x, y = data
    ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)(x, y)
    out = attack("pgd", model, x, y, eps, alpha=alpha, steps=steps, random_start=False)
    assert_close(out, ref, **EXACT)


def test_ifgsm_is_four_steps_of_eps_over_4(model, data):
    x, y = data
    ref = torchattacks.PGD(model, eps=EPS, alpha=EPS / 4, steps=4, random_start=False)(x, y)
    assert_close(attack("ifgsm", model, x, y, EPS), ref, **EXACT)
    assert_close(attack("ifgsm", model, x, y, EPS, seed=5), ref, **EXACT)  # no randomness


def test_default_steps():
    assert default_steps("osnt", 0.1, None) == (0.1, 1)
    assert default_steps("random", 0.1, 0.5) == (0.1, 1)
    assert default_steps("pgd", 0.1, None) == (0.1 / 4, 4)
    assert default_steps("pgd", 0.1, 0.01) == (0.01, 4)
    assert default_steps("ifgsm", EPS, None) == (EPS / 4, 4)
    assert default_steps("bim", 1 / 255, None) == (1 / 255, 1)  # floor(min(5, 1.25)) = 1
    assert default_steps("bim", 16 / 255, None)[1] == 20  # min(20, 20)
    assert default_steps("bim", 0.0, None)[1] == 1  # at least one step
    assert default_steps("sparsefool", 0.1, None) == (None, None)


# ------------------------------------------------------------------------------- constraints


def test_unknown_name_error_is_one_line():
    msg = "unknown attack 'pgdd'; allowed: " + ", ".join(ATTACKS)
    for call in (lambda: attack("pgdd", nn.Identity(), torch.zeros(1), torch.zeros(1), 0.1),
                 lambda: attack_batched("pgdd", nn.Identity(), torch.zeros(1), torch.zeros(1), 0.1),
                 lambda: default_steps("pgdd", 0.1, None)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == msg
        assert "\n" not in str(err.value)


def test_unexpected_kwargs_rejected(model, data):
    x, y = data
    with pytest.raises(TypeError, match="lambda_"):
        attack("pgd", model, x, y, EPS, lambda_=3.0)


# attacks that take any box (autoattack is pixel-only: [0, 1] images)
BOXED = [n for n in ATTACKS if "feature" in REGISTRY[n].levels]


def test_pixel_only_attack_refuses_another_box(model, data):
    x, y = data
    with pytest.raises(ValueError, match="autoattack runs on \\[0, 1\\] images"):
        attack("autoattack", model, x, y, 0.1, bounds=(0.1, 0.9))


@pytest.mark.parametrize("name", BOXED)
def test_float_bounds_and_eps_ball(model, data, name):
    x, y = data
    out = attack(name, model, x, y, 0.1, bounds=(0.1, 0.9))
    assert out.min() >= 0.1 and out.max() <= 0.9
    assert (out - x).abs().max() <= 0.1 + 1e-6  # every attack, SparseFool (bound "eps") too
    assert not out.requires_grad


@pytest.mark.parametrize("name", BOXED)
def test_tensor_bounds(model, data, name):
    x, y = data
    g = torch.Generator().manual_seed(3)
    lo = torch.rand(1, 12, 12, generator=g) * 0.3  # per-element box, broadcast over the batch
    hi = 1 - torch.rand(1, 12, 12, generator=g) * 0.3
    xb = torch.minimum(torch.maximum(x, lo), hi)
    out = attack(name, model, xb, y, 0.2, bounds=(lo, hi))
    assert (out >= lo).all() and (out <= hi).all()
    if name in ITERATIVE:
        assert (out - xb).abs().max() <= 0.2 + 1e-6


@pytest.mark.parametrize("name", BOXED)
def test_feature_level_inputs_with_per_feature_bounds(name):
    """(N, D) features, an MLP head and a per-feature [min, max] box as for feature attacks."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        head = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5)).eval()
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(64, 20, generator=g).relu()
    lo, hi = feats.amin(dim=0), feats.amax(dim=0)
    y = predicted(head, feats)
    out = attack(name, head, feats, y, 0.3, bounds=(lo, hi))
    assert out.shape == feats.shape
    assert (out >= lo).all() and (out <= hi).all()
    if name == "sparsefool":
        assert (predicted(head, out) != y).float().mean() >= 0.8


def test_sparsefool_without_box(trained):
    net, x, y = trained
    out = attack("sparsefool", net, x, y, 0.0, bounds=None, bound="none")
    assert torch.isfinite(out).all()
    correct = predicted(net, x) == y
    assert (predicted(net, out) != y)[correct].float().mean() >= 0.8


def test_jacobian_vmap_matches_class_loop(model, data):
    x, _ = data
    x = x[:8].clone().requires_grad_(True)
    logits = model(x)
    assert_close(_jacobian(logits, x), _jacobian(logits, x, batched=False), atol=1e-6, rtol=1e-5)


def test_no_bounds(model, data):
    x, y = data
    out = attack("pgd", model, x, y, 0.5, bounds=None, random_start=False)
    assert out.min() < 0 or out.max() > 1
    assert (out - x).abs().max() <= 0.5 + 1e-6


def test_random_has_linf_eps_on_interior_points(model, data):
    x, y = data
    out = attack("random", model, x, y, EPS)
    inner = (x > EPS) & (x < 1 - EPS)
    d = (out - x).abs()
    assert_close(d[inner], torch.full_like(d[inner], EPS), atol=1e-7, rtol=0)
    # with dyadic inputs and eps every |x_adv - x| is exactly eps in float32
    xd = torch.randint(16, 240, x.shape, generator=torch.Generator().manual_seed(0)) / 256
    d = (attack("random", model, xd, y, 1 / 32) - xd).abs()
    assert (d == 1 / 32).all()


def test_random_uses_local_generator(model, data):
    x, y = data
    state = torch.get_rng_state()
    a = attack("random", model, x, y, EPS, seed=3)
    b = attack("pgd", model, x, y, EPS, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, attack("random", model, x, y, EPS, seed=3))
    assert not torch.equal(a, attack("random", model, x, y, EPS, seed=4))
    assert torch.equal(b, attack("pgd", model, x, y, EPS, seed=3))
    assert not torch.equal(b, attack("pgd", model, x, y, EPS, seed=4))


@pytest.mark.parametrize("name", ATTACKS)
def test_deterministic_given_seed(model, data, name):
    x, y = data
    assert torch.equal(attack(name, model, x, y, EPS, seed=7, steps=3),
                       attack(name, model, x, y, EPS, seed=7, steps=3))


def test_pgd_random_start_stays_in_ball_and_box(model, data):
    x, y = data
    out = attack("pgd", model, x, y, 0.3, alpha=0.1, steps=0)  # random start only
    assert (out - x).abs().max() <= 0.3 + 1e-6 and out.min() >= 0 and out.max() <= 1
    assert (out != x).float().mean() > 0.9


def test_zero_steps_still_clamped_to_box(model, data):
    x, y = data
    out = attack("bim", model, x, y, EPS, steps=0, bounds=(0.2, 0.8))
    assert_close(out, x.clamp(0.2, 0.8), atol=0, rtol=0)


def test_model_state_restored_and_no_param_grads(data):
    x, y = data
    net = nn.Sequential(tiny_net(), nn.Dropout(0.5))
    net.train()
    net[0][0].eval()  # a mixed state must survive too
    net[0][-1].weight.requires_grad_(False)
    flags = [m.training for m in net.modules()]
    requires = [p.requires_grad for p in net.parameters()]
    assert not all(requires)
    for name in ATTACKS:
        attack(name, net, x[:16], y[:16], EPS, steps=2)
        assert [m.training for m in net.modules()] == flags
        assert all(p.grad is None for p in net.parameters())
        assert [p.requires_grad for p in net.parameters()] == requires


def test_attack_runs_in_eval_mode_and_under_no_grad(data):
    x, y = data
    net = nn.Sequential(tiny_net(), nn.Dropout(0.9))
    ref = attack("bim", net.eval(), x, y, EPS, steps=3)
    with torch.no_grad():
        out = attack("bim", net.train(), x, y, EPS, steps=3)
    assert torch.equal(out, ref)  # dropout was off during the attack


def test_attack_batched_chunks_with_seed_offsets(model, data):
    x, y = data
    out = attack_batched("pgd", model, x, y, EPS, batch_size=20, seed=5)
    for i, start in enumerate(range(0, len(x), 20)):
        sl = slice(start, start + 20)
        assert torch.equal(out[sl], attack("pgd", model, x[sl], y[sl], EPS, seed=5 + i))
    assert torch.equal(out, attack_batched("pgd", model, x, y, EPS, batch_size=20, seed=5))
    assert attack_batched("osnt", model, x[:0], y[:0], EPS).shape == (0, 1, 12, 12)


def test_attack_batched_per_sample_bounds(model, data):
    x, y = data
    lo, hi = x - 0.05, x + 0.05  # one box per sample, chunked along with x
    out = attack_batched("ifgsm", model, x, y, 0.2, batch_size=16, bounds=(lo, hi))
    assert (out >= lo).all() and (out <= hi).all()


# -------------------------------------------------------------------------------- SparseFool


def test_sparsefool_flips_with_few_elements(trained):
    net, x, y = trained
    correct = predicted(net, x) == y
    assert correct.float().mean() > 0.9
    out = attack("sparsefool", net, x, y, 0.0, bound="none")
    fooled = predicted(net, out) != y
    changed = (out != x).flatten(1).float().mean(dim=1)
    assert fooled[correct].float().mean() >= 0.8
    assert changed[correct].mean() < 0.15
    assert (changed[~correct] == 0).all()  # already fooled: untouched
    assert out.min() >= 0 and out.max() <= 1


def test_sparsefool_stays_inside_its_eps_bound_and_still_fools(trained):
    net, x, y = trained
    correct = predicted(net, x) == y
    free = attack("sparsefool", net, x, y, 0.0, bound="none")
    assert (free - x).abs().amax() > 0.5  # unbounded, it saturates pixels
    for eps in (0.05, 0.3):
        out = attack("sparsefool", net, x, y, eps)
        assert (out - x).abs().amax() <= eps + 1e-6
        assert out.min() >= 0 and out.max() <= 1
        fooled = (predicted(net, out) != y)[correct].float().mean()
        if eps == 0.3:
            assert fooled >= 0.5  # a bound the net can be fooled within
    with pytest.raises(ValueError, match="unknown sparsefool bound 'l2'; allowed: eps, none"):
        attack("sparsefool", net, x, y, 0.1, bound="l2")


def test_sparsefool_tensor_bounds(trained):
    net, x, y = trained
    lo, hi = torch.full((1, 12, 12), 0.2), torch.full((1, 12, 12), 0.8)
    x = x.clamp(0.2, 0.8)
    out = attack("sparsefool", net, x, y, 0.0, bounds=(lo, hi), max_iter=5, bound="none")
    assert (out >= lo).all() and (out <= hi).all()


def _reference_deepfool(net, x, y, overshoot=0.02, max_iter=50):
    """Per-sample multi-class DeepFool, a loop over classes as in the authors' code."""
    r, k_hat = torch.zeros_like(x), y
    for _ in range(max_iter):
        jac = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], x + r).flatten(1)
        f = net((x + r)[None])[0].detach()
        best = (torch.tensor(float("inf")), None)
        for k in range(len(f)):
            if k != y:
                w_k = jac[k] - jac[y]
                dist = (f[k] - f[y]).abs() / w_k.norm()
                if dist < best[0]:
                    best = (dist, w_k)
        r = r + (best[0].clamp(min=1e-4) * best[1] / best[1].norm()).view_as(x)
        k_hat = int(net((x + (1 + overshoot) * r)[None]).argmax())
        if k_hat != y:
            break
    return r, k_hat


def _reference_linear_solver(x, w, x_b, lo, hi, beta=1e-3):
    """Per-sample greedy coordinate steps as in the authors' linear_solver (unit normal)."""
    x, w, x_b, coord = x.flatten().clone(), w.flatten(), x_b.flatten(), w.flatten().clone()
    side = torch.dot(w, x - x_b).sign()
    while coord.abs().max() > 0:
        f = torch.dot(w, x - x_b) + beta * side
        d = coord.abs().argmax()
        x[d] = (x[d] + (f.abs() / coord[d].abs()).clamp(min=1e-4) * coord[d].sign()).clamp(lo, hi)
        coord[d] = 0
        if torch.dot(w, x - x_b).sign() != side:
            break
    return x


def test_deepfool_and_linear_solver_match_per_sample_reference(model):
    x, _ = batch(4, seed=4)
    y = predicted(model, x)
    r, k_hat = _deepfool(model, x, y, 0.02, 50)
    w = _boundary_normal(model, x + r, y, k_hat)
    out = _linear_solver(x, w, x + 3 * r, torch.zeros_like(x), torch.ones_like(x))
    for i in range(len(x)):
        r_ref, k_ref = _reference_deepfool(model, x[i], int(y[i]))
        assert k_ref == int(k_hat[i])
        assert_close(r[i], r_ref, atol=1e-6, rtol=1e-5)
        ref = _reference_linear_solver(x[i], w[i], x[i] + 3 * r[i], 0.0, 1.0)
        # same coordinates moved; values agree to float32 rounding (the batched solver sums the
        # saturating gains with a cumsum, the reference re-evaluates w·(v - x_b) after each step,
        # and the last, partial step divides that residual by |w_k|)
        assert torch.equal(out[i].flatten() != x[i].flatten(), ref != x[i].flatten())
        assert_close(out[i].flatten(), ref, atol=1e-5, rtol=0)
        assert (out[i] != x[i]).sum() < x[i].numel() // 2  # sparse


def _reference_sparsefool(net, x, y, lambda_=3.0, overshoot=0.02, max_iter=20):
    """Per-sample outer loop of the authors' sparsefool() on top of the references above."""
    x_i, x_adv = x.clone(), x.clone()
    for _ in range(max_iter):
        if int(net(x_adv[None]).argmax()) != y:
            break
        r, k_hat = _reference_deepfool(net, x_i, y, overshoot)
        v = (x_i + r).requires_grad_(True)
        logits = net(v[None])[0]
        (w,) = torch.autograd.grad(logits[k_hat] - logits[y], v)
        x_i = _reference_linear_solver(x_i, w / w.norm(), x_i + lambda_ * r, 0.0, 1.0)
        x_i = x_i.view_as(x)
        x_adv = (x + (1 + overshoot) * (x_i - x)).clamp(0, 1)
    return x_adv


def test_sparsefool_matches_per_sample_reference(trained):
    net, x, y = trained
    x, y = x[:5], y[:5]
    out = attack("sparsefool", net, x, y, 0.0, bound="none")
    for i in range(len(x)):
        ref = _reference_sparsefool(net, x[i], int(y[i]))
        assert torch.equal(out[i] != x[i], ref != x[i])
        assert_close(out[i], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd", "sparsefool"])
def test_per_sample_eps_equals_one_call_per_image(trained, name):
    net, x, y = trained
    x, y = x[:6], y[:6]
    eps = torch.tensor([0.0, 0.02, 0.05, 0.1, 0.2, 0.3])
    kw = {} if name in ("fgsm", "sparsefool") else {"steps": 5}
    alpha = None if not kw else eps / 4
    batched = attack(name, net, x, y, eps, alpha=alpha, max_iter=3, **kw) \
        if name == "sparsefool" else attack(name, net, x, y, eps, alpha=alpha, **kw)
    for i in range(len(x)):
        extra = {"max_iter": 3} if name == "sparsefool" else {}
        a = None if alpha is None else float(alpha[i])
        if name == "pgd":  # its random start draws for the whole batch: compare the ball only
            assert (batched[i] - x[i]).abs().max() <= eps[i] + 1e-6
            continue
        one = attack(name, net, x[i:i + 1], y[i:i + 1], float(eps[i]), alpha=a, **kw, **extra)
        assert_close(batched[i:i + 1], one, atol=1e-5, rtol=0)  # batch-size rounding
    with pytest.raises(ValueError, match="per-sample eps needs alpha and steps"):
        attack("bim", net, x, y, eps)


def test_a_new_attack_is_one_registry_entry(monkeypatch, model, data):
    """Adding an attack touches only ``attacks.REGISTRY`` (and this test): the attack function,
    the config schema's names, default_steps and the attack stage's rows all read from it."""
    import copy

    from conftest import ROOT

    from upnn import attacks, robustness
    from upnn import config as C

    def half_way(m, x, y, *, eps, lo, hi, **_):  # a dummy: half of FGSM's step
        return torch.clamp(x + 0.5 * eps * attacks._grad_sign(m, x, y), lo, hi)

    monkeypatch.setitem(attacks.REGISTRY, "half", attacks.Attack(half_way, attacks.one_step))
    x, y = data
    out = attack("half", model, x, y, 0.2)
    assert_close((out - x).abs().amax(), torch.tensor(0.1), atol=1e-6, rtol=0)
    assert attacks.default_steps("half", 0.2, None) == (0.2, 1)
    (row,) = robustness.attack_rows(model, x, y, [{"name": "half"}], eps=0.2)
    assert row["attack"] == "half" and row["steps"] == 1 and row["mean_linf"] <= 0.1 + 1e-6
    cfg = copy.deepcopy(C.load_yaml(ROOT / "config" / "ci.yaml"))
    cfg["attacks"]["names"].append("half")
    C.check(cfg, C.load_yaml(ROOT / "config" / "schema.yaml"))  # accepted: the enum is the code's
    cfg["attacks"]["names"].append("nope")
    with pytest.raises(C.ConfigError, match="'nope' is not allowed; allowed: osnt, .*, half"):
        C.check(cfg, C.load_yaml(ROOT / "config" / "schema.yaml"))


# ------------------------------------------------------------------------------ success rule


@pytest.mark.parametrize("name", ITERATIVE)
def test_success_any_is_never_above_final_and_does_less_work(trained, name):
    """Issue 26: under *any* an image is broken once any iterate misclassifies it; robust under
    *any* implies robust under *final* (all iterates correct ⇒ the last one correct), per image,
    and the broken images leave the batch, so the attack runs the net on fewer images."""
    net, x, y = trained
    clean = predicted(net, x) == y
    counted = Counted(net).eval()
    out = {}
    for rule in ("final", "any"):
        counted.rows = 0
        x_adv = attack(name, counted, x, y, 0.15, steps=10, alpha=0.03, success=rule)
        assert (x_adv - x).abs().amax() <= 0.15 + 1e-6 and 0 <= x_adv.min() <= x_adv.max() <= 1
        out[rule] = ((predicted(net, x_adv) == y) & clean, counted.rows)
    (robust_final, work_final), (robust_any, work_any) = out["final"], out["any"]
    assert not (robust_any & ~robust_final).any()
    assert robust_final.sum() > robust_any.sum() or robust_final.sum() == robust_any.sum()
    assert work_any < work_final


def test_success_final_is_the_default_and_bit_identical(trained):
    net, x, y = trained
    for name in ITERATIVE:
        assert torch.equal(attack(name, net, x, y, 0.1), attack(name, net, x, y, 0.1,
                                                                   success="final"))


def test_success_any_with_per_sample_eps_keeps_each_ball(trained):
    net, x, y = trained
    eps = torch.linspace(0.0, 0.3, len(x))
    x_adv = attack("bim", net, x, y, eps, alpha=eps / 5, steps=5, success="any")
    assert ((x_adv - x).flatten(1).abs().amax(1) <= eps + 1e-6).all()


def test_unknown_success_rule_is_refused_with_one_line(trained):
    net, x, y = trained
    with pytest.raises(ValueError, match=r"unknown success rule 'some'; allowed: final, any"):
        attack("pgd", net, x, y, 0.1, success="some")
    with pytest.raises(TypeError, match="success"):
        attack("osnt", net, x, y, 0.1, success="any")  # one step: no iterates to choose from


# ------------------------------------------------------------------ the exact cut (issue 26)

CUT = [n for n, a in REGISTRY.items() if a.cut]


@pytest.fixture(scope="module")
def mislabelled(trained):
    """The trained net with every fourth label moved to the next class: those images are
    misclassified clean."""
    net, x, y = trained
    y = torch.where(torch.arange(len(y)) % 4 == 0, (y + 1) % 10, y)
    return net, x, y


@pytest.mark.parametrize("success", ["final", "any"])
@pytest.mark.parametrize("name", CUT)
def test_the_cut_attacks_only_clean_correct_images_and_changes_none_of_their_floats(
        mislabelled, name, success):
    """Issue 26: given the shared clean pass, an attack leaves out the images it misclassifies
    (they are not robust whatever it does); every other image gets bit-identical floats, and
    the net runs on fewer images."""
    if success == "any" and name not in ITERATIVE:
        pytest.skip("one-step and adaptive attacks have no success rule")
    net, x, y = mislabelled
    logits = net(x).detach()
    clean = logits.argmax(1) == y
    assert 0 < (~clean).sum() < len(x)  # the net misclassifies some: there is a cut to make
    kw = {"success": success} if name in ITERATIVE else {}
    counted = Counted(net).eval()
    full = attack(name, counted, x, y, 0.15, seed=3, **kw)
    work_full, counted.rows = counted.rows, 0
    cut = attack(name, counted, x, y, 0.15, seed=3, clean_logits=logits, **kw)
    assert torch.equal(cut[clean], full[clean])
    assert torch.equal(cut[~clean], x[~clean])
    assert counted.rows < work_full


def test_the_cut_keeps_pgds_random_start_of_every_attacked_image(mislabelled):
    net, x, y = mislabelled
    logits = net(x).detach()
    clean = logits.argmax(1) == y
    full = attack("pgd", net, x, y, 0.15, steps=0, seed=5)  # zero steps: the start itself
    cut = attack("pgd", net, x, y, 0.15, steps=0, seed=5, clean_logits=logits)
    assert torch.equal(cut[clean], full[clean]) and not torch.equal(full[clean], x[clean])


def test_the_cut_over_chunks_and_per_sample_bounds(mislabelled):
    net, x, y = mislabelled
    logits = net(x).detach()
    lo, hi = (x - 0.2).clamp(0, 1), (x + 0.1).clamp(0, 1)
    for name in ("pgd", "illc", "sparsefool"):
        full = attack_batched(name, net, x, y, 0.1, batch_size=32, bounds=(lo, hi))
        cut = attack_batched(name, net, x, y, 0.1, batch_size=32, bounds=(lo, hi),
                             clean_logits=logits)
        clean = logits.argmax(1) == y
        assert torch.equal(cut[clean], full[clean])


def test_the_fixed_points_bench_watches_without_changing_the_attacks(model, data, trained,
                                                                    monkeypatch):
    """bench/fixed_points.py (issue 26) wraps the iterate loops to count iterates that repeat:
    the wrapped attacks return the same images bit for bit, and a repeat is seen where one must
    happen (eps = 0: the first step is clipped back onto x, so every later step repeats it)."""
    import importlib
    from collections import defaultdict
    from pathlib import Path

    from upnn import attacks

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    monkeypatch.setattr(attacks, "_iterate", attacks._iterate)  # restored after the test
    monkeypatch.setattr(attacks, "_linear_solver", attacks._linear_solver)
    x, y = data
    net, xt, yt = trained
    plain = {n: attack(n, model, x, y, EPS, steps=5) for n in ("bim", "illc", "pgd")}
    plain["sparsefool"] = attack("sparsefool", net, xt[:8], yt[:8], EPS)
    counts, name = defaultdict(lambda: [0, 0, 0]), [""]
    importlib.import_module("fixed_points").watch(counts, name, period=2)
    for n in ("bim", "illc", "pgd"):
        name[0] = n
        assert torch.equal(attack(n, model, x, y, EPS, steps=5), plain[n])
        assert counts[n][:2] == [5 * len(x), 0]
    name[0] = "sparsefool"
    assert torch.equal(attack("sparsefool", net, xt[:8], yt[:8], EPS), plain["sparsefool"])
    assert counts["sparsefool"][0] > 0
    name[0] = "still"
    attack("bim", model, x, y, 0.0, alpha=1 / 255, steps=4)
    assert counts["still"] == [4 * len(x), 3 * len(x), len(x)]
