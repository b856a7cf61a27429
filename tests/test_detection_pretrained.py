"""Which ImageNet run a detection row starts from (experiments.detection.pretrained)."""
import json

import pytest

from experiments.detection.pretrained import imagenet_checkpoint, imagenet_config
from experiments.tables import get_table
from experiments.tables.base import RELEASED_IMAGENET_SE, Row, detection_rows
from models import ConfigError


def _row(family, depth=50, kwargs=None, detector="faster_rcnn"):
    return detection_rows(detector, [family], (depth,), "cifar", kwargs={family: kwargs or {}})[0]


def _imagenet_row(table_id, family, depth):
    (row,) = [r for r in get_table(table_id).rows if r.family == family and r.depth == depth]
    return row


@pytest.mark.parametrize("family,kwargs,table_id", [
    ("ela", {}, "ela.table2"), ("mrla_l", {}, "ela.table2"), ("se", RELEASED_IMAGENET_SE, "ela.table2"),
    ("dla_l", {}, "dla.table2"), ("se", {}, "dia.table8"), ("dia_light", {}, "dia.table8"),
])
def test_the_imagenet_run_is_the_papers_imagenet_row(family, kwargs, table_id):
    """Same settings, same run hash: the detection row starts from the run its paper's ImageNet
    table trains (the bias-free SE of ELA/DLA Table 2, the SE with biases of DIA Table VIII)."""
    cfg = imagenet_config(_row(family, kwargs=kwargs))
    assert cfg.run_hash() == _imagenet_row(table_id, family, 50).config("full", 0).run_hash()
    assert (cfg.dataset, cfg.recipe, cfg.seed, cfg.scale) == ("imagenet", "imagenet", 0, "full")


def test_bias_free_and_biased_se_are_different_runs():
    assert imagenet_config(_row("se", kwargs=RELEASED_IMAGENET_SE)).run_hash() != imagenet_config(_row("se")).run_hash()


def test_checkpoint_found_only_for_a_finished_run(tmp_path):
    row = _row("ela")
    cfg = imagenet_config(row)
    with pytest.raises(ConfigError) as exc:
        imagenet_checkpoint(row, tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and cfg.run_name in msg and "not found" in msg
    assert "ela.table2 ('ResNet-50 / ELA')" in msg and "./reproduce.sh run --model ela_resnet50_imagenet" in msg
    run_dir = tmp_path / cfg.run_name
    run_dir.mkdir()
    (run_dir / "record.json").write_text(json.dumps({"status": "running"}))
    with pytest.raises(ConfigError, match="status 'running', no checkpoint"):
        imagenet_checkpoint(row, tmp_path)
    (run_dir / "checkpoint.pt").write_bytes(b"weights")
    (run_dir / "record.json").write_text(json.dumps({"status": "done"}))
    assert imagenet_checkpoint(row, tmp_path) == run_dir / "checkpoint.pt"


def test_a_backbone_no_imagenet_table_plans_is_named_with_its_command(tmp_path):
    """DIA's ResNet-101 and SGE detection rows have no ImageNet row in DIA's tables."""
    with pytest.raises(ConfigError, match=r"no ImageNet table plans it.*--model sge_resnet101_imagenet"):
        imagenet_checkpoint(_row("sge", depth=101), tmp_path)
    with pytest.raises(ConfigError, match="not a detection row"):
        imagenet_config(Row(label="x", family="se", backbone="resnet50_imagenet", depth=50, dataset="imagenet",
                            recipe="imagenet"))


# --------------------------------------------------------------------------- the handover
def test_full_profile_detection_rows_name_their_imagenet_run():
    """Every full-profile detection run of the three tables says which ImageNet run it starts
    from; the smoke profile trains from scratch; classification runs never carry it."""
    from experiments.config import RunConfig
    from experiments.tables.base import PRETRAINED_RUN

    for table_id in ("ela.table5", "dla.table3", "dia.table10"):
        t = get_table(table_id)
        for row in t.rows:
            full, smoke = row.config("full", 0), row.config("smoke", 0)
            assert full.pretrained == PRETRAINED_RUN + imagenet_config(row).run_name
            assert smoke.pretrained is None and "pretrained" not in smoke.identity()
    ela = _row("ela")
    assert ela.config("full", 0).pretrained == "run:" + _imagenet_row("ela.table2", "ela", 50).config("full", 0).run_name
    with pytest.raises(ConfigError, match="pretrained weights are for detection runs"):
        RunConfig(model="resnet20", pretrained="x.pt")
    assert RunConfig(model="resnet50_imagenet", detector="faster_rcnn", pretrained="none").pretrained is None


def test_resolve_pretrained(tmp_path):
    import dataclasses

    from experiments.detection.pretrained import resolve_pretrained

    row = _row("ela")
    cfg = dataclasses.replace(row.config("full", 0), out_root=str(tmp_path))
    with pytest.raises(ConfigError) as exc:  # the ImageNet run is missing: one line naming it and its command
        resolve_pretrained(cfg)
    assert "\n" not in str(exc.value) and imagenet_config(row).run_name in str(exc.value)
    assert "ela.table2 ('ResNet-50 / ELA')" in str(exc.value)
    run_dir = tmp_path / imagenet_config(row).run_name
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(b"w")
    (run_dir / "record.json").write_text(json.dumps({"status": "done"}))
    assert resolve_pretrained(cfg) == run_dir / "checkpoint.pt"
    own = dataclasses.replace(cfg, pretrained=str(run_dir / "checkpoint.pt"))
    assert resolve_pretrained(own) == run_dir / "checkpoint.pt"
    with pytest.raises(ConfigError, match="no such checkpoint file"):
        resolve_pretrained(dataclasses.replace(cfg, pretrained=str(tmp_path / "nope.pt")))
    with pytest.raises(ConfigError, match="keep one"):
        resolve_pretrained(dataclasses.replace(cfg, model_kwargs={"pretrained_backbone": "a.pt"}))
    assert resolve_pretrained(dataclasses.replace(cfg, pretrained=None)) is None


def test_launcher_checks_the_imagenet_runs_and_none_trains_from_scratch(tmp_path):
    from experiments.launch import check_pretrained, prepare

    t = get_table("ela.table5")
    plans = prepare(t, "full", seeds=1, out_root=str(tmp_path))
    assert all(p.cfg.pretrained.startswith("run:") for p in plans)
    with pytest.raises(ConfigError) as exc:
        check_pretrained(t, plans)
    n_runs = len({p.cfg.pretrained for p in plans})
    assert str(exc.value).startswith(f"ela.table5: {n_runs} ImageNet run(s) that its detection rows start from")
    assert "\n" not in str(exc.value) and "--pretrained none" in str(exc.value)
    scratch = prepare(t, "full", seeds=1, out_root=str(tmp_path), pretrained="none")
    assert all(p.cfg.pretrained is None for p in scratch)
    check_pretrained(t, scratch)  # nothing to wait for
    assert {p.cfg.run_name for p in scratch}.isdisjoint(p.cfg.run_name for p in plans)  # other runs
    with pytest.raises(ConfigError, match="use auto"):
        prepare(t, "full", pretrained="x.pt")
