"""Several checkpoints of a small net in one batched call (torch.func: stack_module_state,
functional_call, vmap) against one call per checkpoint (issue 26 item 4), in one process.

    python bench/batched_checkpoints.py [--device cpu] [--threads 2] [--epochs 10] [--images 180]

For cnn3 and cnn4 at the offline default's widths and shapes it times one input-gradient pass
(an attack step: forward, summed cross-entropy, gradient w.r.t. the images) of ``--images`` images
through ``--epochs`` nets, as a loop over the nets and as one vmapped call over their stacked
parameters, alternating, and prints the seconds of each and their ratio, and the largest
difference between the two gradients. The nets are freshly initialised: the time of a
convolution does not depend on its weights' values.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from upnn import device, models

NETS = (("cnn3", 1, 28, 1.0), ("cnn4", 3, 32, 0.5))  # config/config.yaml's widths and shapes


def loop(nets: list[torch.nn.Module], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The input gradient of each net, one call per net: (nets, N, C, H, W)."""
    grads = []
    for net in nets:
        xx = x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(F.cross_entropy(net(xx), y, reduction="sum"), xx)[0])
    return torch.stack(grads)


def batched(skeleton: torch.nn.Module, params: dict, buffers: dict, x: torch.Tensor,
            y: torch.Tensor, k: int) -> torch.Tensor:
    """The same gradients from one vmapped call over the ``k`` nets' stacked parameters."""
    xx = x.expand(k, *x.shape).clone().requires_grad_(True)
    out = vmap(lambda p_, b_, xi: functional_call(skeleton, (p_, b_), (xi,)))(params, buffers, xx)
    loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(k), reduction="sum")
    return torch.autograd.grad(loss, xx)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--images", type=int, default=180)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = device.resolve(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"{dev}, {torch.get_num_threads()} threads, {a.epochs} nets, {a.images} images")
    print("net    loop s   vmap s  loop/vmap  max |Δ grad|")
    for name, c, s, w in NETS:
        torch.manual_seed(0)
        nets = [models.build(name, in_channels=c, image_size=s, num_classes=10, width=w)
                .to(dev).eval() for _ in range(a.epochs)]
        x = torch.rand(a.images, c, s, s, device=dev)
        y = torch.randint(0, 10, (a.images,), device=dev)
        params, buffers = stack_module_state(nets)
        skeleton = copy.deepcopy(nets[0]).to("meta")
        args = {"loop": (loop, (nets, x, y)),
                "vmap": (batched, (skeleton, params, buffers, x, y, a.epochs))}
        secs = {"loop": 0.0, "vmap": 0.0}
        for i in range(2 * a.repeats + 2):
            key = "loop" if i % 2 == 0 else "vmap"
            fn, fn_args = args[key]
            sync()
            t0 = time.perf_counter()
            fn(*fn_args)
            sync()
            if i >= 2:  # the first of each: warm-up
                secs[key] += time.perf_counter() - t0
        diff = float((loop(nets, x, y) - batched(skeleton, params, buffers, x, y, a.epochs))
                     .abs().max())
        print(f"{name:6s} {secs['loop'] / a.repeats:7.4f} {secs['vmap'] / a.repeats:8.4f} "
              f"{secs['loop'] / secs['vmap']:10.2f}  {diff:.2e}")


if __name__ == "__main__":
    main()
