"""Rule llm_eval: one causal LM × the configured lm-eval tasks × the four embedding conditions.

Offline (``HF_HUB_OFFLINE`` set, or the hub unreachable) the Hugging Face libraries are switched
to offline mode before they are imported, and a model or task dataset missing from the cache
fails the job at once with one line (on the console too) saying what to pre-fetch and how.
"""

import sys

import _src  # noqa: F401, I001  (puts src/ on sys.path)

from upnn import device, io, llm, log

sm = snakemake  # noqa: F821
p = sm.params.llm
with log.job(sm) as logger:
    online = llm.hub_reachable()
    if not online:
        llm.go_offline()
    logger.info("hub %s", "reachable" if online else "unreachable: offline mode")
    tm = llm.task_manager(p["tasks"], p.get("include_path"))
    if not online:
        try:
            llm.check_available(p["model"], p["tasks"], tm)
        except llm.MissingFiles as err:
            print(f"upnn: {err}", file=sys.__stderr__)
            raise
    dev = device.resolve(p["device"])
    lm = llm.PerturbedHFLM(pretrained=p["model"], device=str(dev), dtype=p["dtype"],
                           batch_size=p["batch_size"], epsilon=p["epsilon"],
                           steps=p["bim_steps"], seed=p["seed"])
    logger.info("%s on %s (%s), tasks %s, conditions %s, ε=%g", p["model"], dev, p["dtype"],
                p["tasks"], p["conditions"], p["epsilon"])
    frame = llm.evaluate(lm, p["tasks"], p["conditions"], tm=tm, limit=p.get("limit"),
                         num_fewshot=p["num_fewshot"], model=p["model"], logger=logger)
    import lm_eval
    import transformers

    io.write_table(sm.output[0], frame, metadata={
        "model": p["model"], "dtype": p["dtype"], "device": str(dev), "seed": p["seed"],
        "limit": p.get("limit"), "num_fewshot": p["num_fewshot"],
        "lm_eval": lm_eval.__version__, "transformers": transformers.__version__}, params=sm)
