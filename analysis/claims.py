"""The claims of the three papers, written down, and the evidence our runs give for each.

    from analysis.claims import CLAIMS, evaluate_claims
    summary, evidence = evaluate_claims(load_records("runs/"), load_paper())

A claim is a set of comparisons (``pairs`` of arms, in each of its ``contexts``: dataset,
backbone, depth), of one ``kind``:

* ``better``: the subject's accuracy is higher than the other's. Our evidence: Welch's
  two-sample t-test on our per-seed accuracies (best over epochs by default), the p-values
  of one claim Holm-corrected together; a comparison supports the claim when our subject
  is ahead with Holm p < alpha.
* ``faster``: the subject's training time per epoch is at least ``threshold`` (a fraction)
  below the other's, on the same hardware: Welch on per-run mean epoch times, supported
  when faster with Holm p < alpha and the measured reduction is no more than 5 points
  short of the claimed one.
* ``stable``: the subject trains (status done) where the other diverges (DIA Table XVI).
* ``equivalent``: the subject matches the other within ``threshold`` accuracy points
  (two one-sided Welch tests, TOST; DLA's "comparable accuracy" with fewer parameters).
* ``figure``: a property of a trained model's attention (correlations, attention spread);
  evaluated in the notebooks from a checkpoint and passed in as ``extra``.

Verdicts: a claim with no comparison run (full-scale, n >= 2 per arm) is "not yet run"
(smoke runs never count); it is "supported" when every run comparison supports it
(``aggregate='most'``: more than half, for the papers' own "most SAMs improve"), else
"not supported". Each comparison also shows the paper's own numbers for it, the paper's
difference and, where the paper prints std and n, its Student p-value.

A second verdict needs no runs: ``paper_verdict`` (significant / not significant / cannot be
tested), the same comparisons tested on the paper's own printed mean, std and n
(``analysis.paper_evidence``: Welch and Student p, Holm within the claim, n printed or the
paper's documented run count, seeds per arm to detect each published gain). Its columns
(``paper_*``) are added to both frames.
"""
from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from .compare import expected_recipe, number, runs_for
from .records import parse_variant
from .stats import from_stats, holm, seeds_needed, welch

__all__ = ["Arm", "Context", "Claim", "CLAIMS", "evaluate_claims", "tost", "VERDICTS"]

VERDICTS = ("supported", "not supported", "not yet run")
SPEED_TOLERANCE = 0.05  # "about 30%" is met by a measured reduction of 25% or more


@dataclass(frozen=True)
class Arm:
    """One model of a comparison: the paper's model key, variant, optionally its own depth."""

    model: str
    variant: str = ""
    depth: int | None = None

    def label(self) -> str:
        s = self.model + (f" [{self.variant}]" if self.variant else "")
        return s + (f" (depth {self.depth})" if self.depth else "")


@dataclass(frozen=True)
class Context:
    dataset: str
    backbone: str
    depth: int

    def label(self) -> str:
        from .tables import DATASET_NAMES

        net = {"resnet": "ResNet", "resnet_imagenet": "ResNet", "wrn52_4": "WRN", "resnext101_8x32d": "ResNeXt"}
        name = net.get(self.backbone, self.backbone)
        depth = {"wrn52_4": "52-4", "resnext101_8x32d": "101 8x32d"}.get(self.backbone, str(self.depth))
        return f"{DATASET_NAMES.get(self.dataset, self.dataset)}, {name}-{depth}"


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    text: str
    source: str
    kind: str
    pairs: tuple[tuple[Arm, Arm], ...]
    contexts: tuple[Context, ...]
    tables: tuple[str, ...] = ()
    threshold: float = 0.0
    aggregate: str = "all"
    note: str = ""


def _vs(subject: str | Arm, *others: str | Arm, variant: str = "") -> tuple[tuple[Arm, Arm], ...]:
    a = subject if isinstance(subject, Arm) else Arm(subject, variant)
    return tuple((a, o if isinstance(o, Arm) else Arm(o, variant)) for o in others)


