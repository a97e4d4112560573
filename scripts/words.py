"""Rule words: for every embedding size, all seeds as one batched model; per-epoch similarity."""
import _src  # noqa: F401, I001  (puts src/ on sys.path)
import torch

from upnn import device, io, log, words

sm = snakemake  # noqa: F821
with log.job(sm) as logger:
    dev = device.resolve(sm.config["device"])
    cfg = words.WordsConfig.from_dict(sm.params.settings)
    lexicon = words.read_lexicon(sm.input.lexicon)
    logger.info("words: %d words on %s, %d thread(s): %s", len(lexicon), dev,
                torch.get_num_threads(), cfg)
    every = max(1, cfg.epochs // 10)
    tables = []
    for size in cfg.embedding_sizes:

        def progress(epoch, means, size=size):
            if epoch % every == 0 or epoch == cfg.epochs:
                logger.info("size %d, epoch %d: %s", size, epoch,
                            ", ".join(f"{k} {v:.4g}" for k, v in means.items() if k != "epoch"))

        tables.append(words.run(lexicon, size, cfg, dev, progress))
    io.write_table(sm.output[0], words.combine(tables), params=sm)
