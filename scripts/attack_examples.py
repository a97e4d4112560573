"""Rule attack_examples: the test images of Fig. 1 before and after the attack, with predicted
labels and confidences, and TA/RA of that checkpoint on the whole test set."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)

from upnn import checkpoint, data, device, io, log, models, robustness

sm = snakemake  # noqa: F821
f = sm.params.fig1
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    x, y = data.read_split(sm.input.test, dev)
    epoch = f["epoch"] or sm.params.epochs
    model = models.load(checkpoint.folder(sm.input.checkpoints, [epoch])[epoch], dev)
    n = f["n_images"]
    columns, x_adv, ta, ra = robustness.examples(model, x, y, attack=f["attack"], eps=sm.params.eps,
                                               n_images=n)
    io.write_table(
        sm.output[0], columns, tensors={"image": x[:n], "image_adv": x_adv[:n]},
        metadata={"epoch": epoch, "attack": f["attack"], "eps": sm.params.eps, "test_acc": ta,
                  "robust_acc": ra, "dataset": sm.wildcards.dataset, "model": sm.wildcards.model},
        params=sm,
    )
    logger.info("epoch %d: TA %.3f RA %.3f", epoch, ta, ra)
