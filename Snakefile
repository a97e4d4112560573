# upnn: the uncertainty principle of neural networks (arXiv 2205.01493 and its companion paper).
# Default target: every figure on the offline default config. See README.md.

from snakemake.utils import min_version

min_version("9.0")


# The offline default; a --configfile is layered over it by rules/common.smk (a full config such
# as paper.yaml stands alone; blocks that name datasets or nets are replaced, never merged).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/attack.smk"
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
        final_targets(),
