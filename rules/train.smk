rule train:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
    output:
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints=directory("results/checkpoints/{dataset}/{model}/seed{seed}"),
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 2
    resources:
        mem_mb=planned("train", "mem_mb", fallback=8000),
        runtime=planned("train", fallback=240),
        gpu=GPU,
    params:
        settings=lambda w: canonical(upnn_config.train_settings(config, w.model)),
        width=lambda w: config["models"][w.model].get("width", 1.0),
        precision=config.get("precision", "fp32"),
    script:
        "../scripts/train.py"
