import pytest
import torch

from upnn import checkpoint, data, train


@pytest.fixture(scope="module")
def digits():
    xtr, ytr = data.load_split("digits", "train", image_size=28, limit=256)
    xte, yte = data.load_split("digits", "test", image_size=28, limit=128)
    return tuple(torch.as_tensor(a) for a in (xtr, ytr, xte, yte))


CFG = train.TrainConfig(epochs=4, batch_size=32, optimizer="adam", lr=3e-3, schedule="cosine")


def final_weights(directory, epoch):
    return checkpoint.load(checkpoint.path(directory, epoch))["model"]


def test_learns_and_writes_a_checkpoint_per_epoch(tmp_path, digits):
    rows = train.train("cnn3", digits, CFG, tmp_path, width=0.5, progress=False)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["test_acc"] > 0.5 and rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "FINGERPRINT", *(f"epoch00{i}.pt" for i in range(1, 5))]
    ckpt = checkpoint.load(tmp_path / "epoch004.pt")
    assert ckpt["meta"]["name"] == "cnn3" and ckpt["epoch"] == 4 and len(ckpt["rows"]) == 4


def test_same_seed_same_numbers(tmp_path, digits):
    a = train.train("cnn3", digits, CFG, tmp_path / "a", width=0.5, progress=False)
    b = train.train("cnn3", digits, CFG, tmp_path / "b", width=0.5, progress=False)
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]
    for k, v in final_weights(tmp_path / "a", 4).items():
        assert torch.equal(v, final_weights(tmp_path / "b", 4)[k])


def test_killed_after_epoch_k_resumes_to_the_same_final_checkpoint(tmp_path, digits):
    class Killed(Exception):
        pass

    def kill_after_2(epoch):
        if epoch == 2:
            raise Killed

    full = train.train("resnet9", digits, CFG, tmp_path / "full", width=0.125, progress=False)
    with pytest.raises(Killed):
        train.train("resnet9", digits, CFG, tmp_path / "cut", width=0.125, progress=False,
                    after_epoch=kill_after_2)
    assert list(checkpoint.epochs_in(tmp_path / "cut")) == [1, 2]
    resumed_epochs = []
    rows = train.train("resnet9", digits, CFG, tmp_path / "cut", width=0.125, progress=False,
                       after_epoch=resumed_epochs.append)
    assert resumed_epochs == [3, 4]  # epochs 1-2 were not trained again
    assert [r["train_loss"] for r in rows] == [r["train_loss"] for r in full]
    for k, v in final_weights(tmp_path / "full", 4).items():  # BatchNorm buffers included
        assert torch.equal(v, final_weights(tmp_path / "cut", 4)[k]), k


def test_stale_checkpoints_of_another_setting_are_not_resumed(tmp_path, digits):
    train.train("cnn3", digits, CFG, tmp_path, width=0.5, progress=False)
    other = train.TrainConfig(epochs=4, batch_size=32, optimizer="sgd", lr=1e-2)
    seen = []
    train.train("cnn3", digits, other, tmp_path, width=0.5, progress=False, after_epoch=seen.append)
    assert seen == [1, 2, 3, 4]
    assert len(list(tmp_path.with_name(tmp_path.name + ".stale").iterdir())) == 4  # kept aside


def test_resume_never_mixes_settings(tmp_path, digits):
    """Issue 16: killed after epoch 2 under A, after epoch 1 under B (another lr), rerun under A:
    every final checkpoint is A's, and equals an uninterrupted A run."""
    class Killed(Exception):
        pass

    def kill_after(n):
        def hook(epoch):
            if epoch == n:
                raise Killed
        return hook

    a = train.TrainConfig(epochs=3, batch_size=32, lr=3e-3)
    b = train.TrainConfig(epochs=3, batch_size=32, lr=1e-2)
    run = tmp_path / "run"
    for cfg, n in ((a, 2), (b, 1)):
        with pytest.raises(Killed):
            train.train("cnn3", digits, cfg, run, width=0.25, progress=False,
                        after_epoch=kill_after(n))
    train.train("cnn3", digits, a, run, width=0.25, progress=False)
    train.train("cnn3", digits, a, tmp_path / "clean", width=0.25, progress=False)
    fp = checkpoint.load(checkpoint.path(tmp_path / "clean", 1))["fingerprint"]
    for e in (1, 2, 3):
        ckpt = checkpoint.load(checkpoint.path(run, e))
        assert ckpt["fingerprint"] == fp, e
        clean = final_weights(tmp_path / "clean", e)
        assert all(torch.equal(v, clean[k]) for k, v in ckpt["model"].items()), e


def test_a_setting_the_schema_would_refuse_still_fails_with_one_line_where_it_is_used():
    """The schema checks the config (tests/test_config.py); a TrainConfig built by hand with an
    unknown optimizer or schedule fails where it is used, naming the allowed ones."""
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'; allowed: sgd, adam"):
        train.make_optimizer(model, train.TrainConfig(optimizer="lbfgs"))
    with pytest.raises(ValueError, match="unknown schedule 'step'; allowed: constant, cosine"):
        train.learning_rate(train.TrainConfig(schedule="step"), 1)


def test_cosine_schedule():
    cfg = train.TrainConfig(epochs=4, lr=1.0, schedule="cosine")
    assert train.learning_rate(cfg, 1) == 1.0
    assert train.learning_rate(cfg, 3) == pytest.approx(0.5)
    assert train.learning_rate(train.TrainConfig(lr=0.3), 7) == 0.3


def test_a_streamed_training_split_trains_the_same_net(tmp_path, digits):
    """Issue 29: training from splits read from disk batch by batch (data.StreamedImages) gives
    the same rows and the same weights, bit for bit, as from splits held whole."""
    xtr, ytr, xte, yte = digits
    for split, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        data.write_split(tmp_path / f"{split}.parquet", x.numpy(), y.numpy(), params={})
    streamed = (*data.open_split(tmp_path / "train.parquet", "cpu", 0),
                *data.open_split(tmp_path / "test.parquet", "cpu", 0))
    assert isinstance(streamed[0], data.StreamedImages)
    cfg = train.TrainConfig(epochs=2, batch_size=32, lr=3e-3)
    a = train.train("cnn3", digits, cfg, tmp_path / "held", width=0.5, progress=False)
    b = train.train("cnn3", streamed, cfg, tmp_path / "streamed", width=0.5, progress=False)
    assert [(r["train_loss"], r["test_acc"]) for r in a] == [(r["train_loss"], r["test_acc"]) for r in b]
    for k, v in final_weights(tmp_path / "held", 2).items():
        assert torch.equal(v, final_weights(tmp_path / "streamed", 2)[k])
    assert (tmp_path / "held/FINGERPRINT").read_text() == (tmp_path / "streamed/FINGERPRINT").read_text()
