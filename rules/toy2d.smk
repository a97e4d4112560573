# The 2-D binary toy (arXiv 2205.01493 v4 Fig. 4): every seed trained as one batched model in
# one job, metrics every epoch, landscapes at the configured epochs. See docs/toy2d_words.md.


rule toy2d:
    output:
        metrics="results/toy2d/metrics.parquet",
        landscapes="results/toy2d_landscapes.parquet",
    log:
        "logs/toy2d/toy2d.log",
    benchmark:
        "benchmarks/toy2d/toy2d.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=planned("toy2d", fallback=60),
        gpu=GPU,
    params:
        settings=canonical(config.get("toy2d", {})),
    script:
        "../scripts/toy2d.py"


rule figure_fig4:
    input:
        metrics="results/toy2d/metrics.parquet",
        landscapes="results/toy2d_landscapes.parquet",
    output:
        pdf=report(
            "results/figures/fig4.pdf",
            caption="../report/fig4.rst",
            category="Toy and words",
        ),
        png="results/figures/fig4.png",
    log:
        "logs/figures/fig4.log",
    benchmark:
        "benchmarks/figures/fig4.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=planned("figure_fig4", fallback=10),
    script:
        "../scripts/figure_fig4.py"
