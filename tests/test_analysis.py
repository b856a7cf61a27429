"""analysis/: records -> comparison with the papers -> rebuilt tables, claims, report, figures.

The fixture is a folder of hand-made run records (record.json as experiments.run writes
them) with chosen accuracies; every expected mean, std, t, df and p is worked out here
from the formulas (Welch: t = (m1 - m2) / sqrt(s1^2/n1 + s2^2/n2), Welch-Satterthwaite df;
Student: pooled variance, df = n1 + n2 - 2), only the t distribution's tail comes from scipy.
The figures are drawn from the records (and checkpoints) of real smoke-scale runs.
"""
import json
import math
import warnings
from pathlib import Path

import pytest
from scipy import stats as sps

from analysis.claims import CLAIMS, evaluate_claims, tost
from analysis.compare import compare
from analysis.records import load_curves, load_ela_decisions, load_paper, load_records, matches, paper_keys
from analysis.report import build_report
from analysis.tables import SMOKE_BANNER, write_tables
from experiments.config import RunConfig

H100 = "NVIDIA H100 80GB HBM3"


# --------------------------------------------------------------------------- hand-made records
def write_record(root: Path, model: str, dataset: str, seed: int, best: float | None, *, final: float | None = None,
                 status: str = "done", scale: str = "full", recipe: str = "cifar", model_kwargs=None, pruning=None,
                 epoch_times=(10.0, 10.0), gpu: str = H100, class_acc=None, classes=()) -> Path:
    cfg = RunConfig(model=model, dataset=dataset, recipe=recipe, scale=scale, seed=seed,
                    model_kwargs=model_kwargs or {}, pruning=pruning or {})
    epochs = [{"epoch": i, "lr": 0.1, "train_loss": 1.0, "train_acc": 50.0, "test_loss": 1.0,
               "test_top1": (best if best is not None else 0.0) - (len(epoch_times) - 1 - i) * 0.5,
               "test_top5": 99.0, "epoch_time_s": t, "eval_time_s": 1.0, "images_per_s": 5000.0}
              for i, t in enumerate(epoch_times)]
    final = best if final is None else final
    rec = {
        "run_name": cfg.run_name, "run_hash": cfg.run_hash(), "config": cfg.to_dict(), "smoke": scale == "smoke",
        "seed": seed, "status": status, "params": 123456, "macs_per_image": 1e8,
        "environment": {"device": "cuda:0", "gpu": gpu, "torch": "2.14.1", "cpu_threads": 16},
        "git": {"commit": "abc", "dirty": False}, "epochs_done": len(epochs), "epochs_total": len(epochs),
        "epochs": epochs if status != "diverged" else epochs[:1],
        "final": None if status == "diverged" or best is None else {"test_top1": final, "test_top5": 99.0,
                                                                     "test_loss": 1.0},
        "best": None if status == "diverged" or best is None else {"test_top1": best, "test_top5": 99.0,
                                                                    "epoch": len(epochs) - 1},
        "diverged": status == "diverged", "callbacks": {}, "train_time_s": sum(epoch_times),
        "dataset": {"name": dataset, "classes": list(classes)},
    }
    if class_acc is not None:
        rec["best"]["test_class_acc"] = rec["final"]["test_class_acc"] = list(class_acc)
    d = root / cfg.run_name
    d.mkdir(parents=True)
    (d / "record.json").write_text(json.dumps(rec))
    return d


ELA56 = [74.5, 74.9, 74.7, 74.6, 74.8]           # ELA-56, CIFAR-100: mean 74.7, var 0.025
MRLAL56 = [73.9, 74.1, 74.0, 73.8, 74.2]         # MRLA-L-56, CIFAR-100: mean 74.0
THRESH56 = [73.0, 73.4, 73.2]                    # ELA-56 threshold pruning: mean 73.2, var 0.04
DLAL20 = [92.0, 92.1, 91.9]                      # DLA-L-20, CIFAR-10: mean 92.0, var 0.01
MRLAL20 = [92.6, 92.7, 92.5]                     # MRLA-L-20, CIFAR-10: mean 92.6, var 0.01
ELA20 = [93.5, 93.6]                             # ELA-20, CIFAR-10
DIA83_NOBN = [70.1, 70.5]


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("handmade-runs")
    for s, v in enumerate(ELA56):
        write_record(root, "ela_resnet56", "cifar100", s, v)
    for s, v in enumerate(MRLAL56):
        write_record(root, "mrla_l_resnet56", "cifar100", s, v)
    for s, v in enumerate(THRESH56):
        write_record(root, "ela_resnet56", "cifar100", s, v, pruning={"method": "threshold", "tau": 0.1})
    for s, v in enumerate(DLAL20):
        write_record(root, "dla_l_resnet20", "cifar10", s, v)
    for s, v in enumerate(MRLAL20):
        write_record(root, "mrla_l_resnet20", "cifar10", s, v, epoch_times=(9.0 + 0.1 * s,) * 2)
    for s, v in enumerate(ELA20):
        write_record(root, "ela_resnet20", "cifar10", s, v, epoch_times=(7.0 + 0.05 * s,) * 2)
    for s, t in enumerate((10.0, 10.1)):
        write_record(root, "mrla_b_resnet20", "cifar10", s, 92.0, epoch_times=(t, t))
    nobn = {"use_bn": False}
    for s, v in enumerate(DIA83_NOBN):
        write_record(root, "dia_resnet83", "cifar100", s, v, recipe="dia_resnet",
                     model_kwargs={"use_bn": False, "attn_kwargs": {"reduction": 16}})
    for s in range(2):
        write_record(root, "resnet83", "cifar100", s, None, status="diverged", recipe="dia_resnet", model_kwargs=nobn)
        write_record(root, "se_resnet83", "cifar100", s, None, status="diverged", recipe="dia_resnet",
                     model_kwargs={"use_bn": False, "attn_kwargs": {"bias": True}})
    write_record(root, "resnet20", "fashionmnist", 0, 55.0, scale="smoke")       # a smoke run
    write_record(root, "se_resnet56", "cifar100", 0, 70.0, status="running")     # an unfinished run
    write_record(root, "resnet56", "cifar100", 0, 72.0, model_kwargs={"skip": False})  # figure-only setting
    bad = root / "broken-run"
    bad.mkdir()
    (bad / "record.json").write_text("{not json")
    return root


