rule attack:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        "results/attacks/{dataset}/{model}/seed{seed}/{level}.parquet",
    log:
        "logs/attack/{dataset}/{model}/seed{seed}/{level}.log",
    benchmark:
        "benchmarks/attack/{dataset}/{model}/seed{seed}/{level}.tsv"
    wildcard_constraints:
        level="pixel|feature",
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("attack", "mem_mb", fallback=8000),
        runtime=planned("attack", fallback=240),
        gpu=GPU,
    params:
        epochs=lambda w: upnn_config.attack_epochs(config, w.model),
        attacks=attack_params,
        precision=config.get("precision", "fp32"),
    script:
        "../scripts/attack.py"


rule attack_examples:
    input:
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        "results/examples/{dataset}/{model}/seed{seed}.parquet",
    log:
        "logs/attack/{dataset}/{model}/seed{seed}/examples.log",
    benchmark:
        "benchmarks/attack/{dataset}/{model}/seed{seed}/examples.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("attack_examples", "mem_mb", fallback=4000),
        runtime=planned("attack_examples", fallback=30),
        gpu=GPU,
    params:
        fig1=lambda w: canonical(config["figures"]["fig1"]),
        eps=lambda w: upnn_config.eps_list(config["attacks"]["eps"][w.dataset])[0],
        epochs=lambda w: upnn_config.epochs(config, w.model),
    script:
        "../scripts/attack_examples.py"


rule minimal:
    input:
        test="results/data/{dataset}/test.parquet",
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints="results/checkpoints/{dataset}/{model}/seed{seed}",
    output:
        "results/minimal/{dataset}/{model}/seed{seed}.parquet",
    log:
        "logs/minimal/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/minimal/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("minimal", "mem_mb", fallback=4000),
        runtime=planned("minimal", fallback=120),
        gpu=GPU,
    params:
        epochs=lambda w: upnn_config.attack_epochs(config, w.model),
        minimal=minimal_params,
    script:
        "../scripts/minimal.py"


# Figures of the attack stage (v4 numbering): Fig. 1 examples, Fig. 2 pixel level, Fig. 5 feature,
# and robustness beyond one ε (the minimal amplitudes).


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
