# v4 Fig. 3: an LLM's embedding output perturbed (none / random / FGSM / BIM), scored with lm-eval.
# Weights and task data come from the Hugging Face hub: fig3 joins `rule all` only when
# `llm.enabled` is true (never in the offline default). Needs the optional extra `upnn[llm]`.

if LLM:

    rule llm_eval:
        input:
            upnn_config.llm_task_files(config),
        output:
            LLM_TABLE,
        log:
            f"logs/llm/{LLM_SLUG}.log",
        benchmark:
            f"benchmarks/llm/{LLM_SLUG}.tsv"
        conda:
            "../envs/llm.yaml"
        threads: 2
        resources:
            mem_mb=24000,
            runtime=planned("llm_eval", fallback=480),
            gpu=0 if LLM["device"] == "cpu" else 1,
        params:
            llm=canonical({k: v for k, v in LLM.items() if k not in ("enabled", "metric")}),
        script:
            "../scripts/llm_eval.py"

    rule figure_fig3:
        input:
            LLM_TABLE,
        output:
            pdf=report(
                "results/figures/fig3.pdf",
                caption="../report/fig3.rst",
                category="LLM",
            ),
            png="results/figures/fig3.png",
        log:
            "logs/figures/fig3.log",
        benchmark:
            "benchmarks/figures/fig3.tsv"
        localrule: True
        conda:
            "../envs/upnn.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=planned("figure_fig3", fallback=10),
        params:
            metric=LLM["metric"],
        script:
            "../scripts/figure_fig3.py"
