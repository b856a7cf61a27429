"""COCO-format detection data (torchvision targets) and evaluation (pycocotools ``COCOeval``).

    from experiments.detection.coco import CocoDetectionDataset, collate, evaluate
    val = CocoDetectionDataset("/data/coco", "val")
    images, targets = collate([val[0], val[1]])
    metrics = evaluate(val.coco, {image_id: output, ...})   # {"bbox": {"AP": ..., ...}, "segm": {...}}

Layout (COCO 2017, also what ``experiments.detection.offline`` writes)::

    <root>/train2017/*.jpg
    <root>/val2017/*.jpg
    <root>/annotations/instances_train2017.json
    <root>/annotations/instances_val2017.json

Decisions:

* Targets are torchvision's detection format: ``boxes`` float32 ``[N, 4]`` xyxy in pixels
  (COCO's ``[x, y, w, h]`` -> ``[x, y, x + w, y + h]``, exactly), ``labels`` int64 in 1..K
  (0 is the background of torchvision's detectors), ``masks`` uint8 ``[N, H, W]``, ``image_id``
  int, plus ``area`` (COCO's) and ``iscrowd`` (int64). Boxes and masks are ``tv_tensors`` so
  ``torchvision.transforms.v2`` transforms (``transforms(image, target)``) move them with the image.
* Labels: the categories of the annotation file sorted by id get labels 1..K
  (``category_to_label``); ``evaluate`` maps labels back with the inverse (``label_to_category``).
  COCO's 80 category ids run 1..90 with gaps, so they are not the labels.
* Masks come from polygons (a list of polygons: merged), uncompressed RLE (``counts`` a list) and
  compressed RLE (``counts`` a string), all through ``pycocotools.mask``.
* Annotations with a degenerate box (w or h <= 0) are dropped (torchvision's references do the
  same); crowd annotations are kept with ``iscrowd`` = 1 unless ``drop_crowd=True``. Images without
  annotations give empty targets (``boxes`` ``[0, 4]``, ``masks`` ``[0, H, W]``); they are not
  filtered here (a training sampler may do it: ``CocoDetectionDataset.annotated_indices``).
* ``evaluate`` scores only the images that have an entry in ``predictions`` (an image with no
  detections needs an entry with empty tensors), like torchvision's reference evaluator. Mask
  probabilities are thresholded at 0.5 then RLE-encoded. Metrics are in % (the papers' unit);
  COCOeval's -1 (no ground truth in that size range) becomes NaN.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from models import ConfigError

__all__ = [
    "SPLITS",
    "IOU_TYPES",
    "METRICS",
    "coco_paths",
    "check_coco",
    "load_coco_api",
    "category_to_label",
    "label_to_category",
    "annotation_mask",
    "CocoDetectionDataset",
    "collate",
    "predictions_to_coco",
    "evaluate",
]

#: split name -> image folder (and ``annotations/instances_<folder>.json``)
SPLITS = {"train": "train2017", "val": "val2017"}
IOU_TYPES = ("bbox", "segm")
#: the first six numbers of ``COCOeval.stats`` (area "all"/small/medium/large, 100 detections)
METRICS = ("AP", "AP50", "AP75", "APS", "APM", "APL")


def coco_paths(root, split: str) -> tuple[Path, Path]:
    """``(image folder, annotation file)`` of ``split`` ("train"/"val", or "train2017"/"val2017")."""
    folder = SPLITS.get(split, split)
    if folder not in SPLITS.values():
        raise ConfigError(f"unknown COCO split {split!r}; valid: {', '.join(SPLITS)}")
    root = Path(root).expanduser()
    return root / folder, root / "annotations" / f"instances_{folder}.json"


def check_coco(root, splits: Iterable[str] = ("train", "val"), *, display: str = "COCO 2017",
               how: str = "download train2017.zip, val2017.zip and annotations_trainval2017.zip from "
                          "https://cocodataset.org and unzip them there") -> None:
    """One-line ``ConfigError`` naming the expected layout and the fix when a split is missing."""
    root = Path(root).expanduser()
    for split in splits:
        images, ann = coco_paths(root, split)
        for p, is_dir in ((images, True), (ann, False)):
            if not (p.is_dir() if is_dir else p.is_file()):
                raise ConfigError(f"{display} not found: expected {p} (COCO 2017 layout: {root}/train2017/, "
                                  f"{root}/val2017/, {root}/annotations/instances_train2017.json and "
                                  f"instances_val2017.json); {how}")


def load_coco_api(ann_file):
    """pycocotools ``COCO`` of ``ann_file`` with its loading messages silenced."""
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ann_file))


def category_to_label(coco) -> dict[int, int]:
    """COCO category id -> contiguous label 1..K (categories sorted by id)."""
    return {cid: i + 1 for i, cid in enumerate(sorted(coco.getCatIds()))}


def label_to_category(coco) -> dict[int, int]:
    """The inverse of ``category_to_label``: label 1..K -> COCO category id."""
    return {label: cid for cid, label in category_to_label(coco).items()}


def annotation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """uint8 ``[H, W]`` mask of a COCO segmentation: polygons, uncompressed or compressed RLE."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):  # polygons: one RLE each, merged
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:  # compressed RLE (counts: str or bytes)
        rle = dict(segmentation)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    return np.ascontiguousarray(mask_utils.decode(rle), dtype=np.uint8)


