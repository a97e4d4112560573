"""upnn.llm on a tiny random Llama (built from a config, tokenizer trained here): `none` is the
unwrapped model bit for bit, ‖δ‖∞ = ε (≤ ε for BIM), FGSM beats random noise, nothing is left on
the model, and the offline check names what is missing. Runs whenever the `llm` extra is installed.
"""

import importlib.util
import json
import os

import pytest

if importlib.util.find_spec("lm_eval") is None:  # the extra is absent: skip; a broken import fails
    pytest.skip("the llm extra is not installed: pip install -e '.[llm]'", allow_module_level=True)

# Never touch the network: set before transformers / datasets / lm-eval are imported.
for _flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_flag] = "1"

import torch  # noqa: E402
from llm_tiny import TASK_DIR, TASKS, build  # noqa: E402

from upnn import llm  # noqa: E402

EPS = 0.01


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="module")
def lm(tiny_dir):
    return llm.PerturbedHFLM(pretrained=str(tiny_dir), device="cpu", dtype="float32",
                             batch_size=8, epsilon=EPS, steps=3)


@pytest.fixture(scope="module")
def requests():
    """Each tiny-task question with its correct answer, as lm-eval loglikelihood requests."""
    from lm_eval.api.instance import Instance

    out = []
    for name in ("tiny_mc4.jsonl", "tiny_mc2.jsonl"):
        for i, line in enumerate((TASK_DIR / name).read_text().splitlines()):
            row = json.loads(line)
            out.append(Instance("loglikelihood", row, (f"Question: {row['question']}\nAnswer:",
                                                      f" {row['choices'][row['label']]}"), i))
    return out


def loglik(lm, requests, condition):
    lm.condition = condition
    try:
        return [ll for ll, _ in lm.loglikelihood(requests, disable_tqdm=True)]
    finally:
        lm.condition = "none"


def batch(lm, requests):
    """Right-padded input ids and continuation targets of the requests, as lm-eval builds them."""
    rows = []
    for r in requests:
        ctx, cont = lm.tok_encode(r.args[0]), lm.tok_encode(r.args[1])
        rows.append(((ctx + cont)[:-1], cont))
    length = max(len(inp) for inp, _ in rows)
    ids = torch.tensor([inp + [0] * (length - len(inp)) for inp, _ in rows])
    return ids, llm.continuation_targets([(len(inp), cont) for inp, cont in rows], length)


def test_continuation_targets_align_with_lm_eval_slice():
    t = llm.continuation_targets([(5, [7, 8]), (3, [9])], length=6)
    assert t.tolist() == [[-100, -100, -100, 7, 8, -100], [-100, -100, 9, -100, -100, -100]]
    with pytest.raises(ValueError, match="outside"):
        llm.continuation_targets([(1, [7, 8])], length=4)


def test_none_reproduces_unwrapped_loglikelihoods_exactly(lm, tiny_dir, requests):
    from lm_eval.models.huggingface import HFLM

    plain = HFLM(pretrained=str(tiny_dir), device="cpu", dtype="float32", batch_size=8,
                 logits_cache=False)
    ours = lm.loglikelihood(requests, disable_tqdm=True)
    assert ours == plain.loglikelihood(requests, disable_tqdm=True)  # bit for bit
    # lm-eval's default (logits cache on) agrees up to float rounding
    cached = HFLM(pretrained=str(tiny_dir), device="cpu", dtype="float32", batch_size=8)
    assert [a for a, _ in ours] == pytest.approx([a for a, _ in cached.loglikelihood(
        requests, disable_tqdm=True)], abs=1e-4)
    # and our continuation NLL on the same batch gives the same numbers
    ids, targets = batch(lm, requests)
    with torch.no_grad():
        nll = llm.continuation_nll(lm.model(ids).logits, targets)
    assert (-nll).tolist() == pytest.approx([a for a, _ in ours], abs=1e-4)


@pytest.mark.parametrize("condition", ["random", "fgsm", "bim"])
def test_perturbation_linf_is_epsilon(lm, requests, condition):
    ids, targets = batch(lm, requests)
    gen = torch.Generator().manual_seed(0)
    delta = llm.embedding_perturbation(lm.model, ids, targets, condition, EPS, steps=3,
                                       generator=gen)
    emb = lm.model.get_input_embeddings()(ids)
    assert delta.shape == emb.shape and delta.dtype == emb.dtype
    linf = delta.abs().amax(dim=(1, 2))  # per request
    eps = torch.tensor(EPS, dtype=delta.dtype)
    if condition == "bim":
        assert (linf <= eps).all() and (linf > 0).all()
    else:
        assert (linf == eps).all()
    if condition != "random":  # the right padding (after the last scored position) gets no δ
        scored = targets != -100
        last = scored.shape[1] - 1 - scored.flip(1).int().argmax(1)
        padding = torch.arange(scored.shape[1]) > last[:, None]
        assert padding.any() and not delta[padding].any()
    none = llm.embedding_perturbation(lm.model, ids, targets, "none", EPS)
    assert not none.any()


