# results/summary.csv (docs/summary.md): per dataset × model × level × attack × ε, the last
# epoch's TA and RA with 95 % intervals and the epoch of highest TA. Reads the attack tables only.


localrules:
    summary,


rule summary:
    input:
        attack_tables("pixel") + attack_tables("feature"),
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Claims",
        ),
    log:
        "logs/summary/summary.log",
    benchmark:
        "benchmarks/summary/summary.tsv"
    conda:
        "../envs/upnn.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_boot=(config.get("claims") or {}).get("n_boot", 2000),
        seed=(config.get("claims") or {}).get("seed", 0),
    script:
        "../scripts/summary.py"
