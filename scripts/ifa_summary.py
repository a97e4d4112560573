"""Rule ifa_summary: TA and RA on the test set of the classifier alone (CL) and of the combined
classifier TCL(x) = classifier(x + G(x)) for every (dataset, model, seed, N_epoch).

RA is the accuracy under ``ifgsm`` (4 steps, l∞, box [0, 1]) with gradients through G (white box).
"""


import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import checkpoint, data, device, io, log, models, pix2pix

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    p = sm.params.settings
    inputs = zip(sm.params.runs, sm.input.classifiers, sm.input.generators, sm.input.losses,
                 sm.input.ifa_tests, sm.input.tests, strict=True)
    rows = []
    for run, clf_dir, gen_dir, losses, ifa_test, test in inputs:
        x, y = data.read_split(test, dev)
        idx = io.column_tensor(io.read_table(ifa_test), "index").long().to(dev)
        x, y = x[idx], y[idx]  # the test images IFA and the generator's L1 error use
        clf = models.load(checkpoint.path(clf_dir, run["n_epoch"]), dev)
        G = pix2pix.load_generator(checkpoint.path(gen_dir, p["pix2pix_epochs"]), dev).eval()
        g_l1 = pd.read_parquet(losses)["test_l1"].iloc[-1]
        scores = pix2pix.cl_tcl(clf, G, x, y, attack_eps=p["attack_eps"],
                                batch_size=p["batch_size"])
        for net, acc in scores.items():
            rows.append({**run, "net": net, **acc, "attack": "ifgsm",
                         "attack_eps": p["attack_eps"], "n_test": len(y),
                         "generator_test_l1": g_l1})
            logger.info("%s %s N_epoch=%d %s: TA %.4f RA %.4f", run["dataset"], run["model"],
                        run["n_epoch"], net, rows[-1]["accuracy"], rows[-1]["robust_accuracy"])
    io.write_table(sm.output[0], pd.DataFrame(rows), params=sm)
