"""A work planner: every job of the workflow's DAG, its work counted from the config, and an
estimated time from a rates file.

The jobs are Snakemake's own (:mod:`upnn.dag`: a forced dry run of the workflow for the config,
with each job's threads and the jobs it reads from); this module only prices them. Work is
counted, not guessed: images × forward/backward passes × the net's FLOPs per image
(:mod:`upnn.flops`). A training step costs :data:`~upnn.flops.TRAIN_PASS` forwards, an
attack's input-gradient step :data:`~upnn.flops.GRAD_PASS`. Each job's work is split by kind
(``train``: optimizer steps; ``attack``: input-gradient passes; ``eval``: forward passes only;
``mlp``: the toy and word nets; ``tsne``: openTSNE point-iterations; ``llm``: the LLM's
token FLOPs; ``io``: bytes read and written; ``calls``: sequential passes whose fixed cost per
call outweighs their FLOPs, AutoAttack's), its time comes from a rates file
(:mod:`upnn.rates`), and the list is scheduled on the rates' machine (:mod:`upnn.schedule`).
The rules take their SLURM ``runtime`` and ``mem_mb`` from the same count of their own job
(:func:`planned_resource`, rules/common.smk), so one job is priced from its rule and wildcards
alone (:func:`job`), never from the whole DAG.

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
import contextlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upnn import config as cfg
from upnn import dag
from upnn.flops import GRAD_PASS, NUM_CLASSES, TRAIN_PASS, mlp_flops, model_flops, pix2pix_flops
from upnn.rates import CPU_RATES, GPU_RATES, default_rates, load_rates, work_seconds
from upnn.rates import seconds as job_seconds
from upnn.schedule import mem_mb, runtime_minutes, schedule

ROOT = Path(__file__).resolve().parents[2]

# (train images, test images, channels, size) of each source as it comes
SOURCES: dict[str, tuple[int, int, int, int]] = {
    "mnist": (60000, 10000, 1, 28), "fashion_mnist": (60000, 10000, 1, 28),
    "cifar10": (50000, 10000, 3, 32), "fashion_mnist_subset": (8000, 2000, 1, 28),
    "mnist_subset": (8000, 2000, 1, 28),
    "digits": (1797, 0, 1, 8),
}
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
# Sequential passes of one AutoAttack run on one batch (standard version: APGD-CE 100 iterations,
# then on the points still robust APGD-T and FAB-T 9 targets × 100 each, Square 5,000 queries):
# on small batches their fixed cost per call, not their FLOPs, is the run's time (docs/gpu.md),
# priced as ``calls``
AUTOATTACK_CALLS = 100 + 9 * 100 + 9 * 100 + 5000
# stage of each rule (the table's second grouping; every other rule: figures/claims)
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
    of the jobs it needs; ``precision`` the config's, which its ``seconds`` are priced at."""

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
    precision: str = "fp32"

    @property
    def key(self) -> str:
        return dag.key(self.rule, self.wildcards)

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
    elif spec["source"] == "torchvision":  # counted from the data set itself
        from upnn.data import torchvision_shape

        n_tr, n_te, c, s = torchvision_shape(
            spec["name"], spec.get("root", config.get("data_root", "data/raw")),
            channels=spec.get("channels"), image_size=spec.get("image_size"),
            kwargs=spec.get("kwargs"), splits=spec.get("splits"))
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
    """(features, head) forward FLOPs per image of ``model`` on ``dataset``'s images at the
    config's width (:func:`upnn.flops.model_flops`)."""
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


# ------------------------------------------------------------------------------ work per rule
# Each function adds the work of one job of its rule, from the config and the job's wildcards.


def _run(config: Mapping[str, Any], j: Job) -> tuple[str, str, int]:
    """(dataset, model, seed) of a job on one training run; sets the model whose rate applies,
    the GPU request and the dataset's float32 bytes (its memory)."""
    d, m, s = j.wildcards["dataset"], j.wildcards["model"], int(j.wildcards["seed"])
    n_tr, n_te, c, size = dataset_shape(config, d)
    j.model, j.gpu, j.mem_bytes = m, config["device"] != "cpu", (n_tr + n_te) * c * size**2 * 4
    return d, m, s


