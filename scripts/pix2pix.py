"""Rule pix2pix: train the U-Net/PatchGAN pix2pix X_0 → Δ_N of one IFA target, a checkpoint per
epoch, resumable, and a per-epoch table of G/D losses and the L1 error on the test set's Δ_N.

Checkpoints are written into ``<output>.partial/`` while training runs; Snakemake never deletes
that folder, so a killed job resumes from its last complete epoch (``upnn.checkpoint``: the folder
belongs to the fingerprint of the training pairs and settings; checkpoints of others are moved
aside). When all epochs are done the checkpoints before the last are stripped to the generator
(what ``pix2pix.load_generator`` reads) and the folder is renamed onto the declared output
directory.
"""

from pathlib import Path

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import torch

from upnn import checkpoint, data, device, io, log, pix2pix


def pairs(split_path: str, ifa_path: str, dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(X_0, Δ_N) of the images the IFA table covers (its ``index`` column into the split)."""
    x, _ = data.read_split(split_path, dev)
    table = io.read_table(ifa_path)
    idx = io.column_tensor(table, "index").long().to(dev)
    return x[idx], io.column_tensor(table, "delta").float().to(dev)


sm = snakemake  # noqa: F821
out_dir = Path(sm.output.checkpoints)
work_dir = checkpoint.work_dir(out_dir)
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    seed = int(sm.wildcards.seed)
    x, delta = pairs(sm.input.train, sm.input.ifa_train, dev)
    x_te, delta_te = pairs(sm.input.test, sm.input.ifa_test, dev)
    logger.info("pix2pix on %d pairs (%s) on %s: %s", len(x), sm.input.ifa_train, dev, p)
    rows = pix2pix.train_pix2pix(
        x, delta, epochs=p["epochs"], batch_size=p["batch_size"], seed=seed, device=dev,
        checkpoint_dir=work_dir, x_test=x_te, delta_test=delta_te, progress=True, base=p["base"],
        lr=p["lr"], lambda_l1=p["lambda_l1"])
    for epoch, path in checkpoint.epochs_in(work_dir).items():
        if epoch < p["epochs"]:  # only the last one is ever resumed: keep G alone in the others
            pix2pix.strip_checkpoint(path)
    checkpoint.finish(work_dir, out_dir, p["epochs"])
    scale = delta.abs().max().item()
    zero_l1 = delta_te.abs().mean().item()  # the L1 error of G = 0, for reference
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    n = len(rows)
    cols |= {"dataset": [sm.wildcards.dataset] * n, "model": [sm.wildcards.model] * n,
             "seed": [seed] * n, "n_epoch": [int(sm.wildcards.epoch)] * n,
             "scale": [scale] * n, "test_l1_zero": [zero_l1] * n}
    io.write_table(sm.output.table, cols,
                   metadata={"n_train": len(x), "n_test": len(x_te), "scale": scale, **p}, params=sm)
    logger.info("final G L1 on the test set %.4f (G = 0 gives %.4f); scale %.3f",
                rows[-1]["test_l1"], zero_l1, scale)
