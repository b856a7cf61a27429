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
fashionmnist10 10     1      10    the same files (resized to 10x10)  60,000 / 10,000
imagenet       1000   3      224   root/train/, root/val/ (folders)   1,281,167 / 50,000
miniimagenet   100    3      224   root/train/, root/val/ (folders)   50,000 / 10,000
chestxray      2      3      224   root/train/, root/test/ (folders)  5,216 / 624
fake           10     3      32    nothing (torchvision FakeData)     256 / 256
coco           80     3      800   root/train2017/, val2017/, annot.  118,287 / 5,000
fmnistcoco     10     3      160   the same layout (generated)        256 / 64
=============  =====  =====  ====  =================================  ==================

``coco`` and ``fmnistcoco`` are detection datasets (``experiments.detection``): their splits are
``(image, target)`` pairs, their transforms joint (``detection_transforms``); ``fmnistcoco`` is
written by ``python -m experiments.detection.offline <root>``.

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
* ``fashionmnist10`` (the smoke profile's dataset for CIFAR-style rows,
  ``experiments.recipes.SMOKE_LEARNING``): the same Fashion-MNIST files, each 28x28 image
  resized to 10x10 (torchvision ``Resize``, PIL bilinear with antialiasing) BEFORE anything
  else, then (if augmenting) the CIFAR augmentation scaled like STL-10's (RandomCrop(10,
  padding=1) + flip). The CIFAR networks take it unchanged (their stages reduce 10 -> 5 -> 3
  before the adaptive pooling); a training step costs a fraction of a 32x32 one on the CPU
  (ResNet-56, one thread, batch 16: 219 img/s at 12x12 vs 37 at 32x32), which is what lets the
  smoke table see enough images to learn (results/bench/vm/smoke_scale_study.md). A stand-in
  for a smoke run, never a paper result.
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
* Recipe 'deit' (DIA Table IX's ViTs, ``experiments.recipes``): ``timm_transforms`` replaces
  the dataset's own transforms (``build_datasets(transforms=...)``): timm's
  ``create_transform`` at ``info.resolution`` with the dataset's mean/std, DeiT's
  RandomResizedCrop + flip + RandAugment + random erasing, eval Resize(res / 0.875) +
  CenterCrop(res), bicubic. Fashion-MNIST's 28x28 images are then resized, not padded.
* ``build_datasets`` returns a ``DatasetInfo`` describing the data actually found on disk
  (sizes before subsetting; ImageFolder's class count), which equals ``dataset_info(name)`` for
  the real datasets; ``dataset_info`` gives the nominal (paper) values without touching disk.

Adding a dataset
----------------
Each dataset is ONE ``DatasetSpec`` in the registry ``DATASETS`` (``register_dataset``): its
nominal ``DatasetInfo``, its names for messages and tables, its loader (one split as a torch
``Dataset``), its uint8 loader (small datasets: the GPU-resident path), its availability check
(the launcher's cheap pre-flight) and its transforms. ``build_datasets``, ``load_uint8``,
``build_transforms``, the launcher's data check and default data root, and the FLOP counts of
``experiments.params`` go through the spec: none of them branches on a dataset's name.
``image_folder_spec`` builds the spec of an ImageFolder dataset (train/ and val/ or test/ of
class folders, the ImageNet recipe).
"""
from __future__ import annotations

import gzip
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, Subset

from models import ConfigError

__all__ = [
    "DatasetInfo",
    "DatasetSpec",
    "FolderLayout",
    "DATASETS",
    "register_dataset",
    "dataset_spec",
    "image_folder_spec",
    "dataset_info",
    "build_transforms",
    "detection_transforms",
    "crop_flip_transforms",
    "imagenet_transforms",
    "timm_transforms",
    "build_datasets",
    "prepare_fashion_mnist",
    "load_uint8",
    "GpuBatches",
    "subset_indices",
    "SUBSET_SEED",
    "DEBIAN_FASHION_MNIST",
    "FMNIST_FILES",
]

#: Where Debian's ``dataset-fashion-mnist`` package puts the gzipped IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
#: The four Fashion-MNIST IDX files (uncompressed names) torchvision reads from ``<root>/FashionMNIST/raw``.
FMNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
#: Zero border that brings Fashion-MNIST's 28x28 images to the CIFAR networks' 32x32.
FMNIST_PAD = 2
#: Side of ``fashionmnist10``: Fashion-MNIST resized for the smoke profile's CIFAR-style rows.
FMNIST_SMOKE_SIZE = 10

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


@dataclass(frozen=True)
class FolderLayout:
    """An ImageFolder dataset on disk: ``root/<train>/<class>/<image>`` and ``root/<test>/<class>/<image>``."""

    train: str
    test: str
    how: str  # where to get the data: the end of the missing-data message


#: ``loader(spec, root, *, train, transform, download, size) -> Dataset``: one split, the whole of it.
Loader = Callable[..., Dataset]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the project knows about one dataset (see "Adding a dataset" above).

    ``info``          nominal facts (``dataset_info``); ``info.name`` is the canonical name.
    ``display``       its name in messages (missing data, the launcher's data check).
    ``table_name``    its name in rebuilt tables and the report (``None``: ``display``); the same
                      strings as ``analysis.tables.DATASET_NAMES`` (tests/test_data.py keeps them equal).
    ``loader``        ``loader(spec, root, *, train, transform, download, size)``: one whole split
                      as a torch ``Dataset``, a one-line ``ConfigError`` when it is missing; ``size``
                      is the number of images of a ``synthetic`` dataset (real ones ignore it:
                      their subsets are drawn by ``subset_indices``).
    ``to_uint8``      ``to_uint8(split) -> (images, labels)``: a split loaded with ``transform=None``
                      as uint8 ``[N, C, resolution, resolution]`` and int64 labels; required when
                      ``info.small`` (the GPU-resident path), else ``None``.
    ``check``         ``check(spec, root)``: raises the one-line ``ConfigError`` when the data is
                      not at ``root``; cheap (the launcher runs it before anything starts).
    ``transforms``    ``transforms(info, *, train, augment)``: the torchvision transform.
    ``folders``       the layout of an ImageFolder dataset (classes come from its folders).
    ``own_root``      the default data root is ``data/<name>/`` instead of ``data/``.
    ``synthetic``     generated, nothing on disk: no root; the subset sizes are its sizes.

    Resolutions:

    ``info.resolution``   the square input the network sees here, in training and evaluation:
                          the transforms and uint8 tensors produce it, the models are built and
                          their MACs counted (records, the launcher's cost estimate) at it.
    ``paper_resolution``  the input resolution at which the papers' published FLOPs of models on
                          this dataset are counted (``./reproduce.sh params`` compares ours at it);
                          ``None`` at construction = ``info.resolution`` (the papers count FLOPs
                          at their training resolution on every dataset here).
    """

    info: DatasetInfo
    display: str
    loader: Loader
    to_uint8: Callable[[Dataset], tuple[Tensor, Tensor]] | None
    check: Callable[..., None]
    transforms: Callable[..., Any]
    table_name: str | None = None
    folders: FolderLayout | None = None
    own_root: bool = False
    synthetic: bool = False
    paper_resolution: int | None = None

    def __post_init__(self) -> None:
        if self.table_name is None:
            object.__setattr__(self, "table_name", self.display)
        if self.paper_resolution is None:
            object.__setattr__(self, "paper_resolution", self.info.resolution)

    @property
    def name(self) -> str:
        return self.info.name

    def open(self, root: Path | None, *, train: bool, transform=None, download: bool = False,
             size: int | None = None) -> Dataset:
        """One whole split (``loader``)."""
        return self.loader(self, root, train=train, transform=transform, download=download, size=size)

    def check_available(self, root) -> None:
        """One-line ``ConfigError`` when the data is not at ``root`` (``check``)."""
        self.check(self, root)

    def default_root(self, data_dir: Path) -> Path:
        """Where the data is looked for without ``--data-root``: ``data_dir/<name>`` or ``data_dir``."""
        return data_dir / self.name if self.own_root else data_dir


# --------------------------------------------------------------------------- registry

#: canonical name -> spec, in registration order (the order of the messages that list them).
DATASETS: dict[str, DatasetSpec] = {}


def _key(name) -> str:
    return str(name).lower().replace("-", "").replace("_", "")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to ``DATASETS`` under ``spec.name`` (lower case, no ``-``/``_``); returns it."""
    name = spec.name
    if _key(name) != name:
        raise ValueError(f"dataset name {name!r} must be lower case without '-' or '_' (e.g. {_key(name)!r})")
    if name in DATASETS:
        raise ValueError(f"dataset {name!r} is already registered")
    if spec.info.small and spec.to_uint8 is None:
        raise ValueError(f"dataset {name!r} is small (GPU-resident path) but has no uint8 loader")
    DATASETS[name] = spec
    return spec


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name`` (case and ``-``/``_`` ignored); one-line ConfigError if unknown."""
    key = _key(name)
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[key]


def dataset_info(name: str) -> DatasetInfo:
    """Nominal facts about dataset ``name`` (no disk access)."""
    return dataset_spec(name).info


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


# --------------------------------------------------------------------------- transforms

def build_transforms(info: DatasetInfo, *, train: bool, augment: bool = True):
    """The torchvision transform of ``info``'s dataset (see the module docstring for choices)."""
    return dataset_spec(info.name).transforms(info, train=train, augment=augment)


def imagenet_transforms(info: DatasetInfo, *, train: bool, augment: bool = True):
    """ImageNet-style folders: RandomResizedCrop(224) + flip; eval Resize(256) + CenterCrop(224)."""
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    if train and augment:
        return T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), *norm])
    return T.Compose([T.Resize(256), T.CenterCrop(224), *norm])


