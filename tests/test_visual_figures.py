"""The registered picture figures (analysis.visual; experiments/tables/{ela_fig2a,ela_fig3,ela_fig5,dla_fig2,
dia_fig9,dia_fig11}.py) drawn from the checkpoints of real smoke-scale runs: files, panels, and the numbers
in them (attention rows and Gini rows sum to 1, CAM maps in [0, 1] at the input's size, softmax scores
equal to the model's own)."""
import json
import warnings

import numpy as np
import pytest
import torch

from analysis import visual
from analysis.records import load_records
from experiments.tables import TABLE_IDS, get_table, planned_rows
from models import ConfigError

NEW = ("ela.fig2a", "ela.fig3", "ela.fig5", "dla.fig2", "dia.fig9", "dia.fig11")
SPECS = ({"model": "resnet20"}, {"model": "se_resnet20"}, {"model": "dia_resnet20"}, {"model": "mrla_b_resnet20"},
         {"model": "dla_b_resnet20"}, {"model": "ela_resnet20", "epochs": 3},
         {"model": "mrla_b_resnet56", "epochs": 1, "train_subset": 16})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from experiments.smoke_runs import make_smoke_runs

    before = torch.get_num_threads()
    root = tmp_path_factory.mktemp("visual-smoke-runs")
    make_smoke_runs(root, specs=SPECS)
    torch.set_num_threads(1)
    yield load_records(root)
    torch.set_num_threads(before)


def test_figures_are_registered_with_their_runs():
    for tid in NEW:
        t = get_table(tid)
        assert tid in TABLE_IDS and t.kind == "figure" and t.decisions and t.readouts
    # ELA Fig. 2(b) has its ELA curve, on ELA Table 1's ELA/CIFAR-100 runs (same hashes)
    fig2b = get_table("ela.fig2b")
    assert sorted({r.family for r in fig2b.rows}) == ["ela", "mrla_b", "mrla_l", "resnet"] and len(fig2b.rows) == 12
    t1 = {c.run_hash() for c in get_table("ela.table1").runs("full")}
    ela = [c for c in fig2b.runs("full") if c.model.startswith("ela_")]
    assert len(ela) == 15 and all(c.run_hash() in t1 for c in ela)
    # DLA Fig. 2 schedules the DLA-B-56 run no table prints; its MRLA-B-56 is ELA Fig. 2(b)'s
    mrla, dla = get_table("dla.fig2").runs("full")
    assert (mrla.model, dla.model) == ("mrla_b_resnet56", "dla_b_resnet56")
    assert {e["table"] for e in planned_rows(dla)} == {"dla.fig2"}
    assert {"ela.fig2b", "ela.fig2a", "dla.fig2"} <= {e["table"] for e in planned_rows(mrla)}
    # the CAM figures read runs of the tables: DIA Table XI, ELA Table 2
    assert all("dia.table11" in {e["table"] for e in planned_rows(c)} for c in get_table("dia.fig9").runs("full"))
    assert "ela.table2" in {e["table"] for e in planned_rows(get_table("ela.fig5").runs("full")[0])}
    assert get_table("ela.fig3").runs("full")[0].model == "mrla_b_resnet101_imagenet"


