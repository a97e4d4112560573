"""A work planner: every job of the workflow's DAG, its work counted from the config, and an
estimated time from a rates file.

Work is counted, not guessed: images × forward/backward passes × the net's FLOPs per image
(``torch.utils.flop_counter`` on one forward at the config's width and image shape). A training
step costs 3 forwards (the backward computes gradients of activations and weights, ≈ 2
forwards); an attack's input-gradient step costs 2 (:data:`GRAD_PASS`: the backward needs the
activations' gradients only, ``torch.autograd.grad`` skips the weights'). Each job's work is split by kind
(``train``: optimizer steps; ``attack``: input-gradient passes; ``eval``: forward passes only;
``mlp``: the toy and word nets; ``tsne``: openTSNE point-iterations; ``llm``: the LLM's
token FLOPs; ``io``: bytes read and written), and its time is

    overhead(rule) + Σ_kind work[kind] / rate(kind, model) × cores / min(threads, cores)

with the rates (FLOP/s per kind, optionally per model) from a YAML file under
``config/rates/`` measured on one machine (``bench/device_check.py`` writes one) or assumed
(its ``status`` says which). The job list mirrors the rules through the same functions of
:mod:`upnn.config` they use, so ``python -m upnn.plan`` lists exactly the jobs of
``snakemake -n`` (tests/test_plan.py checks it), and the rules take their SLURM ``runtime``
and ``mem_mb`` from :func:`runtime_minutes` and :func:`mem_mb` (rules/common.smk).

Counting conventions where the work depends on the data (stated, not hidden; the attack stage's
own counts on a small run check them, tests/test_plan.py): an attack runs on the images its
clean pass classifies correctly (the exact cut of :mod:`upnn.robustness`), :data:`CLEAN_SHARE`
of the test images; SparseFool runs :data:`SPARSEFOOL_OUTER` outer iterations per attacked image
(at most its ``max_iter``), each with :data:`SPARSEFOOL_DEEPFOOL` DeepFool iterations (its
Jacobian: one forward and K backwards); the minimal stage's DeepFool :data:`DEEPFOOL_ITERS`; the
minimal-amplitude bisection keeps every attacked image active;
AutoAttack runs APGD-CE on the attacked images and the rest on :data:`AUTOATTACK_ROBUST` of them
(it only attacks points still robust). The typical counts were measured on the offline
default's checkpoints (``bench/cuts.py`` and ``bench/attack_work.py``, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import functools
import heapq
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upnn import config as cfg

ROOT = Path(__file__).resolve().parents[2]
RATES_DIR = ROOT / "config" / "rates"
CPU_RATES = RATES_DIR / "cpu-2core.yaml"
GPU_RATES = RATES_DIR / "gpu-h100.yaml"

# (train images, test images, channels, size) of each source as it comes
SOURCES: dict[str, tuple[int, int, int, int]] = {
    "mnist": (60000, 10000, 1, 28), "fashion_mnist": (60000, 10000, 1, 28),
    "cifar10": (50000, 10000, 3, 32), "fashion_mnist_subset": (8000, 2000, 1, 28),
    "mnist_subset": (8000, 2000, 1, 28),
    "digits": (1797, 0, 1, 8),
}
NUM_CLASSES = 10
TRAIN_PASS = 3.0        # forwards per training image: forward + backward to activations and weights
GRAD_PASS = 2.0         # forwards per input gradient: forward + backward to the activations only
# Typical counts where the work depends on the data (bench/attack_work.py on the offline
# default's checkpoints, 2026-12-06: clean share 0.79 over nets, seeds and epochs, 0.57 at epoch 1;
# SparseFool 10.2 outer iterations per attacked image within its eps box, of its cap of 20,
# with 1.54 DeepFool iterations each)
CLEAN_SHARE = 0.9       # share of test images classified correctly clean (the papers' trained nets
                        # reach TA > 0.98 on MNIST, ~0.9 on CIFAR-10): the ones attacked
SPARSEFOOL_OUTER = 10.0  # SparseFool's outer iterations per attacked image (cap: max_iter)
SPARSEFOOL_DEEPFOOL = 1.5  # DeepFool iterations per SparseFool outer iteration
DEEPFOOL_ITERS = 2      # DeepFool iterations of the minimal stage's unbounded DeepFool (cap: max_iter)
AUTOATTACK_ROBUST = 0.25  # share still robust after APGD-CE (AutoAttack's later parts): ~RA
SAFETY_FACTOR, SAFETY_MINUTES = 3.0, 5  # SLURM runtime = factor × estimate + minutes, × attempt
KINDS = ("train", "attack", "eval", "mlp", "tsne", "llm", "io")
# stage of each rule (the table's second grouping)
STAGES = {
    "download_dataset": "data", "prepare_dataset": "data", "train": "train",
    "import_checkpoints": "train",
    "attack": "attack", "attack_examples": "attack", "minimal": "attack",
    "uncertainty": "uncertainty", "conjugate_tsne_maps": "uncertainty",
    "ifa": "ifa", "pix2pix": "ifa", "ifa_summary": "ifa", "frequency": "ifa",
    "toy2d": "toy2d/words", "words": "toy2d/words", "llm_eval": "llm",
}
# (documents, choices, tokens per choice) of the LLM stage's lm-eval tasks (test/validation sets)
LLM_TASKS = {"arc_challenge": (1172, 4, 60), "arc_easy": (2376, 4, 55),
             "hellaswag": (10042, 4, 120), "openbookqa": (500, 4, 40), "piqa": (1838, 2, 60),
             "winogrande": (1267, 2, 40)}
LLM_PARAMS = 1.1e9      # TinyLlama


@dataclass
class Job:
    """One job of the DAG: its rule, wildcards, work by kind (FLOPs; tsne: point-iterations;
    io: bytes), threads, whether it asks for a GPU, the model whose rate applies, and the keys
    of the jobs it needs."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    work: dict[str, float] = field(default_factory=dict)
    threads: int = 1
    gpu: bool = False
    model: str | None = None
    needs: list[str] = field(default_factory=list)
    mem_bytes: float = 0.0
    seconds: float = 0.0
    extras: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.wildcards.items()))
        return f"{self.rule}[{inner}]" if inner else self.rule

    @property
    def stage(self) -> str:
        return STAGES.get(self.rule, "figures/claims")

    def add(self, kind: str, amount: float, extra: str | None = None) -> None:
        """Add work; ``extra`` names the extra of ours it belongs to (AutoAttack, the extra
        amplitudes, the minimal stage), so the report can price the papers' grid and each extra
        apart."""
        self.work[kind] = self.work.get(kind, 0.0) + float(amount)
        if extra:
            bucket = self.extras.setdefault(extra, {})
            bucket[kind] = bucket.get(kind, 0.0) + float(amount)