def test_the_model_call_adds_delta_of_norm_epsilon(lm, requests, monkeypatch):
    seen = []
    real = llm.embedding_offset

    def spy(model, delta):
        seen.append(delta.abs().amax().item())
        return real(model, delta)

    monkeypatch.setattr(llm, "embedding_offset", spy)
    loglik(lm, requests[:10], "fgsm")  # two batches, of 8 and 2
    # per batch: the gradient pass at δ = 0, then the scored pass at ‖δ‖∞ = ε
    assert seen == pytest.approx([0.0, EPS, 0.0, EPS], rel=1e-6)


def test_fgsm_lowers_the_correct_loglikelihood_more_than_random(lm, requests):
    clean = torch.tensor(loglik(lm, requests, "none"))
    drops = {c: clean - torch.tensor(loglik(lm, requests, c)) for c in ("random", "fgsm", "bim")}
    drop = {c: d.mean().item() for c, d in drops.items()}
    # on this model: random ≈ 0.01 nats, fgsm ≈ 1.4, bim ≈ 1.5 (mean over the 24 answers)
    assert drop["fgsm"] > drop["random"] + 0.5 and (drops["fgsm"] > 0).all()
    assert drop["bim"] > drop["random"] + 0.5 and (drops["bim"] > 0).all()
    # random is seeded: the same numbers twice
    assert loglik(lm, requests, "random") == loglik(lm, requests, "random")


def test_gradient_pass_leaves_no_gradients_or_hooks(lm, requests):
    model = lm.model

    def hooks():
        return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                for m in model.modules()]

    before = hooks()
    flags = [p.requires_grad for p in model.parameters()]
    for condition in ("fgsm", "bim"):
        loglik(lm, requests[:5], condition)
    assert all(p.grad is None for p in model.parameters())
    assert hooks() == before
    assert [p.requires_grad for p in model.parameters()] == flags
    assert torch.is_grad_enabled()  # the global grad mode is restored
    # the hook goes also when the forward pass fails
    with pytest.raises(RuntimeError), llm.embedding_offset(model, torch.zeros(1)):
        raise RuntimeError("boom")
    assert hooks() == before


def test_bad_settings_name_the_allowed_values(lm, tiny_dir):
    with pytest.raises(ValueError, match="none, random, fgsm, bim"):
        lm.condition = "pgd"
    with pytest.raises(ValueError, match="batch_size"):
        llm.PerturbedHFLM(pretrained=str(tiny_dir), device="cpu", batch_size="auto")
    with pytest.raises(ValueError, match="logits_cache"):
        llm.PerturbedHFLM(pretrained=str(tiny_dir), device="cpu", logits_cache=True)


def test_offline_check_names_what_is_missing(tmp_path, tiny_dir):
    assert not llm.hub_reachable()  # HF_HUB_OFFLINE is set above
    (tmp_path / "remote.yaml").write_text(
        "task: upnn_remote_mc\ndataset_path: upnn-test/not-cached-dataset\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: q\ndoc_to_target: 0\n"
        "doc_to_choice: '{{choices}}'\n")
    tm = llm.task_manager(["upnn_remote_mc"], tmp_path)
    with pytest.raises(llm.MissingFiles) as err:
        llm.check_available("upnn-test/not-cached-model", ["upnn_remote_mc"], tm,
                            cache_dir=tmp_path / "hub")
    msg = str(err.value)
    assert "\n" not in msg
    for part in ("upnn-test/not-cached-model (config, weights, tokenizer)",
                 "task upnn_remote_mc (dataset upnn-test/not-cached-dataset)",
                 "python -m upnn.llm prefetch --tasks upnn_remote_mc --model "
                 "upnn-test/not-cached-model", "hf download upnn-test/not-cached-model"):
        assert part in msg
    # a local folder without weights
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    assert llm.missing_model_files(str(tmp_path / "half")) == ["weights", "tokenizer"]
    # all there: no error
    llm.check_available(str(tiny_dir), TASKS, llm.task_manager(TASKS, TASK_DIR))


def test_offline_check_finds_a_hub_model_in_a_prefilled_cache(tmp_path, tiny_dir):
    """The hub cache layout that `hf download` leaves: models--org--name/{refs/main, snapshots/}."""
    repo = tmp_path / "models--upnn-test--tiny"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    for f in tiny_dir.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    assert llm.missing_model_files("upnn-test/tiny", cache_dir=tmp_path) == []
    (snapshot / "model.safetensors").unlink()
    assert llm.missing_model_files("upnn-test/tiny", cache_dir=tmp_path) == ["weights"]
