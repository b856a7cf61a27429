"""The benchmark's data: which dataset a measurement uses and the two pipelines that feed it
(``reference``: a torch DataLoader with per-image PIL transforms; ``fast``: GpuBatches)."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from models import ConfigError

from .settings import Settings

__all__ = ["resolve_dataset", "endless", "ImagesAsPIL", "batches"]

FAKE = "torchvision FakeData (2,048 random 3x32x32 images drawn once, served like CIFAR10's"


def resolve_dataset(s: Settings) -> tuple[str, str]:
    """(dataset name, where its images come from)."""
    from .. import data as D

    if s.dataset != "auto":
        name = D.dataset_info(s.dataset).name
        if name == "fake":
            return "fake", f"{FAKE}; requested)"
        if name == "fashionmnist":
            D.prepare_fashion_mnist(Path(s.data_root))
        return name, f"{name} files under {Path(s.data_root).resolve()}"
    raw = D.prepare_fashion_mnist(Path(s.data_root))
    if all((raw / f).is_file() for f in D.FMNIST_FILES):
        return "fashionmnist", (f"Fashion-MNIST, Debian's dataset-fashion-mnist files ({D.DEBIAN_FASHION_MNIST}) "
                                f"gunzipped into {raw.resolve()}")
    return "fake", (f"{FAKE}): "
                    f"Fashion-MNIST not found in {raw} "
                    f"or {D.DEBIAN_FASHION_MNIST}")


def endless(make_iter: Callable[[], Iterable]) -> Iterator:
    """Batches without end: epoch after epoch."""
    while True:
        empty = True
        for b in make_iter():
            empty = False
            yield b
        if empty:
            raise ConfigError("the benchmark dataset yields no batch of the requested size (too small)")


class ImagesAsPIL(torch.utils.data.Dataset):
    """uint8 images held as one numpy array, turned into a PIL image per item and transformed:
    what torchvision's CIFAR10 does (used for ``fake`` so the reference pipeline does CIFAR's
    per-item work, not FakeData's generation of a new random image for every item)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.data = x.permute(0, 2, 3, 1).numpy()  # NHWC like CIFAR10.data
        self.targets = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        from PIL import Image

        img = self.data[i]
        img = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        return self.transform(img), self.targets[i]


def batches(s: Settings, dataset: str, device: torch.device, workers: int) -> tuple[Iterator, str, int]:
    """(endless batch iterator, description, number of images) for the pipeline."""
    if s.pipeline == "reference":
        return _reference_batches(s, dataset, device, workers)
    return _fast_batches(s, dataset, device)


def _reference_batches(s: Settings, dataset: str, device: torch.device, workers: int) -> tuple[Iterator, str, int]:
    from .. import data as D

    info = D.dataset_info(dataset)
    subset = 2048 if dataset == "fake" else None
    if dataset == "fake":  # FakeData draws every image anew: serve fixed ones the way CIFAR10 does
        x, y = D.load_uint8(dataset, s.data_root, train=True, subset=subset)
        train = ImagesAsPIL(x, y, D.build_transforms(info, train=True))
    else:
        train, _, _ = D.build_datasets(dataset, s.data_root, train_subset=subset, test_subset=subset)
    g = torch.Generator().manual_seed(s.seed)
    loader = torch.utils.data.DataLoader(
        train, batch_size=s.batch_size, shuffle=True, drop_last=True, num_workers=workers, generator=g,
        pin_memory=device.type == "cuda", persistent_workers=False)
    desc = (f"torch DataLoader (shuffle, drop_last, num_workers={workers}, pin_memory={device.type == 'cuda'}) "
            f"over {type(train).__name__} with the transforms of experiments.data "
            f"(RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize"
            f"{', after Pad(2)' if dataset == 'fashionmnist' else ''}); batches copied to {device.type} per step")
    return endless(lambda: iter(loader)), desc, len(train)


def _fast_batches(s: Settings, dataset: str, device: torch.device) -> tuple[Iterator, str, int]:
    from .. import data as D
    from ..engine import mix_seed

    info = D.dataset_info(dataset)
    x, y = D.load_uint8(dataset, s.data_root, train=True, subset=2048 if dataset == "fake" else None)
    cl = s.channels_last and device.type == "cuda"
    gb = D.GpuBatches(x.to(device), y.to(device), info, batch_size=s.batch_size, train=True, drop_last=True,
                      channels_last=cl)
    epochs = itertools.count()
    desc = (f"experiments.data.GpuBatches: uint8 images resident on {device.type} ({tuple(x.shape)}), "
            f"random crop (padding 4) + flip + normalise per batch there, drop_last, channels_last={cl}")
    return endless(lambda: gb.epoch(mix_seed(s.seed, next(epochs)))), desc, len(y)