class CocoDetectionDataset(Dataset):
    """One split of a COCO-format tree: ``(image, target)`` in torchvision's detection format.

    ``image`` is a ``tv_tensors.Image`` uint8 ``[3, H, W]``; ``target`` a dict (see the module
    docstring). ``transforms(image, target)``: a joint transform (``torchvision.transforms.v2``).
    Images are read by ``torchvision.datasets.CocoDetection``.
    """

    def __init__(self, root, split: str = "val", transforms=None, *, masks: bool = True,
                 drop_crowd: bool = False, display: str = "COCO 2017", how: str | None = None):
        import torchvision.datasets as tvd

        check_coco(root, (split,), display=display, **({"how": how} if how else {}))
        self.root = Path(root).expanduser()
        self.split = split
        images, ann = coco_paths(self.root, split)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.base = tvd.CocoDetection(str(images), str(ann))
        except (ValueError, KeyError, OSError) as e:
            raise ConfigError(" ".join(f"{display}: {ann} is not a COCO instances file: "
                                       f"{type(e).__name__}: {e}".split())) from e
        self.coco = self.base.coco
        self.ids = list(self.base.ids)
        self.cat_to_label = category_to_label(self.coco)
        self.label_to_cat = label_to_category(self.coco)
        cats = self.coco.loadCats(sorted(self.coco.getCatIds()))
        #: category names in label order (label i is ``classes[i - 1]``)
        self.classes = tuple(c["name"] for c in cats)
        self.transforms = transforms
        self.masks = masks
        self.drop_crowd = drop_crowd

    @property
    def num_classes(self) -> int:
        """K, the number of object classes (a torchvision detector takes K + 1 with the background)."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.ids)

    def annotated_indices(self) -> list[int]:
        """Indices of the images with at least one usable annotation."""
        return [i for i, img_id in enumerate(self.ids) if self._keep(self.coco.loadAnns(self.coco.getAnnIds(img_id)))]

    def _keep(self, anns: list[dict]) -> list[dict]:
        return [a for a in anns if a["bbox"][2] > 0 and a["bbox"][3] > 0
                and not (self.drop_crowd and a.get("iscrowd", 0))]

    def target(self, anns: list[dict], image_id: int, height: int, width: int) -> dict[str, Any]:
        """torchvision's target of ``anns`` (one image's COCO annotations)."""
        from torchvision import tv_tensors

        anns = self._keep(anns)
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                             dtype=torch.float32).reshape(-1, 4)
        target = {
            "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width)),
            "labels": torch.tensor([self.cat_to_label[a["category_id"]] for a in anns], dtype=torch.int64),
            "image_id": int(image_id),
            "area": torch.tensor([float(a.get("area", 0.0)) for a in anns], dtype=torch.float32),
            "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in anns], dtype=torch.int64),
        }
        if self.masks:
            m = [annotation_mask(a["segmentation"], height, width) for a in anns]
            masks = torch.from_numpy(np.stack(m)) if m else torch.zeros((0, height, width), dtype=torch.uint8)
            target["masks"] = tv_tensors.Mask(masks)
        return target

    def __getitem__(self, index: int):
        from torchvision import tv_tensors
        from torchvision.transforms.v2 import functional as TF

        image_id = self.ids[index]
        img, anns = self.base[index]  # PIL image, the image's COCO annotations
        image = tv_tensors.Image(TF.pil_to_tensor(img.convert("RGB")))
        target = self.target(anns, image_id, image.shape[-2], image.shape[-1])
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


def collate(batch):
    """Detection batches: ``(list of images, list of targets)`` (images differ in size)."""
    images, targets = zip(*batch) if batch else ((), ())
    return list(images), list(targets)


# --------------------------------------------------------------------------- evaluation

def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def predictions_to_coco(coco_gt, predictions: Mapping[int, Mapping[str, Any]], iou_type: str,
                        mask_threshold: float = 0.5) -> list[dict]:
    """COCO result entries of torchvision-style outputs ``{image_id: {"boxes", "scores", "labels", "masks"?}}``."""
    from pycocotools import mask as mask_utils

    to_cat = label_to_category(coco_gt)
    out: list[dict] = []
    for image_id, pred in predictions.items():
        scores = _as_numpy(pred["scores"]).astype(float).reshape(-1)
        labels = _as_numpy(pred["labels"]).astype(np.int64).reshape(-1)
        if not len(scores):
            continue
        cats = [to_cat[int(label)] for label in labels]
        if iou_type == "bbox":
            b = _as_numpy(pred["boxes"]).astype(float).reshape(-1, 4)
            xywh = np.column_stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])
            out += [{"image_id": int(image_id), "category_id": c, "bbox": [float(v) for v in box], "score": float(s)}
                    for c, box, s in zip(cats, xywh, scores)]
        elif iou_type == "segm":
            if "masks" not in pred:
                raise ValueError(f"segm evaluation needs 'masks' in the predictions (image {image_id} has none)")
            m = _as_numpy(pred["masks"])
            if m.ndim == 4:  # [N, 1, H, W] (torchvision's Mask R-CNN)
                m = m[:, 0]
            binary = np.asfortranarray((m > mask_threshold).transpose(1, 2, 0).astype(np.uint8))
            for c, rle, s in zip(cats, mask_utils.encode(binary), scores):
                rle["counts"] = rle["counts"].decode("ascii")
                out.append({"image_id": int(image_id), "category_id": c, "segmentation": rle, "score": float(s)})
        else:
            raise ValueError(f"unknown iou type {iou_type!r}; valid: {', '.join(IOU_TYPES)}")
    return out


def _percent(v: float) -> float:
    return float("nan") if v < 0 else 100.0 * float(v)


def evaluate(coco_gt, predictions: Mapping[int, Mapping[str, Any]], iou_types: Iterable[str] = IOU_TYPES, *,
             mask_threshold: float = 0.5, verbose: bool = False) -> dict[str, dict[str, Any]]:
    """COCOeval of ``predictions`` (image id -> torchvision output) against ``coco_gt``.

    ``coco_gt``: a pycocotools ``COCO`` or a ``CocoDetectionDataset``. Returns, per iou type,
    ``{"AP", "AP50", "AP75", "APS", "APM", "APL"}`` in %, ``"per_category"`` (category name -> AP in %,
    averaged over IoU 0.50:0.95 and recall like AP; NaN for a category without ground truth) and
    ``"summary"``: COCOeval's printed text (silenced unless ``verbose``). Only the images that are
    keys of ``predictions`` are evaluated.
    """
    from pycocotools.cocoeval import COCOeval

    coco_gt = getattr(coco_gt, "coco", coco_gt)
    img_ids = sorted(int(i) for i in predictions)
    results: dict[str, dict[str, Any]] = {}
    for iou_type in iou_types:
        dets = predictions_to_coco(coco_gt, predictions, iou_type, mask_threshold)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            coco_dt = coco_gt.loadRes(dets) if dets else _empty_results(coco_gt)
            ev = COCOeval(coco_gt, coco_dt, iou_type)
            ev.params.imgIds = img_ids
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        summary = buf.getvalue()
        if verbose:
            print(summary, end="")
        res: dict[str, Any] = {k: _percent(v) for k, v in zip(METRICS, ev.stats[:6])}
        # precision [T, R, K, A, M]: area "all" (0), maxDets 100 (last)
        precision = ev.eval["precision"][:, :, :, 0, -1]
        per_cat = {}
        for k, cid in enumerate(ev.params.catIds):
            p = precision[:, :, k]
            p = p[p > -1]
            per_cat[coco_gt.cats[cid]["name"]] = 100.0 * float(p.mean()) if p.size else float("nan")
        res["per_category"] = per_cat
        res["summary"] = summary
        results[iou_type] = res
    return results


def _empty_results(coco_gt):
    """A result ``COCO`` with no detections (``loadRes([])`` fails on an empty list)."""
    from pycocotools.coco import COCO

    dt = COCO()
    dt.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                  "annotations": []}
    dt.createIndex()
    return dt
