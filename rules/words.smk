# Word sentiment (arXiv 2205.01493 v4 Fig. 6): one job trains, for every embedding size in turn,
# all seeds as one batched model on data/words.csv. See docs/toy2d_words.md.


rule words:
    input:
        lexicon=str(WORKFLOW_DIR / "data" / "words.csv"),
    output:
        "results/words/similarity.parquet",
    log:
        "logs/words/words.log",
    benchmark:
        "benchmarks/words/words.tsv"
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=planned("words", fallback=60),
        gpu=GPU,
    params:
        settings=canonical(config.get("words", {})),
    script:
        "../scripts/words.py"


rule figure_fig6:
    input:
        similarity="results/words/similarity.parquet",
    output:
        pdf=report(
            "results/figures/fig6.pdf",
            caption="../report/fig6.rst",
            category="Toy and words",
        ),
        png="results/figures/fig6.png",
    log:
        "logs/figures/fig6.log",
    benchmark:
        "benchmarks/figures/fig6.tsv"
    localrule: True
    conda:
        "../envs/upnn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=planned("figure_fig6", fallback=10),
    script:
        "../scripts/figure_fig6.py"
