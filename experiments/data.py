"""Datasets of the reproduced papers: torchvision loaders, transforms, subsets, GPU-resident batches.

    from experiments.data import build_datasets, dataset_info
    train, test, info = build_datasets("cifar100", "/data", train_subset=5000)

Names (case and ``-``/``_`` are ignored, so ``CIFAR-10`` and ``fashion_mnist`` work):

=============  =====  =====  ====  =================================  ==================
name           class  chans  res   where the data must be (``root``)  nominal train/test
=============  =====  =====  ====  =================================  ==================
cifar10        10     3      32    root/cifar-10-batches-py/          50,000 / 10,000
cifar100       100    3      32    root/cifar-100-python/             50,000 / 10,000
stl10          10     3      96    root/stl10_binary/                 5,000 / 8,000
fashionmnist   10     1      32    root/FashionMNIST/raw/ (or Debian) 60,000 / 10,000
imagenet       1000   3      224   root/train/, root/val/ (folders)   1,281,167 / 50,000
miniimagenet   100    3      224   root/train/, root/val/ (folders)   50,000 / 10,000
chestxray      2      3      224   root/train/, root/test/ (folders)  5,216 / 624
fake           10     3      32    nothing (torchvision FakeData)     256 / 256
=============  =====  =====  ====  =================================  ==================

Nothing here is downloaded unless ``download=True`` (CIFAR, STL-10, Fashion-MNIST only; the
project's GPU machines have no network). Missing data raises ``models.ConfigError`` with one
line that names the expected path and how to get the data.

Decisions (see also each function):

* CIFAR-10/100: the released DLA code's recipe (``official-code.md``): RandomCrop(32, padding=4)
  + RandomHorizontalFlip, mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010). The same
  constants are used for CIFAR-100 (the DLA repository uses them for both; the effect of the
  slightly different true CIFAR-100 statistics on BN networks is negligible).
* Fashion-MNIST (28x28 grey): zero-padded by 2 to 32x32 (``Pad(2)``) BEFORE anything else, so
  the CIFAR networks being reproduced run unchanged: their three stages reduce 32 -> 16 -> 8 and
  the head is a fixed ``AvgPool(8)``; a 28x28 input would give 7x7 maps and a different head.
  The background of Fashion-MNIST is black (0), so the padding adds no content. Then the CIFAR
  augmentation (RandomCrop(32, padding=4) + flip; flipping a garment keeps its class). Mean 0.2860
  and std 0.3530 are the statistics of the 28x28 training images (checked on the Debian files:
  0.28604 / 0.35302); padded pixels are normalised with the same constants, as CIFAR's crop
  padding is. ``in_chans`` = 1.
* STL-10: DIA's Table V gives only "96 x 96" and says the ResNet-164 training settings are
  those of its CIFAR experiments; it gives NO augmentation or normalisation detail. We train at
  the native 96x96 and scale CIFAR's augmentation: RandomCrop(96, padding=12) (12/96 = 4/32) +
  RandomHorizontalFlip. STL-10 images are drawn from ImageNet, so the ImageNet mean/std are used.
* ImageNet-style (imagenet, miniimagenet, chestxray): the released MRLA code's recipe:
  RandomResizedCrop(224) + flip; eval Resize(256) + CenterCrop(224); ImageNet mean/std.
  miniImageNet: 224 (not the 84x84 of few-shot work) because DIA's Table V lists
  "miniImageNet 100 classes, 50,000 / 10,000, 224 x 224" and trains ImageNet ResNet-18/34/50 on
  it. Chest X-ray (Kermany et al., DIA Table XI, ResNet-50 from scratch): the paper gives no
  preprocessing, so the ImageNet recipe is used; the grey X-rays are read as RGB by
  ImageFolder's loader (3 channels, like the ResNet-50 stem expects).
* ``augment=False`` (DIA Table XVII, "without data augment") uses the eval transform for the
  training set too.
* ``build_datasets`` returns a ``DatasetInfo`` describing the data actually found on disk
  (sizes before subsetting; ImageFolder's class count), which equals ``dataset_info(name)`` for
  the real datasets; ``dataset_info`` gives the nominal (paper) values without touching disk.
"""
from __future__ import annotations

import gzip
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, Subset

from models import ConfigError

__all__ = [
    "DatasetInfo",
    "DATASETS",
    "dataset_info",
    "build_transforms",
    "build_datasets",
    "prepare_fashion_mnist",
    "load_uint8",
    "GpuBatches",
    "subset_indices",
    "SUBSET_SEED",
    "DEBIAN_FASHION_MNIST",
]

