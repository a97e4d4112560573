# High-frequency ratio of the one-step IFA perturbation Δ₁ against test accuracy (arXiv 2205.01493
# v3 Fig. 7), from the classifier checkpoints the training stage already wrote (no extra
# training). Config: the `frequency` block. Tables and choices: docs/ifa.md.


# One job for every dataset: the work per checkpoint is one gradient step on the test set.
rule frequency:
    input:
        tests=expand("results/data/{dataset}/test.parquet", dataset=FREQUENCY_DATASETS),
        checkpoints=frequency_inputs("checkpoints"),
        tables=frequency_inputs("tables"),
    output:
        expand("results/frequency/{dataset}.parquet", dataset=FREQUENCY_DATASETS),
    log:
        "logs/frequency/frequency.log",
    benchmark:
        "benchmarks/frequency/frequency.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("frequency", "mem_mb", fallback=8000),
        runtime=planned("frequency", fallback=120),
        gpu=GPU,
    params:
        runs=[{**r, "dataset": d} for d in FREQUENCY_DATASETS for r in frequency_runs(d)],
        datasets=FREQUENCY_DATASETS,
        settings=lambda w: canonical({k: v for k, v in FREQUENCY.items() if k not in ("models", "epochs")}),
    script:
        "../scripts/frequency.py"


rule figure_ifa_frequency:
    input:
        expand("results/frequency/{dataset}.parquet", dataset=FREQUENCY_DATASETS),
    output:
        pdf=report(
            "results/figures/ifa_frequency.pdf",
            caption="../report/ifa_frequency.rst",
            category="IFA",
        ),
        png="results/figures/ifa_frequency.png",
    log:
        "logs/figures/ifa_frequency.log",
    benchmark:
        "benchmarks/figures/ifa_frequency.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("figure_ifa_frequency", fallback=10),
    params:
        figure="ifa_frequency",
    script:
        "../scripts/figure_ifa.py"
