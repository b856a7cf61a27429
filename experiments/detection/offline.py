"""A small COCO-format detection set made offline from Fashion-MNIST (CPU smoke runs, tests).

    from experiments.detection.offline import make_offline_coco
    root = make_offline_coco("data/fmnistcoco")          # 256 train / 64 val images, 160x160
    python -m experiments.detection.offline data/fmnistcoco [--n-train 256 --n-val 64 --canvas 160 --seed 0]

What an image is: a ``canvas`` x ``canvas`` RGB JPEG of grey noise (mean 110, std 20 per pixel
and channel) with 1-4 Fashion-MNIST items pasted at random positions, each resized (bilinear)
from 28x28 to a random square side of 20-90 px (at most the canvas), tinted with a random colour
and blended with alpha = item intensity / 255. Items of one image never overlap (their boxes are
disjoint; a placement is redrawn up to 50 times, then the image keeps fewer items), so every
annotation is the whole visible item. Training images take their items from Fashion-MNIST's
training split, validation images from its test split.

Annotations: the mask is the resized item's pixels > ``MASK_THRESHOLD``; the box is the tight
box of the mask (``[x, y, w, h]``, pixel edges); ``area`` = mask pixels; ``iscrowd`` = 0;
categories 1..10 = Fashion-MNIST's classes in label order (category id = class + 1). Masks are
stored as polygons in even-numbered images and as compressed RLE in odd ones (both kinds reach
the loader). A polygon mask is the union of axis-aligned rectangles along pixel edges (each run
of mask pixels in a row, merged with identical runs of the rows below), which pycocotools
rasterises back to exactly the same pixels (checked on writing).

Everything follows from ``seed`` (numpy ``default_rng([seed, split])``): the same parameters give
the same JSON bytes and the same images. The set is written into a temporary folder beside
``root`` and renamed into place; ``manifest.json`` records the parameters, and a complete set with
the same parameters is not rewritten.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from models import ConfigError

from ..data import DEBIAN_FASHION_MNIST, load_uint8
from .coco import SPLITS, coco_paths

__all__ = ["make_offline_coco", "is_complete", "FMNIST_CLASSES", "MASK_THRESHOLD", "DEFAULTS", "FORMAT_VERSION", "main"]

FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                  "Ankle boot")
#: resized item pixels above this (of 255) are the instance mask
MASK_THRESHOLD = 40
#: bump when the generator's output changes for the same parameters (the manifest then differs)
FORMAT_VERSION = 1
DEFAULTS = {"n_train": 256, "n_val": 64, "canvas": 160, "seed": 0}
MIN_SIDE, MAX_SIDE, MAX_ITEMS, TRIES = 20, 90, 4, 50
MANIFEST = "manifest.json"


def _params(n_train, n_val, canvas, seed) -> dict:
    return {"generator": "experiments.detection.offline", "format": FORMAT_VERSION, "n_train": int(n_train),
            "n_val": int(n_val), "canvas": int(canvas), "seed": int(seed), "min_side": MIN_SIDE,
            "max_side": MAX_SIDE, "max_items": MAX_ITEMS, "mask_threshold": MASK_THRESHOLD}


def is_complete(root, params: dict) -> bool:
    """``root`` holds a finished set made with ``params`` (manifest equal, every file present)."""
    root = Path(root)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("params") != params:
        return False
    for split in SPLITS:
        images, ann = coco_paths(root, split)
        if not ann.is_file() or not images.is_dir():
            return False
        if any(not (images / name).is_file() for name in manifest.get("files", {}).get(split, [])):
            return False
    return True


def _source(source_root, train: bool):
    """Fashion-MNIST ``(items uint8 [N, 28, 28], labels)`` (the padding of ``load_uint8`` removed)."""
    from ..data import dataset_spec

    pad = (dataset_spec("fashionmnist").info.resolution - 28) // 2
    try:
        x, y = load_uint8("fashionmnist", source_root, train=train)
    except ConfigError as e:
        raise ConfigError(f"the offline detection set is made from Fashion-MNIST, which is missing: {e}") from e
    return x[:, 0, pad:pad + 28, pad:pad + 28].numpy(), y.numpy()


def _polygons(mask: np.ndarray) -> list[list[float]]:
    """Rectilinear polygons (pixel edges) whose union is ``mask``: row runs, merged down the rows."""
    open_runs: dict[tuple[int, int], int] = {}  # (x0, x1) -> first row
    rects = []
    h = mask.shape[0]
    for y in range(h + 1):
        runs = set()
        if y < h:
            row = np.concatenate([[0], mask[y].astype(np.int8), [0]])
            d = np.diff(row)
            runs = set(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))
        for run in [r for r in open_runs if r not in runs]:
            rects.append((run, open_runs.pop(run), y))
        for run in runs:
            open_runs.setdefault(run, y)
    return [[float(x0), float(y0), float(x1), float(y0), float(x1), float(y1), float(x0), float(y1)]
            for (x0, x1), y0, y1 in sorted(rects, key=lambda r: (r[1], r[0]))]


def _segmentation(mask: np.ndarray, polygon: bool, h: int, w: int):
    from pycocotools import mask as mask_utils

    if polygon:
        seg = _polygons(mask)
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    else:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        seg = {"size": [int(h), int(w)], "counts": rle["counts"].decode("ascii")}
    if not np.array_equal(mask_utils.decode(rle), mask):  # what the loader will read back
        raise RuntimeError("offline COCO: a mask does not survive its encoding")
    return seg


def _image(rng, items, labels, canvas: int, image_id: int, polygon: bool):
    """One canvas (uint8 [H, W, 3]) and its annotations (without ids)."""
    from PIL import Image

    img = rng.normal(110.0, 20.0, size=(canvas, canvas, 3))
    anns, boxes = [], []
    for _ in range(int(rng.integers(1, MAX_ITEMS + 1))):
        k = int(rng.integers(len(items)))
        side = int(rng.integers(MIN_SIDE, min(MAX_SIDE, canvas) + 1))
        colour = rng.uniform(120.0, 255.0, size=3)
        item = np.asarray(Image.fromarray(items[k]).resize((side, side), Image.BILINEAR), dtype=np.float64)
        mask_local = item > MASK_THRESHOLD
        if not mask_local.any():
            continue
        ys, xs = np.nonzero(mask_local)
        for _ in range(TRIES):
            x0 = int(rng.integers(0, canvas - side + 1))
            y0 = int(rng.integers(0, canvas - side + 1))
            box = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)
            if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
                break
        else:
            continue
        boxes.append(box)
        alpha = (item / 255.0)[..., None]
        region = img[y0:y0 + side, x0:x0 + side]
        img[y0:y0 + side, x0:x0 + side] = region * (1 - alpha) + colour * alpha
        mask = np.zeros((canvas, canvas), dtype=np.uint8)
        mask[y0:y0 + side, x0:x0 + side] = mask_local
        anns.append({"image_id": image_id, "category_id": int(labels[k]) + 1,
                     "segmentation": _segmentation(mask, polygon, canvas, canvas),
                     "area": float(mask.sum()),
                     "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                     "iscrowd": 0})
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), anns


def _write_split(tmp: Path, split: str, n: int, canvas: int, seed: int, source_root, progress) -> list[str]:
    from PIL import Image

    items, labels = _source(source_root, train=split == "train")
    images_dir, ann_file = coco_paths(tmp, split)
    images_dir.mkdir(parents=True)
    rng = np.random.default_rng([int(seed), list(SPLITS).index(split)])
    images, annotations, files = [], [], []
    for i in range(n):
        image_id = i + 1
        name = f"{image_id:012d}.jpg"
        pixels, anns = _image(rng, items, labels, canvas, image_id, polygon=i % 2 == 0)
        Image.fromarray(pixels).save(images_dir / name, quality=95)
        images.append({"id": image_id, "file_name": name, "height": canvas, "width": canvas})
        for a in anns:
            annotations.append({"id": len(annotations) + 1, **a})
        files.append(name)
        if progress and ((i + 1) % 64 == 0 or i + 1 == n):
            print(f"  {SPLITS[split]}: {i + 1}/{n} images, {len(annotations)} objects", file=sys.stderr, flush=True)
    dataset = {
        "info": {"description": f"Fashion-MNIST items on noise canvases ({SPLITS[split]}), "
                                f"experiments.detection.offline", "version": str(FORMAT_VERSION),
                 "seed": int(seed), "canvas": int(canvas)},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c + 1, "name": name, "supercategory": "fashion"} for c, name in enumerate(FMNIST_CLASSES)],
    }
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    ann_file.write_text(json.dumps(dataset, separators=(",", ":")))
    return files


def make_offline_coco(root, *, n_train: int = DEFAULTS["n_train"], n_val: int = DEFAULTS["n_val"],
                      canvas: int = DEFAULTS["canvas"], seed: int = DEFAULTS["seed"], source_root=None,
                      progress: bool = False) -> Path:
    """Write (or find) the offline COCO-format set at ``root``; returns ``root``.

    ``source_root``: the data root where Fashion-MNIST is (``<source_root>/FashionMNIST/raw``, filled
    from Debian's ``dataset-fashion-mnist`` if needed; default: ``root``'s parent). A folder at
    ``root`` that is not a set made by this generator is never replaced (``ConfigError``).
    """
    root = Path(root).expanduser().resolve()
    if canvas < MIN_SIDE or n_train < 1 or n_val < 1:
        raise ConfigError(f"offline COCO: need canvas >= {MIN_SIDE} and at least one image per split "
                          f"(got canvas={canvas}, n_train={n_train}, n_val={n_val})")
    params = _params(n_train, n_val, canvas, seed)
    if is_complete(root, params):
        return root
    if root.exists() and any(root.iterdir()) and not (root / MANIFEST).is_file():
        raise ConfigError(f"offline COCO: {root} exists and was not made by experiments.detection.offline; "
                          f"choose another folder or remove it")
    source_root = Path(source_root).expanduser() if source_root is not None else root.parent
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    try:
        if progress:
            print(f"offline COCO -> {root} ({n_train} train / {n_val} val, {canvas}px, seed {seed})",
                  file=sys.stderr, flush=True)
        files = {split: _write_split(tmp, split, n, canvas, seed, source_root, progress)
                 for split, n in (("train", n_train), ("val", n_val))}
        (tmp / MANIFEST).write_text(json.dumps({"params": params, "files": files}, indent=1))
        old = None
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".old", dir=root.parent))
            os.replace(root, old / "set")
        os.replace(tmp, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.detection.offline", description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder of the set (COCO 2017 layout)")
    ap.add_argument("--n-train", type=int, default=DEFAULTS["n_train"])
    ap.add_argument("--n-val", type=int, default=DEFAULTS["n_val"])
    ap.add_argument("--canvas", type=int, default=DEFAULTS["canvas"])
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    ap.add_argument("--source-root", default=None,
                    help=f"data root holding FashionMNIST/raw (default: OUT's parent; filled from {DEBIAN_FASHION_MNIST})")
    a = ap.parse_args(argv)
    try:
        root = make_offline_coco(a.out, n_train=a.n_train, n_val=a.n_val, canvas=a.canvas, seed=a.seed,
                                 source_root=a.source_root, progress=True)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
