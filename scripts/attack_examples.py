"""Rule attack_examples: the test images of Fig. 1 before and after the attack, with predicted
labels and confidences, and TA/RA of that checkpoint on the whole test set."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)

from upnn import attacks, checkpoint, data, device, io, log, models
from upnn.train import predict

sm = snakemake  # noqa: F821
f = sm.params.fig1
with log.to_file(sm.log[0]) as logger:
    dev = device.resolve(sm.config["device"])
    x, y = data.read_split(sm.input.test, dev)
    epoch = f["epoch"] or sm.params.epochs
    model = models.load(checkpoint.folder(sm.input.checkpoints, [epoch])[epoch], dev)
    x_adv = attacks.attack_batched(f["attack"], model, x, y, sm.params.eps)
    p_clean, p_adv = predict(model, x).softmax(1), predict(model, x_adv).softmax(1)
    ta = (p_clean.argmax(1) == y).float().mean().item()
    ra = (p_adv.argmax(1) == y).float().mean().item()
    n = f["n_images"]
    conf_clean, pred_clean = p_clean[:n].max(1)
    conf_adv, pred_adv = p_adv[:n].max(1)
    io.write_table(
        sm.output[0],
        {"index": list(range(n)), "label": y[:n].cpu().numpy(),
         "pred_clean": pred_clean.cpu().numpy(), "conf_clean": conf_clean.cpu().numpy(),
         "pred_adv": pred_adv.cpu().numpy(), "conf_adv": conf_adv.cpu().numpy()},
        tensors={"image": x[:n], "image_adv": x_adv[:n]},
        metadata={"epoch": epoch, "attack": f["attack"], "eps": sm.params.eps, "test_acc": ta,
                  "robust_acc": ra, "dataset": sm.wildcards.dataset, "model": sm.wildcards.model},
    )
    logger.info("epoch %d: TA %.3f RA %.3f", epoch, ta, ra)