def timm_transforms(info: DatasetInfo, *, train: bool, augment: bool = True, rand_augment: str = "",
                    random_erasing: float = 0.0, color_jitter: float = 0.4, interpolation: str = "bicubic",
                    crop_pct: float = 0.875):
    """DeiT's transforms from timm's ``create_transform`` at ``info.resolution`` (recipe 'deit').

    Training: RandomResizedCrop (scale 0.08-1) + horizontal flip + ``rand_augment`` (a timm
    RandAugment string; colour jitter only without it, as timm does) + normalisation + random
    erasing with probability ``random_erasing`` (per-pixel noise, one box). Eval (and
    ``augment=False``): Resize(resolution / crop_pct) + CenterCrop(resolution). Works on RGB and
    single-channel ('L') images."""
    from timm.data import create_transform

    if train and augment:
        return _posterize_keeps_zero_bits(create_transform(
            info.resolution, is_training=True, auto_augment=rand_augment or None, color_jitter=color_jitter,
            interpolation=interpolation, re_prob=random_erasing, re_mode="pixel", re_count=1, mean=info.mean,
            std=info.std))
    return create_transform(info.resolution, is_training=False, interpolation=interpolation, crop_pct=crop_pct,
                            mean=info.mean, std=info.std)


def _posterize_keeps_zero_bits(transform):
    """``transform`` with its RandAugment posterize ops accepting 0 bits to keep.

    timm 1.0.31's 'PosterizeIncreasing' keeps ``4 - int(4 level / 10)`` bits, 0 at magnitude 10
    (reached by m9 with mstd 0.5); the pinned Pillow (13.0) raises for fewer than 1 bit. Keeping
    0 bits masks every bit away: the op returns a black image then, the mask's result."""
    from PIL import Image
    from timm.data.auto_augment import RandAugment

    def zero_bits_black(fn):
        def posterize(img, bits_to_keep, **kw):
            return Image.new(img.mode, img.size) if bits_to_keep < 1 else fn(img, bits_to_keep, **kw)
        return posterize

    for t in getattr(transform, "transforms", ()):
        if isinstance(t, RandAugment):
            for op in t.ops:
                if op.name.startswith("Posterize"):
                    op.aug_fn = zero_bits_black(op.aug_fn)
    return transform