# ------------------------------------------------------------------------------ FLOPs per image


@functools.cache
def model_flops(name: str, channels: int, size: int, width: float,
                reference: str = "{}") -> tuple[float, float]:
    """(features, head) forward FLOPs per image of model ``name``: 2 per multiply-add of every
    convolution and matmul; BatchNorm, ReLU and pooling not counted. The built-in nets compute
    with ``nn.Conv2d`` and ``nn.Linear`` only, so hooks on those count them
    (:func:`layer_flops`; tests/test_plan.py checks it against ``FlopCounterMode``, whose first
    use imports torch._dynamo, 1 s of every Snakemake start); a referenced net
    (``reference``: its ``ref``, ``kwargs``, ``head``, ``normalize`` as JSON,
    :func:`upnn.config.model_reference`) may compute with any op, so ``FlopCounterMode`` counts
    it."""
    import json

    import torch

    from upnn import models

    ref = json.loads(reference)
    with torch.random.fork_rng():  # built on the CPU: the caller's random stream is untouched
        net = models.build(name, in_channels=channels, image_size=size, num_classes=NUM_CLASSES,
                           width=width, **ref).eval()
    x = torch.zeros(1, channels, size, size)
    count = counted_flops if ref else layer_flops
    with torch.no_grad():
        total_f, feats = count(net.features, x)
        total_h, _ = count(net.head, feats)
    return float(total_f), float(total_h)


