"""experiments.data: the real torchvision loaders on fabricated files, Fashion-MNIST from Debian,
one-line missing-data errors, GpuBatches and fixed subsets.

The CIFAR pickles are written in the exact on-disk format of the real files: Python-2 pickles
(protocol 2) whose dict keys and pixel buffer are Python-2 ``str`` (SHORT_BINSTRING/BINSTRING
opcodes) and whose ``data`` is a ``numpy.core.multiarray._reconstruct`` uint8 array. Loaded with
``encoding='latin1'`` (torchvision) the keys are ``'data'``; with ``encoding='bytes'`` (the CIFAR
page's recipe) they are ``b'data'``; both are checked. A Python-3 pickle with ``b'data'`` keys
would NOT load in torchvision (its keys stay bytes and ``entry['data']`` fails).

torchvision insists on md5 sums: CIFAR10/CIFAR100/STL10 call ``_check_integrity`` (md5 of every
file) in the constructor whatever ``download`` is, and CIFAR's ``_load_meta`` checks the meta
file's md5 too. The tests therefore monkeypatch ONLY the classes' md5 tables (``train_list``,
``test_list``, ``meta``) with the md5 sums of the fabricated files, so torchvision's real
integrity check runs and passes on them; nothing else of torchvision is replaced.
"""
from __future__ import annotations

import hashlib
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as D
from PIL import Image

from experiments import data
from experiments.data import (
    GpuBatches,
    build_datasets,
    build_transforms,
    dataset_info,
    load_uint8,
    prepare_fashion_mnist,
    subset_indices,
)
from models import ConfigError

CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465])
CIFAR_STD = np.array([0.2023, 0.1994, 0.2010])
IMNET_MEAN = np.array([0.485, 0.456, 0.406])
IMNET_STD = np.array([0.229, 0.224, 0.225])


# --------------------------------------------------------------------------- Python-2 pickles

def _py2str(b) -> bytes:
    if isinstance(b, str):
        b = b.encode("latin1")
    if len(b) < 256:
        return pickle.SHORT_BINSTRING + bytes([len(b)]) + b
    return pickle.BINSTRING + struct.pack("<i", len(b)) + b


def _py2int(i: int) -> bytes:
    if 0 <= i < 256:
        return pickle.BININT1 + bytes([i])
    if 0 <= i < 65536:
        return pickle.BININT2 + struct.pack("<H", i)
    return pickle.BININT + struct.pack("<i", i)


def _py2obj(o) -> bytes:
    if o is None:
        return pickle.NONE
    if isinstance(o, bool):
        return pickle.NEWTRUE if o else pickle.NEWFALSE
    if isinstance(o, int):
        return _py2int(o)
    if isinstance(o, (str, bytes)):
        return _py2str(o)
    if isinstance(o, tuple):
        return pickle.MARK + b"".join(map(_py2obj, o)) + pickle.TUPLE
    if isinstance(o, list):
        body = pickle.MARK + b"".join(map(_py2obj, o)) + pickle.APPENDS if o else b""
        return pickle.EMPTY_LIST + body
    if isinstance(o, dict):
        return (pickle.EMPTY_DICT + pickle.MARK
                + b"".join(_py2obj(k) + _py2obj(v) for k, v in o.items()) + pickle.SETITEMS)
    if isinstance(o, np.ndarray):  # as numpy 1.x under Python 2 pickled the CIFAR arrays
        assert o.dtype == np.uint8
        dtype = (pickle.GLOBAL + b"numpy\ndtype\n" + _py2obj(("u1", 0, 1)) + pickle.REDUCE
                 + _py2obj((3, "|", None, None, None, -1, -1, 0)) + pickle.BUILD)
        return (pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n"
                + pickle.MARK + pickle.GLOBAL + b"numpy\nndarray\n" + _py2obj((0,)) + _py2obj("b")
                + pickle.TUPLE + pickle.REDUCE
                + pickle.MARK + _py2int(1) + _py2obj(tuple(o.shape)) + dtype + pickle.NEWFALSE
                + _py2str(np.ascontiguousarray(o).tobytes()) + pickle.TUPLE + pickle.BUILD)
    raise TypeError(type(o))