def _prepare_dataset(config: Mapping[str, Any], j: Job) -> None:
    n_tr, n_te, c, s = dataset_shape(config, j.wildcards["dataset"])
    j.add("io", (n_tr + n_te) * c * s * s * 5)  # uint8 in, float32 out


def _train(config: Mapping[str, Any], j: Job) -> None:
    d, m, _ = _run(config, j)
    n_tr, n_te, *_ = dataset_shape(config, d)
    f, e = sum(_flops(config, d, m)), cfg.epochs(config, m)
    if j.rule == "train":  # imported checkpoints are only read and scored on the test set
        j.add("train", e * n_tr * TRAIN_PASS * f)
    j.add("eval", e * n_te * f)


def _attack(config: Mapping[str, Any], j: Job) -> None:
    from upnn import attacks

    d, m, s = _run(config, j)
    level, a = j.wildcards["level"], config["attacks"]
    specs = cfg.attack_specs(config, m, s)
    n_tr, n_te, *_ = dataset_shape(config, d)
    ff, fh = _flops(config, d, m)
    n = _count(a["n_test"], n_te)
    epochs = cfg.attack_epochs(config, m)
    extra_at = a.get("extra_eps_epochs", "all")
    f = ff + fh if level == "pixel" else fh
    if level == "feature":
        j.add("eval", len(epochs) * (n_tr + n) * ff)
    for i, eps in enumerate(cfg.attack_eps(config, d, level)):
        at = epochs if i == 0 or extra_at == "all" else [e for e in epochs if e in extra_at]
        amp = None if i == 0 else "extra amplitudes"
        if i == 0:
            j.add("eval", len(epochs) * n * f)  # the clean pass, shared by every ε
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
            j.add("attack", times * k * grad * GRAD_PASS * f, extra)
            j.add("eval", times * k * fwd * f, extra)
            if spec["name"] == "autoattack":  # one run per batch of the attack stage
                batches = -(-_count(spec.get("n"), n) // int(a.get("batch_size", 512)))
                j.add("calls", times * batches * AUTOATTACK_CALLS, extra)


def _attack_examples(config: Mapping[str, Any], j: Job) -> None:
    d, m, _ = _run(config, j)
    fig1 = config["figures"]["fig1"]
    n_tr, n_te, *_ = dataset_shape(config, d)
    f = sum(_flops(config, d, m))
    grad, fwd = attack_passes(fig1["attack"], {},
                              cfg.eps_list(config["attacks"]["eps"][d])[0])
    j.add("attack", n_te * grad * GRAD_PASS * f)
    j.add("eval", n_te * (fwd + 1) * f)


def _minimal(config: Mapping[str, Any], j: Job) -> None:
    from upnn import minimal

    d, m, _ = _run(config, j)
    mini = config["minimal"]
    n_tr, n_te, *_ = dataset_shape(config, d)
    f = sum(_flops(config, d, m))
    n = _count(config["attacks"]["n_test"], n_te)
    epochs = cfg.attack_epochs(config, m)
    steps = 1 if mini["attack"] in ("fgsm", "osnt") else mini["steps"]
    searches = 1 + minimal.n_bisections(mini["max_eps"][d], mini["resolution"])
    df = min(DEEPFOOL_ITERS, mini["deepfool"]["max_iter"])
    bisect = CLEAN_SHARE * searches  # images misclassified clean are never attacked
    j.add("attack", len(epochs) * n * (bisect * steps + df * NUM_CLASSES / GRAD_PASS)
          * GRAD_PASS * f, "minimal stage")
    j.add("eval", len(epochs) * n * (1 + bisect + 2 * df) * f, "minimal stage")


def _uncertainty(config: Mapping[str, Any], j: Job) -> None:
    d, m, _ = _run(config, j)
    unc = config["uncertainty"]
    n_tr, n_te, *_ = dataset_shape(config, d)
    ff, fh = _flops(config, d, m)
    ds = unc["datasets"][d]
    n = _count(unc["n_test"], n_te)
    epochs = len(_epochs(unc["epochs"], config, m))
    points = unc["n_dims"] * unc["n_points"] * (1.5 if unc["method"] == "quadrature" else 1)
    for level in unc["levels"]:
        f = ff + fh if level == "pixel" else fh
        if level == "feature":
            j.add("eval", epochs * (n_tr + n) * ff)
            j.add("train", epochs * unc["head"]["epochs"] * n_tr * TRAIN_PASS * fh)
        j.add("eval", epochs * n * 2 * f)
        j.add("attack", epochs * (n * ds["steps"] + points) * GRAD_PASS * f)


def _conjugate_tsne_maps(config: Mapping[str, Any], j: Job) -> None:
    d, m, _ = _run(config, j)
    tsne = config["uncertainty"]["tsne"]
    n_tr, n_te, *_ = dataset_shape(config, d)
    f = sum(_flops(config, d, m))
    k = _count(tsne["n_images"], n_te)
    j.add("attack", len(tsne["epochs"]) * k * tsne["steps"] * GRAD_PASS * f)
    j.add("eval", len(tsne["epochs"]) * k * 2 * f)
    j.add("tsne", len(tsne["epochs"]) * k * (tsne["n_iter"] + tsne["early_iter"]))


def _ifa(config: Mapping[str, Any], j: Job) -> None:
    d, m, _ = _run(config, j)
    ifa = config["ifa"]
    n_tr, n_te, c, size = dataset_shape(config, d)
    f = sum(_flops(config, d, m))
    k_tr, k_te = _count(ifa["limit_train"], n_tr), _count(ifa["limit_test"], n_te)
    traj = len([t for t in ifa["trajectory"] if t <= ifa["steps"]])
    j.add("attack", ((k_tr + k_te) * ifa["steps"] + k_tr * traj * 4) * GRAD_PASS * f)
    j.add("eval", (k_tr * traj * 2 + 2 * (k_tr + k_te)) * f)


def _pix2pix(config: Mapping[str, Any], j: Job) -> None:
    d, _, _ = _run(config, j)
    j.model = "pix2pix"  # the work is the generator's and discriminator's
    ifa = config["ifa"]
    n_tr, n_te, c, size = dataset_shape(config, d)
    k_tr, k_te = _count(ifa["limit_train"], n_tr), _count(ifa["limit_test"], n_te)
    p = ifa["pix2pix"]
    fg, fd = pix2pix_flops(c, size, p["base"])
    j.add("train", p["epochs"] * k_tr * TRAIN_PASS * (fg + 3 * fd))
    j.add("eval", p["epochs"] * k_te * fg)


def _ifa_summary(config: Mapping[str, Any], j: Job) -> None:
    ifa = config["ifa"]
    j.gpu = config["device"] != "cpu"
    for d, m, _s, _e in cfg.ifa_runs(config):
        n_tr, n_te, c, size = dataset_shape(config, d)
        f = sum(_flops(config, d, m))
        fg, _ = pix2pix_flops(c, size, ifa["pix2pix"]["base"])
        k_te = _count(ifa["limit_test"], n_te)
        j.add("attack", k_te * 4 * GRAD_PASS * (2 * f + fg))
        j.add("eval", k_te * 2 * (2 * f + fg))


def _frequency(config: Mapping[str, Any], j: Job) -> None:
    freq = config["frequency"]
    j.gpu = config["device"] != "cpu"
    for d, m, _s in cfg.runs(config):
        epochs = _epochs(freq["epochs"], config, m)
        if m not in freq["models"] or not epochs:
            continue
        n_tr, n_te, *_ = dataset_shape(config, d)
        f = sum(_flops(config, d, m))
        k = _count(freq["limit_test"], n_te)
        j.add("attack", len(epochs) * k * GRAD_PASS * f)
        j.add("eval", len(epochs) * k * f)


def _toy2d(config: Mapping[str, Any], j: Job) -> None:
    toy = config["toy2d"]
    j.gpu = config["device"] != "cpu"
    f = mlp_flops([2] + [toy["width"]] * toy["depth"] + [2])
    n_seeds, steps = len(toy["seeds"]), toy["attack"]["steps"]
    j.add("mlp", n_seeds * toy["epochs"] * (toy["n_train"] * 3 * f
                                            + toy["n_test"] * (2 + 3 * steps) * f
                                            + toy["n_points"] * 3 * f))
    j.add("mlp", n_seeds * len(toy["landscape"]["epochs"]) * toy["landscape"]["grid"] ** 2 * f)


def _words(config: Mapping[str, Any], j: Job) -> None:
    words = config["words"]
    j.gpu = config["device"] != "cpu"
    for size in words["embedding_sizes"]:
        f = mlp_flops([size] + [words["width"]] * words["depth"] + [3])
        j.add("mlp", len(words["seeds"]) * words["epochs"] * 1200 * 3 * f)


def _llm_eval(config: Mapping[str, Any], j: Job) -> None:
    llm = config["llm"]
    j.gpu = llm["device"] != "cpu"
    per_token = 2 * LLM_PARAMS
    passes = {"none": 1, "random": 1, "fgsm": 4, "bim": 3 * llm["bim_steps"] + 1}
    for task in llm["tasks"]:
        docs, choices, tokens = LLM_TASKS.get(task, (1000, 4, 60))
        docs = _count(llm.get("limit"), docs)
        for cond in llm["conditions"]:
            j.add("llm", docs * choices * tokens * per_token * passes.get(cond, 1))


# rule → the function adding its work; a rule not listed does no counted work (figures, tables:
# they cost their rates file's overhead)
WORK: dict[str, Callable[[Mapping[str, Any], Job], None]] = {
    "prepare_dataset": _prepare_dataset, "train": _train, "import_checkpoints": _train,
    "attack": _attack, "attack_examples": _attack_examples, "minimal": _minimal,
    "uncertainty": _uncertainty, "conjugate_tsne_maps": _conjugate_tsne_maps,
    "ifa": _ifa, "pix2pix": _pix2pix, "ifa_summary": _ifa_summary, "frequency": _frequency,
    "toy2d": _toy2d, "words": _words, "llm_eval": _llm_eval,
}


def job(config: Mapping[str, Any], rule: str, wildcards: Mapping[str, Any],
        threads: int = 1) -> Job:
    """The job of ``rule`` with ``wildcards`` (and the rule's ``threads``), its work counted, at
    the config's ``precision``."""
    j = Job(rule, {k: str(v) for k, v in wildcards.items()}, threads=threads,
            precision=config.get("precision", "fp32"))
    if rule in WORK:
        WORK[rule](config, j)
    return j


def estimate(config: Mapping[str, Any], rates: Mapping[str, Any],
             graph: Sequence[dag.DagJob]) -> list[Job]:
    """The jobs of ``graph`` (:func:`upnn.dag.jobs` for this config) with their work, needs and
    ``seconds`` (at the config's ``precision``)."""
    out = []
    for g in graph:
        j = job(config, g.rule, g.wildcards, g.threads)
        j.needs = list(g.needs)
        j.seconds = job_seconds(j, rates, j.precision)
        out.append(j)
    return out


# ------------------------------------------------------------------------------ for the rules


_PLANS: dict[tuple[str, str, str, int], Job] = {}
_FAILED: list[Exception] = []


def planned_job(config: Mapping[str, Any], rates_path: str | Path, rule: str,
                wildcards: Mapping[str, Any], threads: int = 1) -> Job:
    """The estimated job of ``rule`` with ``wildcards`` and ``threads``, computed once per
    (config, rates file, job) and process."""
    wild = {k: str(v) for k, v in wildcards.items()}
    key = (json.dumps(config, sort_keys=True, default=str), str(rates_path),
           dag.key(rule, wild), threads)
    if key not in _PLANS:
        j = job(config, rule, wild, threads)
        j.seconds = job_seconds(j, load_rates(rates_path), j.precision)
        _PLANS[key] = j
    return _PLANS[key]


def planned_resource(config: Mapping[str, Any], rates_path: str | Path, rule: str,
                     wildcards: Mapping[str, Any], what: str, attempt: int,
                     fallback: int, threads: int = 1) -> int:
    """``runtime`` (minutes, :func:`~upnn.schedule.runtime_minutes`) or ``mem_mb``
    (:func:`~upnn.schedule.mem_mb`) of a job for the rules; ``fallback`` where the planner fails
    (said once on stderr: a planner bug must never stop a workflow)."""
    try:
        j = planned_job(config, rates_path, rule, wildcards, threads)
    except Exception as err:
        if not _FAILED:
            _FAILED.append(err)
            print(f"upnn.plan: no estimate ({type(err).__name__}: {err}); rules use their "
                  f"fallback resources", file=sys.stderr)
        return fallback
    return runtime_minutes(j, attempt) if what == "runtime" else mem_mb(j, attempt)


# ------------------------------------------------------------------------------ the report


def _fmt(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def extra_seconds(job: Job, rates: Mapping[str, Any], extra: str) -> float:
    """The seconds of ``job`` spent on one extra of ours (:meth:`Job.add`'s ``extra``): its
    whole time, overhead included, when all of its work is that extra's (the job exists only
    for it, e.g. the minimal stage's), else the time of that work."""
    work = job.extras.get(extra, {})
    if work and work == job.work:
        return job.seconds
    return work_seconds(job, work, rates, job.precision)


def _flop(x: float) -> str:
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}"
    return f"{x / 1e9:.2f} GFLOP"


def extras_table(plan: Sequence[Job], rates: Mapping[str, Any]) -> str:
    """The papers' grid against each extra of ours (AutoAttack, the extra amplitudes, the
    minimal stage), in summed job time and attack-stage work (input-gradient and forward passes
    of the attack jobs): what each choice costs. The papers' grid is split into its attack stage
    and the rest (training, uncertainty, IFA, toy, words, LLM, figures), which no cut of the
    attacks can shorten."""
    names = sorted({e for j in plan for e in j.extras})
    attack_jobs = [j for j in plan if j.stage == "attack"]

    def work(w: Mapping[str, float]) -> float:
        return w.get("attack", 0.0) + w.get("eval", 0.0)

    cost = {e: sum(extra_seconds(j, rates, e) for j in plan) for e in names}
    flops = {e: sum(work(j.extras.get(e, {})) for j in attack_jobs) for e in names}
    grid = sum(j.seconds for j in plan) - sum(cost.values())
    rest = sum(j.seconds for j in plan if j.stage != "attack")
    grid_flops = sum(work(j.work) for j in attack_jobs) - sum(flops.values())
    lines = ["| work | sum of job times | attack-stage work |", "| --- | --- | --- |",
             f"| the papers' grid (all but the extras below) | {_fmt(grid)} | {_flop(grid_flops)} |",
             f"| … its attacks | {_fmt(grid - rest)} | {_flop(grid_flops)} |",
             f"| … the rest (training, uncertainty, IFA, toy, words, LLM, figures) | {_fmt(rest)} "
             "| 0 |"]
    lines += [f"| extra: {e} | {_fmt(cost[e])} | {_flop(flops[e])} |" for e in names]
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
    parser.add_argument("--configfile", nargs="*", default=[],
                        help="config files, layered over config/config.yaml as Snakemake's "
                             "--configfile layers them (default: the offline default)")
    parser.add_argument("--directory", default=".",
                        help="the working directory whose DAG is planned (default: here)")
    parser.add_argument("--rates", default=None,
                        help=f"rates YAML (default: {CPU_RATES.relative_to(ROOT)} for a config "
                             f"with device: cpu, or auto on a machine without CUDA, else "
                             f"{GPU_RATES.relative_to(ROOT)}; $UPNN_RATES overrides)")
    args = parser.parse_args(argv)
    files = [Path(f).resolve() for f in args.configfile]
    config = cfg.normalize(cfg.layered(ROOT / "config" / "config.yaml", files))
    rates = load_rates(Path(args.rates).resolve() if args.rates else default_rates(config, here=True))
    from upnn.data import DatasetUnavailable  # imports torch: the command line only

    # the config's relative paths (image folders, a data set's root) as the workflow reads them
    with contextlib.chdir(args.directory):
        try:
            cfg.check(config, cfg.load_yaml(ROOT / "config" / "schema.yaml"))
            graph = dag.jobs(files, ".")
            jobs = estimate(config, rates, graph)
        except (cfg.ConfigError, dag.DagError, DatasetUnavailable) as err:
            print(f"upnn: {err}", file=sys.stderr)
            return 2
    name = " ".join(args.configfile) or "config/config.yaml"
    print(report(jobs, rates, name=name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