def _ctx(datasets: str | Sequence[str], backbone: str, depths: Iterable[int]) -> tuple[Context, ...]:
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    return tuple(Context(d, backbone, int(k)) for d, k in itertools.product(datasets, depths))


_CIFAR = ("cifar10", "cifar100")
_T1 = _ctx(_CIFAR, "resnet", (20, 56, 110))
_IN = _ctx("imagenet", "resnet_imagenet", (50, 101))
_SAMS = ("se", "eca", "cbam", "srm", "spa")

CLAIMS: tuple[Claim, ...] = (
    # ------------------------------------------------------------------ ELA
    Claim("ela.beats_mrla_l", "ela", "ELA is more accurate than MRLA-L (CIFAR-10/100 with ResNet-20/56/110; "
          "ImageNet-1K with ResNet-50/101).", "ELA Table 1, Table 2, Sec. 4.1", "better",
          _vs("ela", "mrla_l"), _T1 + _IN, ("table1", "table2")),
    Claim("ela.beats_baselines", "ela", "ELA is more accurate than ResNet and the attention baselines SE, ECA, "
          "DIA, CBAM and BAM on CIFAR-10/100.", "ELA Table 1, Sec. 4.1", "better",
          _vs("ela", "resnet", "se", "eca", "dia", "cbam", "bam"), _T1, ("table1",)),
    Claim("ela.beats_mrla_b", "ela", "ELA is more accurate than MRLA-B at every depth on CIFAR-100 "
          "(pruning redundant layers helps).", "ELA Fig. 2(b), Sec. 1", "better",
          _vs("ela", "mrla_b"), _ctx("cifar100", "resnet", (20, 56, 110)), ()),
    Claim("ela.mrla_b_degrades", "ela", "MRLA-B's accuracy falls with depth, below the plain ResNet's at "
          "ResNet-110 on CIFAR-100.", "ELA Fig. 2(b), Sec. 1", "better",
          _vs("resnet", "mrla_b"), _ctx("cifar100", "resnet", (110,)), ()),
    Claim("ela.faster_than_mrla_b", "ela", "ELA needs about 30% less training time per epoch than MRLA-B "
          "(30-35% on CIFAR; 29.7% and 32.6% on ImageNet-1K).", "ELA abstract, Fig. 4, Table 3, Sec. 4.1",
          "faster", _vs("ela", "mrla_b"), _T1 + _IN, ("table3",), threshold=0.30),
    Claim("ela.mrla_l_faster_than_mrla_b", "ela", "MRLA-L needs 10-15% less training time per epoch than "
          "MRLA-B (13.5% and 16.3% on ImageNet-1K).", "ELA Fig. 4, Table 3, Sec. 4.1", "faster",
          _vs("mrla_l", "mrla_b"), _T1 + _IN, ("table3",), threshold=0.10),
    Claim("ela.faster_than_mrla_l", "ela", "ELA trains faster per epoch than MRLA-L.", "ELA Fig. 4, Table 3",
          "faster", _vs("ela", "mrla_l"), _T1 + _IN, ("table3",), threshold=0.0),
    Claim("ela.ebqm_beats_alternatives", "ela", "EBQM selects layers better than threshold-based and fixed "
          "layer pruning (higher accuracy, CIFAR-100, ResNet-56/110).", "ELA Table 4, Sec. 5.1", "better",
          _vs(Arm("ela", "pruning=ebqm"), Arm("ela", "pruning=threshold"), Arm("ela", "pruning=fixed")),
          _ctx("cifar100", "resnet", (56, 110)), ("table4",)),
    Claim("ela.beta_beats_other_cdfs", "ela", "The Beta CDF in EBQM beats the Normal and Gamma CDFs "
          "(CIFAR-100, ResNet-56/110).", "ELA Table 6, Sec. 5.2", "better",
          _vs(Arm("ela", "cdf=beta"), Arm("ela", "cdf=normal"), Arm("ela", "cdf=gamma")),
          _ctx("cifar100", "resnet", (56, 110)), ("table6",)),
    Claim("ela.ebqm_beats_quantile_mappings", "ela", "EBQM beats the Gamma and exponential quantile mappings "
          "(GQM, EQM; CIFAR-100, ResNet-56/110).", "ELA Table 7 (appendix)", "better",
          _vs(Arm("ela", "qm=ebqm"), Arm("ela", "qm=gqm"), Arm("ela", "qm=eqm")),
          _ctx("cifar100", "resnet", (56, 110)), ("table7",)),
    Claim("ela.redundant_attention", "ela", "Adjacent MRLA-B layers learn near-identical attention "
          "distributions over earlier layers (redundancy).", "ELA Fig. 2(a), Fig. 3", "figure",
          _vs("mrla_b", "mrla_b"), _ctx("cifar100", "resnet", (56,)), (),
          note="layer-attention heatmap of a trained MRLA-B-56 (analysis/ela.ipynb)"),
    # ------------------------------------------------------------------ DLA
    Claim("dla.l_beats_mrla_l", "dla", "DLA-L is more accurate than MRLA-L (CIFAR-10/100 with ResNet-20/56/110; "
          "ImageNet-1K with ResNet-50/101).", "DLA Table 1, Table 2, Sec. 4.1", "better",
          _vs("dla_l", "mrla_l"), _T1 + _IN, ("table1", "table2")),
    Claim("dla.b_beats_mrla_b", "dla", "DLA-B is more accurate than MRLA-B (CIFAR-10/100, ResNet-20).",
          "DLA Table 1, Sec. 4.1", "better", _vs("dla_b", "mrla_b"), _ctx(_CIFAR, "resnet", (20,)), ("table1",)),
    Claim("dla.l_beats_resnet", "dla", "DLA-L improves on ResNet by 1.3-1.6 points on CIFAR-10 and 2.9-5.0 "
          "points on CIFAR-100.", "DLA Table 1, Sec. 4.1", "better", _vs("dla_l", "resnet"), _T1, ("table1",)),
    Claim("dla.l_beats_attention", "dla", "DLA-L is more accurate than SE, ECA and DIANet.",
          "DLA Table 1, Sec. 4.1", "better", _vs("dla_l", "se", "eca", "dia"), _T1, ("table1",)),
    Claim("dla.l20_matches_resnet56", "dla", "DLA-L-20 matches ResNet-56's accuracy with fewer parameters "
          "(within 0.5 points).", "DLA Table 1, Sec. 4.1", "equivalent",
          ((Arm("dla_l", depth=20), Arm("resnet", depth=56)),), _ctx(_CIFAR, "resnet", (20,)), ("table1",),
          threshold=0.5),
    Claim("dla.dsu_best_cell", "dla", "The DSU is the best recurrent block for DLA: DLA-L-110 with a DSU beats "
          "a plain RNN, an LSTM and the DIA cell (CIFAR-100).", "DLA Table 4, Sec. 5.1", "better",
          _vs(Arm("dla_l", "cell=dsu"), Arm("dla_l", "cell=rnn"), Arm("dla_l", "cell=lstm"), Arm("dla_l", "cell=dia")),
          _ctx("cifar100", "resnet", (110,)), ("table4",)),
    Claim("dla.sigmoid_norm", "dla", "Normalising c^{m-1} with a sigmoid beats identity, tanh and ReLU "
          "(DLA-L-56/110, CIFAR-100).", "DLA Table 5, Sec. 5.2", "better",
          _vs(Arm("dla_l", "norm=sigmoid"), Arm("dla_l", "norm=identity"), Arm("dla_l", "norm=tanh"),
              Arm("dla_l", "norm=relu")), _ctx("cifar100", "resnet", (56, 110)), ("table5",)),
    Claim("dla.lii_dsu_beats_lstm", "dla", "In the LII arrangement a DSU block beats a standard LSTM and the "
          "plain ResNet (CIFAR-100, ResNet-56/110).", "DLA Table 6, Sec. 5.3", "better",
          _vs("lii_dsu", "lii_lstm", "resnet"), _ctx("cifar100", "resnet", (56, 110)), ("table6",)),
    Claim("dla.lii_dsu_matches_dia", "dla", "In the LII arrangement a DSU block matches the DIA block with "
          "fewer parameters (ResNet-110, within 0.5 points).", "DLA Table 6, Sec. 5.3", "equivalent",
          _vs("lii_dsu", "lii_dia"), _ctx("cifar100", "resnet", (110,)), ("table6",), threshold=0.5),
    Claim("dla.dynamic_attention", "dla", "Dynamic layer attention spreads its attention over several earlier "
          "layers where static layer attention (MRLA) focuses on one.", "DLA Fig. 2", "figure",
          _vs("dla_b", "mrla_b"), _ctx("cifar100", "resnet", (56,)), (),
          note="layer-attention heatmaps of trained MRLA-B / DLA-B (analysis/dla.ipynb)"),
    # ------------------------------------------------------------------ DIA
    Claim("dia.sharing_keeps_sams", "dia", "Sharing a self-attention module across each stage (DIA) improves "
          "its accuracy for most of SE, ECA, CBAM, SRM and SPA, with far fewer parameters.",
          "DIA Table III, Sec. III-A", "better",
          tuple((Arm(f"dia_{s}"), Arm(s)) for s in _SAMS), _ctx(_CIFAR, "resnet", (83, 164)), ("table3",),
          aggregate="most"),
    Claim("dia.lstm_beats_sams", "dia", "DIA-LSTM is more accurate than SE, ECA, CBAM, SRM, SPA, SEM and SPEM "
          "on CIFAR-100 (ResNet164, WRN52-4, ResNeXt101 8x32d).", "DIA Table IV, Sec. IV-A", "better",
          _vs("dia", "se", "eca", "cbam", "srm", "spa", "sem", "spem"),
          (Context("cifar100", "resnet", 164), Context("cifar100", "wrn52_4", 52),
           Context("cifar100", "resnext101_8x32d", 101)), ("table4",)),
    Claim("dia.lstm_beats_backbone", "dia", "DIA-LSTM improves every backbone it is added to (CIFAR-100, STL-10, "
          "mini-ImageNet, ImageNet).", "DIA Tables IV, VI, VII, VIII", "better", _vs("dia", "resnet"),
          (Context("cifar100", "resnet", 164), Context("cifar100", "wrn52_4", 52),
           Context("cifar100", "resnext101_8x32d", 101), Context("stl10", "resnet", 164),
           Context("stl10", "wrn52_4", 52)) + _ctx(("miniimagenet", "imagenet"), "resnet_imagenet", (18, 34, 50)),
          ("table4", "table6", "table7", "table8")),
    Claim("dia.beats_se_fewer_params", "dia", "DIA-LSTM improves accuracy over SENet at every depth of ResNet "
          "(83-407), with fewer parameters than SENet from depth 245 on.", "DIA Table XIII, Sec. V", "better",
          _vs(Arm("dia", "r=4"), "se"), _ctx("cifar100", "resnet", (83, 164, 245, 407)), ("table13",)),
    Claim("dia.stable_without_bn", "dia", "DIA stabilises training without BatchNorm: ResNet and SENet explode "
          "numerically, DIA-LSTM (r=16) trains up to depth 245.", "DIA Table XVI, Sec. VI-A2", "stable",
          _vs(Arm("dia", "no_bn;r=16"), Arm("resnet", "no_bn"), Arm("se", "no_bn")),
          _ctx("cifar100", "resnet", (83, 164, 245)), ("table16",)),
    Claim("dia.regularises_without_augmentation", "dia", "Without data augmentation DIA-LSTM is more accurate "
          "than ResNet164 and SE (less overfitting).", "DIA Table XVII, Sec. VI-A2", "better",
          _vs("dia", "resnet", "se", variant="no_augment"), _ctx(_CIFAR, "resnet", (164,)), ("table17",)),
    Claim("dia.without_skip_connections", "dia", "Without skip connections DIA-LSTM reaches a higher test "
          "accuracy than ResNet164 and SE.", "DIA Fig. 14, Sec. VI-A2", "better",
          _vs("dia", "resnet", "se", variant="no_skip"), _ctx("cifar100", "resnet", (164,)), ()),
    Claim("dia.small_reduction_better", "dia", "A smaller reduction ratio gives a more accurate DIA-LSTM "
          "(r=1 beats r=16, ResNet164 CIFAR-100).", "DIA Table XII", "better",
          _vs(Arm("dia", "r=1"), Arm("dia", "r=16")), _ctx("cifar100", "resnet", (164,)), ("table12",)),
    Claim("dia.stage3_matters_most", "dia", "Removing DIA-LSTM from the last stage costs more accuracy than "
          "removing it from stage 1 or 2.", "DIA Table XV, Sec. VI-A1", "better",
          _vs(Arm("dia", "stages_removed=1"), Arm("dia", "stages_removed=3"))
          + _vs(Arm("dia", "stages_removed=2"), Arm("dia", "stages_removed=3")),
          _ctx("cifar100", "resnet", (164,)), ("table15",)),
    Claim("dia.correlated_attention_maps", "dia", "Attention maps of SE and ECA in different blocks of one stage "
          "are strongly correlated (mean Pearson coefficient above 0.85).", "DIA Fig. 2, Sec. II", "figure",
          _vs("se", "se") + _vs("eca", "eca"), _ctx("cifar100", "resnet", (164,)), (),
          note="Pearson correlations of 'channel' read-outs of a trained SE/ECA-ResNet164 (analysis/dia.ipynb)"),
)


