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
    threads: 2
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
    threads: 2
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
    threads: 2
    resources:
        mem_mb=planned("minimal", "mem_mb", fallback=4000),
        runtime=planned("minimal", fallback=120),
        gpu=GPU,
    params:
        epochs=lambda w: upnn_config.attack_epochs(config, w.model),
        minimal=minimal_params,
    script:
        "../scripts/minimal.py"