#: Where Debian's ``dataset-fashion-mnist`` package puts the gzipped IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FMNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: Seed of the fixed subsets (``subset_indices``): a constant, independent of the run's seed.
SUBSET_SEED = 20240607

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FMNIST_MEAN = (0.2860,)
FMNIST_STD = (0.3530,)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    in_chans: int
    resolution: int  # the resolution the network sees
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int  # full sizes
    test_size: int
    small: bool  # fits on a GPU as uint8: the GpuBatches fast path applies
    # class names in label order where a table reports per-class accuracy (DIA Table XI);
    # ImageFolder datasets take theirs from the class folders
    classes: tuple[str, ...] = ()


_INFO: dict[str, DatasetInfo] = {
    i.name: i
    for i in (
        DatasetInfo("cifar10", 10, 3, 32, CIFAR_MEAN, CIFAR_STD, 50_000, 10_000, True),
        DatasetInfo("cifar100", 100, 3, 32, CIFAR_MEAN, CIFAR_STD, 50_000, 10_000, True),
        DatasetInfo("stl10", 10, 3, 96, IMAGENET_MEAN, IMAGENET_STD, 5_000, 8_000, True),
        DatasetInfo("fashionmnist", 10, 1, 32, FMNIST_MEAN, FMNIST_STD, 60_000, 10_000, True),
        DatasetInfo("imagenet", 1000, 3, 224, IMAGENET_MEAN, IMAGENET_STD, 1_281_167, 50_000, False),
        DatasetInfo("miniimagenet", 100, 3, 224, IMAGENET_MEAN, IMAGENET_STD, 50_000, 10_000, False),
        DatasetInfo("chestxray", 2, 3, 224, IMAGENET_MEAN, IMAGENET_STD, 5_216, 624, False, ("NORMAL", "PNEUMONIA")),
        # plumbing tests only; small, so the GPU path can be exercised with it too
        DatasetInfo("fake", 10, 3, 32, CIFAR_MEAN, CIFAR_STD, 256, 256, True),
    )
}
DATASETS: tuple[str, ...] = tuple(_INFO)

_PRETTY = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "stl10": "STL-10",
    "fashionmnist": "Fashion-MNIST",
    "imagenet": "ImageNet",
    "miniimagenet": "miniImageNet",
    "chestxray": "Chest X-ray (Kermany et al.)",
    "fake": "FakeData",
}
# ImageFolder datasets: (train folder, test folder, where to get it)
_FOLDERS = {
    "imagenet": ("train", "val", "ILSVRC-2012 from image-net.org, val sorted into class folders; "
                                 "torchvision cannot download it: copy it there"),
    "miniimagenet": ("train", "val", "the 100-class miniImageNet split (500 train / 100 val images per "
                                     "class); it cannot be downloaded here: copy it there"),
    "chestxray": ("train", "test", "the chest_xray folder of Kermany et al. (Mendeley data "
                                   "rscbjbr9sj / Kaggle 'chest-xray-pneumonia'), sub-folders NORMAL "
                                   "and PNEUMONIA; copy it there"),
}


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


def _canonical(name: str) -> str:
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in _INFO:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return key


def dataset_info(name: str) -> DatasetInfo:
    """Nominal facts about dataset ``name`` (no disk access)."""
    return _INFO[_canonical(name)]


# --------------------------------------------------------------------------- transforms

def build_transforms(info: DatasetInfo, *, train: bool, augment: bool = True):
    """The torchvision transform of ``info``'s dataset (see the module docstring for choices)."""
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    if info.resolution == 224:  # ImageNet-style folders
        if train and augment:
            return T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), *norm])
        return T.Compose([T.Resize(256), T.CenterCrop(224), *norm])
    pre = [T.Pad(2)] if info.name == "fashionmnist" else []
    if train and augment:
        pad = _crop_padding(info)
        return T.Compose([*pre, T.RandomCrop(info.resolution, padding=pad), T.RandomHorizontalFlip(), *norm])
    return T.Compose([*pre, *norm])


def _crop_padding(info: DatasetInfo) -> int:
    """Zero padding of the random crop: 4 at 32 px (CIFAR recipe), scaled: 12 at 96 px (STL-10)."""
    return info.resolution // 8


# --------------------------------------------------------------------------- subsets

