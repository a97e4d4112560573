# v4 Fig. 3: an LLM's embedding output perturbed (none / random / FGSM / BIM), scored with lm-eval.
# Weights and task data come from the Hugging Face hub: fig3 joins `rule all` only when
# `llm.enabled` is true (never in the offline default). Needs the optional extra `upnn[llm]`.
import re

LLM = config.get("llm") or {}


def llm_slug(model):
    """results/llm/{slug}.parquet: a hub id "org/name" gives "org--name" (as in the HF cache),
    a local folder its own name."""
    path = Path(model).expanduser()
    name = path.resolve().name if path.exists() else model.strip("/").replace("/", "--")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def llm_task_files(wildcards):
    """The YAML / JSONL / Python files of locally defined tasks: editing them reruns the stage."""
    root = LLM.get("include_path")
    if not root:
        return []
    return sorted(str(p) for ext in ("yaml", "jsonl", "py") for p in Path(root).glob(f"*.{ext}"))


if LLM:
    LLM_SLUG = llm_slug(LLM["model"])
    LLM_TABLE = f"results/llm/{LLM_SLUG}.parquet"

    rule llm_eval:
        input:
            llm_task_files,
        output:
            LLM_TABLE,
        params:
            llm=canonical(
                {k: v for k, v in LLM.items() if k not in ("enabled", "metric")}
            ),
        log:
            f"logs/llm/{LLM_SLUG}.log",
        benchmark:
            f"benchmarks/llm/{LLM_SLUG}.tsv"
        threads: 2
        resources:
            mem_mb=24000,
            runtime=480,
            gpu=0 if LLM["device"] == "cpu" else 1,
        conda:
            "../envs/llm.yaml"
        script:
            "../scripts/llm_eval.py"

    rule fig3:
        input:
            LLM_TABLE,
        output:
            pdf=report(
                "results/figures/fig3.pdf",
                caption="../report/fig3.rst",
                category="LLM",
            ),
            png="results/figures/fig3.png",
        params:
            metric=LLM["metric"],
        log:
            "logs/figures/fig3.log",
        benchmark:
            "benchmarks/figures/fig3.tsv"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../envs/upnn.yaml"
        script:
            "../scripts/figure_fig3.py"

    if LLM["enabled"]:
        TARGETS += ["results/figures/fig3.pdf", "results/figures/fig3.png"]