# --------------------------------------------------------------------------- evaluation
def tost(a: Sequence[float], b: Sequence[float], margin: float) -> float:
    """p-value of Welch's two one-sided tests for |mean(a) - mean(b)| < margin
    (equivalence): the larger of the two one-sided p-values."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return 0.0 if abs(a.mean() - b.mean()) < margin else 1.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    d = a.mean() - b.mean()
    p_low = sps.t.sf((d + margin) / se, df)    # H0: d <= -margin
    p_high = sps.t.cdf((d - margin) / se, df)  # H0: d >= +margin
    return float(max(p_low, p_high))


def pseudo_row(claim: Claim, arm: Arm, ctx: Context) -> dict[str, Any]:
    return {"paper": claim.paper, "model": arm.model, "variant": arm.variant, "dataset": ctx.dataset,
            "backbone": ctx.backbone, "depth": arm.depth or ctx.depth}


def _arm_runs(row: Mapping[str, Any], runs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Full-scale runs of an arm (the paper's recipe preferred) and the number of smoke runs."""
    if runs is None or not len(runs):
        return pd.DataFrame(), 0
    matched = runs_for(row, runs)
    smoke = matched[matched["smoke"].astype(bool)]
    real = matched[~matched["smoke"].astype(bool)]
    want = expected_recipe(row)
    if want is not None and len(real) and (real["recipe"] == want).any():
        real = real[real["recipe"] == want]
    return real, len(smoke)


