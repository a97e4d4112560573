import gzip

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
    data.write_split(tmp_path / "test.parquet", x, y, source="digits", params={})
    xt, yt = data.read_split(tmp_path / "test.parquet")
    assert xt.dtype == torch.float32 and yt.dtype == torch.int64
    np.testing.assert_array_equal(xt.numpy(), x)


def test_uint8_storage_is_scaled_on_read(tmp_path):
    x = np.array([[[[0, 255], [128, 64]]]], dtype=np.uint8)
    data.write_split(tmp_path / "s.parquet", x, np.array([3]), params={})
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


def fake_fashion(folder, n_train=60, n_test=30, gz=True):
    """The four Fashion-MNIST idx files with synthetic content (ten classes, uint8 28×28)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = data.IDX_FILES[split]
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        for name, arr in ((images, x), (labels, y)):
            data.write_idx(folder / f"{name}.gz", arr)
            if not gz:
                (folder / name).write_bytes(gzip.decompress((folder / f"{name}.gz").read_bytes()))
                (folder / f"{name}.gz").unlink()
    return folder


def test_idx_round_trip_and_bad_magic(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data.write_idx(tmp_path / "a.gz", x)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), x)
    (tmp_path / "b").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an unsigned-byte idx file"):
        data.read_idx(tmp_path / "b")


def test_one_channel_native_size_torchvision_path_round_trips(tmp_path):
    """The real torchvision FashionMNIST class on idx files, written and read back as the
    prepare rule does (a stride-0 channel axis once broke the Parquet tensor column)."""
    staged = tmp_path / "debian"
    staged.mkdir()
    fake_fashion(staged)
    data.stage_debian(tmp_path / "root", staged)
    x, y = data.load_split("fashion_mnist", "train", root=tmp_path / "root")
    assert x.shape == (60, 1, 28, 28) and x.dtype == np.uint8
    data.write_split(tmp_path / "train.parquet", x, y, params={})
    xt, yt = data.read_split(tmp_path / "train.parquet")
    assert torch.equal((xt * 255).round().to(torch.uint8), torch.from_numpy(x))
    assert torch.equal(yt, torch.from_numpy(y))


def test_staging_is_atomic_and_idempotent(tmp_path, monkeypatch):
    (tmp_path / "debian").mkdir()
    staged = fake_fashion(tmp_path / "debian", n_train=2000)
    root = tmp_path / "root"
    raw = root / "FashionMNIST" / "raw"
    real_copy = data.shutil.copyfileobj

    def killed(src, dst, length=0):  # a copy interrupted half-way
        dst.write(src.read(1000))
        raise KeyboardInterrupt

    monkeypatch.setattr(data.shutil, "copyfileobj", killed)
    with pytest.raises(KeyboardInterrupt):
        data.stage_debian(root, staged)
    assert not raw.exists() or not list(raw.iterdir())  # the temp file is gone too
    import torchvision
    with pytest.raises(RuntimeError, match="not found"):
        torchvision.datasets.FashionMNIST(str(root), train=True, download=False)
    monkeypatch.setattr(data.shutil, "copyfileobj", real_copy)
    assert len(data.stage_debian(root, staged)) == 4
    assert data.stage_debian(root, staged) == []  # a second run copies nothing
    assert len(torchvision.datasets.FashionMNIST(str(root), train=False, download=False)) == 30


def test_subset_is_stratified_and_byte_identical_when_made_twice(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    fake_fashion(src, n_train=200, n_test=100, gz=False)
    sizes = data.make_subset(src, tmp_path / "a", per_class={"train": 5, "test": 3}, seed=0)
    data.make_subset(src, tmp_path / "b", per_class={"train": 5, "test": 3}, seed=0)
    assert sizes == {"train": 50, "test": 30}
    for f in (tmp_path / "a").iterdir():
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()
    labels = data.read_idx(tmp_path / "a" / "train-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [5] * 10


def test_shipped_subset_is_real_fashion_mnist():
    x, y = data.load_split("fashion_mnist_subset", "train")
    xt, yt = data.load_split("fashion_mnist_subset", "test")
    assert x.shape == (8000, 1, 28, 28) and x.dtype == np.uint8 and xt.shape == (2000, 1, 28, 28)
    assert np.bincount(y).tolist() == [800] * 10 and np.bincount(yt).tolist() == [200] * 10
    assert x.min() == 0 and x.max() == 255
    assert 0.25 < x.mean() / 255 < 0.32  # Fashion-MNIST's mean pixel is 0.286
    sizes = sum(p.stat().st_size for p in data.SHIPPED_DIR.glob("*.gz"))
    assert sizes < 6e6
