# Helpers of the claims stage (rules/claims.smk): the tables each stage's claims read.


def claims_inputs():
    """The tables each stage's claims read; a stage the config does not run has none."""
    inputs = {"attacks": attack_tables("pixel") + attack_tables("feature")}
    inputs["toy2d"] = ["results/toy2d/metrics.parquet"] if "toy2d" in config else []
    inputs["words"] = ["results/words/similarity.parquet"] if "words" in config else []
    inputs["ifa"] = ifa_paths(IFA_TRAJECTORY) if IFA_RUNS else []
    inputs["ifa_summary"] = ["results/ifa_summary.parquet"] if IFA_RUNS else []
    inputs["frequency"] = expand("results/frequency/{dataset}.parquet", dataset=FREQUENCY_DATASETS)
    inputs["uncertainty"] = [
        f"results/uncertainty/{d}/{m}/seed{s}/{level}.parquet" for d, m, s in UNC_RUNS for level in UNC_LEVELS
    ]
    inputs["tsne"] = [
        f"results/tsne_points/{UNC_TSNE['dataset']}/{UNC_TSNE['model']}/" f"seed{UNC_TSNE_SEED}.parquet"
    ]
    inputs["llm"] = [LLM_TABLE] if LLM and LLM["enabled"] else []
    inputs["minimal"] = minimal_tables()
    return inputs
