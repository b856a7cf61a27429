"""COCO-format detection data: the loader on a hand-written tree, COCOeval on hand-made
predictions (hand-computed APs), the offline Fashion-MNIST set, the missing-data messages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from experiments import data
from experiments.detection import offline
from experiments.detection.coco import (
    METRICS,
    CocoDetectionDataset,
    category_to_label,
    collate,
    evaluate,
    label_to_category,
    load_coco_api,
)
from models import ConfigError

# --------------------------------------------------------------------------- a hand-written COCO tree

#: a 10 x 6 px rectangle with corners on pixel edges: x 2..12, y 3..9 -> 60 pixels
POLYGON = [2.0, 3.0, 12.0, 3.0, 12.0, 9.0, 2.0, 9.0]
#: uncompressed RLE of an 8 x 6 (w x h) image, column-major: 7 off, 3 on, 3 off, 3 on, 32 off
#: -> pixels (rows 1-3) x (columns 1-2): 6 pixels, bbox [1, 1, 2, 3]
RLE = {"size": [6, 8], "counts": [7, 3, 3, 3, 32]}


def _write_tree(root: Path, split: str = "val2017") -> Path:
    (root / split).mkdir(parents=True)
    (root / "annotations").mkdir()
    images = [(10, "a.jpg", 32, 24), (20, "b.jpg", 8, 6), (30, "c.jpg", 5, 4)]  # id, file, w, h
    for _, name, w, h in images:
        Image.new("RGB", (w, h), (90, 120, 150)).save(root / split / name)
    ann = {
        "info": {"description": "hand-written"},
        "images": [{"id": i, "file_name": n, "width": w, "height": h} for i, n, w, h in images],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [2, 3, 10, 6], "area": 60,
             "segmentation": [POLYGON], "iscrowd": 0},
            {"id": 2, "image_id": 20, "category_id": 3, "bbox": [1, 1, 2, 3], "area": 6,
             "segmentation": RLE, "iscrowd": 0},
        ],
        # non-contiguous ids, not sorted: labels are 3 -> 1, 5 -> 2, 7 -> 3
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}, {"id": 5, "name": "unused"}],
    }
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(ann))
    return root


def test_loader_reads_a_hand_written_tree(tmp_path):
    ds = CocoDetectionDataset(_write_tree(tmp_path), "val")
    assert len(ds) == 3 and ds.ids == [10, 20, 30]
    assert ds.classes == ("cat", "unused", "dog") and ds.num_classes == 3
    assert category_to_label(ds.coco) == {3: 1, 5: 2, 7: 3}
    assert label_to_category(ds.coco) == {1: 3, 2: 5, 3: 7}

    img, t = ds[0]  # polygon
    assert img.shape == (3, 24, 32) and img.dtype == torch.uint8
    assert t["boxes"].tolist() == [[2.0, 3.0, 12.0, 9.0]]  # xywh [2, 3, 10, 6] -> xyxy
    assert t["labels"].tolist() == [3] and t["image_id"] == 10
    assert t["masks"].shape == (1, 24, 32) and t["masks"].dtype == torch.uint8
    assert int(t["masks"].sum()) == 60  # 10 x 6
    assert t["masks"][0, 3:9, 2:12].all()

    img, t = ds[1]  # uncompressed RLE
    assert t["boxes"].tolist() == [[1.0, 1.0, 3.0, 4.0]] and t["labels"].tolist() == [1]
    assert int(t["masks"].sum()) == 6
    assert t["masks"][0, 1:4, 1:3].all()  # rows 1-3, columns 1-2

    img, t = ds[2]  # no annotations
    assert img.shape == (3, 4, 5)
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,) and t["masks"].shape == (0, 4, 5)
    assert ds.annotated_indices() == [0, 1]

    images, targets = collate([ds[0], ds[2]])
    assert [i.shape[-2:] for i in images] == [(24, 32), (4, 5)] and [t["image_id"] for t in targets] == [10, 30]


def test_missing_coco_is_one_line_with_the_layout(tmp_path):
    with pytest.raises(ConfigError) as e:
        CocoDetectionDataset(tmp_path / "coco", "train")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"COCO 2017 not found: expected {tmp_path / 'coco' / 'train2017'}")
    for part in ("val2017/", "annotations/instances_train2017.json", "instances_val2017.json", "cocodataset.org"):
        assert part in msg
    with pytest.raises(ConfigError, match="Fashion-MNIST COCO .offline. not found: .*experiments.detection.offline"):
        data.dataset_spec("fmnist_coco").check_available(tmp_path)
    with pytest.raises(ConfigError, match="COCO 2017 not found"):
        data.build_datasets("coco", tmp_path)


def test_registry_has_the_detection_sets():
    coco, fm = data.dataset_spec("coco"), data.dataset_spec("fmnist_coco")
    assert (coco.name, coco.info.num_classes, coco.info.train_size, coco.info.test_size) == ("coco", 80, 118_287, 5_000)
    assert (fm.name, fm.info.num_classes, fm.info.classes) == ("fmnistcoco", 10, offline.FMNIST_CLASSES)
    assert not coco.info.small and coco.to_uint8 is None and coco.own_root


# --------------------------------------------------------------------------- COCOeval on hand-made predictions

def _rect_mask(h, w, x0, y0, x1, y1) -> torch.Tensor:
    m = torch.zeros(h, w)
    m[y0:y1, x0:x1] = 1.0
    return m


def _two_box_gt(tmp_path: Path):
    """One 100 x 100 image, two category-1 objects of 40 x 40 (area 1600: COCO's "medium")."""
    def ann(i, x, y):
        return {"id": i, "image_id": 1, "category_id": 1, "bbox": [x, y, 40, 40], "area": 1600, "iscrowd": 0,
                "segmentation": [[x, y, x + 40, y, x + 40, y + 40, x, y + 40]]}
    gt = {"images": [{"id": 1, "file_name": "x.jpg", "width": 100, "height": 100}],
          "annotations": [ann(1, 10, 10), ann(2, 50, 50)], "categories": [{"id": 1, "name": "thing"}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return load_coco_api(path)


def test_cocoeval_perfect_predictions_are_100(tmp_path):
    ds = CocoDetectionDataset(_write_tree(tmp_path), "val")
    preds = {}
    for i in range(len(ds)):
        _, t = ds[i]
        n = len(t["labels"])
        preds[t["image_id"]] = {"boxes": t["boxes"].as_subclass(torch.Tensor), "labels": t["labels"],
                                "scores": torch.linspace(0.9, 0.8, n), "masks": t["masks"].float()[:, None]}
    res = evaluate(ds, preds)
    for iou_type in ("bbox", "segm"):
        assert res[iou_type]["AP"] == pytest.approx(100.0) and res[iou_type]["AP50"] == pytest.approx(100.0)
        assert res[iou_type]["AP75"] == pytest.approx(100.0) and res[iou_type]["APS"] == pytest.approx(100.0)
        assert np.isnan(res[iou_type]["APM"]) and np.isnan(res[iou_type]["APL"])  # no GT of those sizes
        pc = res[iou_type]["per_category"]
        assert pc["cat"] == pytest.approx(100.0) and pc["dog"] == pytest.approx(100.0) and np.isnan(pc["unused"])
        assert "Average Precision" in res[iou_type]["summary"]  # COCOeval's text, kept but not printed


def test_cocoeval_one_of_two_objects_found(tmp_path):
    """Two ground-truth objects, one predicted exactly (IoU 1, score 0.9), the other not at all.

    At every IoU threshold the precision/recall curve is one point: recall 1/2 at precision 1/1.
    COCO interpolates precision at the 101 recall thresholds 0.00, 0.01, ..., 1.00: the 51
    thresholds 0.00..0.50 are reached (precision 1), the 50 thresholds 0.51..1.00 are not
    (precision 0). AP = 51 / 101 = 0.50495 -> 50.495 % at IoU 0.50, 0.75 and their mean over
    0.50:0.95 alike; both objects are medium (40 x 40 = 1600 px, between 32^2 and 96^2), so
    APM is the same and APS/APL have no ground truth (NaN). The mask of the found object is
    its box, so segm gives the same numbers.
    """
    gt = _two_box_gt(tmp_path)
    preds = {1: {"boxes": torch.tensor([[10.0, 10.0, 50.0, 50.0]]), "scores": torch.tensor([0.9]),
                 "labels": torch.tensor([1]), "masks": _rect_mask(100, 100, 10, 10, 50, 50)[None, None]}}
    res = evaluate(gt, preds)
    expected = 100.0 * 51 / 101
    for iou_type in ("bbox", "segm"):
        r = res[iou_type]
        for k in ("AP", "AP50", "AP75", "APM"):
            assert r[k] == pytest.approx(expected, abs=1e-9), (iou_type, k)
        assert np.isnan(r["APS"]) and np.isnan(r["APL"])
        assert r["per_category"] == {"thing": pytest.approx(expected, abs=1e-9)}
    # nothing detected on the image: AP 0, not an error (loadRes fails on an empty list)
    empty = {1: {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64),
                 "masks": torch.zeros(0, 1, 100, 100)}}
    res = evaluate(gt, empty)
    assert all(res[t]["AP"] == 0.0 for t in ("bbox", "segm"))
    assert set(METRICS) <= set(res["bbox"])


# --------------------------------------------------------------------------- the offline Fashion-MNIST set

PARAMS = {"n_train": 6, "n_val": 4, "canvas": 96, "seed": 3}


@pytest.fixture(scope="module")
def fmnist_source(tmp_path_factory):
    return tmp_path_factory.mktemp("fmnist-source")


@pytest.fixture(scope="module")
def offline_set(tmp_path_factory, fmnist_source):
    return offline.make_offline_coco(tmp_path_factory.mktemp("offline") / "set", source_root=fmnist_source, **PARAMS)


@pytest.mark.fashion_mnist
def test_offline_set_is_deterministic_and_cached(offline_set, fmnist_source, tmp_path):
    other = offline.make_offline_coco(tmp_path / "again", source_root=fmnist_source, **PARAMS)
    for split in ("train2017", "val2017"):
        a = (offline_set / "annotations" / f"instances_{split}.json").read_bytes()
        assert a == (other / "annotations" / f"instances_{split}.json").read_bytes()
        for jpg in sorted((offline_set / split).glob("*.jpg")):
            assert jpg.read_bytes() == (other / split / jpg.name).read_bytes()
    # a complete set with the same parameters is not rewritten
    ann = offline_set / "annotations" / "instances_val2017.json"
    before = ann.stat().st_mtime_ns
    assert offline.make_offline_coco(offline_set, source_root=fmnist_source, **PARAMS) == offline_set
    assert ann.stat().st_mtime_ns == before
    # another seed: another set, replacing the old one in place (no temporary folders left)
    changed = offline.make_offline_coco(tmp_path / "again", source_root=fmnist_source, **{**PARAMS, "seed": 4})
    assert (changed / "annotations" / "instances_val2017.json").read_bytes() != ann.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


@pytest.mark.fashion_mnist
def test_offline_set_contents(offline_set):
    from pycocotools import mask as mask_utils

    c = PARAMS["canvas"]
    kinds = set()
    for split, n in (("train2017", PARAMS["n_train"]), ("val2017", PARAMS["n_val"])):
        d = json.loads((offline_set / "annotations" / f"instances_{split}.json").read_text())
        assert set(d) == {"info", "images", "annotations", "categories"}
        assert [cat["id"] for cat in d["categories"]] == list(range(1, 11))
        assert tuple(cat["name"] for cat in d["categories"]) == offline.FMNIST_CLASSES
        assert len(d["images"]) == n and len(list((offline_set / split).glob("*.jpg"))) == n
        per_image = {im["id"]: 0 for im in d["images"]}
        for a in d["annotations"]:
            per_image[a["image_id"]] += 1
            assert 1 <= a["category_id"] <= 10 and a["iscrowd"] == 0
            x, y, w, h = a["bbox"]
            assert 0 <= x and 0 <= y and x + w <= c and y + h <= c and w > 0 and h > 0
            seg = a["segmentation"]
            kinds.add("polygon" if isinstance(seg, list) else "rle")
            rle = (mask_utils.merge(mask_utils.frPyObjects(seg, c, c)) if isinstance(seg, list)
                   else {"size": seg["size"], "counts": seg["counts"].encode()})
            m = mask_utils.decode(rle)
            assert m.sum() == a["area"] > 0
            ys, xs = np.nonzero(m)
            # the box is the tight box of the mask
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + w, y + h)
        assert all(1 <= k <= 4 for k in per_image.values())
        for im in d["images"]:
            assert (im["width"], im["height"]) == (c, c)
            assert Image.open(offline_set / split / im["file_name"]).size == (c, c)
    assert kinds == {"polygon", "rle"}
    manifest = json.loads((offline_set / "manifest.json").read_text())
    assert manifest["params"]["seed"] == PARAMS["seed"] and len(manifest["files"]["train"]) == PARAMS["n_train"]


@pytest.mark.fashion_mnist
def test_offline_set_loads_through_the_loader_and_registry(offline_set):
    ds = CocoDetectionDataset(offline_set, "val")
    raw = json.loads((offline_set / "annotations" / "instances_val2017.json").read_text())
    assert len(ds) == PARAMS["n_val"] and ds.classes == offline.FMNIST_CLASSES
    n = 0
    for i in range(len(ds)):
        img, t = ds[i]
        assert img.shape == (3, PARAMS["canvas"], PARAMS["canvas"])
        assert t["masks"].shape[0] == len(t["boxes"]) == len(t["labels"]) >= 1
        assert (t["masks"].sum((1, 2)).float() == t["area"]).all()
        n += len(t["labels"])
    assert n == len(raw["annotations"])
    train, test, info = data.build_datasets("fmnist_coco", offline_set)
    assert (len(train), len(test), info.num_classes) == (PARAMS["n_train"], PARAMS["n_val"], 10)
    img, t = train[0]
    assert img.dtype == torch.float32 and float(img.max()) <= 1.0 and t["boxes"].shape[1] == 4


@pytest.mark.fashion_mnist
def test_offline_without_fashion_mnist_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    with pytest.raises(ConfigError) as e:
        offline.make_offline_coco(tmp_path / "set", source_root=tmp_path / "empty", **PARAMS)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("the offline detection set is made from Fashion-MNIST")
    assert "apt-get install dataset-fashion-mnist" in msg
    assert not (tmp_path / "set").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".set.")]
