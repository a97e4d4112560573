"""The prepared device check (issue 19): throughput of every net of a config at its width on real
Fashion-MNIST images, fp32 against bf16, the TA/RA differences bf16 makes, torchattacks' PGD on
the same net and batch, and a rates file for the planner (upnn.rates).

    python bench/device_check.py --out DIR [--device auto|cpu|cuda] [--quick]
                                 [--configfile config/paper.yaml]

Writes ``DIR/rates.yaml`` (upnn.rates' format: FLOP/s per kind of work and model, measured) and
``DIR/device_check.json`` (every measurement, the bf16 differences and the verdict). Images: the
shipped subset (data/fashion_mnist_subset), reshaped to each dataset's channels and size, so no
download is needed. ``--quick`` (the test suite's smoke run, CPU, < 1 min): widths at most 0.25,
batches of 2, one timed step, one short training on 256 images. bench/device_check.sh wraps it
for a GPU machine (CUDA tests first, carried wheels).

The bf16 rule (docs/gpu.md): config/paper.yaml may use ``precision: bf16`` only if, on the check's
nets, TA and RA of every (epoch, attack) differ from fp32 by at most 0.5 points, both for nets
trained in bf16 (``training``) and for fp32 nets attacked in bf16 (``attacks``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402

from upnn import attacks, data, device, models, plan, train  # noqa: E402
from upnn import flops as upnn_flops  # noqa: E402
from upnn import rates as upnn_rates  # noqa: E402

THRESHOLD_POINTS = 0.5
CHECK_ATTACKS = ("fgsm", "bim", "pgd")


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def rate_of(fn: Callable[[], Any], dev: torch.device, *, min_seconds: float, max_reps: int,
            warmup: int = 1) -> float:
    """Calls per second of ``fn``: after ``warmup`` calls, as many timed calls as fit in
    ``min_seconds`` (at least one, at most ``max_reps``)."""
    for _ in range(warmup):
        fn()
    _sync(dev)
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        _sync(dev)
        elapsed = time.perf_counter() - t0
        if reps >= max_reps or elapsed >= min_seconds:
            return reps / elapsed


def nets_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    """(model, channels, size, width, batch sizes) of every trained (dataset, model) pair."""
    out, seen = [], set()
    for dataset, names in config["experiments"].items():
        _, _, c, s = plan.dataset_shape(config, dataset)
        for m in names:
            width = float(config["models"][m].get("width", 1.0))
            if (m, c, s, width) in seen:
                continue
            seen.add((m, c, s, width))
            settings = {**config["train"], **config["models"][m].get("train", {})}
            out.append({"model": m, "dataset": dataset, "channels": c, "size": s, "width": width,
                        "train_batch": int(settings["batch_size"]),
                        "attack_batch": int(config["attacks"]["batch_size"]),
                        "eps": float(data_eps(config, dataset))})
    return out


def data_eps(config: dict[str, Any], dataset: str) -> float:
    value = config["attacks"]["eps"][dataset]
    return value[0] if isinstance(value, list) else value


def images(split: str, channels: int, size: int, count: int | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load_split("fashion_mnist_subset", split, channels=channels, image_size=size)
    xt = torch.as_tensor(x).float()
    xt = xt / 255.0 if x.dtype.name == "uint8" else xt
    yt = torch.as_tensor(y).long()
    return (xt[:count], yt[:count]) if count else (xt, yt)


def measure(model: torch.nn.Module, fast: torch.nn.Module, precision: str,
            train_batch: tuple[torch.Tensor, torch.Tensor],
            attack_batch: tuple[torch.Tensor, torch.Tensor], eps: float, bim_steps: int,
            timing: dict[str, Any]) -> dict[str, float]:
    """Images per second of ``model``'s training steps in ``precision`` and of PGD-4, BIM and
    forward passes of ``fast`` (the eval-mode net with its features in ``precision``)."""
    xt, yt = train_batch
    xa, ya = attack_batch
    dev = xt.device
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        model.train()
        with device.autocast(precision, dev):
            logits = model(xt)
        loss = F.cross_entropy(logits.float(), yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def pgd() -> None:
        attacks.attack("pgd", fast, xa, ya, eps, alpha=eps / 4, steps=4)

    def bim() -> None:
        attacks.attack("bim", fast, xa, ya, eps, alpha=1.25 * eps / bim_steps, steps=bim_steps)

    def forward() -> None:
        with torch.no_grad():
            fast(xa)

    return {"train_img_s": rate_of(step, **timing) * len(yt),
            "pgd4_img_s": rate_of(pgd, **timing) * len(ya),
            "bim_steps": bim_steps, "bim_img_s": rate_of(bim, **timing) * len(ya),
            "eval_img_s": rate_of(forward, **timing) * len(ya)}


def throughput(net: dict[str, Any], dev: torch.device, precisions: list[str], quick: bool,
               torchattacks_mod: Any) -> dict[str, Any]:
    """Images per second of training steps, PGD-4 and BIM (10 steps) and forward passes, per
    precision, and torchattacks' fp32 PGD-4 on the same net and batch."""
    tb = 2 if quick else net["train_batch"]
    ab = 2 if quick else net["attack_batch"]
    bim_steps = 2 if quick else 10
    x, y = images("train", net["channels"], net["size"], max(tb, ab))
    x, y = x.to(dev), y.to(dev)
    torch.manual_seed(0)
    model = models.build(net["model"], in_channels=net["channels"], image_size=net["size"],
                         width=net["width"]).to(dev)
    flops = sum(upnn_flops.model_flops(net["model"], net["channels"], net["size"], net["width"]))
    timing = dict(dev=dev, min_seconds=0.0 if quick else 1.5, max_reps=1 if quick else 200,
                  warmup=0 if quick else 3 if dev.type == "cuda" else 1)
    eps = net["eps"]
    out: dict[str, Any] = {**net, "forward_flops": flops}
    for precision in precisions:
        fast = device.with_precision(models.build(
            net["model"], in_channels=net["channels"], image_size=net["size"],
            width=net["width"]).to(dev).eval(), precision, dev)
        r = measure(model, fast, precision, (x[:tb], y[:tb]), (x[:ab], y[:ab]), eps, bim_steps,
                    timing)
        r["train_flops_s"] = r["train_img_s"] * upnn_flops.TRAIN_PASS * flops
        r["attack_flops_s"] = statistics.mean([r["pgd4_img_s"] * 4, r["bim_img_s"] * bim_steps]) \
            * upnn_flops.GRAD_PASS * flops
        r["eval_flops_s"] = r["eval_img_s"] * flops
        out[precision] = r
    if torchattacks_mod is None:
        out["torchattacks"] = "not installed: skipped"
    else:
        ref = models.build(net["model"], in_channels=net["channels"], image_size=net["size"],
                           width=net["width"]).to(dev).eval()
        atk = torchattacks_mod.PGD(ref, eps=eps, alpha=eps / 4, steps=4, random_start=True)
        xa, ya = x[:ab], y[:ab]
        ta = rate_of(lambda: atk(xa, ya), **timing) * ab
        best = max(precisions, key=lambda p: out[p]["pgd4_img_s"])
        out["torchattacks"] = {"pgd4_img_s_fp32": ta, "ours": best,
                               "ratio": out[best]["pgd4_img_s"] / ta}
    return out