def crop_flip_transforms(info: DatasetInfo, *, train: bool, augment: bool = True, pre_pad: int = 0):
    """The CIFAR recipe at ``info.resolution``: RandomCrop with zero padding ``resolution // 8``
    + flip; eval: none. ``pre_pad``: a zero border added first (Fashion-MNIST 28 -> 32)."""
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(info.mean, info.std)]
    pre = [T.Pad(pre_pad)] if pre_pad else []
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
    for fname in FMNIST_FILES:
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


# --------------------------------------------------------------------------- loaders (one split each)

def _missing_file(folder: Path, names) -> Path | None:
    for n in names:
        if not (folder / n).is_file():
            return folder / n
    return None


def _wrap(spec: DatasetSpec, where: Path, err: Exception, download: bool) -> ConfigError:
    what = "download failed" if download else f"files at {where} were rejected (corrupted or partial copy?)"
    return ConfigError(_one_line(f"{spec.display} {what}: {type(err).__name__}: {err}; "
                                 f"re-copy the data there or pass --download on a machine with internet"))


def _load_cifar(cls_name: str, spec: DatasetSpec, root: Path, *, train, transform, download, size=None) -> Dataset:
    """torchvision's CIFAR10 / CIFAR100 (``cls_name``): the 'python version' unpacked in ``root``."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    folder = root / cls.base_folder
    files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    missing = _missing_file(folder, files)
    if missing is not None and not download:
        page = "https://www.cs.toronto.edu/~kriz/cifar.html"
        raise ConfigError(f"{spec.display} not found: expected {missing} (the 'python version' from "
                          f"{page}, unpacked in {root}); pass --download on a machine with internet "
                          f"or copy it there")
    try:
        return cls(str(root), train=train, transform=transform, download=download)
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise _wrap(spec, folder, e, download) from e


def _load_stl10(spec: DatasetSpec, root: Path, *, train, transform, download, size=None) -> Dataset:
    import torchvision.datasets as tvd

    cls = tvd.STL10
    folder = root / cls.base_folder
    missing = _missing_file(folder, [f for f, _ in cls.train_list + cls.test_list])
    if missing is not None and not download:
        raise ConfigError(f"{spec.display} not found: expected {missing} (the binary version stl10_binary.tar.gz "
                          f"from https://cs.stanford.edu/~acoates/stl10/, unpacked in {root}; torchvision "
                          f"also requires unlabeled_X.bin); pass --download on a machine with internet "
                          f"or copy it there")
    try:
        return cls(str(root), split="train" if train else "test", transform=transform, download=download)
    except (RuntimeError, OSError, ValueError) as e:
        raise _wrap(spec, folder, e, download) from e


def _load_fashion_mnist(spec: DatasetSpec, root: Path, *, train, transform, download, size=None) -> Dataset:
    """From ``root/FashionMNIST/raw``, filled from Debian's files first (``prepare_fashion_mnist``)."""
    import torchvision.datasets as tvd

    raw = prepare_fashion_mnist(root)
    missing = _missing_file(raw, FMNIST_FILES)
    if missing is not None and not download:
        raise ConfigError(f"{spec.display} not found: expected {missing} or the .gz files in "
                          f"{DEBIAN_FASHION_MNIST} (`apt-get install dataset-fashion-mnist`); "
                          f"or pass --download on a machine with internet")
    try:
        return tvd.FashionMNIST(str(root), train=train, transform=transform, download=download)
    except (RuntimeError, OSError, ValueError, AssertionError) as e:
        raise _wrap(spec, raw, e, download) from e


