# Figures of the attack stage (v4 numbering): Fig. 1 examples, Fig. 2 pixel level, Fig. 5 feature.
FIG1 = config["figures"]["fig1"]
FIG1_SEED = upnn_config.first_seed(config, FIG1["model"])


rule figure_fig1:
    input:
        f"results/examples/{FIG1['dataset']}/{FIG1['model']}/seed{FIG1_SEED}.parquet",
    output:
        pdf=report(
            "results/figures/fig1.pdf",
            caption="../report/fig1.rst",
            category="Attacks",
        ),
        png="results/figures/fig1.png",
    log:
        "logs/figures/fig1.log",
    benchmark:
        "benchmarks/figures/fig1.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("figure_fig1", fallback=10),
    script:
        "../scripts/figure_fig1.py"


rule figure_fig2:
    input:
        attack_tables("pixel"),
    output:
        pdf=report(
            "results/figures/fig2.pdf",
            caption="../report/fig2.rst",
            category="Attacks",
        ),
        png="results/figures/fig2.png",
    log:
        "logs/figures/fig2.log",
    benchmark:
        "benchmarks/figures/fig2.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("figure_fig2", fallback=10),
    params:
        level="pixel",
    script:
        "../scripts/figure_robustness.py"


use rule figure_fig2 as figure_fig5 with:
    input:
        attack_tables("feature"),
    output:
        pdf=report(
            "results/figures/fig5.pdf",
            caption="../report/fig5.rst",
            category="Attacks",
        ),
        png="results/figures/fig5.png",
    log:
        "logs/figures/fig5.log",
    benchmark:
        "benchmarks/figures/fig5.tsv"
    localrule: True
    params:
        level="feature",


TARGETS += [f"results/figures/fig{i}.{ext}" for i in (1, 2) for ext in ("pdf", "png")]
if attack_tables("feature"):
    TARGETS += ["results/figures/fig5.pdf", "results/figures/fig5.png"]


rule figure_robustness_eps:
    input:
        attacks=[f"results/attacks/{d}/{m}/seed{s}/pixel.parquet" for d, m, s in MINIMAL_JOBS],
        minimal=minimal_tables(),
    output:
        pdf=report(
            "results/figures/robustness_eps.pdf",
            caption="../report/robustness_eps.rst",
            category="Attacks",
        ),
        png="results/figures/robustness_eps.png",
    log:
        "logs/figures/robustness_eps.log",
    benchmark:
        "benchmarks/figures/robustness_eps.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("figure_robustness_eps", fallback=10),
    params:
        attack=config.get("minimal", {}).get("attack", "bim"),
        eps={d: upnn_config.eps_list(e) for d, e in config.get("attacks", {}).get("eps", {}).items()},
    script:
        "../scripts/figure_robustness_eps.py"


if MINIMAL_JOBS:
    TARGETS += ["results/figures/robustness_eps.pdf", "results/figures/robustness_eps.png"]