def accuracies(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
               quick: bool) -> dict[str, float]:
    """TA and RA (in points) under the check's attacks."""
    acc = {"TA": 100 * models.accuracy(model, x, y)}
    for name in CHECK_ATTACKS:
        steps = {"fgsm": None, "bim": 4 if quick else 10, "pgd": 4}[name]
        alpha = None if steps is None else eps / steps * (1.25 if name == "bim" else 1)
        kw = {} if steps is None else {"alpha": alpha, "steps": steps}
        x_adv = attacks.attack_batched(name, model, x, y, eps, batch_size=512, **kw)
        acc[f"RA {name}"] = 100 * models.accuracy(model, x_adv, y)
    return acc


def precision_check(dev: torch.device, quick: bool, workdir: Path) -> dict[str, Any]:
    """Train each check net in fp32 and bf16 from the same seed; per epoch, TA and RA of (a) the
    fp32 net in fp32, (b) the fp32 net attacked in bf16, (c) the bf16 net in bf16. Differences
    in points, max |b - a| (attacks) and max |c - a| (training)."""
    nets = [("cnn3", 1, 28, 0.1)] if quick else [("cnn3", 1, 28, 0.1), ("resnet9", 3, 32, 8 / 255)]
    epochs, n_train, n_test = (1, 256, 64) if quick else (3, 8000, 2000)
    cuda = dev.type == "cuda"
    rows, worst = [], {"attacks": 0.0, "training": 0.0}
    for name, c, s, eps in nets:
        x_tr, y_tr = images("train", c, s, n_train)
        x_te, y_te = images("test", c, s, n_test)
        x_te, y_te = x_te.to(dev), y_te.to(dev)
        cfg = train.TrainConfig(epochs=epochs, batch_size=128, lr=1e-3)
        width = 0.25 if quick else 1.0
        for p in ("fp32", "bf16"):
            train.train(name, (x_tr, y_tr, x_te, y_te), cfg, workdir / f"{name}-{p}", width=width,
                        device=dev, progress=False, precision=p)
        for epoch in range(1, epochs + 1):
            def load(p: str, e: int = epoch, n: str = name) -> torch.nn.Module:
                return models.load(str(workdir / f"{n}-{p}" / f"epoch{e:03d}.pt"), dev)

            a = accuracies(load("fp32"), x_te, y_te, eps, quick)
            b = accuracies(device.with_precision(load("fp32"), "bf16", dev), x_te, y_te, eps,
                           quick)
            cc = accuracies(device.with_precision(load("bf16"), "bf16", dev), x_te, y_te, eps,
                            quick)
            for key in a:
                row = {"model": name, "epoch": epoch, "metric": key, "fp32": a[key],
                       "bf16_attacks": b[key], "bf16_training": cc[key]}
                rows.append(row)
                worst["attacks"] = max(worst["attacks"], abs(b[key] - a[key]))
                worst["training"] = max(worst["training"], abs(cc[key] - a[key]))
    return {"rows": rows, "max_abs_diff_points": worst, "threshold_points": THRESHOLD_POINTS,
            "bf16_ok_attacks": cuda and worst["attacks"] <= THRESHOLD_POINTS,
            "bf16_ok_training": cuda and worst["training"] <= THRESHOLD_POINTS,
            "note": None if cuda else "CPU: bf16 is ignored (fp32), so the differences are 0 "
                                      "and decide nothing"}