def paper_value(paper: pd.DataFrame | None, claim: Claim, row: Mapping[str, Any], metric: str) -> dict | None:
    if paper is None or not claim.tables:
        return None
    sel = paper[(paper["paper"] == claim.paper) & (paper["table"].isin(claim.tables))
                & (paper["dataset"] == row["dataset"]) & (paper["backbone"] == row["backbone"])
                & (paper["depth"].astype(str) == str(row["depth"])) & (paper["model"] == row["model"])
                & (paper["metric"] == metric)]
    want = parse_variant(row["variant"])
    for r in sel.to_dict("records"):
        if parse_variant(r["variant"]) == want:
            return {"mean": number(r["mean"]), "std": number(r["std"]), "n": number(r["n"]),
                    "text": r["mean"] + (f" ± {r['std']}" if r["std"] else "") + (f" (n={r['n']})" if r["n"] else ""),
                    "table": r["table"], "record": r}
    return None


def _stats(x: np.ndarray) -> tuple[float, float, int]:
    n = len(x)
    return (float(x.mean()) if n else float("nan"), float(x.std(ddof=1)) if n > 1 else float("nan"), n)


def _fmt(m: float, s: float, n: int, digits: int = 2) -> str:
    if not n:
        return "—"
    out = f"{m:.{digits}f}"
    if n > 1 and math.isfinite(s):
        out += f" ± {s:.{digits}f}"
    return out + f" (n={n})"


