# Companion paper ("Quantum-Inspired Analysis of Neural Network Vulnerabilities"), Figs. 1-2:
# per-epoch neural-packet spreads ΔX, ΔP with TA and RA at pixel and feature level, and the t-SNE
# view of clean and attacked features. docs/uncertainty.md describes the tables.


rule uncertainty:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        packets=expand(
            "results/uncertainty/{{dataset}}/{{model}}/seed{{seed}}/{level}.parquet", level=UNC_LEVELS
        ),
        summaries=expand(
            "results/uncertainty_summary/{{dataset}}/{{model}}/seed{{seed}}/{level}.parquet",
            level=UNC_LEVELS,
        ),
    log:
        "logs/uncertainty/{dataset}/{model}/seed{seed}/packets.log",
    benchmark:
        "benchmarks/uncertainty/{dataset}/{model}/seed{seed}/packets.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("uncertainty", "mem_mb", fallback=8000),
        runtime=planned("uncertainty", fallback=240),
        gpu=GPU,
    params:
        settings=uncertainty_settings,
    script:
        "../scripts/uncertainty.py"


rule conjugate_tsne_maps:
    input:
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        points="results/tsne_points/{dataset}/{model}/seed{seed}.parquet",
        grid="results/tsne_grid/{dataset}/{model}/seed{seed}.parquet",
    log:
        "logs/uncertainty/{dataset}/{model}/seed{seed}/tsne.log",
    benchmark:
        "benchmarks/uncertainty/{dataset}/{model}/seed{seed}/tsne.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("conjugate_tsne_maps", "mem_mb", fallback=8000),
        runtime=planned("conjugate_tsne_maps", fallback=120),
        gpu=GPU,
    params:
        settings=tsne_settings,
    script:
        "../scripts/conjugate_tsne_maps.py"


rule figure_conjugate_uncertainty:
    input:
        summaries=uncertainty_summaries(),
    output:
        pdf=report(
            "results/figures/conjugate_uncertainty.pdf",
            caption="../report/conjugate_uncertainty.rst",
            category="Uncertainty principle",
        ),
        png="results/figures/conjugate_uncertainty.png",
    log:
        "logs/figures/conjugate_uncertainty.log",
    benchmark:
        "benchmarks/figures/conjugate_uncertainty.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=planned("figure_conjugate_uncertainty", fallback=10),
    script:
        "../scripts/figure_conjugate_uncertainty.py"


rule figure_conjugate_tsne:
    input:
        points=f"results/tsne_points/{UNC_TSNE['dataset']}/{UNC_TSNE['model']}/seed{UNC_TSNE_SEED}.parquet",
        grid=f"results/tsne_grid/{UNC_TSNE['dataset']}/{UNC_TSNE['model']}/seed{UNC_TSNE_SEED}.parquet",
    output:
        pdf=report(
            "results/figures/conjugate_tsne.pdf",
            caption="../report/conjugate_tsne.rst",
            category="Uncertainty principle",
        ),
        png="results/figures/conjugate_tsne.png",
    log:
        "logs/figures/conjugate_tsne.log",
    benchmark:
        "benchmarks/figures/conjugate_tsne.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=planned("figure_conjugate_tsne", fallback=10),
    script:
        "../scripts/figure_conjugate_tsne.py"