@pytest.fixture(scope="module")
def runs(fixture_runs):
    with pytest.warns(UserWarning, match="unreadable run record"):
        return load_records(fixture_runs)


@pytest.fixture(scope="module")
def cmp(runs):
    return compare(load_paper(), runs)


def row_of(cmp, table, row, dataset, paper="ela", metric="top1"):
    sel = cmp[(cmp["paper"] == paper) & (cmp["table"] == table) & (cmp["row"] == row) & (cmp["dataset"] == dataset)
              & (cmp["metric"] == metric)]
    assert len(sel) == 1, (table, row, dataset, len(sel))
    return sel.iloc[0]


def mean_var(x):
    m = sum(x) / len(x)
    return m, sum((v - m) ** 2 for v in x) / (len(x) - 1)


def welch_by_hand(x, m2, s2, n2):
    m1, v1 = mean_var(x)
    a, b = v1 / len(x), s2**2 / n2
    t = (m1 - m2) / math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (len(x) - 1) + b**2 / (n2 - 1))
    return t, df, 2 * sps.t.sf(abs(t), df)


def student_by_hand(x, m2, s2, n2):
    m1, v1 = mean_var(x)
    n1 = len(x)
    sp2 = ((n1 - 1) * v1 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
    t = (m1 - m2) / math.sqrt(sp2 * (1 / n1 + 1 / n2))
    df = n1 + n2 - 2
    return t, df, 2 * sps.t.sf(abs(t), df)


# --------------------------------------------------------------------------- records
def test_records_one_row_per_run_and_unreadable_skipped(runs):
    assert len(runs) == 5 + 5 + 3 + 3 + 3 + 2 + 2 + 2 + 2 + 2 + 1 + 1 + 1
    ela = runs[(runs["model"] == "ela_resnet56") & (runs["variant"] == "")]
    assert sorted(ela["best_top1"]) == sorted(ELA56) and set(ela["status"]) == {"done"}
    assert ela["epoch_time_mean_s"].tolist() == [10.0] * 5 and (ela["hardware"] == H100).all()
    assert runs.loc[runs["model"] == "resnet20", "smoke"].tolist() == [True]
    assert runs.loc[runs["model"] == "resnet83", "status"].tolist() == ["diverged", "diverged"]


def test_paper_keys_name_runs_as_the_papers_do():
    k = paper_keys({"model": "dia_resnet164", "model_kwargs": {"use_bn": False, "attn_kwargs": {"reduction": 16}}})
    assert (k["paper_model"], k["backbone"], k["depth"], k["variant"]) == ("dia", "resnet", 164, "no_bn;r=16")
    assert paper_keys({"model": "dia_resnet164"})["tokens"]["r"] == 4 and paper_keys({"model": "dia_resnet164"})["variant"] == ""
    assert paper_keys({"model": "dia_resnet164", "model_kwargs": {"attn_stages": [0, 1]}})["variant"] == "stages_removed=3"
    assert paper_keys({"model": "dla_l_resnet110", "model_kwargs": {"attn_kwargs": {"cell": "lstm"}}})["variant"] == "cell=lstm"
    assert paper_keys({"model": "ela_resnet56", "pruning": {"mapping": "gqm"}})["variant"] == "qm=gqm"
    assert paper_keys({"model": "ela_resnet56", "pruning": {"mapping": "normal"}})["variant"] == "cdf=normal"
    assert paper_keys({"model": "ela_resnet56", "pruning": {"mapping": "identity"}})["variant"] == "pruning=threshold"
    assert paper_keys({"model": "se_wrn52_4"})["backbone"] == "wrn52_4"
    assert paper_keys({"model": "dia_resnet50_imagenet"})["tokens"]["r"] == 20  # the family's ImageNet default
    assert paper_keys({"model": "no_such_model"})["paper_model"] is None


def test_matching_respects_variants():
    row = {"model": "dia", "backbone": "resnet", "depth": "164", "dataset": "cifar100", "variant": ""}
    plain = {**paper_keys({"model": "dia_resnet164"}), "dataset": "cifar100", "smoke": False}
    no_bn = {**paper_keys({"model": "dia_resnet164", "model_kwargs": {"use_bn": False}}), "dataset": "cifar100",
             "smoke": False}
    assert matches(row, plain) and not matches(row, no_bn)
    assert matches({**row, "variant": "r=4"}, plain) and not matches({**row, "variant": "r=16"}, plain)
    assert not matches({**row, "dataset": "cifar10"}, plain)
    # settings without a results.csv column keep a run out of the plain rows (DIA Fig. 10's k blocks)
    se = {"model": "se", "backbone": "resnet", "depth": "164", "dataset": "cifar100", "variant": ""}
    some_blocks = paper_keys({"model": "se_resnet164", "model_kwargs": {"attn_blocks": 3, "attn_kwargs": {"bias": True}}})
    all_blocks = paper_keys({"model": "se_resnet164", "model_kwargs": {"attn_kwargs": {"bias": True}}})
    assert not matches(se, {**some_blocks, "dataset": "cifar100"}) and matches(se, {**all_blocks, "dataset": "cifar100"})
    # a smoke run on a stand-in dataset counts (marked smoke) for every dataset; a full one does not
    assert matches({**row, "dataset": "cifar10"}, {**plain, "dataset": "fashionmnist", "smoke": True})
    assert not matches({**row, "dataset": "cifar10"}, {**plain, "dataset": "fashionmnist"})


# --------------------------------------------------------------------------- tables against the paper
def test_mean_std_n_by_hand(cmp):
    r = row_of(cmp, "table1", "ResNet-56 / ELA", "cifar100")
    m, v = mean_var(ELA56)
    assert (r["ours_mean"], r["ours_std"], r["ours_n"]) == (pytest.approx(74.7), pytest.approx(math.sqrt(0.025)), 5)
    assert r["ours_mean"] == pytest.approx(m) and r["ours_std"] ** 2 == pytest.approx(v)
    assert r["delta"] == pytest.approx(74.7 - 74.31)
    assert r["status"] == "no test: paper prints no std/n" and math.isnan(r["p_welch"])  # ELA Table 1 prints no std


def test_welch_student_and_holm_by_hand(cmp):
    # ELA Table 4: EBQM-56 (74.31 +- 0.24, n=5) <- the default ELA runs; Threshold-56 (73.89 +- 0.44, n=5)
    ebqm = row_of(cmp, "table4", "56 / EBQM", "cifar100")
    thr = row_of(cmp, "table4", "56 / Threshold-Based", "cifar100")
    t, df, p = welch_by_hand(ELA56, 74.31, 0.24, 5)
    assert (ebqm["t_welch"], ebqm["df_welch"], ebqm["p_welch"]) == (pytest.approx(t), pytest.approx(df), pytest.approx(p))
    ts, dfs, ps = student_by_hand(ELA56, 74.31, 0.24, 5)
    assert (ebqm["t_student"], ebqm["p_student"]) == (pytest.approx(ts), pytest.approx(ps)) and dfs == 8
    t2, df2, p2 = welch_by_hand(THRESH56, 73.89, 0.44, 5)
    assert thr["p_welch"] == pytest.approx(p2) and thr["ours_n"] == 3
    lo, hi = sorted([p, p2])  # Holm over the two tested rows of the table
    want = {lo: min(1, 2 * lo), hi: max(min(1, 2 * lo), hi)}
    assert ebqm["p_holm"] == pytest.approx(want[p]) and thr["p_holm"] == pytest.approx(want[p2])
    # the threshold runs do not leak into the EBQM row, nor the fixed-pruning row get any
    assert row_of(cmp, "table4", "56 / Fixed Layer Pruning", "cifar100")["status"] == "not yet run"
    # seeds per arm for the observed difference, with our and the paper's sds
    from analysis.stats import seeds_needed
    assert ebqm["seeds_needed"] == seeds_needed(74.7 - 74.31, (math.sqrt(0.025), 0.24))


def holm_by_hand(ps):
    """Holm: sort ascending, p~_(i) = max over j <= i of min(1, (m - j + 1) p_(j)); back in input order."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def test_dla_rows_and_holm_within_table(cmp):
    # every tested row of DLA Table 1: (row, dataset, our values, paper mean, std, n)
    tested = [("ResNet-20 / DLA-L (ours)", "cifar10", DLAL20, 92.96, 0.18, 5),
              ("ResNet-20 / MRLA-L", "cifar10", MRLAL20, 92.65, 0.08, 5),
              ("ResNet-56 / MRLA-L", "cifar100", MRLAL56, 74.18, 0.17, 5)]
    ps = [welch_by_hand(x, m, s, n)[2] for _, _, x, m, s, n in tested]
    # MRLA-B-20: two runs at 92.0 (sd 0) against 92.15 +- 0.23 (n=5): Welch's df is then n_paper - 1
    tb = (92.0 - 92.15) / math.sqrt(0.23**2 / 5)
    tested.append(("ResNet-20 / MRLA-B", "cifar10", [92.0, 92.0], 92.15, 0.23, 5))
    ps.append(2 * sps.t.sf(abs(tb), 4))
    table = cmp[(cmp["paper"] == "dla") & (cmp["table"] == "table1") & cmp["p_welch"].notna()]
    assert len(table) == len(tested)
    for (row, ds, x, *_), p, h in zip(tested, ps, holm_by_hand(ps)):
        r = row_of(cmp, "table1", row, ds, paper="dla")
        assert r["p_welch"] == pytest.approx(p) and r["p_holm"] == pytest.approx(h)
        assert (r["ours_mean"], r["ours_n"]) == (pytest.approx(sum(x) / len(x)), len(x))


def test_smoke_running_diverged_and_missing_cells(cmp):
    smoke = row_of(cmp, "table1", "ResNet-20", "cifar10")
    assert smoke["smoke"] and smoke["stand_in"] == "fashionmnist" and smoke["ours_n"] == 1
    assert row_of(cmp, "table1", "ResNet-56 / SE", "cifar100")["status"] == "running"
    assert row_of(cmp, "table1", "ResNet-110 / ELA", "cifar100")["status"] == "not yet run"
    org = row_of(cmp, "table16", "ResNet83 / Origin", "cifar100", paper="dia")
    assert org["status"] == "diverged" and org["n_diverged"] == 2
    dia = row_of(cmp, "table16", "ResNet83 / DIA-LSTM (r=16)", "cifar100", paper="dia")
    assert dia["ours_mean"] == pytest.approx(70.3) and dia["ours_n"] == 2
    # the plain (with BN) rows of other DIA tables do not take the no-BN runs
    assert cmp[(cmp["paper"] == "dia") & (cmp["table"] == "table3") & (cmp["depth"] == "83")]["ours_n"].sum() == 0
    assert row_of(cmp, "table2", "ResNet-50 / A^2", "imagenet")["status"] == "not implemented"


def test_rebuilt_tables_markdown_and_latex(cmp, tmp_path):
    paths = write_tables(cmp, tmp_path)
    names = {p.name for p in paths}
    assert {"ela.table1.md", "ela.table1.tex", "ela.table4.md", "dla.table1.tex", "dia.table16.md"} <= names
    assert len(paths) == 2 * cmp.groupby(["paper", "table"]).ngroups
    t1 = (tmp_path / "ela.table1.md").read_text()
    assert SMOKE_BANNER in t1 and "† 55.00 (n=1) [smoke, fashionmnist]" in t1
    assert "| ResNet-56 / ELA | 94.15 | not yet run |" in t1  # CIFAR-10 block
    assert "| ResNet-56 / ELA | 74.31 | 74.70 ± 0.16 (n=5) | +0.39 | — | — |" in t1
    assert "| ResNet-56 / SE | 73.78 | running (1) |" in t1
    t4 = (tmp_path / "ela.table4.md").read_text()
    ebqm = row_of(cmp, "table4", "56 / EBQM", "cifar100")
    assert f"| 56 / EBQM | 74.31 ± 0.24 (n=5) | 74.70 ± 0.16 (n=5) | +0.39 | {ebqm['p_welch']:.3f} / " in t4
    assert SMOKE_BANNER not in t4
    assert "| ResNet83 / Origin | nan (diverged) | diverged (2/2) |" in (tmp_path / "dia.table16.md").read_text()
    tex = (tmp_path / "ela.table1.tex").read_text()
    assert tex.startswith(f"% {SMOKE_BANNER}") and r"\begin{tabular}" in tex and r"74.70 $\pm$ 0.16 (n=5)" in tex
    assert r"$^\dagger$" in tex and "ResNet-20 / ELA" in tex


def test_final_instead_of_best(runs):
    cmp_final = compare(load_paper(), runs, which="final")
    assert row_of(cmp_final, "table1", "ResNet-56 / ELA", "cifar100")["ours_mean"] == pytest.approx(74.7)


# --------------------------------------------------------------------------- claims and report
def test_claims_verdicts_on_the_fixture(runs):
    summary, evidence = evaluate_claims(runs, load_paper())
    verdict = dict(zip(summary["claim"], summary["verdict"]))
    assert verdict["ela.beats_mrla_l"] == "supported"            # 74.7 vs 74.0 (56), 93.55 vs 92.6 (20)
    assert verdict["dla.l_beats_mrla_l"] == "not supported"      # 92.0 vs 92.6: the other way round
    assert verdict["dia.stable_without_bn"] == "supported"       # DIA trains, ResNet and SE diverge
    assert verdict["ela.faster_than_mrla_b"] == "supported"      # 7.025 s vs 10.05 s: 30.1% less
    assert verdict["ela.ebqm_beats_alternatives"] == "supported"  # 74.7 vs 73.2
    assert verdict["ela.beats_baselines"] == "not yet run"       # the only ResNet-20 run is a smoke run
    assert verdict["dia.lstm_beats_sams"] == "not yet run"
    assert set(summary["verdict"]) <= {"supported", "not supported", "not yet run"}
    assert len(summary) == len(CLAIMS)
    ev = evidence[(evidence["claim"] == "ela.beats_mrla_l") & (evidence["result"] != "not yet run")]
    assert len(ev) == 2
    p56 = sps.ttest_ind(ELA56, MRLAL56, equal_var=False).pvalue
    r56 = ev[ev["context"] == "CIFAR-100, ResNet-56"].iloc[0]
    assert r56["p"] == pytest.approx(p56) and r56["delta"] == pytest.approx(0.7)
    assert r56["paper_subject"] == "74.31" and r56["paper_delta"] == pytest.approx(74.31 - 74.13)
    speed = evidence[(evidence["claim"] == "ela.faster_than_mrla_b") & (evidence["result"] == "supported")].iloc[0]
    assert speed["delta"] == pytest.approx(1 - 7.025 / 10.05) and speed["hardware"] == H100
    smoke = summary[summary["claim"] == "ela.beats_baselines"].iloc[0]
    assert smoke["smoke_only"]


def test_tost_equivalence():
    assert tost([72.0, 72.1, 71.9, 72.05], [72.02, 71.98, 72.1, 71.95], margin=0.5) < 0.05
    assert tost([72.0, 72.1, 71.9], [73.0, 73.1, 72.9], margin=0.5) > 0.5


def test_report_builds_with_verdicts_marks_and_tables(fixture_runs, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = build_report(fixture_runs, out=tmp_path / "report.md", html=True)
    text = res["report"].read_text()
    assert "### ela.beats_mrla_l: supported" in text
    assert "### dla.l_beats_mrla_l: not supported" in text
    assert "### dia.stable_without_bn: supported" in text
    assert "### dia.lstm_beats_sams: not yet run" in text
    assert "| ela.beats_mrla_l | ELA |" in text and "**supported**" in text
    # DIA Table III's marks recomputed from mean, std, n: 18 agree, 2 disagree (SE-83 and SRM-164 on CIFAR-100)
    assert "Status counts: agree 18, disagree 2, not_tested 4, reference 20." in text
    assert "| table3 | cifar100 | ResNet164 / SRM / Acc. with DIA |" in text
    assert "resnet56" in text.split("## Runs")[1]  # the no-skip run matches no paper row: listed
    assert (tmp_path / "tables" / "ela.table1.md").exists() and (tmp_path / "tables" / "dia.table3.tex").exists()
    assert res["html"].read_text().startswith("<!doctype html>") and "<table>" in res["html"].read_text()


def test_report_without_records(tmp_path):
    res = build_report(tmp_path / "no-runs", out=tmp_path / "r.md")
    text = res["report"].read_text()
    assert "No run records yet" in text
    summary = res["summary"]
    assert set(summary.loc[summary["kind"] != "params", "verdict"]) == {"not yet run"}  # params: from the zoo
    assert "| ResNet-20 | 91.35 | not yet run |" in (tmp_path / "tables" / "ela.table1.md").read_text()


def test_cli_report_subcommand(fixture_runs, tmp_path, capsys):
    from cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["report", "--runs", str(fixture_runs), "--out", str(tmp_path / "rep.md")]) == 0
    assert (tmp_path / "rep.md").exists() and "verdicts: supported" in capsys.readouterr().out


# --------------------------------------------------------------------------- figures from real smoke runs
@pytest.fixture
def one_thread():
    """Tiny models: one torch thread (more only add overhead, and oversubscribe a busy machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    from experiments.smoke_runs import make_smoke_runs

    root = tmp_path_factory.getbasetemp() / "analysis-smoke-runs"  # shared with test_notebooks.py
    make_smoke_runs(root)
    return root


def test_all_figures_build_from_smoke_runs(smoke_runs, tmp_path, one_thread):
    from analysis import figures as F

    runs = load_records(smoke_runs)
    assert len(runs) >= 10 and runs["smoke"].all() and (runs["status"] == "done").all()
    decisions = load_ela_decisions(smoke_runs)
    assert len(decisions) and decisions["kl"].notna().all()
    curves = load_curves(smoke_runs)
    assert curves["no_skip"].sum() > 0
    paths = F.record_figures(runs, curves, decisions, load_paper(), tmp_path)
    paths += F.model_figures(runs, tmp_path, data_root=None, n=8)
    names = {p.name for p in paths}
    for stem in ("ela_fig2a_layer_attention", "ela_fig2b_accuracy_vs_depth", "ela_fig4_epoch_time",
                 "ela_kl_before_after_ebqm", "dla_fig2_layer_attention", "dla_fig4_accuracy_vs_depth",
                 "dia_fig2_attention_correlation", "dia_fig11_gini_importance", "dia_fig13_stage_gradients",
                 "dia_fig14_no_skip"):
        for ext in ("png", "pdf"):
            assert f"{stem}.{ext}" in names
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000, p


def test_model_probes_on_a_smoke_checkpoint(smoke_runs, one_thread):
    import numpy as np

    from analysis import probes

    runs = load_records(smoke_runs)
    ela = runs[runs["model"] == "ela_resnet20"].iloc[0]
    model, record = probes.load_run_model(ela["run_dir"])
    x, y = probes.sample_batch("fake", None, 8)
    scores = probes.layer_attention_scores(model, x)
    assert sorted(scores) == [0, 1, 2]
    for s, m in scores.items():  # every attending row sums to 1 over the layers it retrieves from
        rows = ~np.isnan(m).all(1)
        assert np.allclose(np.nansum(m[rows], 1), 1.0, atol=1e-5)
    pruned = record["callbacks"]["ela_pruning"]["pruned"]
    for name in pruned:  # a pruned ELA layer retrieves nothing: its row is empty
        s, b = int(name[1]), int(name.split(".b")[1])
        assert np.isnan(scores[s][b]).all()
    dia = runs[(runs["model"] == "dia_resnet20") & (runs["variant"] == "")].iloc[0]
    model, _ = probes.load_run_model(dia["run_dir"])
    corr = probes.attention_correlations(model, x)
    assert corr["r"].between(-1, 1).all() and set(corr["stage"]) == {0, 1, 2}
    gini = probes.gini_importance(model, x, n_estimators=5)
    assert np.allclose(np.nansum(gini[0][1:], 1), 1.0)
    grads = probes.stage_gradients(model, x, y)
    assert sorted(grads["stage"].unique()) == [1, 2, 3] and (grads["abs_grad"] >= 0).all()


def test_run_readout_is_computed_once_per_checkpoint_and_arguments(smoke_runs, one_thread, monkeypatch):
    """The report draws a figure and evaluates its claim from one read-out: the second call with
    the same arguments (defaults filled in) loads nothing; other arguments or a rewritten
    checkpoint compute again, and the value equals the direct read-out."""
    import os

    import numpy as np

    from analysis import probes

    dia = load_records(smoke_runs).query("model == 'dia_resnet20' and variant == ''").iloc[0]
    loads = []
    real = probes.load_run_model
    monkeypatch.setattr(probes, "load_run_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    one = probes.run_readout(dia["run_dir"], "fake", None, 8, "gini_importance", n_estimators=5)
    again = probes.run_readout(dia["run_dir"], "fake", None, 8, "gini_importance", n_estimators=5, seed=0)
    assert again is one and len(loads) == 1
    model, _ = real(dia["run_dir"])
    direct = probes.gini_importance(model, probes.sample_batch("fake", None, 8)[0], n_estimators=5)
    assert all(np.array_equal(one[s], direct[s], equal_nan=True) for s in direct)
    probes.run_readout(dia["run_dir"], "fake", None, 8, "gini_importance", n_estimators=6)
    assert len(loads) == 2
    ckpt = Path(dia["run_dir"]) / "checkpoint.pt"
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    probes.run_readout(dia["run_dir"], "fake", None, 8, "gini_importance", n_estimators=5)
    assert len(loads) == 3


def test_per_class_accuracy_fills_dia_table11(tmp_path):
    """DIA Table XI's acc_pneumonia / acc_normal come from the records' per-class accuracies,
    matched by class-folder name (label order NORMAL, PNEUMONIA); acc_all is top-1."""
    normal = [(60.0, 97.0), (64.0, 98.0)]
    for s, (n, p) in enumerate(normal):
        write_record(tmp_path, "se_resnet50_imagenet", "chestxray", s, 85.0 + s, recipe="imagenet", class_acc=(n, p),
                     classes=("NORMAL", "PNEUMONIA"))
    paper = load_paper()
    part = compare(paper[(paper["paper"] == "dia") & (paper["table"] == "table11")], load_records(tmp_path))
    se = part[part["model"] == "se"].set_index("metric")
    assert se.loc["acc_normal", "ours_mean"] == pytest.approx(62.0) and se.loc["acc_normal", "ours_n"] == 2
    assert se.loc["acc_pneumonia", "ours_mean"] == pytest.approx(97.5)
    assert se.loc["acc_all", "ours_mean"] == pytest.approx(85.5)
    assert se.loc["acc_normal", "paper_mean"] == pytest.approx(60.8)  # DIA Table XI, ResNet50 + SE
    assert (part[part["model"] != "se"]["ours_n"] == 0).all()


def test_flops_column_and_readings_rebuilt_from_records(tmp_path):
    """ELA Table 2's FLOPs come from the records' effective MACs (after pruning); an older
    record without them falls back to the MACs as built. Every rebuilt table lists the
    readings of the paper its rows depend on."""
    root = tmp_path / "runs"
    ela = write_record(root, "ela_resnet50_imagenet", "imagenet", 0, 77.5, recipe="imagenet")
    rec = json.loads((ela / "record.json").read_text())
    rec.update(macs_per_image=4.39e9, macs_per_image_final=4.02e9)
    (ela / "record.json").write_text(json.dumps(rec))
    plain = write_record(root, "resnet50_imagenet", "imagenet", 0, 76.0, recipe="imagenet")
    rec = json.loads((plain / "record.json").read_text())
    rec["macs_per_image"] = 4.09e9
    (plain / "record.json").write_text(json.dumps(rec))
    cmp = compare(load_paper(), load_records(root))
    write_tables(cmp, tmp_path / "tables", tables=["ela.table2", "ela.table7"])
    t2 = (tmp_path / "tables" / "ela.table2.md").read_text()
    assert "## FLOPs per image (G)" in t2
    assert "| ResNet-50 / ELA | 4.4 | 4.02 |" in t2 and "| ResNet-50 | 4.1 | 4.09 |" in t2
    assert "| ResNet-101 / ELA | 8.1 | not yet run |" in t2
    t7 = (tmp_path / "tables" / "ela.table7.md").read_text()
    assert "Readings of the paper behind these rows (experiments/tables/ela_table7.py)" in t7
    assert "calibration='ebqm_fraction'" in t7


# --------------------------------------------------------------------------- planned rows
def test_planned_rows_name_every_row_a_run_stands_for():
    """A run lists every printed row that plans it: ELA-56/CIFAR-100 is ELA Table 1's row, ELA Fig. 2(b)'s ELA point and
    the EBQM/Beta rows of Tables 4, 6 and 7 (shared), whatever its seed and scale overrides;
    a smoke run stands for the rows of both CIFAR datasets; a hand-made run for none."""
    from experiments.tables import get_table, planned_rows

    ela56 = next(p.cfg for p in get_table("ela.table4").plan("full") if p.rows[0].label == "56 / EBQM")
    rows = {(e["table"], e["row"], tuple(e["key"])) for e in planned_rows(ela56)}
    assert rows == {("ela.table1", "ResNet-56 / ELA", ("cifar100", "resnet", 56, "ela", "")),
                    ("ela.fig2b", "ResNet-56 / ELA", ("cifar100", "resnet", 56, "ela", "")),
                    ("ela.table4", "56 / EBQM", ("cifar100", "resnet", 56, "ela", "pruning=ebqm")),
                    ("ela.table6", "56 / Beta", ("cifar100", "resnet", 56, "ela", "cdf=beta")),
                    ("ela.table7", "56 / EBQM", ("cifar100", "resnet", 56, "ela", "qm=ebqm")),
                    ("ela.fig4", "ResNet-56 / ELA", ("cifar100", "resnet", 56, "ela", ""))}
    shorter = RunConfig(**{**ela56.to_dict(), "seed": 7, "epochs": 3, "train_subset": 64, "drop_path": 0.1})
    assert planned_rows(shorter) == planned_rows(ela56)
    smoke = get_table("ela.table1").plan("smoke")[0]
    assert {e["key"][0] for e in planned_rows(smoke.cfg) if e["table"] == "ela.table1"} == {"cifar10", "cifar100"}
    assert planned_rows(RunConfig(model="ela_resnet56", dataset="cifar100", lr=0.05)) == []


def test_runs_join_the_rows_they_were_planned_for(tmp_path):
    """ImageNet SE-ResNet-50 exists twice: bias-free in ELA/DLA Table 2 (the released MRLA/DLA
    code) and with biases in DIA Table VIII. The settings cannot tell the rows apart (no
    column names the bias); the planned rows do: each table's SE row gets its own runs."""
    from experiments.tables.base import RELEASED_IMAGENET_SE

    for s, v in enumerate((70.0, 71.0)):
        write_record(tmp_path, "se_resnet50_imagenet", "imagenet", s, v, recipe="imagenet",
                     model_kwargs=dict(RELEASED_IMAGENET_SE))
    for s, v in enumerate((80.0, 81.0, 82.0)):
        write_record(tmp_path, "se_resnet50_imagenet", "imagenet", s, v, recipe="imagenet")
    cmp = compare(load_paper(), load_records(tmp_path))
    se50 = cmp[(cmp["model"] == "se") & (cmp["depth"] == "50") & (cmp["metric"] == "top1")].set_index(["paper", "table"])
    assert se50.loc[("ela", "table2"), "ours_n"] == 2 and se50.loc[("ela", "table2"), "ours_mean"] == pytest.approx(70.5)
    assert se50.loc[("dla", "table2"), "ours_n"] == 2
    assert se50.loc[("dia", "table8"), "ours_n"] == 3 and se50.loc[("dia", "table8"), "ours_mean"] == pytest.approx(81.0)
    # the record's own list wins over the registry: a record that names only DIA Table VIII
    d = write_record(tmp_path / "other", "se_resnet50_imagenet", "imagenet", 0, 90.0, recipe="imagenet",
                     model_kwargs=dict(RELEASED_IMAGENET_SE))
    rec = json.loads((d / "record.json").read_text())
    rec["planned"] = [{"table": "dia.table8", "row": "ResNet50 / SE",
                       "key": ["imagenet", "resnet_imagenet", 50, "se", ""]}]
    (d / "record.json").write_text(json.dumps(rec))
    cmp = compare(load_paper(), load_records(tmp_path / "other"))
    se50 = cmp[(cmp["model"] == "se") & (cmp["depth"] == "50") & (cmp["metric"] == "top1")].set_index(["paper", "table"])
    assert se50.loc[("dia", "table8"), "ours_n"] == 1 and se50.loc[("ela", "table2"), "ours_n"] == 0



# --------------------------------------------------------------------------- detection records
def write_detection_record(root: Path, model: str, detector: str, seed: int, box_ap: float,
                           mask_ap: float | None = None, *, final_drop: float = 0.2) -> Path:
    """A COCO detection record as the detection engine writes it: ``config["detector"]`` and the
    COCO metrics nested under ``final``/``best`` (``bbox``; ``segm`` for Mask R-CNN)."""
    d = write_record(root / detector, model, "coco", seed, None, recipe="mmdet_1x")
    rec = json.loads((d / "record.json").read_text())
    rec["config"]["detector"] = detector
    from experiments.tables import get_table

    # a full-profile detection run starts from the ImageNet run its row plans (RunConfig.pretrained)
    (row,) = [r for r in get_table("ela.table5").rows if r.model == model and r.detector == detector]
    rec["config"]["pretrained"] = row.config("full", 0).pretrained
    rec["run_name"] += f"-{detector}"
    rec["run_hash"] += f"-{detector}"

    def coco(ap, drop):
        ap -= drop
        return {"AP": ap, "AP50": ap + 20.0, "AP75": ap + 4.0, "APS": ap - 16.0, "APM": ap + 4.0,
                "APL": ap + 12.0, "per_category": {"person": ap + 10.0}}

    for which, drop in (("final", final_drop), ("best", 0.0)):
        rec[which] = {"bbox": coco(box_ap, drop)}
        if mask_ap is not None:
            rec[which]["segm"] = coco(mask_ap, drop)
    rec["best"]["epoch"] = 11
    rec["status"] = "done"
    (d / "record.json").write_text(json.dumps(rec))
    return d


ELA50_FASTER_BOX = [40.1, 40.5, 40.9]          # mean 40.5, sd 0.4
ELA50_MASK_BOX, ELA50_MASK_MASK = [41.0, 41.6], [37.0, 37.4]   # means 41.3 / 37.2, sd 0.3 * sqrt(2) / 0.2 * sqrt(2)


@pytest.fixture(scope="module")
def detection_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("detection-runs")
    for s, v in enumerate(ELA50_FASTER_BOX):
        write_detection_record(root, "ela_resnet50_imagenet", "faster_rcnn", s, v)
    for s, (b, m) in enumerate(zip(ELA50_MASK_BOX, ELA50_MASK_MASK)):
        write_detection_record(root, "ela_resnet50_imagenet", "mask_rcnn", s, b, m)
    write_detection_record(root, "resnet50_imagenet", "faster_rcnn", 0, 36.0)
    return load_records(root)


def test_detection_records_give_coco_columns(detection_runs):
    runs = detection_runs
    assert len(runs) == 6
    faster = runs[runs["variant"] == "detector=faster_rcnn"]
    mask = runs[runs["variant"] == "detector=mask_rcnn"]
    assert len(faster) == 4 and len(mask) == 2
    ela = faster[faster["model"] == "ela_resnet50_imagenet"].sort_values("seed")
    assert ela["best_box_ap"].tolist() == pytest.approx(ELA50_FASTER_BOX)
    assert ela["final_box_ap"].tolist() == pytest.approx([v - 0.2 for v in ELA50_FASTER_BOX])
    assert ela["best_box_ap50"].tolist() == pytest.approx([v + 20.0 for v in ELA50_FASTER_BOX])
    assert ela["best_box_aps"].tolist() == pytest.approx([v - 16.0 for v in ELA50_FASTER_BOX])
    assert ela["best_mask_ap"].isna().all() and ela["final_mask_ap75"].isna().all()  # no segm: NaN
    assert sorted(mask["best_mask_ap"]) == pytest.approx(ELA50_MASK_MASK)
    assert sorted(mask["final_mask_ap75"]) == pytest.approx([m - 0.2 + 4.0 for m in ELA50_MASK_MASK])
    # classification columns untouched (no test_top1 in a detection record) and vice versa
    assert runs["best_top1"].isna().all()
    keys = paper_keys({"model": "ela_resnet50_imagenet", "detector": "mask_rcnn"})
    assert (keys["paper_model"], keys["backbone"], keys["depth"], keys["variant"]) == \
        ("ela", "resnet_imagenet", 50, "detector=mask_rcnn")
    assert keys["tokens"]["detector"] == "mask_rcnn" and "detector" in keys["nondefault"]


def test_classification_records_have_nan_coco_columns(runs):
    assert runs["best_box_ap"].isna().all() and runs["final_mask_ap"].isna().all()
    assert runs["best_top1"].notna().any()


def test_detection_runs_join_the_detector_rows_by_hand(detection_runs):
    cmp = compare(load_paper(), detection_runs)
    faster = row_of(cmp, "table5", "Faster R-CNN / ResNet-50 / ELA", "coco", metric="box_ap")
    assert faster["ours_n"] == 3 and faster["paper_mean"] == 40.5
    assert faster["ours_mean"] == pytest.approx(40.5)
    assert faster["ours_std"] == pytest.approx(0.4)
    assert faster["status"] == "no test: paper prints no std/n" and faster["recipe_note"] == ""
    # the Mask R-CNN row's box AP and mask AP come from the two Mask R-CNN runs only
    mbox = row_of(cmp, "table5", "Mask R-CNN / ResNet-50 / ELA", "coco", metric="box_ap")
    assert mbox["ours_n"] == 2 and mbox["ours_mean"] == pytest.approx(41.3)
    assert mbox["ours_std"] == pytest.approx(0.3 * math.sqrt(2))
    mmask = row_of(cmp, "table5", "Mask R-CNN / ResNet-50 / ELA", "coco", metric="mask_ap")
    assert mmask["ours_n"] == 2 and mmask["ours_mean"] == pytest.approx(37.2) and mmask["paper_mean"] == 37.3
    assert mmask["ours_std"] == pytest.approx(0.2 * math.sqrt(2))
    assert row_of(cmp, "table5", "Mask R-CNN / ResNet-50 / ELA", "coco", metric="mask_ap75")["ours_mean"] == \
        pytest.approx(41.2)  # best: mask AP + 4
    base = row_of(cmp, "table5", "Faster R-CNN / ResNet-50", "coco", metric="box_ap")
    assert base["ours_n"] == 1 and base["ours_mean"] == pytest.approx(36.0)
    # DLA Table 3 plans other runs (its batch 8 recipe, mmdet_1x_b8): these count for DIA Table X's
    # ResNet50 row (the same run as ELA's) and not for DLA's; RetinaNet / ResNet-101 rows stay empty
    assert row_of(cmp, "table3", "Faster R-CNN / ResNet-50", "coco", paper="dla", metric="box_ap")["ours_n"] == 0
    assert row_of(cmp, "table10", "Faster R-CNN / ResNet50", "coco", paper="dia", metric="box_ap")["ours_n"] == 1
    assert row_of(cmp, "table5", "Faster R-CNN / ResNet-101 / ELA", "coco", metric="box_ap")["status"] == "not yet run"
    assert row_of(cmp, "table10", "RetinaNet / ResNet50", "coco", paper="dia", metric="box_ap")["status"] == \
        "not yet run"
    assert row_of(cmp, "table5", "Mask R-CNN / ResNet-50 / NL", "coco", metric="mask_ap")["status"] == \
        "not yet run"
    # no detection run counts for a classification row
    assert row_of(cmp, "table2", "ResNet-50 / ELA", "imagenet")["ours_n"] == 0
    final = compare(load_paper(), detection_runs, which="final")
    assert row_of(final, "table5", "Faster R-CNN / ResNet-50 / ELA", "coco", metric="box_ap")["ours_mean"] == \
        pytest.approx(40.3)


def test_detection_table_rebuilt(detection_runs, tmp_path):
    paper = load_paper()
    cmp = compare(paper[(paper["paper"] == "ela") & (paper["table"] == "table5")], detection_runs)
    paths = write_tables(cmp, tmp_path)
    assert {p.name for p in paths} == {"ela.table5.md", "ela.table5.tex"}
    md = (tmp_path / "ela.table5.md").read_text()
    assert "box AP (%)" in md and "mask AP (%)" in md
    assert "| Faster R-CNN / ResNet-50 / ELA | 40.5 | 40.50 ± 0.40 (n=3) | +0.00 |" in md
    assert "| Mask R-CNN / ResNet-50 / ELA | 37.3 | 37.20 ± 0.28 (n=2) | -0.10 |" in md
    assert "| Mask R-CNN / ResNet-50 / ELA | 41.4 | 41.30 ± 0.42 (n=2) | -0.10 |" in md
    assert "| Faster R-CNN / ResNet-101 / ELA | 42.1 | not yet run |" in md


def test_expected_recipe_is_the_recipe_the_tables_schedule():
    """For every transcribed row of a registered table, the preset ``expected_recipe`` names
    (the one a run must have used to count for that row) is one the table's own rows train
    with, or None where no preset is known (DIA's ImageNet-scale tables: their rows use the
    MRLA 'imagenet' preset as the closest stated recipe, so runs of any recipe count)."""
    from analysis.compare import expected_recipe
    from experiments.tables import TABLE_IDS, get_table

    paper = load_paper()
    seen = {}
    for (pp, tt), g in paper.groupby(["paper", "table"]):
        tid = f"{pp}.{tt}"
        assert tid in TABLE_IDS, f"{tid} transcribed but not registered"
        scheduled = {r.recipe for r in get_table(tid).rows}
        want = {expected_recipe(r) for r in g.to_dict("records")}
        assert want - {None} <= scheduled, (tid, want, scheduled)
        seen[tid] = want
    assert seen["dia.table9"] == {"deit"} and seen["dla.table3"] == {"mmdet_1x_b8"}
    assert seen["ela.table1"] == {"cifar"} and seen["dia.table8"] == {None}
