# The papers' claims, checked (docs/claims.md): one statistic, 95 % interval and verdict per claim
# and panel, from the tables of whichever stages the config runs. Reads tables only.


localrules:
    claims,
    figure_claims,


rule claims:
    input:
        **claims_inputs(),
    output:
        table="results/claims.parquet",
        markdown=report(
            "results/claims.md",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        "logs/claims/claims.log",
    benchmark:
        "benchmarks/claims/claims.tsv"
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("claims", fallback=10),
    params:
        sources={d: s["source"] for d, s in config["datasets"].items()},
        settings=canonical(config.get("claims") or {}),
        config=",".join(os.path.relpath(p, workflow.basedir) for p in workflow.configfiles)
        or "config/config.yaml",
    script:
        "../scripts/claims.py"


rule figure_claims:
    input:
        "results/claims.parquet",
    output:
        pdf=report(
            "results/figures/claims.pdf",
            caption="../report/claims_forest.rst",
            category="Claims",
        ),
        png="results/figures/claims.png",
    log:
        "logs/figures/claims.log",
    benchmark:
        "benchmarks/figures/claims.tsv"
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=planned("figure_claims", fallback=10),
    script:
        "../scripts/figure_claims.py"
