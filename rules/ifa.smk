# Iterative FGSM augmentation (arXiv 2205.01493 v2/v3): Δ_N targets, the IFA trajectory (v3 Fig. 3)
# and the combined classifier TCL = CL(x + G(x)) (v3 Fig. 6). Pix2Pix training: rules/pix2pix.smk.
# Config: the `ifa` block. Tables and choices: docs/ifa.md.


wildcard_constraints:
    epoch=r"\d+",


rule ifa:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        train=f"{IFA_DIR}/train.parquet",
        test=f"{IFA_DIR}/test.parquet",
        trajectory=IFA_TRAJECTORY,
    log:
        "logs/ifa/{dataset}/{model}/seed{seed}/epoch{epoch}.log",
    benchmark:
        "benchmarks/ifa/{dataset}/{model}/seed{seed}/epoch{epoch}.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("ifa", "mem_mb", fallback=8000),
        runtime=planned("ifa", fallback=240),
        gpu=GPU,
    params:
        settings=ifa_settings,
    script:
        "../scripts/ifa.py"


rule ifa_summary:
    input:
        classifiers=ifa_paths("results/checkpoints/{dataset}/{model}/seed{seed}"),
        generators=ifa_paths(PIX2PIX_DIR),
        losses=ifa_paths(PIX2PIX_TABLE),
        ifa_tests=ifa_paths(f"{IFA_DIR}/test.parquet"),
        tests=ifa_paths("results/data/{dataset}/test.parquet"),
    output:
        "results/ifa_summary.parquet",
    log:
        "logs/ifa/summary.log",
    benchmark:
        "benchmarks/ifa/summary.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("ifa_summary", "mem_mb", fallback=8000),
        runtime=planned("ifa_summary", fallback=120),
        gpu=GPU,
    params:
        runs=[{"dataset": d, "model": m, "seed": s, "n_epoch": e} for d, m, s, e in IFA_RUNS],
        settings=lambda w: canonical(
            {
                "attack_eps": IFA["attack_eps"],
                "batch_size": IFA["batch_size"],
                "pix2pix_epochs": IFA["pix2pix"]["epochs"],
            }
        ),
    script:
        "../scripts/ifa_summary.py"


rule figure_ifa_pix2pix:
    input:
        "results/ifa_summary.parquet",
    output:
        pdf=report(
            "results/figures/ifa_pix2pix.pdf",
            caption="../report/ifa_pix2pix.rst",
            category="IFA",
        ),
        png="results/figures/ifa_pix2pix.png",
    log:
        "logs/figures/ifa_pix2pix.log",
    benchmark:
        "benchmarks/figures/ifa_pix2pix.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("figure_ifa_pix2pix", fallback=10),
    params:
        figure="ifa_pix2pix",
    script:
        "../scripts/figure_ifa.py"


use rule figure_ifa_pix2pix as figure_ifa_training with:
    input:
        ifa_paths(IFA_TRAJECTORY),
    output:
        pdf=report(
            "results/figures/ifa_training.pdf",
            caption="../report/ifa_training.rst",
            category="IFA",
        ),
        png="results/figures/ifa_training.png",
    log:
        "logs/figures/ifa_training.log",
    benchmark:
        "benchmarks/figures/ifa_training.tsv"
    localrule: True
    params:
        figure="ifa_training",
