"""Rule download_dataset: fetch a torchvision dataset into data_root (a localrule)."""

import _src  # noqa: F401, I001  (puts src/ on sys.path)
from upnn import data, log

with log.job(snakemake) as logger:  # noqa: F821
    data.download(snakemake.wildcards.source, snakemake.params.root)  # noqa: F821
    logger.info("downloaded %s", snakemake.wildcards.source)  # noqa: F821
