"""Attacks on an LLM's embedding output, scored with lm-eval (arXiv 2205.01493 v4, Fig. 3).

v4 perturbs the output of TinyLlama's token-embedding layer, i.e. the input of the first
transformer block, ``e ↦ e + δ`` with ``‖δ‖∞ ≤ ε``, and scores multiple-choice benchmarks with the
Language Model Evaluation Harness. Four conditions (ε = 0.01 by default, the paper's amplitude):

- ``none``:   δ = 0 (the unwrapped model, bit for bit);
- ``random``: δ = ε · sign(N(0, I));
- ``fgsm``:   δ = ε · sign ∇_e NLL(continuation | e), one gradient step per request;
- ``bim``:    k steps δ ← Π_ε(δ + (ε/k) · sign ∇_e NLL(continuation | e + δ)), δ₀ = 0.

Each lm-eval request (context, continuation) gets its own δ, from the gradient of the negative
log-likelihood of *its* continuation (lm-eval's multiple-choice score). :class:`PerturbedHFLM`
subclasses lm-eval's Hugging Face model ``HFLM`` and works with any causal LM it loads (a hub name
or a local folder).

Heavy imports (transformers, lm-eval, datasets, huggingface_hub) happen on first use, so that a
rule script can first switch the Hugging Face libraries to offline mode (:func:`go_offline`) and
check the cache (:func:`check_available`): they read their offline flags when imported.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import torch
import torch.nn.functional as F

CONDITIONS = ("none", "random", "fgsm", "bim")
PAPER_TASKS = ("arc_challenge", "arc_easy", "hellaswag", "openbookqa", "piqa", "winogrande")
DEFAULT_MODEL = "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"
DEFAULT_EPSILON = 0.01
IGNORE = -100  # target id of positions that are not scored
COLUMNS = ("model", "task", "condition", "epsilon", "steps", "acc", "acc_norm", "stderr",
           "acc_norm_stderr", "n", "n_choices", "chance")

_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
            "pytorch_model.bin.index.json")
_TOKENIZER = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
_PACKAGED = {"json", "csv", "parquet", "arrow", "text", "pandas"}  # datasets' local builders


def _check_condition(condition: str) -> None:
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; allowed: {', '.join(CONDITIONS)}")


# ------------------------------------------------------------------ the perturbation (plain torch)
def continuation_targets(rows: Sequence[tuple[int, Sequence[int]]], length: int,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """(B, length) next-token targets of right-padded inputs: row ``b`` with input length ``n`` and
    continuation ``c`` holds ``c[j]`` at position ``n − len(c) + j`` (the logit that predicts it,
    lm-eval's slice ``[inplen − contlen : inplen]``) and :data:`IGNORE` everywhere else."""
    targets = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    b = [i for i, (_, cont) in enumerate(rows) for _ in cont]
    pos = [n - len(cont) + j for n, cont in rows for j in range(len(cont))]
    tok = [t for _, cont in rows for t in cont]
    if min(pos, default=0) < 0 or max(pos, default=0) >= length:
        raise ValueError(f"continuation positions {min(pos)}..{max(pos)} outside 0..{length - 1}")
    targets[b, pos] = torch.tensor(tok, dtype=torch.long)
    return targets.to(device)


def continuation_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row negative log-likelihood −Σ_j log p(c_j | ·) of the continuation tokens (float32)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    mask = targets != IGNORE
    ll = logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return -(ll * mask).sum(dim=-1)


@contextmanager
def embedding_offset(model: torch.nn.Module, delta: torch.Tensor) -> Iterator[None]:
    """Add ``delta`` to the output of ``model.get_input_embeddings()`` (the input of the first
    transformer block) inside the block; the forward hook is removed on exit, also on error."""
    def hook(module, args, output):
        return output + delta.to(output.dtype)

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def embedding_perturbation(model: torch.nn.Module, input_ids: torch.Tensor, targets: torch.Tensor,
                           condition: str, epsilon: float = DEFAULT_EPSILON, steps: int = 10,
                           generator: torch.Generator | None = None,
                           autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """δ of shape (B, T, D) for a batch of token ids, one per row, ``‖δ_b‖∞ ≤ ε``.

    ``random``: ε·sign(N(0, I)); ``fgsm``: ε·sign ∇_e Σ_b NLL_b (rows are independent, so row ``b``
    gets the sign of its own gradient); ``bim``: ``steps`` steps of size ε/steps, each followed by
    the projection onto the ε-ball. ``targets`` come from :func:`continuation_targets`. Gradients
    are taken with ``torch.autograd.grad`` with respect to δ only: no parameter's ``.grad`` is set.
    """
    _check_condition(condition)
    if epsilon < 0:
        raise ValueError(f"epsilon = {epsilon!r} must be ≥ 0")
    if steps < 1:
        raise ValueError(f"steps = {steps!r} must be ≥ 1")
    with torch.no_grad():
        emb = model.get_input_embeddings()(input_ids)
    if condition == "none":
        return torch.zeros_like(emb)
    if condition == "random":
        noise = torch.randn(emb.shape, generator=generator, device=emb.device, dtype=torch.float32)
        return (epsilon * noise.sign()).to(emb.dtype)
    n_steps, alpha = (1, epsilon) if condition == "fgsm" else (steps, epsilon / steps)
    delta = torch.zeros(emb.shape, device=emb.device, dtype=torch.float32)
    for _ in range(n_steps):
        delta.requires_grad_(True)
        with (torch.enable_grad(),
              torch.autocast(device_type=emb.device.type, dtype=autocast_dtype,
                             enabled=autocast_dtype is not None),
              embedding_offset(model, delta)):
            logits = model(input_ids=input_ids, use_cache=False).logits
            loss = continuation_nll(logits, targets).sum()
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + alpha * grad.sign()).clamp_(-epsilon, epsilon)
        del logits, loss, grad
    return delta.to(emb.dtype)


# ------------------------------------------------------------------ offline: cache check, prefetch
class MissingFiles(RuntimeError):
    """Offline and the Hugging Face cache lacks what the run needs; the message is one line."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when ``HF_HUB_OFFLINE`` is set or the hub's host cannot be reached within ``timeout``
    (True behind an HTTPS proxy, which only the libraries themselves can use)."""
    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        return False
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def go_offline() -> None:
    """Set the Hugging Face offline flags, so nothing waits on the network. Call it before the
    first import of transformers, datasets or lm-eval in the process (they read the flags then)."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[name] = "1"


def is_local_model(model: str) -> bool:
    return Path(model).expanduser().exists()


def missing_model_files(model: str, cache_dir: str | Path | None = None) -> list[str]:
    """What of ``model`` (a local folder or a hub id looked up in the hub cache) is not on disk:
    any of 'config', 'weights', 'tokenizer'; empty when all are there."""
    if is_local_model(model):
        folder = Path(model).expanduser()
        have = {p.name for p in folder.iterdir()} if folder.is_dir() else set()

        def found(names: Sequence[str]) -> bool:
            return any(n in have for n in names)
    else:
        from huggingface_hub import try_to_load_from_cache

        def found(names: Sequence[str]) -> bool:
            return any(isinstance(try_to_load_from_cache(model, n, cache_dir=cache_dir), str)
                       for n in names)
    parts = {"config": ("config.json",), "weights": _WEIGHTS, "tokenizer": _TOKENIZER}
    return [part for part, names in parts.items() if not found(names)]


def task_manager(tasks: Sequence[str], include_path: str | Path | None = None):
    """lm-eval's TaskManager; without its ~14,000 built-in task YAMLs (slow to index) when every
    task is found under ``include_path``."""
    from lm_eval.tasks import TaskManager

    if include_path:
        tm = TaskManager(include_path=str(include_path), include_defaults=False)
        if all(t in tm.task_index for t in tasks):
            return tm
    tm = TaskManager(include_path=str(include_path) if include_path else None)
    unknown = [t for t in tasks if t not in tm.task_index]
    if unknown:
        raise ValueError(f"unknown lm-eval task {', '.join(map(repr, unknown))}; e.g. "
                         f"{', '.join(PAPER_TASKS)} (or a YAML under llm.include_path)")
    return tm


def task_dataset(tm, task: str) -> str:
    """The hub dataset behind ``task`` ('path' or 'path/name'), or '' for local data."""
    cfg = tm.task_index[task].cfg or {}
    path, name = cfg.get("dataset_path"), cfg.get("dataset_name")
    if cfg.get("custom_dataset") or not path or path in _PACKAGED or Path(str(path)).exists():
        return ""
    return f"{path}/{name}" if name else str(path)


def missing_task_data(tm, tasks: Sequence[str]) -> dict[str, str]:
    """Task → what failed, for each task whose data lm-eval cannot load (offline: not cached)."""
    missing = {}
    for task in tasks:
        try:
            tm.load([task])
        except Exception as err:  # noqa: BLE001 (datasets raises many kinds when offline)
            missing[task] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return missing


def prefetch_command(model: str, tasks: Sequence[str]) -> str:
    cmd = f"python -m upnn.llm prefetch --tasks {' '.join(tasks)}"
    return cmd if is_local_model(model) else f"{cmd} --model {model}"


def check_available(model: str, tasks: Sequence[str], tm, cache_dir: str | Path | None = None) -> None:
    """Raise :class:`MissingFiles` (one line: what is missing, how to pre-fetch it) unless the
    model's files and every task's data are on disk. Call it offline (after :func:`go_offline`)."""
    problems = []
    parts = missing_model_files(model, cache_dir)
    if parts:
        where = "local folder" if is_local_model(model) else "model"
        problems.append(f"{where} {model} ({', '.join(parts)})")
    for task, why in missing_task_data(tm, tasks).items():
        data = task_dataset(tm, task)
        problems.append(f"task {task} (dataset {data})" if data else f"task {task} ({why})")
    if problems:
        from huggingface_hub import constants

        alone = f" (or `hf download {model}` for the model alone)" if parts and not \
            is_local_model(model) else ""
        raise MissingFiles(
            f"offline and not in the Hugging Face cache (HF_HOME={constants.HF_HOME}): "
            f"{'; '.join(problems)}. Pre-fetch on a machine with internet and the same HF_HOME: "
            f"`{prefetch_command(model, tasks)}`{alone}, then copy that HF_HOME here; "
            "see docs/llm.md")


def prefetch(model: str | None, tasks: Sequence[str], include_path: str | Path | None = None) -> None:
    """Download the model (config, tokenizer, safetensors weights if the repo has them, else the
    .bin ones) and every task's dataset into the Hugging Face cache."""
    if model and not is_local_model(model):
        from huggingface_hub import list_repo_files, snapshot_download

        files = list_repo_files(model)
        weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["*.bin"]
        path = snapshot_download(model, allow_patterns=["*.json", "*.model", "*.txt", *weights])
        print(f"model {model}: {path}")
    if tasks:
        tm = task_manager(tasks, include_path)
        for task, obj in tm.load(list(tasks))["tasks"].items():
            print(f"task {task}: {sum(len(s) for s in obj.dataset.values())} docs")


# ------------------------------------------------------------------ the lm-eval model class
def __getattr__(name: str) -> Any:
    """``PerturbedHFLM`` is defined on first access, importing lm-eval only then."""
    if name == "PerturbedHFLM":
        cls = _define_perturbed_hflm()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_perturbed_hflm() -> type:
    from lm_eval.models.huggingface import HFLM

    class PerturbedHFLM(HFLM):
        """lm-eval's ``HFLM`` with δ added to the embedding output of every scored request.

        ``condition``: one of :data:`CONDITIONS` (settable between evaluations, which also reseeds
        the random condition's generator); ``epsilon``: ‖δ‖∞; ``steps``: BIM's k. Other keyword
        arguments go to ``HFLM`` (``pretrained``, ``tokenizer``, ``device``, ``dtype``,
        ``batch_size``, ...). The logits cache is off: lm-eval would otherwise reuse one request's
        logits for another with the same context, but δ depends on the continuation.
        """

        def __init__(self, pretrained: Any, condition: str = "none",
                     epsilon: float = DEFAULT_EPSILON, steps: int = 10, seed: int = 0,
                     **kwargs: Any) -> None:
            if kwargs.get("logits_cache"):
                raise ValueError("logits_cache=True is not allowed: δ depends on the continuation")
            if str(kwargs.get("batch_size", 1)).startswith("auto"):
                raise ValueError("batch_size 'auto' is not supported; give an integer")
            if epsilon < 0 or steps < 1:
                raise ValueError(f"need epsilon ≥ 0 and steps ≥ 1, got {epsilon!r}, {steps!r}")
            super().__init__(pretrained, logits_cache=False, **kwargs)
            if self.backend != "causal":
                raise ValueError(f"backend {self.backend!r} is not supported; allowed: causal")
            self.epsilon = float(epsilon)
            self.steps = int(steps)
            self.seed = int(seed)
            self._pending: list[tuple[list[int], list[int]]] | None = None
            self.condition = condition

        @property
        def condition(self) -> str:
            return self._condition

        @condition.setter
        def condition(self, value: str) -> None:
            _check_condition(value)
            self._condition = value
            self._generator = torch.Generator(device=self.device).manual_seed(self.seed)

        def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs=None):
            if self.condition == "none":
                return super()._loglikelihood_tokens(requests, disable_tqdm, override_bs)
            # lm-eval batches requests sorted by (−len(context+continuation), tokens); we sort the
            # same way (stable), hand it one batch at a time and note each row's continuation,
            # which _model_call needs for the gradient and lm-eval does not pass on.
            order = sorted(range(len(requests)),
                           key=lambda i: (-len(requests[i][1] + requests[i][2]),
                                          tuple(requests[i][1] + requests[i][2])))
            from tqdm import tqdm

            bs = int(self.batch_size)
            out: list[Any] = [None] * len(requests)
            with tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0,
                      desc=f"loglikelihood ({self.condition}, ε={self.epsilon:g})") as bar:
                for start in range(0, len(order), bs):
                    idx = order[start:start + bs]
                    chunk = [requests[i] for i in idx]
                    self._pending = [((ctx + cont)[-(self.max_length + 1):][:-1], list(cont))
                                     for _, ctx, cont in chunk]
                    try:
                        res = super()._loglikelihood_tokens(chunk, True, len(chunk))
                    finally:
                        self._pending = None
                    for i, r in zip(idx, res, strict=True):
                        out[i] = r
                    bar.update(len(chunk))
            return out

        def _model_call(self, inps: torch.Tensor, attn_mask=None, labels=None) -> torch.Tensor:
            if self.condition == "none" or self._pending is None:
                # none, or a call outside the scored requests (lm-eval's batch-size probe)
                return super()._model_call(inps, attn_mask, labels)
            rows = self._pending
            given = inps.tolist()
            if len(rows) != len(given) or any(
                    given[b][:len(inp)] != inp for b, (inp, _) in enumerate(rows)):
                raise RuntimeError("lm-eval's batch does not match the expected requests; "
                                   "this lm-eval version batches differently from upnn.llm")
            targets = continuation_targets([(len(inp), cont) for inp, cont in rows],
                                           inps.shape[1], inps.device)
            delta = embedding_perturbation(self.model, inps, targets, self.condition,
                                           self.epsilon, self.steps, self._generator,
                                           self.mixed_precision_dtype)
            with embedding_offset(self.model, delta):
                return super()._model_call(inps)

    return PerturbedHFLM