def subset_indices(n_total: int, n: int | None) -> list[int]:
    """A FIXED random subset of ``range(n_total)`` of size ``n`` (sorted); ``None`` = all.

    Drawn from a ``torch.Generator`` seeded with the constant ``SUBSET_SEED``, independent of the
    run's seed, so every run of a table trains on the same images. Subsets are nested: the
    subset of size m < n is contained in the subset of size n (prefixes of one permutation).
    """
    if n is None:
        return list(range(n_total))
    n = int(n)
    if not 0 < n <= n_total:
        raise ConfigError(f"subset size {n} must be between 1 and the dataset size {n_total}")
    g = torch.Generator().manual_seed(SUBSET_SEED)
    return sorted(torch.randperm(n_total, generator=g)[:n].tolist())


# --------------------------------------------------------------------------- Fashion-MNIST

def prepare_fashion_mnist(root, *, source: str | os.PathLike | None = None) -> Path:
    """Put the 4 uncompressed Fashion-MNIST IDX files where torchvision looks for them.

    torchvision's ``FashionMNIST(root)`` reads ``<root>/FashionMNIST/raw/train-images-idx3-ubyte``
    etc. (uncompressed). Debian's ``dataset-fashion-mnist`` installs the original gzipped files in
    ``/usr/share/datasets/fashion-mnist`` (``source``). Each missing file whose ``.gz`` exists in
    ``source`` (or already in the raw folder) is gunzipped to a temporary file in the raw folder
    and moved into place with ``os.replace`` (atomic: concurrent jobs never see a partial file).
    Debian's .gz files have other md5 sums than torchvision's download list (recompressed), so
    no md5 is checked; torchvision validates the IDX headers when it reads them.
    Returns the raw folder; does not raise when the files cannot be found (the loader does).
    """
    raw = Path(root).expanduser() / "FashionMNIST" / "raw"
    src_dir = Path(source) if source is not None else DEBIAN_FASHION_MNIST
    for fname in _FMNIST_FILES:
        dst = raw / fname
        if dst.is_file():
            continue
        gz = next((p for p in (raw / f"{fname}.gz", src_dir / f"{fname}.gz") if p.is_file()), None)
        if gz is None:
            continue
        raw.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", suffix=".tmp", dir=raw)
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(gz, "rb") as inp:
                shutil.copyfileobj(inp, out, 1 << 20)
            os.replace(tmp, dst)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return raw


# --------------------------------------------------------------------------- raw torchvision datasets

def _missing_file(folder: Path, names) -> Path | None:
    for n in names:
        if not (folder / n).is_file():
            return folder / n
    return None


def _wrap(key: str, where: Path, err: Exception, download: bool) -> ConfigError:
    what = "download failed" if download else f"files at {where} were rejected (corrupted or partial copy?)"
    return ConfigError(_one_line(f"{_PRETTY[key]} {what}: {type(err).__name__}: {err}; "
                                 f"re-copy the data there or pass --download on a machine with internet"))


def _torchvision_dataset(key: str, root: Path, *, train: bool, transform, download: bool) -> Dataset:
    """The torchvision dataset for ``key`` with ``transform``; one-line ConfigError when missing."""
    import torchvision.datasets as D

    if key in ("cifar10", "cifar100"):
        cls = D.CIFAR10 if key == "cifar10" else D.CIFAR100
        folder = root / cls.base_folder
        files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        missing = _missing_file(folder, files)
        if missing is not None and not download:
            page = "https://www.cs.toronto.edu/~kriz/cifar.html"
            raise ConfigError(f"{_PRETTY[key]} not found: expected {missing} (the 'python version' from "
                              f"{page}, unpacked in {root}); pass --download on a machine with internet "
                              f"or copy it there")
        try:
            return cls(str(root), train=train, transform=transform, download=download)
        except (RuntimeError, OSError, EOFError, ValueError) as e:
            raise _wrap(key, folder, e, download) from e
    if key == "stl10":
        cls = D.STL10
        folder = root / cls.base_folder
        missing = _missing_file(folder, [f for f, _ in cls.train_list + cls.test_list])
        if missing is not None and not download:
            raise ConfigError(f"STL-10 not found: expected {missing} (the binary version stl10_binary.tar.gz "
                              f"from https://cs.stanford.edu/~acoates/stl10/, unpacked in {root}; torchvision "
                              f"also requires unlabeled_X.bin); pass --download on a machine with internet "
                              f"or copy it there")
        try:
            return cls(str(root), split="train" if train else "test", transform=transform, download=download)
        except (RuntimeError, OSError, ValueError) as e:
            raise _wrap(key, folder, e, download) from e
    if key == "fashionmnist":
        raw = prepare_fashion_mnist(root)
        missing = _missing_file(raw, _FMNIST_FILES)
        if missing is not None and not download:
            raise ConfigError(f"Fashion-MNIST not found: expected {missing} or the .gz files in "
                              f"{DEBIAN_FASHION_MNIST} (`apt-get install dataset-fashion-mnist`); "
                              f"or pass --download on a machine with internet")
        try:
            return D.FashionMNIST(str(root), train=train, transform=transform, download=download)
        except (RuntimeError, OSError, ValueError, AssertionError) as e:
            raise _wrap(key, raw, e, download) from e
    if key in _FOLDERS:
        sub = _FOLDERS[key][0 if train else 1]
        folder = root / sub
        if not folder.is_dir():
            tr, te, how = _FOLDERS[key]
            raise ConfigError(f"{_PRETTY[key]} not found: expected {folder} (ImageFolder layout: "
                              f"{root}/{tr}/<class>/<image> and {root}/{te}/<class>/<image>; {how})")
        try:
            return D.ImageFolder(str(folder), transform=transform)
        except (FileNotFoundError, OSError) as e:
            raise ConfigError(_one_line(f"{_PRETTY[key]}: no images in {folder}: {e}")) from e
    if key == "fake":
        raise AssertionError("FakeData is built by the callers")
    raise AssertionError(key)


