import numpy as np
import pytest
import torch

from upnn import data


def test_digits_split_is_fixed_stratified_and_disjoint():
    xtr, ytr = data.load_split("digits", "train", test_fraction=0.25, split_seed=0)
    xte, yte = data.load_split("digits", "test", test_fraction=0.25, split_seed=0)
    assert len(ytr) + len(yte) == 1797
    assert xtr.shape[1:] == (1, 8, 8) and xtr.dtype == np.float32
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    # every class has ~25% of its samples in test
    for c in range(10):
        share = (yte == c).sum() / ((yte == c).sum() + (ytr == c).sum())
        assert abs(share - 0.25) < 0.02
    again, _ = data.load_split("digits", "test", test_fraction=0.25, split_seed=0)
    np.testing.assert_array_equal(again, xte)
    other, _ = data.load_split("digits", "test", test_fraction=0.25, split_seed=1)
    assert not np.array_equal(other, xte)
    # no test image is also a train image
    tr = {row.tobytes() for row in xtr.reshape(len(xtr), -1)}
    dup = sum(row.tobytes() in tr for row in xte.reshape(len(xte), -1))
    assert dup < 5  # the raw data has a handful of exact duplicate digits


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_resize_and_channels(channels, size):
    x, y = data.load_split("digits", "train", channels=channels, image_size=size, limit=50)
    assert x.shape == (50, channels, size, size) and len(y) == 50
    assert x.min() >= 0.0 and x.max() <= 1.0
    if channels == 3:
        np.testing.assert_array_equal(x[:, 0], x[:, 2])


def test_write_read_split(tmp_path):
    x, y = data.load_split("digits", "test", image_size=28, limit=20)
    data.write_split(tmp_path / "test.parquet", x, y, source="digits")
    xt, yt = data.read_split(tmp_path / "test.parquet")
    assert xt.dtype == torch.float32 and yt.dtype == torch.int64
    np.testing.assert_array_equal(xt.numpy(), x)


def test_uint8_storage_is_scaled_on_read(tmp_path):
    x = np.array([[[[0, 255], [128, 64]]]], dtype=np.uint8)
    data.write_split(tmp_path / "s.parquet", x, np.array([3]))
    xt, _ = data.read_split(tmp_path / "s.parquet")
    assert xt.max().item() == 1.0 and abs(xt[0, 0, 1, 0].item() - 128 / 255) < 1e-7


def test_unknown_source_and_split_name_the_allowed_values():
    with pytest.raises(ValueError, match="unknown dataset source 'svhn'; allowed: mnist"):
        data.load_split("svhn", "train")
    with pytest.raises(ValueError, match="unknown split 'val'; allowed: train, test"):
        data.load_split("digits", "val")


def test_offline_download_fails_with_one_clear_line(tmp_path, monkeypatch):
    import torchvision

    def refuse(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://...")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", refuse)
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_split("mnist", "train", root=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert "'mnist'" in msg and "offline" in msg and "python -m upnn.data download mnist" in msg


def test_subset_is_seeded_sorted_and_spread():
    assert torch.equal(data.subset(10, None, 0), torch.arange(10))
    assert torch.equal(data.subset(10, 50, 0), torch.arange(10))
    a = data.subset(1000, 100, 3)
    assert len(a) == 100 and len(set(a.tolist())) == 100
    assert torch.equal(a, a.sort().values) and torch.equal(a, data.subset(1000, 100, 3))
    assert a.max() > 500  # not just the head of the split
    assert not torch.equal(a, data.subset(1000, 100, 4))
    with pytest.raises(ValueError, match="subset size must be >= 1 or None, got 0"):
        data.subset(10, 0, 0)
