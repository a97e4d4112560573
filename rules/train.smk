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
    wildcard_constraints:
        model=TRAINED_MODELS,
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("train", "mem_mb", fallback=8000),
        runtime=planned("train", fallback=240),
        gpu=GPU,
    params:
        settings=lambda w: canonical(upnn_config.train_settings(config, w.model)),
        width=lambda w: config["models"][w.model].get("width", 1.0),
        reference=lambda w: canonical(upnn_config.model_reference(config, w.model)),
        precision=config.get("precision", "fp32"),
    script:
        "../scripts/train.py"


# Checkpoints a researcher already has (models.<name>.checkpoints): imported, not trained.
rule import_checkpoints:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
        files=imported_files,
    output:
        table="results/train/{dataset}/{model}/seed{seed}.parquet",
        checkpoints=directory("results/checkpoints/{dataset}/{model}/seed{seed}"),
    log:
        "logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        model=IMPORTED_MODELS,
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        pattern=lambda w: config["models"][w.model]["checkpoints"],
        epochs=lambda w: upnn_config.epochs(config, w.model),
        reference=lambda w: canonical(upnn_config.model_reference(config, w.model)),
    script:
        "../scripts/import_checkpoints.py"
