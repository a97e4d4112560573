# upnn: the uncertainty principle of neural networks (arXiv 2205.01493 and its companion paper).
# Default target: every figure on the offline default config. See README.md.

from snakemake.utils import min_version

min_version("9.0")


# The offline default, unless a --configfile is given: that one then stands alone (Snakemake
# would otherwise merge it over this file, mixing e.g. the digits runs into the paper config).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/attack.smk"
include: "rules/figures.smk"
include: "rules/llm.smk"
include: "rules/ifa.smk"
include: "rules/pix2pix.smk"
include: "rules/frequency.smk"
include: "rules/uncertainty.smk"
include: "rules/toy2d.smk"
include: "rules/words.smk"
include: "rules/claims.smk"
include: "rules/summary.smk"


rule all:
    default_target: True
    input:
        TARGETS or train_tables(),
