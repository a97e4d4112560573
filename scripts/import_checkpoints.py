"""Rule import_checkpoints: a researcher's own per-epoch state dicts (models.<name>.checkpoints)
as upnn checkpoints and a training table, in place of training (upnn.external)."""

from pathlib import Path

import _src  # noqa: F401, I001  (puts src/ on sys.path)
import pandas as pd

from upnn import checkpoint, data, device, external, io, log, train

sm = snakemake  # noqa: F821
w = sm.wildcards
out_dir = Path(sm.output.checkpoints)
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    files = external.epoch_files(sm.params.pattern, sm.params.epochs, int(w.seed))
    y_tr = data.read_labels(sm.input.train, dev)
    x_te, y_te = data.open_split(sm.input.test, dev, data.stream_limit(sm.config))
    work_dir = checkpoint.work_dir(out_dir)
    rows = external.import_run(w.model, files, sm.params.reference, x_te, y_te, work_dir,
                               train.num_classes(y_tr, y_te))
    checkpoint.finish(work_dir, out_dir, sm.params.epochs)
    table = pd.DataFrame(rows).assign(dataset=w.dataset, model=w.model, seed=int(w.seed))
    io.write_table(sm.output.table, table, params=sm)
    logger.info("imported %d epochs of %s; last test accuracy %.4f", len(rows),
                sm.params.pattern, rows[-1]["test_acc"])
