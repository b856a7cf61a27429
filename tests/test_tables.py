"""The paper tables as run lists, and the table command line (without SLURM).

Row structure is pinned twice: by hard-coded counts per table and against the
transcriptions in results/paper/ (every printed row we can train is a row here, with the
published model and parameter count). Every table also runs for real at the smoke scale
(first run only, for time) through `./reproduce.sh <table> --profile smoke --executor local`.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from experiments.config import RunConfig
from experiments.launch import cli_args, prepare, slurm_parameters, load_cluster, state_dir
from experiments.params import ROOT
from experiments.tables import TABLE_IDS, all_tables, get_table, resolve
from models import ConfigError, count_parameters, create_model, list_models
from models.detection import create_detector

# table -> (printed rows we run, paper's seeds, full-profile runs, smoke-profile runs)
EXPECTED = {
    "ela.table1": (48, 5, 240, 24),   # 8 methods x 3 depths x 2 datasets
    "ela.table2": (14, 1, 14, 14),    # 11 + 8 printed rows minus A^2, AA x2, RLA x2 (not implemented)
    "ela.table3": (6, 1, 6, 6),       # 3 methods x 2 depths
    "ela.table4": (6, 5, 30, 6),      # 3 pruning methods x 2 depths
    "ela.table6": (6, 5, 30, 6),      # Normal/Gamma/Beta x 2 depths
    "ela.table7": (6, 5, 30, 6),      # GQM/EQM/EBQM x 2 depths
    "ela.fig2b": (12, 5, 60, 12),     # ResNet/MRLA-B/MRLA-L/ELA x 3 depths, CIFAR-100
    "ela.fig2a": (1, 1, 1, 1),        # MRLA-B-56 on CIFAR-100 (shared with fig2b)
    "ela.fig3": (1, 1, 1, 1),         # MRLA-B-101 on ImageNet
    "ela.fig5": (1, 1, 1, 1),         # ELA-101 on ImageNet (shared with Tables 2/3)
    "dla.fig2": (2, 1, 2, 2),         # MRLA-B-56 and DLA-B-56, CIFAR-100
    "dia.fig9": (3, 1, 3, 3),         # ResNet-50 / SE / DIA-LSTM of Table XI
    "dia.fig11": (2, 1, 2, 2),        # DIA-LSTM-164 and SE-164, CIFAR-100
    "dia.fig8": (6, 1, 6, 6),         # batch 32/64/128 x (U-ViT, DIA-U-ViT), diffusion runs
    "dia.table9": (12, 15, 180, 12),  # ViT-S/16 and ViT-B/16 x 6 models, ImageNet
    "ela.fig4": (18, 1, 18, 9),       # MRLA-B/MRLA-L/ELA x 3 depths x 2 datasets
    "dla.table1": (40, 5, 200, 20),   # (8 + 6 + 6 methods) x 2 datasets
    "dla.table2": (14, 1, 14, 14),    # 11 + 8 printed minus A^2, AA x2, RLAg x2
    "dla.table4": (4, 5, 20, 4),      # 4 cells in DLA-L-110
    "dla.table5": (8, 5, 40, 8),      # 4 norms x 2 depths
    "dla.table6": (8, 5, 40, 8),      # ResNet + 3 LII cells x 2 depths
    "dla.fig4": (24, 5, 120, 12),     # 4 methods x 3 depths x 2 datasets
    "dia.table3": (44, 15, 660, 22),  # 2 datasets x 2 depths x (Org + 5 SAMs x with/without DIA)
    "dia.table4": (30, 15, 450, 30),  # 3 backbones x 10 models
    "dia.table6": (20, 15, 300, 20),  # 2 backbones x 10 models, STL-10
    "dia.table7": (24, 15, 360, 24),  # 3 depths x 8 models, miniImageNet
    "dia.table8": (24, 15, 360, 24),  # 3 depths x 8 models, ImageNet
    "dia.table11": (4, 15, 60, 4),
    "dia.table12": (4, 15, 60, 4),
    "dia.table13": (8, 15, 120, 8),
    "dia.table14": (5, 15, 75, 5),
    "dia.table15": (3, 15, 45, 3),
    "dia.table16": (12, 15, 180, 12),
    "dia.table17": (6, 15, 90, 3),    # CIFAR-10 and -100 rows merge at smoke scale
    "ela.table5": (24, 1, 24, 24),    # 2 detectors x 2 depths x 5-6 methods, COCO
    "dla.table3": (24, 1, 24, 24),
    "dia.table10": (24, 15, 360, 24),  # Faster R-CNN and RetinaNet x 2 depths x 6 models
    "dia.fig2": (4, 1, 4, 4),
    "dia.fig10": (13, 15, 195, 13),   # k=0 + 6 counts x (SE, SE with DIA)
    "dia.fig13": (3, 1, 3, 3),
    "dia.fig14": (3, 1, 3, 3),
    "dia.fig15": (2, 1, 2, 2),
}


def cli(*args, timeout=900):
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))  # as run_local does
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_registry_lists_every_table_of_the_issue():
    assert set(TABLE_IDS) == set(EXPECTED)
    assert [t.id for t in all_tables()] == list(TABLE_IDS)


@pytest.mark.parametrize("table_id", TABLE_IDS)
def test_row_structure_and_run_lists(table_id):
    rows, seeds, full, smoke = EXPECTED[table_id]
    t = get_table(table_id)
    assert (len(t.rows), t.seeds, len(t.runs("full")), len(t.runs("smoke"))) == (rows, seeds, full, smoke)
    registered = set(list_models())
    for cfg in t.runs("full"):
        assert isinstance(cfg, RunConfig) and cfg.scale == "full" and cfg.model in registered
        assert cfg.dataset in t.datasets and cfg.seed < t.seeds
    for cfg in t.runs("smoke"):
        assert cfg.scale == "smoke" and cfg.seed == 0
        # detection: the offline set; CIFAR-style rows: the learning scale's 12x12 Fashion-MNIST
        assert cfg.dataset == ("fmnistcoco" if cfg.detector else
                               "fashionmnist10" if cfg.residual_init == "scaled" else "fashionmnist")
    assert len(t.runs("full", seeds=2)) == len({(r.model, json.dumps(r.config("full", 0).identity(), sort_keys=True))
                                                for r in t.rows}) * 2
    assert t.runs("full") == t.runs("full")  # a pure description: no hidden state


RESULTS = pd.read_csv(ROOT / "results" / "paper" / "results.csv", keep_default_na=False)
PARAMS = pd.read_csv(ROOT / "results" / "paper" / "params.csv", keep_default_na=False)


@pytest.mark.parametrize("table_id", [t for t in TABLE_IDS if ".table" in t])
def test_rows_are_the_transcribed_rows(table_id):
    """Every published row of results.csv is a row of ours, except the methods we do not implement."""
    t = get_table(table_id)
    pub = RESULTS[(RESULTS.paper == t.paper) & (RESULTS.table == t.name)]
    keys = {(r.dataset, r.backbone, int(r.depth), r.model, r.variant) for r in pub.itertuples()}
    ours = [r.key for r in t.rows]
    assert len(ours) == len(set(ours))
    assert set(ours) <= keys
    missing = keys - set(ours)
    assert {k[3] for k in missing} <= {"a2", "aa", "rla", "rlag", "nl", "ba"}, missing


def _count(model, kwargs, num_classes, detector=""):
    with torch.device("meta"):
        if detector:  # detection rows: the whole detector, kwargs to the backbone
            return count_parameters(create_detector(detector, model, num_classes=num_classes, backbone_kwargs=kwargs))
        return count_parameters(create_model(model, num_classes=num_classes, **kwargs))


@pytest.mark.parametrize("table_id", sorted({f"{p}.{t}" for p, t in zip(PARAMS.paper, PARAMS.table)}))
def test_models_match_the_published_mapping(table_id):
    """params.csv maps each printed row to a model and kwargs; ours must build the same network
    (same parameter count; kwargs equal to a family default may be left out so runs are shared)."""
    t = get_table(table_id)
    ncls = {"cifar10": 10, "cifar100": 100, "imagenet": 1000, "coco": 80}
    for r in PARAMS[(PARAMS.paper == t.paper) & (PARAMS.table == t.name) & (PARAMS.model != "")].itertuples():
        kwargs = json.loads(r.kwargs) if r.kwargs else {}
        detector = kwargs.pop("detector", "")
        ours = [row for row in t.rows if row.dataset == r.dataset and row.model == r.model and row.detector == detector]
        assert ours, f"{table_id}: no row for {r.row} ({r.model})"
        want = _count(r.model, kwargs, ncls[r.dataset], detector)
        assert any(_count(row.model, dict(row.model_kwargs), ncls[r.dataset], row.detector) == want
                   for row in ours), r.row


def test_rows_shared_between_tables_are_the_same_runs():
    def hashes(table_id, pred, profile="full"):
        t = get_table(table_id)
        return {p.cfg.run_hash() for p in t.plan(profile) if any(pred(r) for r in p.rows)}

    ela56 = lambda r: r.family == "ela" and r.depth == 56 and r.dataset == "cifar100"  # noqa: E731
    assert hashes("ela.table4", lambda r: r.variant == "pruning=ebqm" and r.depth == 56) == hashes("ela.table1", ela56)
    assert hashes("ela.table7", lambda r: r.variant == "qm=ebqm" and r.depth == 56) == hashes("ela.table1", ela56)
    assert hashes("dla.table5", lambda r: r.variant == "norm=sigmoid" and r.depth == 110) == \
        hashes("dla.table1", lambda r: r.family == "dla_l" and r.depth == 110 and r.dataset == "cifar100")
    assert hashes("dia.table12", lambda r: r.variant == "r=4") == \
        hashes("dia.table4", lambda r: r.model == "dia_resnet164")
    assert hashes("dia.fig15", lambda r: r.variant == "share_bn=false") <= \
        hashes("dia.table3", lambda r: r.model == "dia_srm_resnet164" and r.dataset == "cifar100")
    assert hashes("dla.table2", lambda r: r.family == "dia") <= \
        hashes("dia.table8", lambda r: r.family == "dia" and r.depth == 50)
    assert hashes("dla.fig4", lambda r: True) <= hashes("dla.table1", lambda r: True)


IMAGENET_SMOKE = sorted({(c.model, json.dumps(c.model_kwargs, sort_keys=True))
                         for t in all_tables() for c in t.runs("smoke") if c.model.endswith("_imagenet")})


@pytest.mark.parametrize("model,kwargs", IMAGENET_SMOKE)
def test_imagenet_backbones_accept_the_smoke_images(model, kwargs):
    """Smoke keeps ImageNet rows on their real backbones: 32x32 one-channel Fashion-MNIST."""
    net = create_model(model, num_classes=10, in_chans=1, **json.loads(kwargs))
    out = net(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_bare_names_and_errors():
    assert resolve("ela.table1") == ("ela.table1", None)
    tid, note = resolve("table1")
    assert tid == "ela.table1" and "ela.table1" in note and "dla.table1" in note
    assert resolve("table12")[0] == "dia.table12" and resolve("DIA.Fig10")[0] == "dia.fig10"
    with pytest.raises(ConfigError, match="did you mean .*ela.table1"):
        resolve("tabel1")
    res = cli("tabel1", "--dry-run")
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "unknown table 'tabel1'" in res.stderr and "table1" in res.stderr


def test_dry_run_lists_runs_and_cost_and_starts_nothing(tmp_path):
    res = cli("table1", "--dry-run", "--out-root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "'table1' means ela.table1" in res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "-cifar10" in ln or "-cifar100" in ln]
    assert len(lines) == 240
    assert "GPU-hours" in res.stdout and "ROUGH estimate from FLOPs" in res.stdout
    assert "CIFAR-10 not found" in res.stdout  # a warning in a dry run
    assert "nothing was started" in res.stdout
    assert not [p for p in tmp_path.iterdir() if p.name != "_launch"]
    res = cli("dia.fig2", "--dry-run", "--executor", "slurm", "--cluster", "example-gpu-cluster",
              "--out-root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    arrays = [ln for ln in res.stdout.splitlines() if ln.startswith("slurm array")]
    assert len(arrays) == 2 and "nodes=2" in arrays[1] and "tasks_per_node=8" in arrays[1]


def test_full_profile_refuses_missing_data(tmp_path):
    res = cli("dla.table4", "--data-root", str(tmp_path / "nowhere"), "--out-root", str(tmp_path / "runs"))
    assert res.returncode == 2
    err = res.stderr.strip()
    assert err.count("\n") == 0 and "CIFAR-100" in err and "nowhere" in err and "--data-root" in err
    assert not (tmp_path / "runs").exists() or not [p for p in (tmp_path / "runs").iterdir() if p.name != "_launch"]


def test_limit_seeds_and_overrides():
    t = get_table("dla.table5")
    plans = prepare(t, "full", seeds=2, limit=3, epochs=7, out_root="runs")
    assert len(plans) == 3 and all(p.cfg.epochs == 7 and p.cfg.seed == 0 for p in plans)
    assert [p.rows[0].label for p in plans] == [r.label for r in t.rows[:3]]
    assert Path(plans[0].cfg.out_root).is_absolute() and Path(plans[0].cfg.data_root).is_absolute()


def test_cli_args_rebuild_the_config():
    from experiments.run import _parser

    for t in ("ela.table4", "dia.table16", "dia.table17", "dia.fig15"):
        for p in prepare(get_table(t), "smoke"):
            back = RunConfig(**vars(_parser().parse_args(cli_args(p.cfg))))
            assert back == p.cfg and back.run_hash() == p.cfg.run_hash()


def test_cluster_profiles_to_submitit_parameters():
    ex = load_cluster("example-gpu-cluster")
    gpu = slurm_parameters(ex, "default", {})
    assert gpu["gpus_per_node"] == 1 and gpu["slurm_partition"] == "gpu" and gpu["tasks_per_node"] == 1
    big = slurm_parameters(ex, "imagenet", {"timeout_min": 60})
    assert (big["nodes"], big["gpus_per_node"], big["tasks_per_node"], big["timeout_min"]) == (2, 8, 8, 60)
    local = slurm_parameters(load_cluster("local"), "default", {"gpus_per_node": None, "mem_gb": 2})
    assert "gpus_per_node" not in local and local["mem_gb"] == 2 and "slurm_account" not in local
    assert slurm_parameters(ex, "default", {"gpus_per_node": 4})["tasks_per_node"] == 4
    with pytest.raises(ConfigError, match="example-gpu-cluster"):
        load_cluster("nope")


def test_list_shows_tables_and_still_models(capsys):
    from cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(t in out for t in TABLE_IDS)
    assert "ela.table1   table    48     5   240    24" in out
    assert main(["list", "models", "ela_resnet2*"]) == 0
    assert capsys.readouterr().out.split() == ["ela_resnet20"]


# --------------------------------------------------------------------------- real smoke runs
@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tables-smoke")


@pytest.mark.fashion_mnist
@pytest.mark.parametrize("table_id", [t for t in TABLE_IDS if t != "dia.fig8"])  # diffusion: test_diffusion_run.py
def test_every_table_runs_at_smoke_scale(table_id, smoke_root, capsys):
    """The first run of each table, really trained (tiny subsets), recorded as smoke; the
    command line in this process (the debug executor: the subprocess executor is tested by
    the local-executor tests), so 31 tables cost no interpreter start-ups."""
    from cli import main

    rc = main([table_id, "--profile", "smoke", "--executor", "debug", "--limit", "1", "--train-subset", "16",
               "--test-subset", "16", "--out-root", str(smoke_root)])
    out = capsys.readouterr().out
    assert rc == 0, out[-3000:]
    assert "summary: 1 runs" in out
    (plan,) = prepare(get_table(table_id), "smoke", limit=1, out_root=str(smoke_root), train_subset=16, test_subset=16)
    rec = json.loads((plan.cfg.run_dir / "record.json").read_text())
    assert rec["status"] in ("done", "diverged") and rec["smoke"] is True and rec["config"]["scale"] == "smoke"
    smoke_dataset = ("fmnistcoco" if rec["config"].get("detector") else
                     "fashionmnist10" if rec["config"].get("residual_init") == "scaled" else "fashionmnist")
    assert rec["config"]["dataset"] == smoke_dataset and rec["epochs_total"] == 3
    if rec["config"].get("detector") in ("faster_rcnn", "mask_rcnn"):  # the smoke scale's R-CNN sizes
        over = rec["detector"]["overrides"]
        assert (over["box_batch_size_per_image"], over["rpn_post_nms_top_n_test"], over["min_size"]) == (64, 100, 160)
    # the record names the printed rows it stands for (outside the hash; docs/architecture.md)
    assert {(e["table"], e["row"], tuple(e["key"])) for e in rec["planned"]} >= {
        (table_id, r.label, r.key) for r in plan.rows}
    assert main(["status", table_id, "--profile", "smoke", "--out-root", str(smoke_root), "--train-subset", "16",
                 "--test-subset", "16"]) == 0
    status = capsys.readouterr().out
    first = [ln for ln in status.splitlines() if ln.strip().startswith("1 ")][0]
    assert " done " in first
    n = len(get_table(table_id).runs("smoke"))
    summary = [ln for ln in status.splitlines() if ln.startswith(f"{n} runs: ")]
    # later runs: not started, unless an earlier table's smoke run is the same run (DIA Fig. 11's
    # SE-164 is DIA Table IV's), then all done
    assert summary and ("missing" in summary[0] or summary[0].startswith(f"{n} runs: {n} done")), status[-500:]


def test_status_reports_failures_with_their_log(tmp_path):
    """A run that crashes is 'failed' with its log; relaunching resumes instead of restarting."""
    t = get_table("ela.fig2b")
    (plan,) = prepare(t, "smoke", limit=1, out_root=str(tmp_path), train_subset=16, test_subset=16)
    sdir = state_dir(tmp_path, t.id, "smoke")
    sdir.mkdir(parents=True)
    log = sdir / "logs" / "x.log"
    (sdir / "local.jsonl").write_text(json.dumps({"run": plan.cfg.run_name, "rc": 1, "log": str(log)}) + "\n")
    res = cli("status", "ela.fig2b", "--profile", "smoke", "--out-root", str(tmp_path), "--train-subset", "16",
              "--test-subset", "16", "--csv", str(tmp_path / "s.csv"))
    assert res.returncode == 0
    assert f"failed     {plan.cfg.run_name}" in res.stdout and str(log) in res.stdout
    rows = pd.read_csv(tmp_path / "s.csv")
    assert list(rows.state) == ["failed"] + ["missing"] * 11


def test_cost_uses_measured_gpu_epoch_times(tmp_path, monkeypatch):
    """A record under results/bench/ (run-record layout) replaces the FLOP guess for its model."""
    from experiments import launch

    t = get_table("dla.table4")
    plans = prepare(t, "full", seeds=1)
    rough = launch.estimate(plans)
    assert rough.device == "GPU" and "ROUGH estimate from FLOPs" in rough.method
    cfg = plans[0].cfg  # dla_l_resnet110 with the RNN cell
    rec = {"config": {"model": cfg.model, "model_kwargs": cfg.model_kwargs, "dataset": "cifar10", "batch_size": 128},
           "epochs": [{"epoch_time_s": 10.0}], "dataset": {"train_images": 50_000}, "world_size": 1,
           "environment": {"device": "cuda:0", "gpu": "NVIDIA H100"}}
    (tmp_path / "h100").mkdir()
    (tmp_path / "h100" / "x.json").write_text(json.dumps(rec))
    monkeypatch.setattr(launch.cost, "BENCH_DIR", tmp_path)
    est = launch.estimate(plans)
    # 180 epochs x 10 s, plus the test pass (10k images at a third of the training cost per image)
    assert est.per_run_h[0] == pytest.approx(180 * 10.0 * (1 + 10_000 / 150_000) / 3600)
    assert "1 from measured epoch times" in est.method and est.per_run_h[1:] == rough.per_run_h[1:]


def test_debug_executor_then_local_skips_the_finished_run(tmp_path):
    common = ("dla.table6", "--profile", "smoke", "--limit", "1", "--train-subset", "16", "--test-subset", "16",
              "--out-root", str(tmp_path))
    res = cli(*common, "--executor", "debug")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "summary: 1 runs" in res.stdout and "1 done" in res.stdout
    again = cli(*common)
    assert again.returncode == 0 and "already done" in again.stdout
    # the table rebuilt beside the paper's from this table's one record: banner, its row filled, the rest waiting
    md = state_dir(tmp_path, "dla.table6", "smoke") / "dla.table6.md"
    assert f"rebuilt table (1 of 1 runs have records): {md}" in again.stdout
    text = md.read_text()
    assert "SMOKE RUN" in text and text.count("(n=1) [smoke, fashionmnist10]") == 1
    n_rows = len(get_table("dla.table6").rows)
    assert f"Rows with our runs: 1 of {n_rows}; not yet run: {n_rows - 1}." in text


def test_runs_train_in_fp32_unless_bf16_is_asked_for():
    """The released code trains in fp32: bf16 autocast is opt-in and a new run identity."""
    cfg = RunConfig(model="resnet20")
    assert cfg.amp is False and "amp" not in cfg.identity()
    bf16 = RunConfig(model="resnet20", amp=True)
    assert bf16.identity()["amp"] is True and bf16.run_hash() != cfg.run_hash()
    plans = prepare(get_table("ela.table1"), "full", limit=2)
    assert all(not p.cfg.amp for p in plans)
    assert all(p.cfg.amp for p in prepare(get_table("ela.table1"), "full", limit=2, amp=True))


def test_drop_path_reading_and_override():
    from experiments.run import build_model

    t = get_table("ela.table1")
    assert any("DropPath 0.2 on the layer-attention branches of ELA, MRLA-L" in r for r in t.readings())
    assert not any("DropPath" in r for r in get_table("dia.table3").readings())
    default = prepare(t, "full")
    zero = prepare(t, "full", drop_path=0.0)
    assert {p.cfg.effective_recipe().drop_path for p in default} == {0.2}
    assert {p.cfg.effective_recipe().drop_path for p in zero} == {0.0}
    assert {p.cfg.run_hash() for p in zero}.isdisjoint(p.cfg.run_hash() for p in default)
    ela = next(p.cfg for p in zero if p.cfg.model == "ela_resnet56")
    net = build_model(ela, 100, 3, ela.effective_recipe().drop_path, 0.0)
    assert {float(m.drop_prob) for m in net.modules() if type(m).__name__ == "DropPath"} <= {0.0}
    net = build_model(ela, 100, 3, 0.2, 0.0)
    assert {float(m.drop_prob) for m in net.modules() if type(m).__name__ == "DropPath"} == {0.2}
    res = subprocess.run([sys.executable, "-m", "cli", "table1", "--dry-run", "--drop-path", "0"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr


@pytest.mark.fashion_mnist
def test_local_executor_runs_two_at_a_time_with_one_progress_line(tmp_path):
    """--jobs 2: two runs at once, one thread each, their output in their logs; one progress
    line for the launch after each finished run, and the summary in table order."""
    res = cli("ela.fig2b", "--profile", "smoke", "--limit", "3", "--jobs", "2", "--train-subset", "16",
              "--test-subset", "16", "--out-root", str(tmp_path))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = res.stdout.splitlines()
    progress = [ln for ln in lines if ln.startswith("[table] ")]
    import re

    counts = [tuple(map(int, re.match(r"\[table\] (\d+)/3 done, (\d+) running, (\d+) left", ln).groups()))
              for ln in progress]
    assert [c[0] for c in counts] == [1, 2, 3] and counts[-1] == (3, 0, 0)
    assert all(sum(c) == 3 and c[1] <= 2 for c in counts)
    assert all(" | elapsed " in ln and " | ETA " in ln for ln in progress)
    assert not any(ln.startswith("    [") for ln in lines)  # run output went to the logs, not here
    plans = prepare(get_table("ela.fig2b"), "smoke", limit=3, train_subset=16, test_subset=16, out_root=str(tmp_path))
    recs = [json.loads((Path(p.cfg.out_root) / p.cfg.run_name / "record.json").read_text()) for p in plans]
    assert [r["status"] for r in recs] == ["done"] * 3
    assert {r["environment"]["cpu_threads"] for r in recs} == {max(1, (os.cpu_count() or 1) // 2)}
    summary = lines[lines.index(next(ln for ln in lines if ln.startswith("summary: 3 runs"))) + 1:][:3]
    assert [ln.split()[3] for ln in summary] == [p.cfg.run_name for p in plans]
