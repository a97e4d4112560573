"""Rule prepare_dataset: one dataset's train/test splits as Parquet tensor tables."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
from upnn import data, log

sm = snakemake  # noqa: F821
spec = sm.params.spec
with log.job(sm) as logger:
    for split in data.SPLITS:
        # imagefolder and torchvision sources chunk by chunk (one row group each): never whole
        chunks = data.split_chunks(
            spec["source"], split, root=spec.get("root", sm.params.root),
            channels=spec.get("channels"), image_size=spec.get("image_size"),
            test_fraction=spec.get("test_fraction", 0.25), split_seed=spec.get("split_seed", 0),
            limit=spec.get(f"limit_{split}"),
            folders={k: spec[k] for k in data.SPLITS if k in spec} or None,
            name=spec.get("name"), kwargs=spec.get("kwargs"), splits=spec.get("splits"),
        )
        n, shape, dtype = data.write_split_chunks(sm.output[split], chunks,
                                                  source=spec["source"], split=split, params=sm)
        logger.info("%s %s: %d images of %s %s", sm.wildcards.dataset, split, n, shape, dtype)
