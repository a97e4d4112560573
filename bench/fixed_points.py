"""Iterates that stop moving: the one exact cut left to look for in the iterative attacks under
the success rule *final* (issue 26), measured on the checkpoints of a finished run of a config.

    python bench/fixed_points.py RESULTS_DIR [--configfile config/config.yaml] [--threads 2]
                                 [--only mnist/resnet9] [--epochs 1 10] [--period 4]

An iterative attack's step is a function of the current iterate alone (BIM, ILLC: Kurakin et
al.'s X_{n+1} = Clip{X_n ± α·sign ∇J(X_n)}; PGD likewise after its random start; SparseFool's
outer iteration of x_i). So once an image's iterate repeats an earlier one bit for bit, x_k =
x_{k-p}, its later iterates cycle with period p and its last iterate, hence its outcome, is known:
it could leave the batch, exactly. This runs the attack stage's own computation
(``upnn.robustness.evaluate_checkpoint``, the stage's specs and amplitudes, cut on) with the
iterate loop watched (``upnn.attacks._iterate`` and ``_linear_solver`` wrapped, nothing else
changed) and prints, per attack, the image-steps computed and how many of them came after such
a repeat (period ≤ ``--period``): the work that cut would save.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from stage_inputs import add_run_args, run_config, stage_jobs

from upnn import attacks, models, robustness

ITERATIVE = ("bim", "illc", "pgd", "sparsefool")


def watch(counts: dict[str, list[int]], name: list[str], period: int) -> None:
    """Wrap the iterate loops so that each image-step is counted in ``counts[name[0]]`` as
    [image-steps, image-steps after a repeat, images that repeated] (SparseFool: [outer
    iterations, those whose solver left the iterate unchanged, 0])."""
    iterate, solver = attacks._iterate, attacks._linear_solver

    def watched_iterate(model, x_adv, target, steps, step, y_true):
        if y_true is not None:  # success rule any: not this bench's subject
            return iterate(model, x_adv, target, steps, step, y_true)
        history, first = [x_adv], torch.full((len(x_adv),), -1)
        for k in range(1, steps + 1):
            x_adv = step(x_adv, attacks._grad_sign(model, x_adv, target), None)
            for back in history[-period:]:
                first[(first < 0) & (x_adv == back).flatten(1).all(1)] = k
            history = [*history, x_adv][-period:]
        c = counts[name[0]]
        c[0] += steps * len(x_adv)
        c[1] += int((steps - first[first >= 0]).sum())
        c[2] += int((first >= 0).sum())
        return x_adv

    def watched_solver(x, w, x_b, lo, hi, *args, **kw):
        out = solver(x, w, x_b, lo, hi, *args, **kw)
        same = (out == x).flatten(1).all(1)  # x_{i+1} = x_i: the next outer iteration repeats
        c = counts[name[0]]
        c[0] += len(x)
        c[1] += int(same.sum())  # an upper bound: the first of them is needed to see it
        return out

    attacks._iterate, attacks._linear_solver = watched_iterate, watched_solver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(p)
    p.add_argument("--only", default=None, help="dataset/model: one net's jobs")
    p.add_argument("--epochs", type=int, nargs="*", default=None)
    p.add_argument("--period", type=int, default=4, help="longest cycle looked for")
    a = p.parse_args()
    config = run_config(a)
    at = config["attacks"]
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    name = [""]
    watch(counts, name, a.period)
    print(f"{a.configfile}: {torch.get_num_threads()} threads, cycles of period <= {a.period}")
    for job in stage_jobs(a.results, config, only=a.only, level="pixel", epochs=a.epochs,
                          train=False):
        for epoch in job.epochs:
            net = models.load(job.ckpts[epoch], torch.device("cpu"))
            specs, eps = job.at(epoch)
            for spec in specs:
                if spec["name"] in ITERATIVE:
                    name[0] = spec["name"]
                    robustness.evaluate_checkpoint(net, "pixel", job.x, job.y, None, [spec],
                                                   eps=eps, seed=at["subset_seed"] + epoch,
                                                   batch_size=at["batch_size"])
        print(f"{job.name}: {len(job.epochs)} epochs", flush=True)
    print("attack      image-steps  after a repeat  images that repeated  share saved")
    for attack, (steps, after, images) in sorted(counts.items()):
        shown = "-" if attack == "sparsefool" else str(images)
        print(f"{attack:10s} {steps:12d} {after:15d} {shown:>21s} {after / max(steps, 1):12.4f}")
    print("(sparsefool: outer iterations, and those whose solver left x_i unchanged: the next one "
          "repeats it, unless the image is fooled)")


if __name__ == "__main__":
    main()