def rates_file(results: list[dict[str, Any]], dev: torch.device, precisions: list[str],
               machine: str) -> dict[str, Any]:
    """The planner's rates: fp32 FLOP/s per kind and model (median over shapes; default the
    median over nets), the bf16 speed-up per kind, the other kinds from the shipped file."""
    base = upnn_rates.load_rates(upnn_rates.GPU_RATES if dev.type == "cuda" else upnn_rates.CPU_RATES)
    per: dict[str, dict[str, list[float]]] = {k: {} for k in ("train", "attack", "eval")}
    for r in results:
        for k in per:
            per[k].setdefault(r["model"], []).append(r["fp32"][f"{k}_flops_s"])
    flops = dict(base["flops_per_s"])
    for k, by_model in per.items():
        med = {m: float(statistics.median(v)) for m, v in by_model.items()}
        flops[k] = {"default": float(statistics.median(med.values())), **med}
    out = {"status": "measured", "machine": machine,
           "measured_by": f"bench/device_check.py on {platform.node() or 'unknown'} "
                          f"({time.strftime('%Y-%m-%d')}); train/attack/eval measured, "
                          f"{', '.join(k for k in flops if k not in per)} from the shipped "
                          f"{'GPU' if dev.type == 'cuda' else 'CPU'} rates file",
           "cores": base["cores"] if dev.type == "cuda" else (os.cpu_count() or 1),
           "gpus": 1 if dev.type == "cuda" else 0,
           "overhead_s": base["overhead_s"], "flops_per_s": flops}
    if "bf16" in precisions:
        out["speedup"] = {"bf16": {k: float(statistics.median(
            r["bf16"][f"{k}_flops_s"] / r["fp32"][f"{k}_flops_s"] for r in results))
            for k in per}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="smoke run (test suite, CPU, < 1 min)")
    ap.add_argument("--out", required=True, help="folder for rates.yaml and device_check.json")
    ap.add_argument("--configfile", default=str(ROOT / "config" / "paper.yaml"),
                    help="nets, widths, batch sizes and amplitudes to measure (default: paper)")
    ap.add_argument("--models", default=None, help="comma-separated subset of the config's nets")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    dev = device.resolve(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(Path(args.configfile).read_text())
    nets = nets_of(config)
    if args.models:
        nets = [n for n in nets if n["model"] in args.models.split(",")]
    if args.quick:  # a smoke run: every net and code path, at a quarter of the width at most
        nets = [{**n, "width": min(n["width"], 0.25)} for n in nets]
    precisions = ["fp32", "bf16"] if dev.type == "cuda" else ["fp32"]
    try:
        import torchattacks
    except ImportError:
        torchattacks = None
    machine = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
        f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()})"
    results = []
    for net in nets:
        t0 = time.perf_counter()
        results.append(throughput(net, dev, precisions, args.quick, torchattacks))
        r = results[-1]
        print(f"{net['model']:9s} {net['channels']}x{net['size']} w{net['width']:g}: " + "; ".join(
            f"{p} train {r[p]['train_img_s']:.0f} img/s, PGD-4 {r[p]['pgd4_img_s']:.0f} img/s, "
            f"attack {r[p]['attack_flops_s'] / 1e12:.3f} TFLOP/s" for p in precisions)
            + (f"; torchattacks ratio {r['torchattacks']['ratio']:.2f}"
               if isinstance(r["torchattacks"], dict) else "")
            + f" ({time.perf_counter() - t0:.1f} s)", flush=True)
    if dev.type == "cuda" or args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            check = precision_check(dev, args.quick, Path(tmp))
    else:  # bf16 is ignored on the CPU: a full check there would decide nothing
        check = {"max_abs_diff_points": None, "bf16_ok_attacks": False,
                 "bf16_ok_training": False, "note": "CPU: not run (bf16 is ignored there)"}
    print(f"bf16 max |diff| (points): {check['max_abs_diff_points']}; ok for attacks: "
          f"{check['bf16_ok_attacks']}, for training: {check['bf16_ok_training']}", flush=True)
    rates = rates_file(results, dev, precisions, machine)
    ratios = [r["torchattacks"]["ratio"] for r in results if isinstance(r["torchattacks"], dict)]
    summary = {
        "device": str(dev), "machine": machine, "torch": torch.__version__,
        "quick": args.quick, "configfile": args.configfile, "precisions": precisions,
        "throughput": results, "precision_check": check,
        "torchattacks_pgd_ratio": {"min": min(ratios), "median": statistics.median(ratios)}
        if ratios else "torchattacks not installed",
        "aims": {"attacks_bf16_vs_torchattacks_fp32_at_least_2x":
                 bool(ratios) and min(ratios) >= 2.0 and "bf16" in precisions},
        "seconds": time.perf_counter() - t_start,
    }
    (out / "rates.yaml").write_text(
        "# written by bench/device_check.py; copy to config/rates/ to use it (upnn.plan)\n"
        + yaml.safe_dump(rates, sort_keys=False))
    (out / "device_check.json").write_text(json.dumps(summary, indent=1, default=float))
    print(f"wrote {out / 'rates.yaml'} and {out / 'device_check.json'} in "
          f"{summary['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
