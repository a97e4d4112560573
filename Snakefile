# upnn: the uncertainty principle of neural networks (arXiv 2205.01493 and its companion paper).
# Default target: every figure on the offline default config. See README.md.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"


rule all:
    input:
        all_targets(),
    default_target: True
