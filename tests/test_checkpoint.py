"""Tests for upnn.checkpoint: names, atomic save, load errors, the resume protocol."""

import logging

import pytest
import torch

from upnn import checkpoint, io


def write(directory, epoch, fp="A", **extra):
    checkpoint.save({"epoch": epoch, "fingerprint": fp, "w": torch.full((2,), float(epoch)),
                     **extra}, checkpoint.path(directory, epoch))


def test_names_and_listing(tmp_path):
    assert checkpoint.name(7) == "epoch007.pt" and checkpoint.name(1234) == "epoch1234.pt"
    for e in (3, 1, 12):
        write(tmp_path, e)
    (tmp_path / "notes.txt").write_text("x")
    assert list(checkpoint.epochs_in(tmp_path)) == [1, 3, 12]
    assert checkpoint.epochs_in(tmp_path / "absent") == {}
    assert checkpoint.work_dir(tmp_path / "seed0").name == "seed0.partial"


def test_load_names_the_damaged_or_missing_file(tmp_path):
    write(tmp_path, 1)
    good = checkpoint.path(tmp_path, 1)
    assert checkpoint.load(good)["epoch"] == 1
    bad = checkpoint.path(tmp_path, 2)
    bad.write_bytes(good.read_bytes()[:100])  # truncated
    with pytest.raises(checkpoint.CheckpointError, match=r"epoch002\.pt is damaged .*snakemake"):
        checkpoint.load(bad, rebuild="rebuild it with: snakemake --forcerun train")
    with pytest.raises(checkpoint.CheckpointError, match=r"epoch009\.pt is missing"):
        checkpoint.load(checkpoint.path(tmp_path, 9))


def test_claim_moves_other_settings_aside_and_resume_never_mixes_them(tmp_path, caplog):
    """Issue 16's case: epochs 1-2 under setting A, then epoch 1 under B, then A again."""
    d = tmp_path / "seed0.partial"
    checkpoint.claim(d, "A")
    write(d, 1, "A"), write(d, 2, "A")
    checkpoint.claim(d, "B")  # setting B takes the folder: A's files go aside
    assert checkpoint.epochs_in(d) == {}
    write(d, 1, "B")
    with caplog.at_level(logging.INFO, logger="upnn"):
        checkpoint.claim(d, "A")
        start, ckpt = checkpoint.resume(d, 3)
    assert (start, ckpt) == (0, None)  # B's epoch 1 is not resumed under A ...
    assert checkpoint.epochs_in(d) == {}  # ... and not left to be renamed into the result
    stale = d.with_name("seed0.partial.stale")
    # A's two files, then B's epoch 1 under a numbered name: nothing is overwritten
    assert sorted(p.name for p in stale.iterdir()) == ["epoch001.1.pt", "epoch001.pt",
                                                       "epoch002.pt"]
    assert checkpoint.load(stale / "epoch001.1.pt")["fingerprint"] == "B"
    assert "other settings" in caplog.text


def test_resume_stops_at_a_gap_or_a_damaged_file(tmp_path, caplog):
    d = tmp_path / "w"
    checkpoint.claim(d, "A")
    for e in (1, 2, 4):
        write(d, e)
    with caplog.at_level(logging.INFO, logger="upnn"):
        start, ckpt = checkpoint.resume(d, 5)
    assert start == 2 and ckpt["epoch"] == 2
    assert list(checkpoint.epochs_in(d)) == [1, 2]  # epoch 4 after the gap: moved aside
    assert "resuming" in caplog.text and "after epoch 2 of 5" in caplog.text
    checkpoint.path(d, 2).write_bytes(b"garbage")
    with caplog.at_level(logging.INFO, logger="upnn"):
        start, _ = checkpoint.resume(d, 5)
    assert start == 1 and "damaged" in caplog.text  # the newest is damaged: the one before
    start, _ = checkpoint.resume(d, 5, check=lambda c: c["fingerprint"] == "other")
    assert start == 0


def test_claim_and_finish_drop_temporary_files(tmp_path):
    d = tmp_path / "run.partial"
    checkpoint.claim(d, "A")
    write(d, 1), write(d, 2), write(d, 3)
    leftover = d / ".epoch004.pt.x1y2.upnn-tmp"
    leftover.write_bytes(b"half")
    assert io.is_temporary(leftover)
    checkpoint.claim(d, "A")  # same settings: files kept, the leftover goes
    assert not leftover.exists() and list(checkpoint.epochs_in(d)) == [1, 2, 3]
    (d / ".epoch003.pt.abcd.upnn-tmp").write_bytes(b"half")
    out = tmp_path / "run"
    checkpoint.finish(d, out, epochs=2)
    assert not d.exists()
    assert sorted(p.name for p in out.iterdir()) == ["epoch001.pt", "epoch002.pt"]  # no stamp


def test_checkpoint_roundtrip_weights_only(tmp_path):
    obj = {"model": {"w": torch.arange(3.0)}, "epoch": 2, "meta": {"name": "cnn3"},
           "rng": torch.get_rng_state()}
    checkpoint.save(obj, tmp_path / "c.pt")
    back = checkpoint.load(tmp_path / "c.pt")
    assert back["epoch"] == 2 and back["meta"] == {"name": "cnn3"}
    assert torch.equal(back["model"]["w"], obj["model"]["w"])


def test_checkpoint_refuses_pickled_objects(tmp_path):
    torch.save({"bad": object()}, tmp_path / "c.pt")
    with pytest.raises(Exception, match="damaged.*[Ww]eights only"):
        checkpoint.load(tmp_path / "c.pt")


def test_folder_check_names_the_missing_epoch_and_the_rebuild_command(tmp_path):
    d = tmp_path / "seed0"
    for e in (1, 2, 3):
        write(d, e)
    assert list(checkpoint.folder(d, [1, 3])) == [1, 3]
    checkpoint.path(d, 2).unlink()  # deleted by hand: invisible to Snakemake
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"seed0 lacks epoch\(s\) \[2\] .*snakemake --cores all --force .*seed0"):
        checkpoint.folder(d, range(1, 4))
    with pytest.raises(checkpoint.CheckpointError, match="folder .*absent is missing"):
        checkpoint.folder(tmp_path / "absent", [1])


def test_the_random_state_of_a_resume_checkpoint_round_trips(tmp_path):
    """Issue 28: one writer and one reader of the resume state (training and Pix2Pix use them):
    after restore_rng the shuffling generator and torch's global one draw what they drew after
    rng_state, also through a saved and loaded checkpoint."""
    shuffle = torch.Generator().manual_seed(3)
    with torch.random.fork_rng():  # the global RNG of the other tests is left alone
        torch.randperm(10, generator=shuffle)
        state = checkpoint.rng_state(shuffle, torch.device("cpu"))
        assert set(state) == {"shuffle_rng", "cpu_rng", "cuda_rng"} and state["cuda_rng"] is None
        want = (torch.randperm(10, generator=shuffle), torch.rand(3))
        checkpoint.save(state, tmp_path / "epoch001.pt")
        torch.rand(5)
        torch.randperm(10, generator=shuffle)
        checkpoint.restore_rng(checkpoint.load(tmp_path / "epoch001.pt"), shuffle,
                               torch.device("cpu"))
        got = (torch.randperm(10, generator=shuffle), torch.rand(3))
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