def _fake(info: DatasetInfo, *, train: bool, size: int | None, transform) -> Dataset:
    import torchvision.datasets as D

    return D.FakeData(size=size or 256, image_size=(info.in_chans, info.resolution, info.resolution),
                      num_classes=info.num_classes, transform=transform,
                      random_offset=0 if train else 1_000_000)


def _root(root) -> Path:
    if root is None:
        raise ConfigError("no data root given; pass the folder that holds the dataset (e.g. --data-root)")
    return Path(root).expanduser()


def build_datasets(name, root, *, download=False, augment=True, train_subset=None, test_subset=None):
    """``(train, test, info)``: torchvision datasets with this project's transforms.

    ``train_subset``/``test_subset``: sizes of FIXED random subsets (``subset_indices``), wrapped
    in ``torch.utils.data.Subset``; ``None`` = all. For ``fake`` they set the FakeData sizes
    (default 256). ``augment=False`` applies the eval transform to the training set.
    """
    key = _canonical(name)
    info = _INFO[key]
    t_train = build_transforms(info, train=True, augment=augment)
    t_test = build_transforms(info, train=False)
    if key == "fake":
        train = _fake(info, train=True, size=train_subset, transform=t_train)
        test = _fake(info, train=False, size=test_subset, transform=t_test)
        return train, test, replace(info, train_size=len(train), test_size=len(test))
    root = _root(root)
    train = _torchvision_dataset(key, root, train=True, transform=t_train, download=download)
    test = _torchvision_dataset(key, root, train=False, transform=t_test, download=download)
    info = replace(info, train_size=len(train), test_size=len(test))
    if key in _FOLDERS:
        if train.classes != test.classes:
            raise ConfigError(_one_line(
                f"{_PRETTY[key]}: the class folders of {train.root} and {test.root} differ "
                f"({len(train.classes)} vs {len(test.classes)} classes); they must be the same"))
        info = replace(info, num_classes=len(train.classes), classes=tuple(train.classes))
    if train_subset is not None:
        train = Subset(train, subset_indices(len(train), train_subset))
    if test_subset is not None:
        test = Subset(test, subset_indices(len(test), test_subset))
    return train, test, info


# --------------------------------------------------------------------------- uint8 tensors for the GPU path

def load_uint8(name, root, *, train: bool, subset=None, download=False) -> tuple[Tensor, Tensor]:
    """A whole small dataset as uint8 ``[N, C, H, W]`` (padded to ``resolution``) + int64 labels.

    On the CPU; move both to the GPU and feed ``GpuBatches``. Fashion-MNIST is zero-padded 28 -> 32,
    exactly like the CPU transform's ``Pad(2)``. ``subset`` as in ``build_datasets``.
    """
    key = _canonical(name)
    info = _INFO[key]
    if not info.small:
        raise ConfigError(f"{key} is not a small dataset: the GPU-resident data path covers "
                          f"{', '.join(k for k, i in _INFO.items() if i.small)}; use build_datasets")
    if key == "fake":
        ds = _fake(info, train=train, size=subset, transform=None)
        items = [ds[i] for i in range(len(ds))]
        x = torch.from_numpy(np.stack([np.asarray(img) for img, _ in items])).permute(0, 3, 1, 2)
        y = torch.tensor([label for _, label in items], dtype=torch.int64)
        return x.contiguous(), y
    ds = _torchvision_dataset(key, _root(root), train=train, transform=None, download=download)
    if key in ("cifar10", "cifar100"):
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # NHWC -> NCHW
        y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    elif key == "stl10":
        x = torch.from_numpy(np.ascontiguousarray(ds.data))  # already [N, 3, 96, 96], rows first
        y = torch.as_tensor(np.asarray(ds.labels).astype(np.int64))
    else:  # fashionmnist: [N, 28, 28] -> [N, 1, 32, 32]
        x = F.pad(ds.data.unsqueeze(1), (2, 2, 2, 2))
        y = ds.targets.to(torch.int64)
    if subset is not None:
        idx = torch.tensor(subset_indices(len(y), subset))
        x, y = x[idx], y[idx]
    return x.contiguous(), y.clone()


