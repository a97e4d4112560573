"""Rule ifa: Δ_N (Eq. 1–2) of one classifier checkpoint on the training and test sets, and the
training-set TA/RA along the IFA trajectory."""


import _src  # noqa: F401, I001  (puts src/ on sys.path)

from upnn import checkpoint, data, device, ifa, io, log, models

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    seed, n_epoch = int(sm.wildcards.seed), int(sm.wildcards.epoch)
    ckpt = checkpoint.folder(sm.input.checkpoints, [n_epoch])[n_epoch]
    model = models.load(str(ckpt), dev)
    clip = (0.0, 1.0) if p["clip"] else None
    ident = {"dataset": sm.wildcards.dataset, "model": sm.wildcards.model, "seed": seed,
             "n_epoch": n_epoch}
    meta = {**ident, "checkpoint": str(ckpt), "eps": p["eps"], "steps": p["steps"],
            "clip": p["clip"]}
    iterations = sorted({n for n in p["trajectory"] if n <= p["steps"]})
    logger.info("IFA of %s on %s: %s", ckpt, dev, p)
    for split in ("train", "test"):
        x, y = data.read_split(getattr(sm.input, split), dev)
        idx = data.subset(len(y), p[f"limit_{split}"], seed)
        x, y = x[idx.to(dev)], y[idx.to(dev)]
        if split == "train":
            delta, rows = ifa.ifa_delta_trajectory(
                model, x, y, p["eps"], p["steps"], iterations, clip=clip,
                attack_eps=p["attack_eps"], batch_size=p["batch_size"], progress=True)
            table = [{**ident, "split": "train", **r, "n_images": len(y)} for r in rows]
            io.write_table(sm.output.trajectory, {k: [r[k] for r in table] for k in table[0]},
                           metadata={**meta, "attack": "ifgsm", "attack_eps": p["attack_eps"]}, params=sm)
            for r in rows:
                logger.info("n=%3d  TA %.4f  RA %.4f", r["iteration"], r["accuracy"],
                            r["robust_accuracy"])
        else:
            delta, _ = ifa.ifa_delta(model, x, y, p["eps"], p["steps"], clip=clip,
                                     batch_size=p["batch_size"], progress=True)
        pred_clean = models.predict(model, x, p["batch_size"]).argmax(1)
        pred_ifa = models.predict(model, x + delta, p["batch_size"]).argmax(1)
        io.write_table(getattr(sm.output, split),
                       {"index": idx.numpy(), "label": y.cpu().numpy(),
                        "pred_clean": pred_clean.cpu().numpy(), "pred_ifa": pred_ifa.cpu().numpy()},
                       tensors={"delta": delta.float()}, metadata={**meta, "split": split}, params=sm)
        logger.info("%s: %d images, accuracy %.4f on X_0 -> %.4f on X_N, max |delta| %.3f", split,
                    len(y), (pred_clean == y).float().mean().item(),
                    (pred_ifa == y).float().mean().item(), delta.abs().max().item())
