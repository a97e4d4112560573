# Pix2Pix (Isola et al. 2017) learning X_0 → Δ_N of one IFA target (arXiv 2205.01493 v2): one job
# per (dataset, model, seed, N_epoch) covering all Pix2Pix epochs, a checkpoint per epoch in
# `<dir>.partial/` (resumable), renamed onto the output directory when done. Needs rules/ifa.smk.


rule pix2pix:
    input:
        train="results/data/{dataset}/train.parquet",
        test="results/data/{dataset}/test.parquet",
        ifa_train=f"{IFA_DIR}/train.parquet",
        ifa_test=f"{IFA_DIR}/test.parquet",
    output:
        table=PIX2PIX_TABLE,
        checkpoints=directory(PIX2PIX_DIR),
    log:
        "logs/pix2pix/{dataset}/{model}/seed{seed}/epoch{epoch}.log",
    benchmark:
        "benchmarks/pix2pix/{dataset}/{model}/seed{seed}/epoch{epoch}.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=planned("pix2pix", "mem_mb", fallback=8000),
        runtime=planned("pix2pix", fallback=480),
        gpu=GPU,
    params:
        settings=lambda w: canonical(IFA["pix2pix"]),
    script:
        "../scripts/pix2pix.py"