def _empty_comparison(claim: Claim, a: Arm, b: Arm, ctx: Context) -> dict[str, Any]:
    return {"claim": claim.id, "paper": claim.paper, "kind": claim.kind, "context": ctx.label(),
            "subject": a.label(), "other": b.label(), "paper_subject": "—", "paper_other": "—",
            "paper_delta": float("nan"), "paper_p": float("nan"), "ours_subject": "—",
            "ours_other": "—", "n_subject": 0, "n_other": 0, "delta": float("nan"),
            "p": float("nan"), "p_holm": float("nan"), "seeds_needed": float("nan"),
            "result": "not yet run", "detail": "", "hardware": ""}


def _paper_side(rec: dict[str, Any], claim: Claim, ra: dict, rb: dict, paper: pd.DataFrame | None) -> None:
    """The paper's printed numbers of both arms, their difference and (where std and n are
    printed) the Welch p of that difference."""
    metric = "epoch_time_h" if claim.kind == "faster" else "top1"
    pa, pb = paper_value(paper, claim, ra, metric), paper_value(paper, claim, rb, metric)
    if pa:
        rec["paper_subject"] = pa["text"]
    if pb:
        rec["paper_other"] = pb["text"]
    if not (pa and pb and math.isfinite(pa["mean"]) and math.isfinite(pb["mean"])):
        return
    if claim.kind == "faster":
        rec["paper_delta"] = 1 - pa["mean"] / pb["mean"]
        return
    rec["paper_delta"] = pa["mean"] - pb["mean"]
    if all(math.isfinite(v) and v > 0 for v in (pa["std"], pb["std"], pa["n"], pb["n"])):
        rec["paper_p"] = from_stats(pa["mean"], pa["std"], int(pa["n"]), pb["mean"], pb["std"], int(pb["n"])).p