def _load_image_folder(spec: DatasetSpec, root: Path, *, train, transform, download, size=None) -> Dataset:
    import torchvision.datasets as tvd

    lay = spec.folders
    folder = root / (lay.train if train else lay.test)
    if not folder.is_dir():
        raise ConfigError(f"{spec.display} not found: expected {folder} (ImageFolder layout: "
                          f"{root}/{lay.train}/<class>/<image> and {root}/{lay.test}/<class>/<image>; {lay.how})")
    try:
        return tvd.ImageFolder(str(folder), transform=transform)
    except (FileNotFoundError, OSError) as e:
        raise ConfigError(_one_line(f"{spec.display}: no images in {folder}: {e}")) from e


def _load_fake(spec: DatasetSpec, root, *, train, transform, download=False, size=None) -> Dataset:
    """torchvision's FakeData, ``size`` images (256 by default); test images differ from training ones."""
    import torchvision.datasets as tvd

    info = spec.info
    return tvd.FakeData(size=size or 256, image_size=(info.in_chans, info.resolution, info.resolution),
                        num_classes=info.num_classes, transform=transform,
                        random_offset=0 if train else 1_000_000)


# --------------------------------------------------------------------------- uint8 loaders (small datasets)

def _cifar_uint8(ds) -> tuple[Tensor, Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # NHWC -> NCHW
    return x, torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)


def _stl10_uint8(ds) -> tuple[Tensor, Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(ds.data))  # already [N, 3, 96, 96], rows first
    return x, torch.as_tensor(np.asarray(ds.labels).astype(np.int64))