class GpuBatches:
    """Batches from uint8 images resident on one device (airbench-style; CPU tensors work too).

    Training: each ``epoch(seed)`` draws, from a ``torch.Generator`` on the data's device seeded
    with ``seed``, a permutation and, for every position of the epoch, a crop offset and a flip bit.
    Drawing everything up front makes ``epoch(seed, start=k)`` yield exactly the batches k, k+1, ...
    of ``epoch(seed)`` (images included): a resumed run continues bit-identically mid-epoch.
    Augmentation = the CPU transform's distribution: zero padding of ``resolution // 8`` pixels
    (4 at 32 px, 12 for STL-10) then a uniformly random ``resolution`` crop (offsets 0..2*pad in
    each axis independently), then a horizontal flip with p = 0.5; applied to the uint8 pixels,
    so padded pixels normalise to -mean/std like torchvision's. Then ``(x/255 - mean)/std`` in
    float32, cast to ``dtype``. Eval (``train=False``): dataset order, no augmentation, the same
    values as ``ToTensor() + Normalize`` (bit-identical in float32).
    """

    def __init__(self, images_uint8: Tensor, labels: Tensor, info: DatasetInfo, *, batch_size: int,
                 train: bool, augment: bool = True, drop_last: bool = False, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32):
        if images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images_uint8.dtype} "
                             f"{tuple(images_uint8.shape)}")
        n, c, h, w = images_uint8.shape
        if c != info.in_chans or h != info.resolution or w != info.resolution:
            raise ValueError(f"images {tuple(images_uint8.shape)} do not match {info.name}: "
                             f"[N, {info.in_chans}, {info.resolution}, {info.resolution}] expected")
        if labels.shape != (n,):
            raise ValueError(f"labels {tuple(labels.shape)} do not match {n} images")
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self.images = images_uint8
        self.device = images_uint8.device
        self.labels = labels.to(self.device, torch.int64)
        self.info = info
        self.batch_size = int(batch_size)
        self.train = bool(train)
        self.augment = bool(augment) and self.train
        self.drop_last = bool(drop_last)
        self.channels_last = bool(channels_last)
        self.dtype = dtype
        self.pad = _crop_padding(info)
        self.mean = torch.tensor(info.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(info.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _normalise(self, x: Tensor) -> Tensor:
        # same operations as ToTensor (float, /255) then Normalize ((x - mean) / std)
        x = x.to(torch.float32).div_(255).sub_(self.mean).div_(self.std)
        x = x.to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _crop_flip(self, x: Tensor, dy: Tensor, dx: Tensor, flip: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p = self.pad
        padded = F.pad(x, (p, p, p, p))  # zeros, like RandomCrop(padding=p)'s fill=0
        ar_h = torch.arange(h, device=x.device)
        ar_w = torch.arange(w, device=x.device)
        rows = (dy[:, None] + ar_h)[:, None, :, None]  # [B, 1, H, 1]
        cols = dx[:, None] + ar_w  # [B, W]
        cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]  # flip = reversed columns
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[bi, ci, rows, cols]

    def epoch(self, seed: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        n, bs, dev = self.images.shape[0], self.batch_size, self.device
        if self.train:
            g = torch.Generator(device=dev)
            g.manual_seed(int(seed))
            order = torch.randperm(n, generator=g, device=dev)
            if self.augment:
                span = 2 * self.pad + 1
                dy = torch.randint(0, span, (n,), generator=g, device=dev)
                dx = torch.randint(0, span, (n,), generator=g, device=dev)
                flip = torch.randint(0, 2, (n,), generator=g, device=dev).bool()
        else:
            order = torch.arange(n, device=dev)
        for k in range(max(0, int(start)), len(self)):
            sl = slice(k * bs, min((k + 1) * bs, n))
            idx = order[sl]
            x = self.images[idx]
            if self.augment:
                x = self._crop_flip(x, dy[sl], dx[sl], flip[sl])
            yield self._normalise(x), self.labels[idx]