def layer_flops(net: Any, x: Any) -> tuple[float, Any]:
    """(FLOPs of ``net`` on ``x`` from its Conv2d, ConvTranspose2d and Linear layers: 2 per
    multiply-add, bias not counted, as ``FlopCounterMode`` counts them; its output)."""
    from torch import nn

    total = [0.0]

    def conv(m: nn.Conv2d, _: Any, out: Any) -> None:
        total[0] += 2.0 * out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    def transposed(m: nn.ConvTranspose2d, inp: Any, _: Any) -> None:
        total[0] += 2.0 * inp[0].numel() * (m.out_channels // m.groups) * math.prod(m.kernel_size)

    def linear(m: nn.Linear, _: Any, out: Any) -> None:
        total[0] += 2.0 * out.numel() * m.in_features

    kinds = ((nn.Conv2d, conv), (nn.ConvTranspose2d, transposed), (nn.Linear, linear))
    hooks = [m.register_forward_hook(hook) for m in net.modules() for kind, hook in kinds
             if type(m) is kind]
    try:
        out = net(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0], out


def counted_flops(net: Any, x: Any) -> tuple[float, Any]:
    """(FLOPs of ``net`` on ``x`` by ``torch.utils.flop_counter.FlopCounterMode``, its output)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = net(x)
    return float(counter.get_total_flops()), out


@functools.cache
def pix2pix_flops(channels: int, size: int, base: int) -> tuple[float, float]:
    """(generator, discriminator) forward FLOPs per image of the Pix2Pix pair (:func:`layer_flops`)."""
    import torch

    from upnn import pix2pix

    with torch.random.fork_rng():  # built on the CPU: the caller's random stream is untouched
        g = pix2pix.UNetGenerator(channels, channels, size, base).eval()
        d = pix2pix.PatchDiscriminator(2 * channels, size, base).eval()
    xg, xd = torch.zeros(1, channels, size, size), torch.zeros(1, 2 * channels, size, size)
    with torch.no_grad():
        return layer_flops(g, xg)[0], layer_flops(d, xd)[0]


def mlp_flops(sizes: Sequence[int]) -> float:
    """Forward FLOPs per sample of a fully connected net with these layer sizes."""
    return float(sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)))


# ------------------------------------------------------------------------------ data shapes


def dataset_shape(config: Mapping[str, Any], dataset: str) -> tuple[int, int, int, int]:
    """(train images, test images, channels, size) of a configured dataset."""
    spec = config["datasets"][dataset]
    if spec["source"] == "imagefolder":  # counted from the folders themselves
        from upnn.data import IMAGE_SUFFIXES

        def count(folder: str) -> int:
            return sum(1 for f in Path(folder).glob("*/*") if f.suffix.lower() in IMAGE_SUFFIXES)

        n_tr, n_te = count(spec["train"]), count(spec["test"])
        c, s = spec.get("channels", 3), spec["image_size"]
    else:
        n_tr, n_te, c, s = SOURCES[spec["source"]]
    if spec["source"] == "digits":
        n_te = round(n_tr * spec.get("test_fraction", 0.25))
        n_tr -= n_te
    if spec.get("limit_train"):
        n_tr = min(n_tr, spec["limit_train"])
    if spec.get("limit_test"):
        n_te = min(n_te, spec["limit_test"])
    return n_tr, n_te, spec.get("channels", c), spec.get("image_size", s)


def _flops(config: Mapping[str, Any], dataset: str, model: str) -> tuple[float, float]:
    import json

    _, _, c, s = dataset_shape(config, dataset)
    return model_flops(model, c, s, float(config["models"][model].get("width", 1.0)),
                       json.dumps(cfg.model_reference(config, model), sort_keys=True))


def _epochs(value: Any, config: Mapping[str, Any], model: str) -> list[int]:
    """A stage's epoch setting ("all" or a list) as the trained epochs it names, by the config's
    one rule (:func:`upnn.config.epoch_list`: out-of-range epochs are an error, not dropped)."""
    return cfg.epoch_list(value, cfg.epochs(config, model), "epochs", model)


def _count(n: int | None, total: int) -> int:
    return total if n is None else min(n, total)


# ------------------------------------------------------------------------------ attack passes


def attack_passes(name: str, spec: Mapping[str, Any], eps: float, *,
                  outer: float | None = None, deepfool: float | None = None
                  ) -> tuple[float, float]:
    """(input-gradient passes, forward passes) per attacked image of one attack at ``eps``, the
    final robust prediction included; the clean pass is shared by every attack and counted apart
    (its y_LL serves ost and illc). SparseFool: ``outer`` outer iterations (default
    :data:`SPARSEFOOL_OUTER`, at most its ``max_iter``) of ``deepfool`` DeepFool iterations
    (default :data:`SPARSEFOOL_DEEPFOOL`); module docstring: the counting conventions."""
    from upnn import attacks

    k = NUM_CLASSES
    if name == "sparsefool":
        o = min(spec.get("max_iter", 20), SPARSEFOOL_OUTER if outer is None else outer)
        d = SPARSEFOOL_DEEPFOOL if deepfool is None else deepfool
        # per outer iteration: DeepFool (d × (forward with the K-class Jacobian ≈ K backwards,
        # check forward)), the boundary normal (one gradient), the fooled check; before them its
        # own clean check, after them the robust prediction
        return o * (d * k / GRAD_PASS + 1), o * (2 * d + 1) + 2
    if name == "autoattack":
        # FAB-T: per iteration the gradients of two logits and a forward
        grad = 100 + AUTOATTACK_ROBUST * (9 * 100 + 9 * 100 * (2 + 1 / GRAD_PASS))
        return grad, 1 + AUTOATTACK_ROBUST * 5000
    alpha, steps = attacks.default_steps(name, eps, spec.get("alpha"))
    steps = spec.get("steps") or steps or 1
    return float(steps), 1.0


# ------------------------------------------------------------------------------ the job list


def jobs(config: Mapping[str, Any]) -> list[Job]:
    """Every job of the workflow's DAG for ``config`` (rule all included), with its work."""
    gpu = config["device"] != "cpu"
    out: list[Job] = []
    runs = cfg.runs(config)
    used = sorted({d for d, _, _ in runs})

    imported = set(cfg.imported_runs(config))

    def train_key(d: str, m: str, s: int) -> str:
        rule = "import_checkpoints" if (d, m, int(s)) in imported else "train"
        return f"{rule}[dataset={d},model={m},seed={s}]"

    # data
    for source in sorted({config["datasets"][d]["source"] for d in used}):
        if source not in cfg.OFFLINE_SOURCES:
            out.append(Job("download_dataset", {"source": source}))
    for d in used:
        n_tr, n_te, c, s = dataset_shape(config, d)
        source = config["datasets"][d]["source"]
        job = Job("prepare_dataset", {"dataset": d},
                  needs=[] if source in cfg.OFFLINE_SOURCES else
                  [f"download_dataset[source={source}]"])
        job.add("io", (n_tr + n_te) * c * s * s * 5)  # uint8 in, float32 out
        out.append(job)

    def shaped(rule: str, d: str, m: str, s: int, threads: int, **wild: Any) -> Job:
        n_tr, n_te, c, size = dataset_shape(config, d)
        return Job(rule, {"dataset": d, "model": m, "seed": str(s),
                          **{k: str(v) for k, v in wild.items()}},
                   threads=threads, gpu=gpu, model=m, mem_bytes=(n_tr + n_te) * c * size**2 * 4,
                   needs=[f"prepare_dataset[dataset={d}]"]
                   if rule in ("train", "import_checkpoints") else [train_key(d, m, s)])

    # training
    for d, m, s in runs:
        n_tr, n_te, *_ = dataset_shape(config, d)
        f = sum(_flops(config, d, m))
        e = cfg.epochs(config, m)
        if (d, m, s) in imported:  # a researcher's checkpoints: read, scored on the test set
            job = shaped("import_checkpoints", d, m, s, 1)
        else:
            job = shaped("train", d, m, s, 2)
            job.add("train", e * n_tr * TRAIN_PASS * f)
        job.add("eval", e * n_te * f)
        out.append(job)

    # attacks
    from upnn import attacks

    a = config["attacks"]
    for d, m, s, level in cfg.attack_jobs(config):
        specs = cfg.attack_specs(config, m, s)
        n_tr, n_te, *_ = dataset_shape(config, d)
        ff, fh = _flops(config, d, m)
        n = _count(a["n_test"], n_te)
        epochs = cfg.attack_epochs(config, m)
        extra_at = a.get("extra_eps_epochs", "all")
        job = shaped("attack", d, m, s, 2, level=level)
        f = ff + fh if level == "pixel" else fh
        if level == "feature":
            job.add("eval", len(epochs) * (n_tr + n) * ff)
        for i, eps in enumerate(cfg.attack_eps(config, d, level)):
            at = epochs if i == 0 or extra_at == "all" else [e for e in epochs if e in extra_at]
            amp = None if i == 0 else "extra amplitudes"
            if i == 0:
                job.add("eval", len(epochs) * n * f)  # the clean pass, shared by every ε
            for spec in specs:
                registered = attacks.REGISTRY[spec["name"]]
                if level not in registered.levels:
                    continue  # e.g. autoattack: pixel level only
                grad, fwd = attack_passes(spec["name"], spec, eps)
                k = _count(spec.get("n"), n) * CLEAN_SHARE  # the cut: clean-correct images
                when = spec.get("epochs", "all")
                times = len(at) if when == "all" else int(epochs[-1] in at) if when == "last" \
                    else len([e for e in at if e in when])
                extra = amp or (None if registered.papers else spec["name"])
                job.add("attack", times * k * grad * GRAD_PASS * f, extra)
                job.add("eval", times * k * fwd * f, extra)
        out.append(job)
    fig1 = config["figures"]["fig1"]
    seed0 = cfg.first_seed(config, fig1["model"])
    n_tr, n_te, *_ = dataset_shape(config, fig1["dataset"])
    job = shaped("attack_examples", fig1["dataset"], fig1["model"], seed0, 2)
    f = sum(_flops(config, fig1["dataset"], fig1["model"]))
    grad, fwd = attack_passes(fig1["attack"], {}, cfg.eps_list(a["eps"][fig1["dataset"]])[0])
    job.add("attack", n_te * grad * GRAD_PASS * f)
    job.add("eval", n_te * (fwd + 1) * f)
    out.append(job)
    mini = config.get("minimal") or {}
    for d, m, s in cfg.minimal_jobs(config):
        from upnn import minimal

        n_tr, n_te, *_ = dataset_shape(config, d)
        f = sum(_flops(config, d, m))
        n = _count(a["n_test"], n_te)
        epochs = cfg.attack_epochs(config, m)
        steps = 1 if mini["attack"] in ("fgsm", "osnt") else mini["steps"]
        searches = 1 + minimal.n_bisections(mini["max_eps"][d], mini["resolution"])
        df = min(DEEPFOOL_ITERS, mini["deepfool"]["max_iter"])
        job = shaped("minimal", d, m, s, 2)
        bisect = CLEAN_SHARE * searches  # images misclassified clean are never attacked
        job.add("attack", len(epochs) * n * (bisect * steps + df * NUM_CLASSES / GRAD_PASS)
                * GRAD_PASS * f, "minimal stage")
        job.add("eval", len(epochs) * n * (1 + bisect + 2 * df) * f, "minimal stage")
        out.append(job)

    # uncertainty (companion paper)
    unc = config["uncertainty"]
    for d, m, s in runs:
        if m not in unc["models"] or d not in unc["datasets"]:
            continue
        n_tr, n_te, *_ = dataset_shape(config, d)
        ff, fh = _flops(config, d, m)
        ds = unc["datasets"][d]
        n = _count(unc["n_test"], n_te)
        epochs = len(_epochs(unc["epochs"], config, m))
        points = unc["n_dims"] * unc["n_points"] * (1.5 if unc["method"] == "quadrature" else 1)
        job = shaped("uncertainty", d, m, s, 1)
        for level in unc["levels"]:
            f = ff + fh if level == "pixel" else fh
            if level == "feature":
                job.add("eval", epochs * (n_tr + n) * ff)
                job.add("train", epochs * unc["head"]["epochs"] * n_tr * TRAIN_PASS * fh)
            job.add("eval", epochs * n * 2 * f)
            job.add("attack", epochs * (n * ds["steps"] + points) * GRAD_PASS * f)
        out.append(job)
    tsne = unc["tsne"]
    d, m = tsne["dataset"], tsne["model"]
    n_tr, n_te, *_ = dataset_shape(config, d)
    f = sum(_flops(config, d, m))
    k = _count(tsne["n_images"], n_te)
    job = shaped("conjugate_tsne_maps", d, m, seed0, 2)
    job.add("attack", len(tsne["epochs"]) * k * tsne["steps"] * GRAD_PASS * f)
    job.add("eval", len(tsne["epochs"]) * k * 2 * f)
    job.add("tsne", len(tsne["epochs"]) * k * (tsne["n_iter"] + tsne["early_iter"]))
    out.append(job)

    # IFA, Pix2Pix, TCL, frequency (v3)
    ifa = config.get("ifa")
    ifa_runs = cfg.ifa_runs(config)
    for d, m, s, e in ifa_runs:
        n_tr, n_te, c, size = dataset_shape(config, d)
        f = sum(_flops(config, d, m))
        k_tr, k_te = _count(ifa["limit_train"], n_tr), _count(ifa["limit_test"], n_te)
        traj = len([t for t in ifa["trajectory"] if t <= ifa["steps"]])
        job = shaped("ifa", d, m, s, 1, epoch=e)
        job.add("attack", ((k_tr + k_te) * ifa["steps"] + k_tr * traj * 4) * GRAD_PASS * f)
        job.add("eval", (k_tr * traj * 2 + 2 * (k_tr + k_te)) * f)
        out.append(job)
        p = ifa["pix2pix"]
        fg, fd = pix2pix_flops(c, size, p["base"])
        job = shaped("pix2pix", d, m, s, 1, epoch=e)
        job.model = "pix2pix"  # the work is the generator's and discriminator's
        job.needs = [f"ifa[dataset={d},epoch={e},model={m},seed={s}]"]
        job.add("train", p["epochs"] * k_tr * TRAIN_PASS * (fg + 3 * fd))
        job.add("eval", p["epochs"] * k_te * fg)
        out.append(job)
    if ifa_runs:
        job = Job("ifa_summary", threads=1, gpu=gpu,
                  needs=[j.key for j in out if j.rule == "pix2pix"])
        for d, m, _s, _e in ifa_runs:
            n_tr, n_te, c, size = dataset_shape(config, d)
            f = sum(_flops(config, d, m))
            fg, _ = pix2pix_flops(c, size, ifa["pix2pix"]["base"])
            k_te = _count(ifa["limit_test"], n_te)
            job.add("attack", k_te * 4 * GRAD_PASS * (2 * f + fg))
            job.add("eval", k_te * 2 * (2 * f + fg))
        out.append(job)
    freq = config.get("frequency")
    if freq:
        job = Job("frequency", threads=1, gpu=gpu)
        for d, m, s in runs:
            epochs = _epochs(freq["epochs"], config, m)
            if m not in freq["models"] or not epochs:
                continue
            n_tr, n_te, *_ = dataset_shape(config, d)
            f = sum(_flops(config, d, m))
            k = _count(freq["limit_test"], n_te)
            job.add("attack", len(epochs) * k * GRAD_PASS * f)
            job.add("eval", len(epochs) * k * f)
            job.needs.append(train_key(d, m, s))
        if job.needs:
            out.append(job)

    # toy and words (v4 Figs. 4, 6)
    toy = config.get("toy2d")
    if toy:
        f = mlp_flops([2] + [toy["width"]] * toy["depth"] + [2])
        n_seeds, steps = len(toy["seeds"]), toy["attack"]["steps"]
        job = Job("toy2d", threads=1, gpu=gpu)
        job.add("mlp", n_seeds * toy["epochs"] * (toy["n_train"] * 3 * f
                                                  + toy["n_test"] * (2 + 3 * steps) * f
                                                  + toy["n_points"] * 3 * f))
        job.add("mlp", n_seeds * len(toy["landscape"]["epochs"]) * toy["landscape"]["grid"] ** 2 * f)
        out.append(job)
    words = config.get("words")
    if words:
        job = Job("words", threads=1, gpu=gpu)
        for size in words["embedding_sizes"]:
            f = mlp_flops([size] + [words["width"]] * words["depth"] + [3])
            job.add("mlp", len(words["seeds"]) * words["epochs"] * 1200 * 3 * f)
        out.append(job)
    llm = config.get("llm") or {}
    if llm.get("enabled"):
        job = Job("llm_eval", threads=2, gpu=llm["device"] != "cpu")
        per_token = 2 * LLM_PARAMS
        passes = {"none": 1, "random": 1, "fgsm": 4, "bim": 3 * llm["bim_steps"] + 1}
        for task in llm["tasks"]:
            docs, choices, tokens = LLM_TASKS.get(task, (1000, 4, 60))
            docs = _count(llm.get("limit"), docs)
            for cond in llm["conditions"]:
                job.add("llm", docs * choices * tokens * per_token * passes.get(cond, 1))
        out.append(job)

    # figures, claims, all
    by_rule: dict[str, list[str]] = {}
    for j in out:
        by_rule.setdefault(j.rule, []).append(j.key)

    def keys(rule: str, **match: str) -> list[str]:
        return [j.key for j in out if j.rule == rule
                and all(j.wildcards.get(k) == v for k, v in match.items())]

    figures = [Job("figure_fig1", needs=keys("attack_examples")),
               Job("figure_fig2", needs=keys("attack", level="pixel"))]
    if keys("attack", level="feature"):
        figures.append(Job("figure_fig5", needs=keys("attack", level="feature")))
    if by_rule.get("minimal"):
        figures.append(Job("figure_robustness_eps", needs=by_rule["minimal"]))
    if by_rule.get("uncertainty"):
        figures.append(Job("figure_conjugate_uncertainty", needs=by_rule["uncertainty"]))
    figures.append(Job("figure_conjugate_tsne", needs=by_rule["conjugate_tsne_maps"]))
    if ifa_runs:
        figures.append(Job("figure_ifa_pix2pix", needs=by_rule["ifa_summary"]))
        figures.append(Job("figure_ifa_training", needs=by_rule["ifa"]))
    if by_rule.get("frequency"):
        figures.append(Job("figure_ifa_frequency", needs=by_rule["frequency"]))
    if toy:
        figures.append(Job("figure_fig4", needs=by_rule["toy2d"]))
    if words:
        figures.append(Job("figure_fig6", needs=by_rule["words"]))
    if llm.get("enabled"):
        figures.append(Job("figure_fig3", needs=by_rule["llm_eval"]))
    computed = [j.key for j in out if j.rule not in ("download_dataset", "prepare_dataset", "train",
                                                     "attack_examples", "conjugate_tsne_maps",
                                                     "pix2pix")]
    claims = Job("claims", needs=computed + keys("conjugate_tsne_maps"))
    summary = Job("summary", needs=keys("attack"))  # results/summary.csv (rules/summary.smk)
    forest = Job("figure_claims", needs=[claims.key])  # results/figures/claims.pdf
    out += figures + [claims, forest, summary]
    out.append(Job("all", needs=[j.key for j in figures] + [claims.key, forest.key,
                                                             summary.key]))
    return out


# ------------------------------------------------------------------------------ rates and time


def load_rates(path: str | Path) -> dict[str, Any]:
    """A rates file: ``status`` (measured | assumed), ``machine``, ``cores``, ``gpus``,
    ``overhead_s`` ({default, figure, local}) and ``flops_per_s`` ({kind: number or
    {default: number, <model>: number}})."""
    rates = cfg.load_yaml(path)
    for key in ("status", "machine", "cores", "overhead_s", "flops_per_s"):
        if key not in rates:
            raise ValueError(f"rates file {path}: missing {key!r}")
    if rates["status"] not in ("measured", "assumed", "partly measured"):
        raise ValueError(f"rates file {path}: status {rates['status']!r}; allowed: measured, "
                         f"assumed, partly measured")
    return rates


def rate(rates: Mapping[str, Any], kind: str, model: str | None) -> float:
    """FLOP/s (tsne: point-iterations/s; io: bytes/s) of ``kind`` for ``model``."""
    value = rates["flops_per_s"][kind]
    if isinstance(value, Mapping):
        return float(value.get(model, value["default"]))
    return float(value)


def overhead(rates: Mapping[str, Any], job: Job) -> float:
    """Fixed seconds per job: start-up (Python, torch, CUDA), reading checkpoints, writing tables."""
    o = rates["overhead_s"]
    if job.rule == "download_dataset":
        return float(o.get("local", o["default"]))
    if job.rule == "all":
        return 0.0
    if job.stage == "figures/claims":
        return float(o.get("figure", o["default"]))
    return float(o.get(job.rule, o["default"]))


def seconds(job: Job, rates: Mapping[str, Any], precision: str = "fp32") -> float:
    """Estimated wall seconds of one job on the rates' machine: its overhead plus its work at
    the rates (:func:`work_seconds`)."""
    return overhead(rates, job) + work_seconds(job, job.work, rates, precision)


def work_seconds(job: Job, work: Mapping[str, float], rates: Mapping[str, Any],
                 precision: str = "fp32") -> float:
    """Seconds of ``work`` (kind → amount, all or part of ``job``'s) at the rates (× the rates
    file's ``speedup`` of ``precision``, where it lists one), a job of fewer threads than the
    machine's cores at that share of the rate (on a GPU machine ``cores`` only matters for the
    CPU-only jobs)."""
    cores = int(rates["cores"])
    share = 1.0 if (job.gpu and rates.get("gpus")) else cores / max(1, min(job.threads, cores))
    speedup = (rates.get("speedup") or {}).get(precision, {}) if job.gpu else {}
    return sum(w / (rate(rates, k, job.model) * speedup.get(k, 1.0)) * share
               for k, w in work.items() if w)


def estimate(config: Mapping[str, Any], rates: Mapping[str, Any]) -> list[Job]:
    """:func:`jobs` with ``seconds`` filled in (at the config's ``precision``)."""
    out = jobs(config)
    for j in out:
        j.seconds = seconds(j, rates, config.get("precision", "fp32"))
    return out


def schedule(plan: Sequence[Job], rates: Mapping[str, Any]) -> tuple[float, float]:
    """(makespan, critical path) in seconds: a greedy list schedule on the rates' machine
    (``cores`` cores, each job taking min(threads, cores); ``gpus`` GPUs, one per GPU job, as
    ``snakemake --cores all`` would run them), and the longest chain of needs."""
    by_key = {j.key: j for j in plan}
    finish: dict[str, float] = {}

    def chain(key: str) -> float:
        if key not in finish:
            j = by_key[key]
            finish[key] = j.seconds + max((chain(k) for k in j.needs if k in by_key), default=0.0)
        return finish[key]

    critical = max((chain(j.key) for j in plan), default=0.0)
    cores, gpus = int(rates["cores"]), int(rates.get("gpus", 0))
    done: dict[str, float] = {}
    pending = list(plan)
    running: list[tuple[float, str]] = []
    free_c, free_g, now = cores, gpus, 0.0
    while pending or running:
        started = True
        while started:
            started = False
            for j in sorted(pending, key=lambda j: -finish[j.key]):  # longest chain first
                if not all(k in done or k not in by_key for k in j.needs):
                    continue
                c = min(j.threads, cores)
                g = 1 if (j.gpu and gpus) else 0
                if c <= free_c and g <= free_g:
                    free_c, free_g = free_c - c, free_g - g
                    heapq.heappush(running, (now + j.seconds, j.key))
                    pending.remove(j)
                    started = True
                    break
        if not running:
            break
        now, key = heapq.heappop(running)
        j = by_key[key]
        done[key] = now
        free_c += min(j.threads, cores)
        free_g += 1 if (j.gpu and gpus) else 0
    return now, critical


# ------------------------------------------------------------------------------ for the rules


def default_rates(config: Mapping[str, Any], root: str | Path = ROOT, *,
                  here: bool = False) -> Path:
    """The rates file: ``$UPNN_RATES`` if set, else (under ``root``, the workflow's directory)
    the CPU file when the config pins the CPU, the GPU file when it pins CUDA. ``device: auto``
    means the GPU file for the rules (they ask the scheduler for a GPU, and a SLURM login node
    need not have one) and, with ``here=True`` (the command line), this machine's device."""
    import os

    if os.environ.get("UPNN_RATES"):
        return Path(os.environ["UPNN_RATES"])
    rates = Path(root) / "config" / "rates"
    device = config["device"]
    if device == "auto" and here:
        from upnn.device import resolve  # imports torch: only on the command line

        device = resolve("auto").type
    return rates / (CPU_RATES.name if device == "cpu" else GPU_RATES.name)


_PLANS: dict[tuple[str, str], dict[str, Job]] = {}
_FAILED: list[Exception] = []


def planned_job(config: Mapping[str, Any], rates_path: str | Path, rule: str,
                wildcards: Mapping[str, Any]) -> Job | None:
    """The estimated job of ``rule`` with ``wildcards`` (None if the planner does not know it);
    the plan is computed once per (config, rates file) and process."""
    import json

    key = (json.dumps(config, sort_keys=True, default=str), str(rates_path))
    if key not in _PLANS:
        _PLANS[key] = {j.key: j for j in estimate(config, load_rates(rates_path))}
    wild = {k: str(v) for k, v in wildcards.items()}
    return _PLANS[key].get(Job(rule, wild).key)


def planned_resource(config: Mapping[str, Any], rates_path: str | Path, rule: str,
                     wildcards: Mapping[str, Any], what: str, attempt: int,
                     fallback: int) -> int:
    """``runtime`` (minutes, :func:`runtime_minutes`) or ``mem_mb`` (:func:`mem_mb`) of a job
    for the rules; ``fallback`` for a job the planner does not know."""
    try:
        job = planned_job(config, rates_path, rule, wildcards)
    except Exception as err:  # a planner bug must never stop a workflow: say so, use the rule's own
        if not _FAILED:
            _FAILED.append(err)
            print(f"upnn.plan: no estimate ({type(err).__name__}: {err}); rules use their "
                  f"fallback resources", file=sys.stderr)
        return fallback
    if job is None:
        return fallback
    return runtime_minutes(job, attempt) if what == "runtime" else mem_mb(job, attempt)


def local_gpus(proc: str | Path = "/proc/driver/nvidia/gpus") -> int:
    """NVIDIA GPUs on this machine as its driver lists them (0 without the driver), narrowed by
    ``CUDA_VISIBLE_DEVICES``; read without importing torch, so a Snakemake start stays fast."""
    import os

    listed = len(list(Path(proc).iterdir())) if Path(proc).is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return listed
    return min(listed, len([d for d in visible.split(",") if d.strip() not in ("", "-1")]))


def gpu_limit(given: Mapping[str, Any], gpus: int) -> int | None:
    """The scheduler's ``gpu`` limit for a run on this machine: what the command line or profile
    gave (``--resources gpu=N``; None here: keep it), else 1 where the machine has a GPU, since
    every job runs on the first GPU it sees (``device: auto``/``cuda``), so two GPU jobs would
    share it. None without a GPU: no limit (there ``device: auto`` runs every job on the CPU)."""
    if "gpu" in given or gpus == 0:
        return None
    return 1


def runtime_minutes(job: Job, attempt: int = 1) -> int:
    """SLURM ``runtime``: SAFETY_FACTOR × the estimate + SAFETY_MINUTES, doubled per retry."""
    base = SAFETY_FACTOR * job.seconds / 60 + SAFETY_MINUTES
    return int(math.ceil(base * 2 ** (max(1, attempt) - 1)))


def mem_mb(job: Job, attempt: int = 1) -> int:
    """SLURM ``mem_mb``: 2 GB for the interpreter and torch (4 GB with a GPU: the CUDA context
    and pinned buffers) plus 4× the job's float32 dataset (the tensors, their copies and Parquet
    buffers), in whole GB, doubled per retry."""
    mb = (4000 if job.gpu else 2000) + 4 * job.mem_bytes / 1e6
    return int(math.ceil(mb / 1000) * 1000 * 2 ** (max(1, attempt) - 1))


# ------------------------------------------------------------------------------ the CLI


def _fmt(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def extra_seconds(job: Job, rates: Mapping[str, Any], extra: str) -> float:
    """The seconds of ``job`` spent on one extra of ours (:meth:`Job.add`'s ``extra``)."""
    return work_seconds(job, job.extras.get(extra, {}), rates)


def extras_table(plan: Sequence[Job], rates: Mapping[str, Any]) -> str:
    """The papers' grid against each extra of ours (AutoAttack, the extra amplitudes, the
    minimal stage), in summed job time: what each choice costs."""
    names = sorted({e for j in plan for e in j.extras})
    total = sum(j.seconds for j in plan)
    cost = {e: sum(extra_seconds(j, rates, e) for j in plan) for e in names}
    lines = ["| work | sum of job times |", "| --- | --- |",
             f"| the papers' grid (all but the extras below) | {_fmt(total - sum(cost.values()))} |"]
    lines += [f"| extra: {e} | {_fmt(c)} |" for e, c in cost.items()]
    return "\n".join(lines)


def report(plan: Sequence[Job], rates: Mapping[str, Any], *, name: str = "") -> str:
    """The per-job and per-stage tables and the totals, as Markdown."""
    lines = [f"# plan{f' for {name}' if name else ''} on {rates['machine']} "
             f"(rates {rates['status']})", "",
             "| job | stage | threads | GFLOP (train / attack / eval / other) | estimate |",
             "| --- | --- | --- | --- | --- |"]
    for j in plan:
        other = sum(v for k, v in j.work.items() if k in ("mlp", "llm"))
        gf = " / ".join(f"{x / 1e9:.1f}" for x in (j.work.get("train", 0), j.work.get("attack", 0),
                                                  j.work.get("eval", 0), other))
        lines.append(f"| {j.key} | {j.stage} | {j.threads} | {gf} | {_fmt(j.seconds)} |")
    stages: dict[str, list[Job]] = {}
    for j in plan:
        stages.setdefault(j.stage, []).append(j)
    lines += ["", "| stage | jobs | TFLOP | sum of job times |", "| --- | --- | --- | --- |"]
    for st, js in stages.items():
        flops = sum(v for j in js for k, v in j.work.items() if k not in ("tsne", "io"))
        lines.append(f"| {st} | {len(js)} | {flops / 1e12:.2f} | {_fmt(sum(j.seconds for j in js))} |")
    lines += ["", extras_table(plan, rates)]
    total = sum(j.seconds for j in plan)
    makespan, critical = schedule(plan, rates)
    lines += ["", f"jobs: {len(plan)}; sum of job times: {_fmt(total)} ({total:.0f} s); "
              f"critical path: {_fmt(critical)}; scheduled on {rates['cores']} cores"
              f"{', ' + str(rates.get('gpus', 0)) + ' GPU' if rates.get('gpus') else ''}: "
              f"{_fmt(makespan)} ({makespan:.0f} s)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upnn.plan", description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", default=str(ROOT / "config" / "config.yaml"))
    parser.add_argument("--rates", default=None,
                        help=f"rates YAML (default: {CPU_RATES.relative_to(ROOT)} for a config "
                             f"with device: cpu, or auto on a machine without CUDA, else "
                             f"{GPU_RATES.relative_to(ROOT)}; $UPNN_RATES overrides)")
    args = parser.parse_args(argv)
    config = cfg.normalize(cfg.load_yaml(args.configfile))
    try:
        cfg.check(config, cfg.load_yaml(ROOT / "config" / "schema.yaml"))
    except cfg.ConfigError as err:
        print(f"upnn: {err}", file=sys.stderr)
        return 2
    rates = load_rates(args.rates or default_rates(config, here=True))
    print(report(estimate(config, rates), rates, name=args.configfile))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