def _fashion_mnist_uint8(ds) -> tuple[Tensor, Tensor]:
    p = FMNIST_PAD  # [N, 28, 28] -> [N, 1, 32, 32], like the CPU transform's Pad(2)
    return F.pad(ds.data.unsqueeze(1), (p, p, p, p)), ds.targets.to(torch.int64)


def _fashion_mnist_resized(transforms, size: int):
    """``transforms`` (a ``crop_flip_transforms``) after a resize of the 28x28 image to ``size``."""
    def build(info: DatasetInfo, *, train: bool, augment: bool = True):
        from torchvision import transforms as T

        return T.Compose([T.Resize((size, size)), transforms(info, train=train, augment=augment)])
    return build


def _fashion_mnist_resized_uint8(ds, size: int) -> tuple[Tensor, Tensor]:
    """[N, 28, 28] -> [N, 1, size, size] through the CPU transform's own ``Resize`` on each PIL
    image, so both data paths see the same pixels."""
    from PIL import Image
    from torchvision import transforms as T

    resize = T.Resize((size, size))
    imgs = [np.asarray(resize(Image.fromarray(a))) for a in ds.data.numpy()]
    return torch.from_numpy(np.stack(imgs)).unsqueeze(1), ds.targets.to(torch.int64)


def _fake_uint8(ds) -> tuple[Tensor, Tensor]:
    items = [ds[i] for i in range(len(ds))]
    x = torch.from_numpy(np.stack([np.asarray(img) for img, _ in items])).permute(0, 3, 1, 2)
    return x, torch.tensor([label for _, label in items], dtype=torch.int64)


# --------------------------------------------------------------------------- availability checks

def _check_by_loading(spec: DatasetSpec, root) -> None:
    """Open both splits (the loaders' own one-line errors); cheap for the small datasets."""
    build_datasets(spec.name, root, train_subset=1, test_subset=1)


def _check_folders(spec: DatasetSpec, root) -> None:
    """Both split folders exist (their images are not listed: ImageNet has 1.3 million)."""
    lay = spec.folders
    for sub in (lay.train, lay.test):
        if not (Path(root) / sub).is_dir():
            raise ConfigError(f"{spec.display} not found: expected {Path(root) / sub} (ImageFolder "
                              f"layout {root}/{lay.train}/<class>/<image> and {root}/{lay.test}/...; {lay.how})")


def _check_nothing(spec: DatasetSpec, root) -> None:
    """Generated data: nothing to find."""


# --------------------------------------------------------------------------- detection (COCO format)

def _load_coco_detection(spec: DatasetSpec, root: Path, *, train, transform, download=False, size=None) -> Dataset:
    """One split of a COCO 2017 tree as ``experiments.detection.coco.CocoDetectionDataset``:
    ``(image, target)`` pairs; ``transform`` is applied jointly (``transform(image, target)``)."""
    from .detection.coco import CocoDetectionDataset

    return CocoDetectionDataset(root, "train" if train else "val", transform, display=spec.display,
                                how=spec.folders.how if spec.folders else None)


def _check_coco_detection(spec: DatasetSpec, root) -> None:
    """The COCO 2017 layout (image folders and the two instances files) is at ``root``."""
    from .detection.coco import check_coco

    check_coco(_data_root(root), display=spec.display, **({"how": spec.folders.how} if spec.folders else {}))


def detection_transforms(info: DatasetInfo, *, train: bool, augment: bool = True):
    """Joint image + target transform (``torchvision.transforms.v2``): float image in [0, 1], plus a
    horizontal flip in training; detectors normalise and resize inside (torchvision's convention)."""
    from torchvision.transforms import v2 as T

    steps = [T.RandomHorizontalFlip()] if train and augment else []
    return T.Compose([*steps, T.ToDtype(torch.float32, scale=True)])


def _detection_spec(info: DatasetInfo, display: str, how: str, **kw) -> DatasetSpec:
    """A COCO-format detection dataset (experiments.detection): its default root is ``data/<name>/``.
    ``info.resolution`` is nominal (detectors take their own input size)."""
    return DatasetSpec(info, display, _load_coco_detection, None, _check_coco_detection, detection_transforms,
                       folders=FolderLayout("train2017", "val2017", how), own_root=True, **kw)


# --------------------------------------------------------------------------- the datasets