# ------------------------------------------------------------------ evaluation → tidy table
def _number(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def result_rows(results: dict, condition: str, epsilon: float, steps: int, model: str,
                tasks: Sequence[str]) -> list[dict[str, Any]]:
    """One row per task from ``simple_evaluate``'s output (run with ``log_samples=True``)."""
    rows = []
    for task in tasks:
        res = results["results"][task]
        samples = results.get("samples", {}).get(task, [])
        counts = [len(s["arguments"]) for s in samples]
        rows.append({
            "model": model, "task": task, "condition": condition,
            "epsilon": 0.0 if condition == "none" else float(epsilon),
            "steps": {"none": 0, "random": 0, "fgsm": 1}.get(condition, int(steps)),
            "acc": _number(res.get("acc,none")),
            "acc_norm": _number(res.get("acc_norm,none")),
            "stderr": _number(res.get("acc_stderr,none")),
            "acc_norm_stderr": _number(res.get("acc_norm_stderr,none")),
            "n": int(results["n-samples"][task]["effective"]),
            "n_choices": Counter(counts).most_common(1)[0][0] if counts else 0,
            "chance": sum(1 / c for c in counts) / len(counts) if counts else math.nan,
        })
    return rows


def evaluate(lm: Any, tasks: Sequence[str], conditions: Sequence[str] = CONDITIONS, tm=None,
             limit: int | None = None, num_fewshot: int = 0, model: str = "",
             logger: Any = None) -> pd.DataFrame:
    """Every condition × task through lm-eval's ``simple_evaluate``: the tidy table of
    :data:`COLUMNS`, one row per (task, condition)."""
    import lm_eval

    for c in conditions:
        _check_condition(c)
    rows = []
    for condition in conditions:
        lm.condition = condition
        t0 = time.perf_counter()
        results = lm_eval.simple_evaluate(model=lm, tasks=list(tasks), task_manager=tm,
                                          limit=limit, num_fewshot=num_fewshot, log_samples=True)
        rows += result_rows(results, condition, lm.epsilon, lm.steps, model, tasks)
        if logger is not None:
            logger.info("%s: %.1f s, acc %s", condition, time.perf_counter() - t0,
                        {r["task"]: round(r["acc"], 4) for r in rows[-len(tasks):]})
    return pd.DataFrame(rows, columns=list(COLUMNS))


# ------------------------------------------------------------------ command line: prefetch
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upnn.llm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("prefetch", help="download the model and the tasks' data into the HF cache")
    pre.add_argument("--model", default=DEFAULT_MODEL, help="hub id ('' for tasks only)")
    pre.add_argument("--tasks", nargs="*", default=list(PAPER_TASKS))
    pre.add_argument("--include-path", default=None, help="extra folder of lm-eval task YAMLs")
    args = parser.parse_args(argv)
    prefetch(args.model or None, args.tasks, args.include_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