def _stable_result(rec: dict[str, Any], run_a: pd.DataFrame, run_b: pd.DataFrame, smoke: bool) -> dict[str, Any]:
    """'stable' claims (DIA Table XVI): the subject trains in every run, the other diverges in every run."""
    fin_a = run_a[run_a["status"].isin(["done", "diverged"])] if len(run_a) else run_a
    fin_b = run_b[run_b["status"].isin(["done", "diverged"])] if len(run_b) else run_b
    rec.update(n_subject=len(fin_a), n_other=len(fin_b))
    if not len(fin_a) or not len(fin_b):
        rec["detail"] = "smoke runs only" if smoke else "no finished full-scale runs"
        return rec
    da, db = int(fin_a["diverged"].sum()), int(fin_b["diverged"].sum())
    rec.update(ours_subject=f"{len(fin_a) - da}/{len(fin_a)} trained", ours_other=f"{db}/{len(fin_b)} diverged")
    ok = da == 0 and db == len(fin_b)
    rec.update(result="supported" if ok else "not supported",
               detail=f"subject diverged in {da} of {len(fin_a)} runs; other diverged in {db} of {len(fin_b)}")
    return rec


def _arm_values(rec: dict[str, Any], claim: Claim, run_a: pd.DataFrame, run_b: pd.DataFrame,
                which: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-run values of both arms: top-1 of finished runs, or (``faster``) mean epoch times
    on the hardware both arms share (the one with the most runs in the smaller arm)."""
    col = "epoch_time_mean_s" if claim.kind == "faster" else f"{which}_top1"
    done_a = run_a[run_a["status"] == "done"] if len(run_a) else run_a
    done_b = run_b[run_b["status"] == "done"] if len(run_b) else run_b
    if claim.kind == "faster" and len(done_a) and len(done_b):
        common = set(done_a["hardware"].dropna()) & set(done_b["hardware"].dropna())
        if common:
            hw = max(sorted(common), key=lambda h: min((done_a["hardware"] == h).sum(), (done_b["hardware"] == h).sum()))
            done_a, done_b = done_a[done_a["hardware"] == hw], done_b[done_b["hardware"] == hw]
            rec["hardware"] = hw
        else:
            done_a = done_b = done_a.iloc[0:0]
    xa = pd.to_numeric(done_a[col], errors="coerce").dropna().to_numpy(float) if len(done_a) else np.array([])
    xb = pd.to_numeric(done_b[col], errors="coerce").dropna().to_numpy(float) if len(done_b) else np.array([])
    return xa, xb


def _test_arms(rec: dict[str, Any], claim: Claim, xa: np.ndarray, xb: np.ndarray, smoke: bool) -> dict[str, Any]:
    """Our two arms tested: Welch (TOST for 'equivalent'), and the seeds a Welch test needs."""
    (ma, sa, na), (mb, sb, nb) = _stats(xa), _stats(xb)
    digits, unit = (1, " s") if claim.kind == "faster" else (2, "")
    rec.update(n_subject=na, n_other=nb, ours_subject=_fmt(ma, sa, na, digits) + (unit if na else ""),
               ours_other=_fmt(mb, sb, nb, digits) + (unit if nb else ""))
    if na < 2 or nb < 2:
        if na or nb:
            rec["detail"] = f"n = {na} / {nb}: a test needs 2 or more full-scale runs per arm"
        elif smoke:
            rec["detail"] = "smoke runs only (not comparable)"
        else:
            rec["detail"] = "no full-scale runs" + (" on common hardware" if claim.kind == "faster" else "")
        return rec
    if claim.kind == "equivalent":
        rec.update(delta=ma - mb, p=tost(xa, xb, claim.threshold), detail=f"TOST margin ±{claim.threshold} points")
    else:
        rec["delta"] = (1 - ma / mb) if claim.kind == "faster" else ma - mb
        with warnings.catch_warnings():  # scipy's precision note on near-identical samples
            warnings.simplefilter("ignore", RuntimeWarning)
            rec["p"] = welch(xa, xb).p
    sd = (sa, sb) if sa > 0 and sb > 0 else None
    target = rec["paper_delta"] if claim.kind == "better" and math.isfinite(rec["paper_delta"]) else rec["delta"]
    if sd is not None and claim.kind == "better" and math.isfinite(target) and target != 0:
        try:
            rec["seeds_needed"] = float(seeds_needed(target, sd))
        except ValueError:
            rec["seeds_needed"] = float("inf")
    return rec


def _compare_pair(claim: Claim, a: Arm, b: Arm, ctx: Context, runs: pd.DataFrame, paper: pd.DataFrame | None,
                  which: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    rec = _empty_comparison(claim, a, b, ctx)
    if claim.kind == "figure":
        got = (extra or {}).get(claim.id)
        if isinstance(got, Mapping):
            rec.update(result=got.get("result", "not yet run"), detail=got.get("detail", ""))
        else:
            rec["detail"] = f"figure analysis not run: {claim.note}"
        return rec
    ra, rb = pseudo_row(claim, a, ctx), pseudo_row(claim, b, ctx)
    _paper_side(rec, claim, ra, rb, paper)
    (run_a, smoke_a), (run_b, smoke_b) = _arm_runs(ra, runs), _arm_runs(rb, runs)
    if claim.kind == "stable":
        return _stable_result(rec, run_a, run_b, smoke_a or smoke_b)
    xa, xb = _arm_values(rec, claim, run_a, run_b, which)
    return _test_arms(rec, claim, xa, xb, smoke_a or smoke_b)


def holds(claim: Claim, n_yes: int, n: int) -> bool:
    """Whether a claim holds over its n decided comparisons, n_yes of them in its favour:
    more than half for ``aggregate='most'``, else all of them."""
    return n_yes > n / 2 if claim.aggregate == "most" else n_yes == n


def _decide(claim: Claim, rec: dict[str, Any], alpha: float) -> None:
    """Set ``result`` of a tested comparison from its Holm-corrected p-value."""
    p = rec["p_holm"]
    sig = math.isfinite(p) and p < alpha
    if claim.kind == "equivalent":
        rec["result"] = "supported" if sig else "not supported"
        rec["detail"] += "; equivalent" if sig else "; equivalence not shown"
        return
    d = rec["delta"]
    if claim.kind == "faster":
        ok = sig and d > 0 and d >= claim.threshold - SPEED_TOLERANCE
        rec["result"] = "supported" if ok else "not supported"
        rec["detail"] = (f"{100 * d:.1f}% less time per epoch (claimed {100 * claim.threshold:.0f}%)"
                         + ("" if sig else "; difference not significant"))
        return
    if sig and d > 0:
        rec["result"], rec["detail"] = "supported", "subject significantly ahead"
    elif sig:
        rec["result"], rec["detail"] = "not supported", "significant in the opposite direction"
    else:
        rec["result"], rec["detail"] = "not supported", "difference not significant"


def evaluate_claims(runs: pd.DataFrame | None, paper: pd.DataFrame | None = None, *,
                    claims: Sequence[Claim] = CLAIMS, which: str = "best", alpha: float = 0.05,
                    extra: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate ``claims`` on ``runs`` (``load_records``). Returns (summary: one row per
    claim with its verdict, evidence: one row per comparison)."""
    runs = runs if runs is not None else pd.DataFrame()
    evidence, summary = [], []
    for claim in claims:
        recs = [_compare_pair(claim, a, b, ctx, runs, paper, which, extra)
                for ctx in claim.contexts for a, b in claim.pairs]
        tested = [r for r in recs if math.isfinite(r["p"])]
        if tested:
            adj = holm([r["p"] for r in tested], alpha)[0]
            for r, q in zip(tested, adj):
                r["p_holm"] = float(q)
                _decide(claim, r, alpha)
        decided = [r for r in recs if r["result"] != "not yet run"]
        n_sup = sum(r["result"] == "supported" for r in decided)
        if not decided:
            verdict = "not yet run"
        else:
            verdict = "supported" if holds(claim, n_sup, len(decided)) else "not supported"
        smoke_only = not decided and any("smoke" in r["detail"] for r in recs)
        summary.append({"claim": claim.id, "paper": claim.paper, "text": claim.text, "source": claim.source,
                        "kind": claim.kind, "verdict": verdict, "comparisons": len(recs), "run": len(decided),
                        "supporting": n_sup, "smoke_only": smoke_only,
                        "coverage": f"{len(decided)}/{len(recs)} comparisons run"
                                    + (f", {n_sup} supporting" if decided else "")
                                    + (" (smoke runs exist, not counted)" if smoke_only else "")})
        evidence += recs
    ev_cols = ["claim", "paper", "kind", "context", "subject", "other", "paper_subject", "paper_other", "paper_delta",
               "paper_p", "ours_subject", "ours_other", "n_subject", "n_other", "delta", "p", "p_holm",
               "seeds_needed", "result", "detail", "hardware"]
    summary_df, evidence_df = pd.DataFrame(summary), pd.DataFrame(evidence, columns=ev_cols)
    if paper is None:
        return summary_df, evidence_df
    from .paper_evidence import paper_evidence

    p_sum, p_ev = paper_evidence(paper, claims, alpha)  # the same claims, comparisons in the same order
    keys = ["claim", "context", "subject", "other"]
    assert p_ev[keys].equals(evidence_df[keys]) and p_sum["claim"].equals(summary_df["claim"])
    for col in p_ev.columns:
        if col not in evidence_df.columns:
            evidence_df[col] = p_ev[col].to_numpy()
    for col in p_sum.columns:
        if col not in summary_df.columns:
            summary_df[col] = p_sum[col].to_numpy()
    return summary_df, evidence_df
