"""Rule toy2d: train every seed of the 2-D toy as one batched model; metrics and landscapes."""
import _src  # noqa: F401, I001  (puts src/ on sys.path)
import torch

from upnn import device, io, log, toy2d

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    cfg = toy2d.ToyConfig.from_dict(sm.params.settings)
    logger.info("toy2d on %s, %d thread(s): %s", dev, torch.get_num_threads(), cfg)
    every = max(1, cfg.epochs // 20)

    def progress(epoch, means):
        if epoch % every == 0 or epoch == cfg.epochs:
            logger.info("epoch %d: %s", epoch,
                        ", ".join(f"{k} {v:.4g}" for k, v in means.items() if k != "epoch"))

    metrics, landscapes = toy2d.run(cfg, dev, progress)
    io.write_table(sm.output.metrics, metrics, params=sm)
    io.write_table(sm.output.landscapes, landscapes, params=sm)