def test_every_figure_saves_png_and_pdf(runs, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = visual.module_figures(runs, tmp_path, data_root=None, n=8, cam_n=1)
    assert sorted(p.name for p in paths) == sorted(f"{visual.FILE_STEMS[t]}.{e}" for t in NEW for e in ("png", "pdf"))
    assert all(p.stat().st_size > 1000 for p in paths)


@pytest.mark.parametrize("tid,stage,panels", [("ela.fig2a", 1, ["MRLA-B"]), ("dla.fig2", 2, ["(a) MRLA-B", "(b) DLA-B"])])
def test_layer_attention_rows_sum_to_one(runs, tid, stage, panels):
    only20 = runs[runs["model"] != "mrla_b_resnet56"]  # resnet20 has 3 stages of 2 blocks
    fig, data = visual.draw(tid, only20, data_root=None, n=8)
    assert [k.split("-20")[0] for k in data] == panels and all("smoke" in k for k in data)
    for m in data.values():
        assert m.shape == (2, 2)
        assert np.isnan(m[0, 1]) and np.allclose(np.nansum(m, 1), 1.0, atol=1e-5)  # row t over layers <= t
        assert ((m[~np.isnan(m)] >= 0) & (m[~np.isnan(m)] <= 1)).all()
    assert f"stage {stage + 1}" in " ".join(ax.get_title() for ax in fig.axes)


def test_ela_fig2a_draws_the_named_stage_of_resnet56(runs):
    _, data = visual.draw("ela.fig2a", runs, data_root=None, n=4)  # the 56-layer run stands for ResNet-56
    (m,) = data.values()
    assert m.shape == (6, 6) and np.allclose(np.nansum(m, 1), 1.0, atol=1e-5)
    assert np.isnan(m[np.triu_indices(6, 1)]).all()


def test_gini_importance_rows_sum_to_one(runs):
    _, data = visual.draw("dia.fig11", runs, data_root=None, n=8, n_estimators=5)
    assert sorted(data) == ["DIA-LSTM-20 (smoke)", "SE-20 (smoke)"]
    for mats in data.values():
        assert sorted(mats) == [0, 1, 2]
        for m in mats.values():
            assert np.isnan(m[0]).all()  # h_1 has no earlier state
            assert np.allclose(np.nansum(m[1:], 1), 1.0) and np.nanmin(m) >= 0


def test_ela_fig3_score_cam_and_kl(runs):
    from models.kl import layer_kl

    from analysis.probes import load_run_model, readout, sample_batch

    r56 = runs[runs["model"] == "mrla_b_resnet56"]
    _, data = visual.draw("ela.fig3", r56, data_root=None, n=1, stage=0)
    assert data["blocks"] == [1, 2, 3, 4, 5] and data["stage"] == 0  # 6 blocks: the first has no KL
    maps = data["maps"]
    assert maps.shape == (1, 5) + data["input_shape"][2:] and maps.min() >= 0 and maps.max() <= 1
    assert np.isclose(maps.reshape(5, -1).max(1), 1).all()  # min-max per map
    # the KL under F_t is Eq. 11 between the softmaxes of F_{t-1} and F_t on the same images
    model, _ = load_run_model(r56.iloc[0]["run_dir"])
    x, _ = sample_batch("fake", None, 1)
    soft = {r["block"]: r["value"] for r in readout(model, x) if r["kind"] == "layer_softmax" and r["stage"] == 0}
    assert sorted(data["kl"]) == [1, 2, 3, 4, 5]
    for b, v in data["kl"].items():
        assert v >= 0 and v == pytest.approx(float(layer_kl(soft[b - 1], soft[b])), rel=1e-5)


def test_ela_fig5_before_and_after_pruning(runs):
    ela = runs[runs["model"] == "ela_resnet20"].iloc[0]
    pruned = json.load(open(f"{ela['run_dir']}/record.json"))["callbacks"]["ela_pruning"]["pruned"]
    assert pruned, "the smoke ELA run must prune a layer for Fig. 5"
    _, data = visual.draw("ela.fig5", runs, data_root=None, n=2)
    names = {f"s{s}.b{b}" for s, b in data["layers"]}
    assert names and names <= set(pruned)
    for key in ("before", "after"):
        m = data[key]
        assert m.shape == (2, len(names)) + data["input_shape"][2:] and m.min() >= 0 and m.max() <= 1
    assert not np.allclose(data["before"], data["after"])  # the attention layer changes the block's output
    assert visual.draw("ela.fig5", runs, data_root=None, n=2)[1]["layers"] == data["layers"]  # flags restored


def test_pruned_pairs_prefer_consecutive_layers():
    pick = visual.pruned_pairs
    assert pick(["s0.b3", "s1.b2", "s1.b3", "s2.b5", "s2.b6"], 2) == [(1, 2), (1, 3), (2, 5), (2, 6)]
    assert pick(["s0.b3", "s2.b1"], 2) == [(0, 3), (2, 1)]


def test_dia_fig9_grad_cam_and_softmax_scores(runs):
    from analysis.probes import load_run_model, sample_batch

    _, data = visual.draw("dia.fig9", runs, data_root=None, n=2)
    shape = data.pop("input_shape")
    assert sorted(data) == ["DIA-LSTM-20 (smoke)", "ResNet-20 (smoke)", "SE-20 (smoke)"]
    x, y = sample_batch("fake", None, 2)
    for label, d in data.items():
        assert d["cam"].shape == (2,) + shape[2:] and d["cam"].min() >= 0 and d["cam"].max() <= 1
        model_name = {"DIA-LSTM": "dia_resnet20", "ResNet": "resnet20", "SE": "se_resnet20"}[label.split("-20")[0]]
        run = runs[(runs["model"] == model_name)].iloc[0]
        model, _ = load_run_model(run["run_dir"])
        with torch.no_grad():
            p = torch.softmax(model(x), -1)[torch.arange(2), y].numpy()
        assert np.allclose(d["score"], p, atol=1e-5)  # the smoke target: each image's own label


def test_target_layers_per_backbone_family():
    from models import create_model

    m = create_model("resnet20", num_classes=10)
    assert visual.target_layer(m, "resnet") is m.stages[-1].blocks[-1]
    w = create_model("wrn52_4", num_classes=10)
    assert visual.target_layer(w, "wrn52_4") is w.final
    with pytest.raises(ConfigError, match="TARGET_LAYERS"):
        visual.target_layer(m, "vit")


def test_missing_run_is_a_one_line_error_naming_the_command(runs, tmp_path):
    empty = runs.iloc[0:0]
    with pytest.raises(ConfigError) as err:
        visual.require_run("dla.fig2", empty, "ResNet-56 / DLA-B (ours)")
    msg = str(err.value)
    assert "\n" not in msg and "dla_b_resnet56-cifar100-full-s0-" in msg and "./reproduce.sh dla.fig2" in msg
    assert visual.require_run("dla.fig2", runs, "ResNet-56 / DLA-B (ours)")["model"] == "dla_b_resnet20"
    fig, data = visual.draw("ela.fig3", empty, data_root=None)
    assert data == {} and "not yet run (./reproduce.sh ela.fig3 --profile smoke)" in " ".join(
        t.get_text() for t in fig.texts)
    with pytest.raises(ConfigError, match="not a picture figure"):
        visual.draw("ela.table1", runs)


def test_figure_claims_read_the_same_checkpoints(runs):
    """The report's evidence for DIA Fig. 11's claim comes from the runs' checkpoints: the smoke
    DIA-LSTM-20 / SE-20 nets have 3 blocks per stage, too few for the share on h_(t-1), h_(t-2)
    (rows with 3 sources), which the result says; no no-skip runs here for DIA Fig. 13."""
    from analysis.figures import figure_claim_evidence

    got = figure_claim_evidence(runs, data_root=None, n=8)
    assert got["dia.gini_se_local_dia_spread"] == {"result": "not yet run",
                                                   "detail": "no stage with 4 or more blocks in both arms"}
    assert got["dia.gradients_without_skip"]["result"] == "not yet run"