def py2_pickle(obj) -> bytes:
    return pickle.PROTO + b"\x02" + _py2obj(obj) + pickle.STOP


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _accept_fabricated_md5s(monkeypatch, cls, folder: Path):
    """Point ``cls``'s md5 tables at the fabricated files (torchvision's check still runs)."""
    monkeypatch.setattr(cls, "train_list", [[f, _md5(folder / f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, _md5(folder / f)] for f, _ in cls.test_list])
    if hasattr(cls, "meta"):
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


def _cifar_images(rng, n):
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def make_cifar10(root: Path, rng, per_batch=4, n_test=6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_x, train_y = [], []
    for b in range(1, 6):
        x = _cifar_images(rng, per_batch)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        (folder / f"data_batch_{b}").write_bytes(py2_pickle({
            "batch_label": f"training batch {b} of 5", "labels": y, "data": x,
            "filenames": [f"img_{b}_{i}.png" for i in range(per_batch)]}))
        train_x.append(x)
        train_y += y
    tx = _cifar_images(rng, n_test)
    tx[0, :1024] = 200  # the red plane of test image 0 is 200 everywhere
    ty = [int(v) for v in rng.integers(0, 10, n_test)]
    (folder / "test_batch").write_bytes(py2_pickle({
        "batch_label": "testing batch 1 of 1", "labels": ty, "data": tx,
        "filenames": [f"test_{i}.png" for i in range(n_test)]}))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(py2_pickle(
        {"num_cases_per_batch": per_batch, "label_names": names, "num_vis": 3072}))
    return np.concatenate(train_x), np.array(train_y), tx, np.array(ty)


def make_cifar100(root: Path, rng, n_train=12, n_test=5):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = _cifar_images(rng, n)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        (folder / split).write_bytes(py2_pickle({
            "filenames": [f"{split}_{i}.png" for i in range(n)], "batch_label": f"{split} batch",
            "fine_labels": fine, "coarse_labels": [f // 5 for f in fine], "data": x}))
        out += [x, np.array(fine)]
    (folder / "meta").write_bytes(py2_pickle({
        "fine_label_names": [f"fine{i}" for i in range(100)],
        "coarse_label_names": [f"coarse{i}" for i in range(20)]}))
    return out


def make_stl10(root: Path, rng, n_train=6, n_test=4, n_unlabeled=2):
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    out = []
    for split, n in (("train", n_train), ("test", n_test), ("unlabeled", n_unlabeled)):
        img = rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)  # [N, C, row, col]
        # the binary files are column-major per channel: [N, C, col, row] in C order
        (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(img.transpose(0, 1, 3, 2)).tobytes())
        if split != "unlabeled":
            y = rng.integers(1, 11, n).astype(np.uint8)  # 1-based on disk
            (folder / f"{split}_y.bin").write_bytes(y.tobytes())
            out += [img, y]
    (folder / "class_names.txt").write_text(
        "\n".join(["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]) + "\n")
    return out


def make_image_folder(root: Path, splits, classes, per_class=2, size=(40, 30)):
    """PNG tree root/<split>/<class>/<i>.png; image i of class k is the constant colour (k*60+i, 100, 7)."""
    for split in splits:
        for k, cls in enumerate(classes):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", size, (k * 60 + i, 100, 7)).save(d / f"{i}.png")


# --------------------------------------------------------------------------- CIFAR

@pytest.fixture
def cifar10_root(tmp_path, monkeypatch):
    arrays = make_cifar10(tmp_path, np.random.default_rng(1))
    _accept_fabricated_md5s(monkeypatch, D.CIFAR10, tmp_path / "cifar-10-batches-py")
    return tmp_path, arrays


def test_fabricated_cifar_pickle_has_the_real_format(cifar10_root):
    root, (xtr, ytr, _, _) = cifar10_root
    raw = (root / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert raw[:2] == b"\x80\x02" and raw[2:3] == pickle.EMPTY_DICT
    with open(root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        as_bytes = pickle.load(f, encoding="bytes")  # the CIFAR page's Python-3 recipe
    assert set(as_bytes) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert as_bytes[b"data"].dtype == np.uint8 and as_bytes[b"data"].shape == (4, 3072)
    np.testing.assert_array_equal(as_bytes[b"data"], xtr[:4])
    assert as_bytes[b"labels"] == list(ytr[:4])


def test_cifar10_loads_through_torchvision(cifar10_root):
    root, (xtr, ytr, xte, yte) = cifar10_root
    train, test, info = build_datasets("cifar10", root)
    assert isinstance(train, D.CIFAR10) and isinstance(test, D.CIFAR10)
    assert (len(train), len(test)) == (20, 6)
    assert (info.train_size, info.test_size, info.num_classes, info.in_chans, info.resolution) == (20, 6, 10, 3, 32)
    x, y = train[5]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == ytr[5]
    # eval transform: image n, channel c, row r, column k = data[n, c*1024 + r*32 + k], normalised
    for n in range(len(test)):
        x, y = test[n]
        assert y == yte[n]
        ref = (xte[n].reshape(3, 32, 32) / 255.0 - CIFAR_MEAN[:, None, None]) / CIFAR_STD[:, None, None]
        np.testing.assert_allclose(x.numpy(), ref, atol=1e-6)
    # the known value: red plane 200 -> (200/255 - 0.4914)/0.2023 = 1.4478...
    assert torch.allclose(test[0][0][0], torch.full((32, 32), (200 / 255 - 0.4914) / 0.2023), atol=1e-6)
    assert abs((200 / 255 - 0.4914) / 0.2023 - 1.447918) < 1e-5


def test_cifar10_augment_and_no_augment(cifar10_root):
    root, (xtr, ytr, _, _) = cifar10_root
    train_aug, _, _ = build_datasets("cifar10", root, augment=True)
    train_plain, _, _ = build_datasets("cifar10", root, augment=False)
    ref = (xtr[3].reshape(3, 32, 32) / 255.0 - CIFAR_MEAN[:, None, None]) / CIFAR_STD[:, None, None]
    np.testing.assert_allclose(train_plain[3][0].numpy(), ref, atol=1e-6)  # eval transform on train
    torch.manual_seed(0)
    outs = [train_aug[3][0] for _ in range(20)]
    assert all(o.shape == (3, 32, 32) for o in outs)
    assert any(not torch.allclose(o, torch.from_numpy(ref).float(), atol=1e-6) for o in outs)
    names = [type(t).__name__ for t in train_aug.transform.transforms]
    assert names == ["RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert train_aug.transform.transforms[0].padding == 4


def test_cifar10_uint8_and_subsets(cifar10_root):
    root, (xtr, ytr, xte, yte) = cifar10_root
    x, y = load_uint8("cifar10", root, train=True)
    assert x.dtype == torch.uint8 and x.shape == (20, 3, 32, 32) and y.dtype == torch.int64
    np.testing.assert_array_equal(x.numpy(), xtr.reshape(20, 3, 32, 32))
    np.testing.assert_array_equal(y.numpy(), ytr)
    train, test, info = build_datasets("cifar10", root, train_subset=7, test_subset=3)
    assert isinstance(train, torch.utils.data.Subset) and (len(train), len(test)) == (7, 3)
    assert train.indices == subset_indices(20, 7) and test.indices == subset_indices(6, 3)
    assert info.train_size == 20  # full size, before subsetting
    xs, ys = load_uint8("cifar10", root, train=True, subset=7)
    np.testing.assert_array_equal(ys.numpy(), ytr[subset_indices(20, 7)])
    with pytest.raises(ConfigError, match="subset size 21"):
        build_datasets("cifar10", root, train_subset=21)


def test_cifar100_loads_through_torchvision(tmp_path, monkeypatch):
    xtr, ytr, xte, yte = make_cifar100(tmp_path, np.random.default_rng(2))
    _accept_fabricated_md5s(monkeypatch, D.CIFAR100, tmp_path / "cifar-100-python")
    train, test, info = build_datasets("CIFAR-100", tmp_path)
    assert isinstance(train, D.CIFAR100) and info.name == "cifar100" and info.num_classes == 100
    assert (len(train), len(test)) == (12, 5) and len(train.classes) == 100
    assert [test[i][1] for i in range(5)] == list(yte)  # fine labels
    ref = (xte[2].reshape(3, 32, 32) / 255.0 - CIFAR_MEAN[:, None, None]) / CIFAR_STD[:, None, None]
    np.testing.assert_allclose(test[2][0].numpy(), ref, atol=1e-6)
    x, y = load_uint8("cifar100", tmp_path, train=True)
    np.testing.assert_array_equal(x.numpy(), xtr.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(y.numpy(), ytr)


def test_corrupted_cifar_is_one_line_error(tmp_path):
    make_cifar10(tmp_path, np.random.default_rng(3))  # real md5 tables: the fabricated files fail them
    with pytest.raises(ConfigError) as e:
        build_datasets("cifar10", tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "CIFAR-10" in msg and str(tmp_path / "cifar-10-batches-py") in msg


# --------------------------------------------------------------------------- STL-10

def test_stl10_loads_through_torchvision(tmp_path, monkeypatch):
    xtr, ytr, xte, yte = make_stl10(tmp_path, np.random.default_rng(4))
    _accept_fabricated_md5s(monkeypatch, D.STL10, tmp_path / "stl10_binary")
    train, test, info = build_datasets("stl10", tmp_path)
    assert isinstance(train, D.STL10) and (len(train), len(test)) == (6, 4)
    assert (info.resolution, info.num_classes) == (96, 10) and train.classes[7] == "monkey"
    for n in range(4):
        x, y = test[n]
        assert x.shape == (3, 96, 96) and y == int(yte[n]) - 1  # 0-based
        ref = (xte[n] / 255.0 - IMNET_MEAN[:, None, None]) / IMNET_STD[:, None, None]
        np.testing.assert_allclose(x.numpy(), ref, atol=1e-6)  # rows/columns the right way round
    x, y = train[0]
    assert x.shape == (3, 96, 96) and y == int(ytr[0]) - 1
    crop = train.transform.transforms[0]
    assert type(crop).__name__ == "RandomCrop" and crop.size == (96, 96) and crop.padding == 12
    xu, yu = load_uint8("stl10", tmp_path, train=False)
    np.testing.assert_array_equal(xu.numpy(), xte)
    np.testing.assert_array_equal(yu.numpy(), yte.astype(np.int64) - 1)
    assert yu.dtype == torch.int64


# --------------------------------------------------------------------------- ImageFolder datasets

def test_imagenet_folder_loads(tmp_path):
    make_image_folder(tmp_path, ["train", "val"], ["n01", "n02", "n03"])
    train, test, info = build_datasets("imagenet", tmp_path)
    assert isinstance(train, D.ImageFolder) and (len(train), len(test)) == (6, 6)
    assert info.num_classes == 3 and info.resolution == 224  # the classes found on disk
    x, y = test[3]  # class 1, image 1: colour (61, 100, 7)
    assert x.shape == (3, 224, 224) and y == 1
    want = (np.array([61, 100, 7]) / 255.0 - IMNET_MEAN) / IMNET_STD
    np.testing.assert_allclose(x.mean(dim=(1, 2)).numpy(), want, atol=1e-6)
    np.testing.assert_allclose(x.std(dim=(1, 2)).numpy(), 0, atol=1e-6)
    x, y = train[4]
    assert x.shape == (3, 224, 224) and y == 2
    assert [type(t).__name__ for t in train.transform.transforms][:2] == ["RandomResizedCrop", "RandomHorizontalFlip"]
    assert [type(t).__name__ for t in test.transform.transforms][:2] == ["Resize", "CenterCrop"]
    train, test, _ = build_datasets("imagenet", tmp_path, train_subset=4, test_subset=2)
    assert (len(train), len(test)) == (4, 2) and train[0][0].shape == (3, 224, 224)


def test_miniimagenet_and_chestxray_folders(tmp_path):
    make_image_folder(tmp_path / "mini", ["train", "val"], ["a", "b"], per_class=1)
    _, _, info = build_datasets("miniimagenet", tmp_path / "mini")
    assert info.resolution == 224 and info.num_classes == 2
    make_image_folder(tmp_path / "chest_xray", ["train", "test"], ["NORMAL", "PNEUMONIA"], per_class=2)
    train, test, info = build_datasets("chestxray", tmp_path / "chest_xray")
    assert train.classes == ["NORMAL", "PNEUMONIA"] and info.num_classes == 2
    assert info.classes == ("NORMAL", "PNEUMONIA")
    assert [test[i][1] for i in range(len(test))] == [0, 0, 1, 1]
    make_image_folder(tmp_path / "bad", ["train"], ["a", "b"], per_class=1)
    make_image_folder(tmp_path / "bad", ["val"], ["a", "c"], per_class=1)
    with pytest.raises(ConfigError, match="class folders"):
        build_datasets("miniimagenet", tmp_path / "bad")


def test_chestxray_run_records_per_class_accuracy(tmp_path):
    """DIA Table XI's readout end to end: a ResNet-18 run on a chest X-ray folder records the
    class-folder names and each class's top-1, consistent with the overall top-1."""
    from experiments.config import RunConfig
    from experiments.run import run

    make_image_folder(tmp_path / "chest_xray", ["train", "test"], ["NORMAL", "PNEUMONIA"], per_class=3)
    rec = run(RunConfig(model="resnet18_imagenet", dataset="chestxray", recipe="imagenet", data_root=str(tmp_path /
                        "chest_xray"), out_root=str(tmp_path / "runs"), epochs=1, batch_size=6, workers=0,
                        progress=False), handle_signals=False)
    assert rec["status"] == "done" and rec["dataset"]["classes"] == ["NORMAL", "PNEUMONIA"]
    normal, pneumonia = rec["final"]["test_class_acc"]
    assert {normal, pneumonia} <= {0.0, 100 / 3, 200 / 3, 100.0}  # 3 test images per class
    assert (normal + pneumonia) / 2 == pytest.approx(rec["final"]["test_top1"])  # equal class sizes


# --------------------------------------------------------------------------- missing data, names

@pytest.mark.parametrize("name, expected", [
    ("cifar10", "cifar-10-batches-py/data_batch_1"),
    ("cifar100", "cifar-100-python/train"),
    ("stl10", "stl10_binary/train_X.bin"),
    ("imagenet", "train"),
    ("miniimagenet", "train"),
    ("chestxray", "train"),
])
def test_missing_data_is_one_line_naming_the_path(tmp_path, name, expected):
    with pytest.raises(ConfigError) as e:
        build_datasets(name, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / expected) in msg and "not found" in msg
    if name in ("imagenet", "chestxray", "miniimagenet"):
        assert "copy it there" in msg


def test_empty_image_folder_is_one_line_error(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(ConfigError) as e:
        build_datasets("imagenet", tmp_path)
    assert str(tmp_path / "train") in str(e.value) and "\n" not in str(e.value)


def test_missing_val_folder_named(tmp_path):
    make_image_folder(tmp_path, ["train"], ["a"], per_class=1)
    with pytest.raises(ConfigError) as e:
        build_datasets("imagenet", tmp_path)
    assert str(tmp_path / "val") in str(e.value) and "\n" not in str(e.value)


def test_missing_fashion_mnist_mentions_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(ConfigError) as e:
        build_datasets("fashionmnist", tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install dataset-fashion-mnist" in msg
    assert str(tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte") in msg


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as e:
        dataset_info("svhn")
    msg = str(e.value)
    assert "\n" not in msg and "'svhn'" in msg
    for n in ("cifar10", "cifar100", "stl10", "fashionmnist", "imagenet", "miniimagenet", "chestxray", "fake"):
        assert n in msg
    with pytest.raises(ConfigError):
        build_datasets("svhn", "/nonexistent")


def test_dataset_info_table():
    assert dataset_info("Fashion-MNIST") == dataset_info("fashionmnist")
    i = dataset_info("fashionmnist")
    assert (i.in_chans, i.resolution, i.mean, i.std, i.train_size, i.test_size, i.small) == \
        (1, 32, (0.2860,), (0.3530,), 60000, 10000, True)
    assert dataset_info("cifar100").num_classes == 100 and dataset_info("cifar10").mean == (0.4914, 0.4822, 0.4465)
    assert dataset_info("stl10").resolution == 96 and (dataset_info("stl10").train_size, dataset_info("stl10").test_size) == (5000, 8000)
    assert not dataset_info("imagenet").small and dataset_info("imagenet").num_classes == 1000
    assert dataset_info("miniimagenet").resolution == 224  # DIA Table V
    with pytest.raises(ConfigError, match="not a small dataset"):
        load_uint8("imagenet", "/x", train=True)


def test_fake_data():
    train, test, info = build_datasets("fake", None, train_subset=20)
    assert (len(train), len(test), info.train_size, info.test_size) == (20, 256, 20, 256)
    x, y = train[0]
    assert x.shape == (3, 32, 32) and 0 <= y < 10
    assert not torch.equal(train[1][0], test[1][0])  # test images are not the train images
    xu, yu = load_uint8("fake", None, train=True, subset=20)
    assert xu.shape == (20, 3, 32, 32) and xu.dtype == torch.uint8
    assert yu.tolist() == [train[i][1] for i in range(20)]


# --------------------------------------------------------------------------- the registry of dataset specs

def test_registry_one_spec_per_dataset():
    assert list(data.DATASETS) == ["cifar10", "cifar100", "stl10", "fashionmnist", "fashionmnist10", "imagenet",
                                   "miniimagenet",
                                   "chestxray", "coco", "fmnistcoco", "fake"]
    for name, spec in data.DATASETS.items():
        assert spec.name == name and spec.info == dataset_info(name) and data.dataset_spec(name.upper()) is spec
        assert spec.paper_resolution == spec.info.resolution  # the papers count FLOPs at the training resolution
        assert (spec.to_uint8 is not None) == spec.info.small
    assert data.dataset_spec("chest_xray").display == "Chest X-ray (Kermany et al.)"
    with pytest.raises(ConfigError, match="unknown dataset 'svhn'"):
        data.dataset_spec("svhn")
    with pytest.raises(ValueError, match="already registered"):
        data.register_dataset(data.DATASETS["cifar10"])


def test_table_names_are_the_report_names():
    """The spec's table name is what the rebuilt tables and the report print (one source:
    analysis.tables.DATASET_NAMES is read off the registry); the messages use ``display``."""
    from analysis.tables import DATASET_NAMES

    assert DATASET_NAMES == {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet-1K",
                             "stl10": "STL-10", "miniimagenet": "mini-ImageNet", "chestxray": "chest X-ray",
                             "fashionmnist": "Fashion-MNIST", "fashionmnist10": "Fashion-MNIST 10x10 (smoke)",
                             "fake": "FakeData", "coco": "COCO 2017",
                             "fmnistcoco": "Fashion-MNIST COCO (offline)"}
    assert data.dataset_spec("imagenet").display == "ImageNet"


def test_image_folder_spec_check_and_default_root(tmp_path):
    spec = data.dataset_spec("miniimagenet")
    assert spec.default_root(tmp_path) == tmp_path / "miniimagenet"
    assert data.dataset_spec("cifar100").default_root(tmp_path) == tmp_path
    with pytest.raises(ConfigError) as e:
        spec.check_available(tmp_path)
    assert str(e.value).startswith(f"miniImageNet not found: expected {tmp_path / 'train'} (ImageFolder layout")
    make_image_folder(tmp_path, ["train", "val"], ["a"], per_class=1)
    spec.check_available(tmp_path)
    data.dataset_spec("fake").check_available(None)


def test_a_new_dataset_is_one_registered_spec(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DATASETS", dict(data.DATASETS))
    info = data.DatasetInfo("tinyfolders", 3, 3, 224, data.IMAGENET_MEAN, data.IMAGENET_STD, 6, 3, False)
    data.register_dataset(data.image_folder_spec(info, "Tiny Folders", data.FolderLayout("tr", "te", "make it")))
    make_image_folder(tmp_path, ["tr", "te"], ["a", "b", "c"], per_class=1)
    train, test, built = build_datasets("tiny-folders", tmp_path, train_subset=2)
    assert (len(train), len(test), built.num_classes, built.classes) == (2, 3, 3, ("a", "b", "c"))
    assert train[0][0].shape == (3, 224, 224)
    with pytest.raises(ConfigError, match="Tiny Folders not found: .*make it"):
        build_datasets("tinyfolders", tmp_path / "nowhere")


# --------------------------------------------------------------------------- Fashion-MNIST (real files)

needs_debian_fmnist = pytest.mark.fashion_mnist


@pytest.fixture(scope="module")
def fmnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmnist")
    raw = prepare_fashion_mnist(root)
    return root, raw


@needs_debian_fmnist
def test_prepare_fashion_mnist(fmnist_root):
    root, raw = fmnist_root
    assert raw == root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
    assert (raw / "train-images-idx3-ubyte").stat().st_size == 16 + 60000 * 28 * 28  # no tmp files left
    before = {p.name: p.stat().st_mtime_ns for p in raw.iterdir()}
    assert prepare_fashion_mnist(root) == raw
    assert {p.name: p.stat().st_mtime_ns for p in raw.iterdir()} == before  # second call: nothing to do


@needs_debian_fmnist
def test_fashion_mnist_real(fmnist_root):
    root, _ = fmnist_root
    train, test, info = build_datasets("fashionmnist", root)
    assert isinstance(train, D.FashionMNIST)
    assert (len(train), len(test), info.train_size, info.test_size) == (60000, 10000, 60000, 10000)
    assert int(train.targets[0]) == 9 and train.classes[9] == "Ankle boot"  # image 0 is an ankle boot
    assert int(test.targets[0]) == 9 and int(train.targets[1]) == 0
    assert np.bincount(train.targets.numpy()).tolist() == [6000] * 10
    x, y = test[0]
    assert x.shape == (1, 32, 32) and y == 9
    orig = test.data[0].numpy()
    np.testing.assert_allclose(x[0, 2:30, 2:30].numpy(), (orig / 255.0 - 0.2860) / 0.3530, atol=1e-6)
    border = torch.cat([x[0, :2].flatten(), x[0, 30:].flatten(), x[0, :, :2].flatten(), x[0, :, 30:].flatten()])
    assert torch.allclose(border, torch.tensor(-0.2860 / 0.3530), atol=1e-6)
    names = [type(t).__name__ for t in train.transform.transforms]
    assert names == ["Pad", "RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert train[0][0].shape == (1, 32, 32)
    xu, yu = load_uint8("fashionmnist", root, train=True)
    assert xu.shape == (60000, 1, 32, 32) and xu.dtype == torch.uint8 and int(yu[0]) == 9
    assert torch.equal(xu[5, 0, 2:30, 2:30], train.data[5]) and int(xu[:, :, :2].max()) == 0


@needs_debian_fmnist
def test_gpu_batches_eval_equals_cpu_transform_fashion(fmnist_root):
    root, _ = fmnist_root
    _, test, info = build_datasets("fashionmnist", root, test_subset=300)
    xu, yu = load_uint8("fashionmnist", root, train=False, subset=300)
    batches = list(GpuBatches(xu, yu, info, batch_size=128, train=False).epoch(seed=0))
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    cpu = torch.stack([test[i][0] for i in range(len(test))])
    assert x.shape == cpu.shape == (300, 1, 32, 32)
    assert (x - cpu).abs().max().item() <= 1e-6
    assert y.tolist() == [test[i][1] for i in range(len(test))]


# --------------------------------------------------------------------------- GpuBatches

def _toy(n=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 10
    return x, y, dataset_info("cifar10")


def test_gpu_batches_deterministic_and_resumable():
    x, y, info = _toy()
    gb = GpuBatches(x, y, info, batch_size=16, train=True)
    assert len(gb) == 7 and len(GpuBatches(x, y, info, batch_size=16, train=True, drop_last=True)) == 6
    a = list(gb.epoch(seed=3))
    b = list(gb.epoch(seed=3))
    c = list(gb.epoch(seed=4))
    assert len(a) == 7 and [len(t[1]) for t in a] == [16] * 6 + [4]
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not all(torch.equal(p[1], q[1]) for p, q in zip(a, c))
    # every image once per epoch
    assert sorted(torch.cat([t[1] for t in a]).tolist()) == sorted(y.tolist())
    for k in (1, 4, 7):
        tail = list(gb.epoch(seed=3, start=k))
        assert len(tail) == 7 - k
        assert all(torch.equal(p[1], q[1]) for p, q in zip(tail, a[k:]))  # labels
        assert all(torch.equal(p[0], q[0]) for p, q in zip(tail, a[k:]))  # and the augmented images
    d = list(GpuBatches(x, y, info, batch_size=16, train=True, drop_last=True).epoch(seed=3))
    assert len(d) == 6 and all(len(t[1]) == 16 for t in d)


def test_gpu_batches_eval_unshuffled_unaugmented():
    x, y, info = _toy(50)
    gb = GpuBatches(x, y, info, batch_size=16, train=False)
    out = list(gb.epoch(seed=123))
    xs = torch.cat([t[0] for t in out])
    assert torch.equal(torch.cat([t[1] for t in out]), y)
    ref = (x.float() / 255 - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    assert (xs - ref).abs().max().item() <= 1e-6
    assert all(torch.equal(p[0], q[0]) for p, q in zip(out, gb.epoch(seed=999)))


def test_gpu_batches_eval_equals_cpu_transform_cifar(cifar10_root):
    root, _ = cifar10_root
    _, test, info = build_datasets("cifar10", root)
    xu, yu = load_uint8("cifar10", root, train=False)
    x = torch.cat([b[0] for b in GpuBatches(xu, yu, info, batch_size=4, train=False).epoch(0)])
    cpu = torch.stack([test[i][0] for i in range(len(test))])
    assert (x - cpu).abs().max().item() <= 1e-6


def test_gpu_batches_no_augment_train_is_shuffled_plain():
    x, _, info = _toy(40)
    y = torch.arange(40)  # unique labels: each tells which image it came with
    (xs, ys), = list(GpuBatches(x, y, info, batch_size=40, train=True, augment=False).epoch(seed=1))
    assert not torch.equal(ys, y) and sorted(ys.tolist()) == y.tolist()  # shuffled, all once
    ref = (x[ys].float() / 255 - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    assert (xs - ref).abs().max().item() <= 1e-6  # images travel with their labels, unaugmented


def _marker_image(res=32):
    """uint8 [3, res, res]: channel 0 = column+1, channel 1 = row+1, channel 2 = 255."""
    ar = torch.arange(1, res + 1, dtype=torch.uint8)
    return torch.stack([ar.view(1, -1).expand(res, res), ar.view(-1, 1).expand(res, res),
                        torch.full((res, res), 255, dtype=torch.uint8)])


def _recover(u: torch.Tensor, pad: int):
    """(dy, dx, flip) int64/bool tensors [B] of crops ``u`` (uint8 [B, 3, H, W]) of the marker image."""
    b, _, h, w = u.shape
    valid = (u[:, 2] == 255).float()  # pixels from the image, not the zero padding
    cnt = valid.sum(dim=(1, 2))
    out_r = torch.arange(h).view(1, h, 1).float()
    out_c = torch.arange(w).view(1, 1, w).float()
    src_r = u[:, 1].float() - 1
    src_c = u[:, 0].float() - 1
    dy = ((src_r - out_r) * valid).sum(dim=(1, 2)) / cnt + pad
    diff = (src_c - out_c) * valid
    mean_diff = diff.sum(dim=(1, 2)) / cnt
    # no flip: src_col - out_col is constant; flip: src_col + out_col is constant
    flip = (((src_c - out_c) - mean_diff.view(-1, 1, 1)) * valid).abs().amax(dim=(1, 2)) > 0.5
    dx = torch.where(flip, ((src_c + out_c) * valid).sum(dim=(1, 2)) / cnt - (w - 1), mean_diff) + pad
    assert torch.equal(dy, dy.round()) and torch.equal(dx, dx.round())
    return dy.long(), dx.long(), flip


def _to_uint8(x, info):
    m = torch.tensor(info.mean).view(1, -1, 1, 1)
    s = torch.tensor(info.std).view(1, -1, 1, 1)
    return torch.round((x * s + m) * 255).clamp(0, 255).to(torch.uint8)


def _check_uniform(dy, dx, flip, n):
    for d in (dy, dx):
        counts = torch.bincount(d, minlength=9)
        assert len(counts) == 9  # offsets 0..8 for padding 4, all of them
        # uniform over 9 offsets: n/9 = 200 expected each, sd ~13.3; bounds at 6 sd
        assert counts.min() > 120 and counts.max() < 280, counts
    assert abs(flip.float().mean().item() - 0.5) < 6 * math.sqrt(0.25 / n)  # flip with p = 0.5


def test_gpu_batches_augmentation_distribution_matches_cpu():
    info = dataset_info("cifar10")
    n = 1800
    marker = _marker_image()
    x = marker.unsqueeze(0).repeat(n, 1, 1, 1)
    gb = GpuBatches(x, torch.zeros(n, dtype=torch.int64), info, batch_size=256, train=True)
    out = torch.cat([xb for xb, _ in gb.epoch(seed=0)])
    assert out.shape == (n, 3, 32, 32)  # the crop keeps the shape
    u = _to_uint8(out, info)
    dy, dx, flip = _recover(u, 4)
    padded = torch.nn.functional.pad(marker, (4, 4, 4, 4))
    for i in range(0, n, 7):  # each batch image IS the zero-padded marker cropped at (dy, dx), maybe flipped
        ref = padded[:, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        assert torch.equal(u[i], ref.flip(-1) if flip[i] else ref)
    _check_uniform(dy, dx, flip, n)
    # the joint law: the four corner crops occur
    pairs = set(zip(dy.tolist(), dx.tolist()))
    assert pairs >= {(0, 0), (8, 8), (0, 8), (8, 0)}
    # torchvision's CPU transform, recovered the same way, has the same law
    t = build_transforms(info, train=True)
    pil = Image.fromarray(marker.permute(1, 2, 0).numpy())
    torch.manual_seed(0)
    cpu = _to_uint8(torch.stack([t(pil) for _ in range(n)]), info)
    _check_uniform(*_recover(cpu, 4), n)


def test_gpu_batches_stl10_padding_and_options():
    info = dataset_info("stl10")
    x = torch.randint(0, 256, (8, 3, 96, 96), dtype=torch.uint8)
    gb = GpuBatches(x, torch.arange(8), info, batch_size=4, train=True, channels_last=True, dtype=torch.bfloat16)
    assert gb.pad == 12
    xb, yb = next(gb.epoch(seed=0))
    assert xb.shape == (4, 3, 96, 96) and xb.dtype == torch.bfloat16 and yb.dtype == torch.int64
    assert xb.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError):
        GpuBatches(x, torch.arange(8), dataset_info("cifar10"), batch_size=4, train=True)


# --------------------------------------------------------------------------- subsets

def test_subset_indices_fixed_and_distinct():
    torch.manual_seed(1)
    a = subset_indices(50000, 1000)
    torch.manual_seed(2)
    b = subset_indices(50000, 1000)
    assert a == b  # independent of the global seed
    assert len(set(a)) == 1000 and a == sorted(a) and 0 <= a[0] and a[-1] < 50000
    assert set(subset_indices(50000, 100)) <= set(a)  # nested
    assert subset_indices(50000, 1000) != subset_indices(60000, 1000)
    assert subset_indices(10, None) == list(range(10))
    assert subset_indices(10, 10) == list(range(10))
    # pinned: the subsets of published tables must not change silently with the torch version
    assert subset_indices(50000, 5) == PINNED_50000_5
    for bad in (0, -1, 11):
        with pytest.raises(ConfigError):
            subset_indices(10, bad)


PINNED_50000_5 = [1745, 3813, 11010, 11016, 44956]  # torch 2.14.1 CPU generator, SUBSET_SEED