def _small_spec(info: DatasetInfo, display: str, loader: Loader, to_uint8, transforms=crop_flip_transforms,
                **kw) -> DatasetSpec:
    """A torchvision dataset that fits on a GPU as uint8, with the CIFAR augmentation by default."""
    return DatasetSpec(info, display, loader, to_uint8, _check_by_loading, transforms, **kw)


def image_folder_spec(info: DatasetInfo, display: str, layout: FolderLayout, **kw) -> DatasetSpec:
    """An ImageFolder dataset with the ImageNet recipe; its default root is ``data/<name>/``."""
    return DatasetSpec(info, display, _load_image_folder, None, _check_folders, imagenet_transforms,
                       folders=layout, own_root=True, **kw)


for _spec in (
    _small_spec(DatasetInfo("cifar10", 10, 3, 32, CIFAR_MEAN, CIFAR_STD, 50_000, 10_000, True),
                "CIFAR-10", partial(_load_cifar, "CIFAR10"), _cifar_uint8),
    _small_spec(DatasetInfo("cifar100", 100, 3, 32, CIFAR_MEAN, CIFAR_STD, 50_000, 10_000, True),
                "CIFAR-100", partial(_load_cifar, "CIFAR100"), _cifar_uint8),
    _small_spec(DatasetInfo("stl10", 10, 3, 96, IMAGENET_MEAN, IMAGENET_STD, 5_000, 8_000, True),
                "STL-10", _load_stl10, _stl10_uint8),
    _small_spec(DatasetInfo("fashionmnist", 10, 1, 32, FMNIST_MEAN, FMNIST_STD, 60_000, 10_000, True),
                "Fashion-MNIST", _load_fashion_mnist, _fashion_mnist_uint8,
                transforms=partial(crop_flip_transforms, pre_pad=FMNIST_PAD)),
    _small_spec(DatasetInfo("fashionmnist10", 10, 1, FMNIST_SMOKE_SIZE, FMNIST_MEAN, FMNIST_STD, 60_000, 10_000,
                            True),
                "Fashion-MNIST 10x10 (smoke)", _load_fashion_mnist,
                partial(_fashion_mnist_resized_uint8, size=FMNIST_SMOKE_SIZE),
                transforms=_fashion_mnist_resized(crop_flip_transforms, FMNIST_SMOKE_SIZE)),
    image_folder_spec(
        DatasetInfo("imagenet", 1000, 3, 224, IMAGENET_MEAN, IMAGENET_STD, 1_281_167, 50_000, False),
        "ImageNet", FolderLayout("train", "val", "ILSVRC-2012 from image-net.org, val sorted into class folders; "
                                                 "torchvision cannot download it: copy it there"),
        table_name="ImageNet-1K"),
    image_folder_spec(
        DatasetInfo("miniimagenet", 100, 3, 224, IMAGENET_MEAN, IMAGENET_STD, 50_000, 10_000, False),
        "miniImageNet", FolderLayout("train", "val", "the 100-class miniImageNet split (500 train / 100 val "
                                                     "images per class); it cannot be downloaded here: copy it there"),
        table_name="mini-ImageNet"),
    image_folder_spec(
        DatasetInfo("chestxray", 2, 3, 224, IMAGENET_MEAN, IMAGENET_STD, 5_216, 624, False, ("NORMAL", "PNEUMONIA")),
        "Chest X-ray (Kermany et al.)",
        FolderLayout("train", "test", "the chest_xray folder of Kermany et al. (Mendeley data rscbjbr9sj / Kaggle "
                                      "'chest-xray-pneumonia'), sub-folders NORMAL and PNEUMONIA; copy it there"),
        table_name="chest X-ray"),
    # detection (experiments.detection): (image, target) pairs in torchvision's detection format
    _detection_spec(DatasetInfo("coco", 80, 3, 800, IMAGENET_MEAN, IMAGENET_STD, 118_287, 5_000, False),
                    "COCO 2017", "download train2017.zip, val2017.zip and annotations_trainval2017.zip from "
                                 "https://cocodataset.org and unzip them there"),
    _detection_spec(DatasetInfo("fmnistcoco", 10, 3, 160, IMAGENET_MEAN, IMAGENET_STD, 256, 64, False,
                                ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                 "Sneaker", "Bag", "Ankle boot")),
                    "Fashion-MNIST COCO (offline)", "generate it: python -m experiments.detection.offline <root>"),
    # plumbing tests only; small, so the GPU path can be exercised with it too
    DatasetSpec(DatasetInfo("fake", 10, 3, 32, CIFAR_MEAN, CIFAR_STD, 256, 256, True), "FakeData",
                _load_fake, _fake_uint8, _check_nothing, crop_flip_transforms, synthetic=True),
):
    register_dataset(_spec)
