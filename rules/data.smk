localrules:
    download_dataset,


rule download_dataset:
    output:
        touch(f"{config['data_root']}/{{source}}.downloaded"),
    log:
        "logs/data/download_{source}.log",
    benchmark:
        "benchmarks/data/download_{source}.tsv"
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        root=lambda w, output: os.path.dirname(output[0]),
    script:
        "../scripts/download_dataset.py"


rule prepare_dataset:
    input:
        download_input,
    output:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
    log:
        "logs/data/prepare_{dataset}.log",
    benchmark:
        "benchmarks/data/prepare_{dataset}.tsv"
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=planned("prepare_dataset", "mem_mb", fallback=8000),
        runtime=planned("prepare_dataset", fallback=30),
    params:
        spec=dataset_spec,
        root=config["data_root"],
    script:
        "../scripts/prepare_dataset.py"