del _spec


# --------------------------------------------------------------------------- building

def _data_root(root) -> Path:
    if root is None:
        raise ConfigError("no data root given; pass the folder that holds the dataset (e.g. --data-root)")
    return Path(root).expanduser()


def _folder_classes(spec: DatasetSpec, train, test, info: DatasetInfo) -> DatasetInfo:
    """``info`` with the class count and names of the class folders (the same in both splits)."""
    if train.classes != test.classes:
        raise ConfigError(_one_line(
            f"{spec.display}: the class folders of {train.root} and {test.root} differ "
            f"({len(train.classes)} vs {len(test.classes)} classes); they must be the same"))
    return replace(info, num_classes=len(train.classes), classes=tuple(train.classes))


def build_datasets(name, root, *, download=False, augment=True, train_subset=None, test_subset=None,
                   transforms=None):
    """``(train, test, info)``: torchvision datasets with this project's transforms.

    ``transforms``: ``transforms(info, *, train, augment)`` in place of the dataset's own
    (a recipe's, e.g. ``timm_transforms``); None: the dataset's.

    ``train_subset``/``test_subset``: sizes of FIXED random subsets (``subset_indices``), wrapped
    in ``torch.utils.data.Subset``; ``None`` = all. For ``fake`` they set the FakeData sizes
    (default 256). ``augment=False`` applies the eval transform to the training set.
    """
    spec = dataset_spec(name)
    info = spec.info
    make = transforms or spec.transforms
    t_train = make(info, train=True, augment=augment)
    t_test = make(info, train=False)
    if spec.synthetic:
        train = spec.open(None, train=True, transform=t_train, download=download, size=train_subset)
        test = spec.open(None, train=False, transform=t_test, download=download, size=test_subset)
        return train, test, replace(info, train_size=len(train), test_size=len(test))
    root = _data_root(root)
    train = spec.open(root, train=True, transform=t_train, download=download)
    test = spec.open(root, train=False, transform=t_test, download=download)
    info = replace(info, train_size=len(train), test_size=len(test))
    if spec.folders is not None:
        info = _folder_classes(spec, train, test, info)
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
    spec = dataset_spec(name)
    if not spec.info.small:
        raise ConfigError(f"{spec.name} is not a small dataset: the GPU-resident data path covers "
                          f"{', '.join(k for k, s in DATASETS.items() if s.info.small)}; use build_datasets")
    if spec.synthetic:
        x, y = spec.to_uint8(spec.open(None, train=train, size=subset, download=download))
        return x.contiguous(), y
    x, y = spec.to_uint8(spec.open(_data_root(root), train=train, download=download))
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

    def draws(self, seed: int) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """The epoch's random draws (order, crop row offsets, crop column offsets, flip bits),
        one per position, from a generator on the data's device seeded with ``seed``; the
        offsets are None without augmentation, and the order is the dataset's at eval."""
        n, dev = self.images.shape[0], self.device
        if not self.train:
            return torch.arange(n, device=dev), None, None, None
        g = torch.Generator(device=dev)
        g.manual_seed(int(seed))
        order = torch.randperm(n, generator=g, device=dev)
        if not self.augment:
            return order, None, None, None
        span = 2 * self.pad + 1
        dy = torch.randint(0, span, (n,), generator=g, device=dev)
        dx = torch.randint(0, span, (n,), generator=g, device=dev)
        flip = torch.randint(0, 2, (n,), generator=g, device=dev).bool()
        return order, dy, dx, flip

    def epoch(self, seed: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        n, bs = self.images.shape[0], self.batch_size
        order, dy, dx, flip = self.draws(seed)
        for k in range(max(0, int(start)), len(self)):
            sl = slice(k * bs, min((k + 1) * bs, n))
            idx = order[sl]
            x = self.images[idx]
            if self.augment:
                x = self._crop_flip(x, dy[sl], dx[sl], flip[sl])
            yield self._normalise(x), self.labels[idx]
