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
* ``lower_std``: the subject's per-seed accuracies spread less than the other's (ELA's
  "stability"): the Brown-Forsythe test (Levene's, median-centred) on our per-seed values,
  supported when the subject's std is the lower one with Holm p < alpha.
* ``params``: computed from the model zoo, no runs (``analysis.claims_params``): the arms'
  models of the claim's tables counted. With ``base`` (the plain backbone's model key) the
  measure is the fraction of the other's extra parameters the subject saves, else how many
  million parameters fewer the subject has. Supported when the measure lies within
  ``tolerance`` of the claimed ``threshold`` (the paper's rounding: half a unit of the printed
  figure), or, with ``tolerance`` 0, when it exceeds ``threshold`` ("fewer parameters").
* ``grows``: the arms' difference (accuracy gain; with ``metric='epoch_time'`` the time saving)
  grows with depth: at each context's depth against the shallow depth ``grows_from`` names
  for its backbone, by ``stats.growth`` (a difference of differences over four groups of runs),
  supported when it grows with Holm p < alpha.
* ``kl_stable``: ELA's KL divergences per layer keep their distribution from one pruning window to
  the next: per run, the mean Spearman rho of consecutive windows' per-layer KL (``kl_stability``,
  from the records' pruning decisions) against ``threshold``; one run gives the direction only,
  2 or more a one-sided one-sample t-test of the runs' mean rho above ``threshold``.
* ``figure``: a property of a trained model's attention (correlations, attention spread) or of
  a figure's curves (DIA Fig. 8's FIDs); evaluated from checkpoints or records and passed in as
  ``extra`` (the report computes every one: ELA Fig. 2(a)'s, DLA Fig. 2's, DIA Figs. 2, 8, 11 and 13's,
  ``analysis.figures.figure_claim_evidence``).

``metric`` picks the accuracy compared (``top1``, ``top5``: ELA's top-5 claims; ``train_loss``, lower is
better, and ``eval_time``, a ``faster`` claim on inference: per-run means over the record's epochs) or, for the
detection claims (ELA Table 5, DLA Table 3, DIA Table X: dataset ``coco``, the detector in the
arms' variant, ``detector=faster_rcnn``), the COCO metric (``box_ap``, ``box_ap75``, ``mask_ap``:
the record's ``best_box_ap`` ... as ``analysis.compare`` reads them). Detection claims are
declared per detector, so a claim's scope names exactly the runs it rests on.

Verdicts: a comparison with 2 or more finished full-scale runs per arm is tested; one where an
arm has a single run (the ImageNet tables, the timing figures: one seed) can never be, and gets
a result of its own kind, "n=1: direction agrees" / "n=1: direction disagrees" (the sign of our
difference against the claim's; never "supported"). A claim is "supported" when every tested
comparison supports it (``aggregate='most'``: more than half, for the papers' own "most SAMs
improve"), "not supported" when not; "n=1: direction only" when nothing was tested but single
runs exist; "not yet run" when no comparison has runs (smoke runs never count). Its ``scope``
says which contexts (dataset, backbone) were tested, which were n=1 and which were not yet run,
so a verdict earned on CIFAR alone says so. Each comparison also shows the paper's own numbers
for it, the paper's difference and, where the paper prints std and n, its Student p-value.

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
from .claims_params import arm_params, params_measure
from .records import load_curves, load_ela_decisions, parse_variant
from .stats import from_stats, growth, holm, seeds_needed, welch

__all__ = ["Arm", "Context", "Claim", "CLAIMS", "evaluate_claims", "tost", "VERDICTS", "N1_AGREES",
           "N1_DISAGREES", "N1_VERDICT", "gradient_figure_result", "kl_stability", "near_share",
           "gini_figure_result", "fid_figure_results"]

N1_AGREES, N1_DISAGREES = "n=1: direction agrees", "n=1: direction disagrees"
N1_VERDICT = "n=1: direction only"
VERDICTS = ("supported", "not supported", N1_VERDICT, "not yet run")
SPEED_TOLERANCE = 0.05  # "about 30%" is met by a measured reduction of 25% or more
#: metrics read per run from the record's epochs (``load_curves``), averaged over the epochs: the train loss
#: (DIA Fig. 14) and the test-set evaluation time (DIA Sec. VI-B1's inference overhead)
CURVE_METRICS = {"train_loss": "train_loss", "eval_time": "eval_time_s"}
LOWER_IS_BETTER = ("train_loss",)  # a 'better' claim on these: delta = other - subject


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
        vit = {"vit_small_patch16_224": "ViT-S/16", "vit_base_patch16_224": "ViT-B/16"}  # DIA Table IX
        if self.backbone in vit:
            return f"{DATASET_NAMES.get(self.dataset, self.dataset)}, {vit[self.backbone]}"
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
    metric: str = "top1"
    tolerance: float = 0.0
    base: str = ""
    grows_from: tuple[tuple[str, int], ...] = ()


def timing(claim: Claim) -> bool:
    """Whether the claim compares training times per epoch (``faster``, or a ``grows`` claim on
    the time saving, ``metric='epoch_time'``) rather than accuracies."""
    return claim.kind == "faster" or claim.metric == "epoch_time"


def _vs(subject: str | Arm, *others: str | Arm, variant: str = "") -> tuple[tuple[Arm, Arm], ...]:
    a = subject if isinstance(subject, Arm) else Arm(subject, variant)
    return tuple((a, o if isinstance(o, Arm) else Arm(o, variant)) for o in others)


def _all_pairs(*arms: Arm) -> tuple[tuple[Arm, Arm], ...]:
    """Every pair of ``arms`` (an insensitivity claim: all arms within a margin of each other)."""
    return tuple(itertools.combinations(arms, 2))


def _ctx(datasets: str | Sequence[str], backbone: str, depths: Iterable[int]) -> tuple[Context, ...]:
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    return tuple(Context(d, backbone, int(k)) for d, k in itertools.product(datasets, depths))


_CIFAR = ("cifar10", "cifar100")
_T1 = _ctx(_CIFAR, "resnet", (20, 56, 110))
_IN = _ctx("imagenet", "resnet_imagenet", (50, 101))
_IN50 = _ctx("imagenet", "resnet_imagenet", (50,))
_SAMS = ("se", "eca", "cbam", "srm", "spa")
_DIA_T4 = (Context("cifar100", "resnet", 164), Context("cifar100", "wrn52_4", 52),
           Context("cifar100", "resnext101_8x32d", 101))
_HALF_PERMILLE = 0.0005  # half a unit of a percentage printed with one decimal ("94.4%")
_COCO = _ctx("coco", "resnet_imagenet", (50, 101))  # detection: COCO 2017, ResNet-50/101 backbones
_COCO50 = _ctx("coco", "resnet_imagenet", (50,))
#: DIA Table IX: ImageNet with timm's ViT-S/16 and ViT-B/16 (12 blocks each; the results.csv backbone key)
_VIT = (Context("imagenet", "vit_small_patch16_224", 12), Context("imagenet", "vit_base_patch16_224", 12))
_UVIT = (Context("cifar10", "uvit_small_cifar", 13),)  # DIA Fig. 8: U-ViT-S/2, 13 blocks
_DIA_T10 = ("Table X prints AP without std (15 seeds per model): not testable on the paper's numbers; its '*' "
            "marks are its own Student t-tests against DIA-LSTM")
_MASK_LAYOUT = ("Mask R-CNN's six printed numbers read as box AP/AP50/AP75 + mask AP/AP50/AP75 "
                "(the table module's decision, MRLA's layout)")


def _det(detector: str, subject: str, *others: str) -> tuple[tuple[Arm, Arm], ...]:
    """Detection pairs: every arm with ``detector=<detector>`` (the papers' detector variant)."""
    return _vs(subject, *others, variant=f"detector={detector}")


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
          note="layer-attention scores of a trained MRLA-B-56, stage 2: 3 consecutive layers with half or more "
               "of their attention on the same layer (redundant_attention_result)"),
    Claim("ela.imagenet_beats_baselines", "ela", "On ImageNet-1K ELA's top-1 is above ResNet's, SE's, CBAM's and "
          "ECA's (ResNet-50: +1.8, +1.2, +0.6, +0.4; ResNet-101: +1.4, +0.2, +0.3, +0.1).", "ELA Table 2, Sec. 4.1",
          "better", _vs("ela", "resnet", "se", "cbam", "eca"), _IN, ("table2",),
          note="the text's +0.2 over SE-101 disagrees with Table 2 (78.8 - 77.6 = 1.2)"),
    Claim("ela.imagenet_beats_gc", "ela", "ELA-50's ImageNet-1K top-1 is above GC-50's (+0.2).",
          "ELA Table 2, Sec. 4.1", "better", _vs("ela", "gc"), _IN50, ("table2",)),
    Claim("ela.imagenet_top5", "ela", "ELA's ImageNet-1K top-5 is above ResNet's, SE's, CBAM's, ECA's and "
          "MRLA-L's (ResNet-50/101).", "ELA Table 2, Sec. 4.1", "better",
          _vs("ela", "resnet", "se", "cbam", "eca", "mrla_l"), _IN, ("table2",), metric="top5"),
    Claim("ela.time_saving_grows", "ela", "ELA's training-time saving per epoch over MRLA-B grows with depth "
          "(CIFAR-10/100: ResNet-20 to ResNet-110; ImageNet-1K: 29.7% at ResNet-50, 32.6% at ResNet-101).",
          "ELA Fig. 4, Table 3, Sec. 4.1", "grows", _vs("ela", "mrla_b"),
          _ctx(_CIFAR, "resnet", (110,)) + _ctx("imagenet", "resnet_imagenet", (101,)), ("table3",),
          metric="epoch_time", grows_from=(("resnet", 20), ("resnet_imagenet", 50)),
          note="CIFAR timings: ELA Fig. 4's runs (one seed); ImageNet: Table 3's single runs"),
    Claim("ela.fewer_params_than_se_cbam", "ela", "ELA-50 uses fewer parameters than SE-50 and CBAM-50 "
          "(ImageNet-1K; 25.7M vs 28.1M).", "ELA Table 2, Sec. 4.1", "params", _vs("ela", "se", "cbam"), _IN50,
          ("table2",)),
    Claim("ela.ebqm_lower_std", "ela", "EBQM is the most stable layer selection: its per-seed std is below that of "
          "threshold-based and fixed pruning (Table 4), of the Normal and Gamma CDFs (Table 6) and of GQM and "
          "EQM (Table 7) (CIFAR-100, ResNet-56/110).", "ELA Tables 4, 6, 7, Sec. 5", "lower_std",
          _vs(Arm("ela", "pruning=ebqm"), Arm("ela", "pruning=threshold"), Arm("ela", "pruning=fixed"))
          + _vs(Arm("ela", "cdf=beta"), Arm("ela", "cdf=normal"), Arm("ela", "cdf=gamma"))
          + _vs(Arm("ela", "qm=ebqm"), Arm("ela", "qm=gqm"), Arm("ela", "qm=eqm")),
          _ctx("cifar100", "resnet", (56, 110)), ("table4", "table6", "table7")),
    Claim("ela.det_faster_beats_baselines", "ela", "With Faster R-CNN on COCO 2017 ELA's box AP is above "
          "ResNet's, SE's and ECA's (ResNet-50: 40.5 vs 36.4 / 37.7 / 38.0, the text's +2.8 over SE and +2.5 over "
          "ECA; ResNet-101: 42.1 vs 38.7 / 39.6 / 40.3).", "ELA Table 5, Sec. 4.2", "better",
          _det("faster_rcnn", "ela", "resnet", "se", "eca"), _COCO, ("table5",), metric="box_ap",
          note="the text's +1.7 over RLA is not checked: RLA is not implemented here"),
    Claim("ela.det_faster_beats_mrla_l", "ela", "With Faster R-CNN on COCO 2017 ELA's box AP is above MRLA-L's "
          "(40.5 vs 40.4 at ResNet-50; 42.1 vs 42.0 at ResNet-101, the text's +0.1).", "ELA Table 5, Sec. 4.2",
          "better", _det("faster_rcnn", "ela", "mrla_l"), _COCO, ("table5",), metric="box_ap"),
    Claim("ela.det_mask_beats_baselines", "ela", "With Mask R-CNN on COCO 2017 ELA's box AP is above ResNet's, "
          "SE's, ECA's and GC's (ResNet-50: 41.4 vs 37.2 / 38.7 / 39.0 / 39.4; ResNet-101: 42.9 vs 39.4 / 40.7 / "
          "41.3 / 41.7).", "ELA Table 5, Sec. 4.2", "better", _det("mask_rcnn", "ela", "resnet", "se", "eca", "gc"),
          _COCO, ("table5",), metric="box_ap",
          note=_MASK_LAYOUT + "; the text's gains over NL and RLA are not checked: not implemented here"),
    Claim("ela.det_mask_beats_mrla_l", "ela", "With Mask R-CNN on COCO 2017 ELA's box AP is above MRLA-L's (the "
          "text's +0.2 at ResNet-50: 41.4 vs 41.2; 42.9 vs 42.8 at ResNet-101).", "ELA Table 5, Sec. 4.2", "better",
          _det("mask_rcnn", "ela", "mrla_l"), _COCO, ("table5",), metric="box_ap", note=_MASK_LAYOUT),
    Claim("ela.det_mask_ap", "ela", "With Mask R-CNN on COCO 2017 ELA's mask AP is above ResNet's, SE's, ECA's, "
          "GC's and MRLA-L's (ResNet-50: 37.3 vs 34.1 / 35.4 / 35.6 / 35.7 / 37.1; ResNet-101: 38.6 vs 35.9 / 36.8 "
          "/ 37.4 / 37.6 / 38.4): 'ELA maintains its edge'.", "ELA Table 5, Sec. 4.2", "better",
          _det("mask_rcnn", "ela", "resnet", "se", "eca", "gc", "mrla_l"), _COCO, ("table5",), metric="mask_ap",
          note=_MASK_LAYOUT),
    Claim("ela.kl_distribution_stable", "ela", "The distribution of the KL divergences between adjacent layers' "
          "attention weights remains stable throughout training (Sec. 1; Sec. 3.3, Attention-Layer Pruning "
          "Algorithm: 'within each individual training stage, the distribution of KL divergence remains relatively "
          "stable'). Rule: in each ELA run, the per-layer KL of every pruning window rank-correlates with the "
          "previous window's (Spearman rho over the layers measured in both) at rho >= 0.5 on average; with 2 or "
          "more runs, a one-sided one-sample t-test of the runs' mean rho against 0.5.",
          "ELA Sec. 1, Sec. 3.3", "kl_stable", _vs("ela", "ela"), _T1 + _IN, (), threshold=0.5,
          note="the KL per layer and window that ELA's pruning controller records (record callbacks.ela_pruning."
               "decisions, analysis.records.load_ela_decisions); the controller measures only between windows "
               "(CIFAR epochs 1-3, 45-48, 91-93), so 'within a stage' reads as 'from one window to the next'"),
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
          note="layer-attention scores of trained MRLA-B-56 / DLA-B-56, stage 3: MRLA-B's largest weight per "
               "layer above DLA-B's (dynamic_attention_result)"),
    Claim("dla.imagenet_beats_baselines", "dla", "On ImageNet-1K DLA-L's top-1 is above ResNet's (+1.9 / +1.5), "
          "SE's (+1.3 / +1.3), CBAM's (+0.7 / +0.4) and ECA's (+0.5 / +0.2) at ResNet-50 / ResNet-101.",
          "DLA Table 2, Sec. 4.1", "better", _vs("dla_l", "resnet", "se", "cbam", "eca"), _IN, ("table2",)),
    Claim("dla.l50_beats_dianet_gc", "dla", "DLA-L-50's ImageNet-1K top-1 is above DIANet-50's (+0.8) and "
          "GC-50's.", "DLA Table 2, Sec. 4.1", "better", _vs("dla_l", "dia", "gc"), _IN50, ("table2",)),
    Claim("dla.fewer_params_than_se_cbam_50", "dla", "DLA-L-50 has 0.9M fewer parameters than SE-50 and CBAM-50 "
          "(ImageNet-1K; within 0.05M).", "DLA Table 2, Sec. 4.1", "params", _vs("dla_l", "se", "cbam"), _IN50,
          ("table2",), threshold=0.9, tolerance=0.05,
          note="the zoo's DLA-L is the released one (DSU r=16, 28.58M at ResNet-50); the paper's DSU form with "
               "r=20 gives the printed 27.2M (results/paper/params_differences.csv)"),
    Claim("dla.fewer_params_than_se_cbam_101", "dla", "DLA-L-101 has 1.5M fewer parameters than SE-101 and "
          "CBAM-101 (ImageNet-1K; within 0.05M).", "DLA Table 2, Sec. 4.1", "params", _vs("dla_l", "se", "cbam"),
          _ctx("imagenet", "resnet_imagenet", (101,)), ("table2",), threshold=1.5, tolerance=0.05),
    Claim("dla.fewer_params_than_dianet50", "dla", "DLA-L-50 has 1.2M fewer parameters than DIANet-50 "
          "(ImageNet-1K; within 0.05M).", "DLA Table 2, Sec. 4.1", "params", _vs("dla_l", "dia"), _IN50,
          ("table2",), threshold=1.2, tolerance=0.05),
    Claim("dla.gain_grows_with_depth", "dla", "DLA-L's accuracy gain over ResNet, DIANet and MRLA-L grows with "
          "depth (CIFAR-10/100, ResNet-20 to ResNet-110): deeper networks profit more from DLA.",
          "DLA Fig. 4, Table 1, Sec. 4.1", "grows", _vs("dla_l", "resnet", "dia", "mrla_l"),
          _ctx(_CIFAR, "resnet", (110,)), ("table1",), grows_from=(("resnet", 20),),
          note="Fig. 4 plots Table 1's numbers (its module shares Table 1's runs)"),
    Claim("dla.l56_beats_resnet110", "dla", "DLA-L-56 is more accurate than ResNet-110 (+1.51 on CIFAR-10, "
          "+2.46 on CIFAR-100).", "DLA Table 1, Sec. 4.1", "better",
          ((Arm("dla_l", depth=56), Arm("resnet", depth=110)),), _ctx(_CIFAR, "resnet", (56,)), ("table1",)),
    Claim("dla.lii_dsu_beats_lii_dia_56", "dla", "In the LII arrangement a DSU block beats the DIA block by 0.36 "
          "at ResNet-56 (CIFAR-100).", "DLA Table 6, Sec. 5.3", "better", _vs("lii_dsu", "lii_dia"),
          _ctx("cifar100", "resnet", (56,)), ("table6",)),
    Claim("dla.det_faster_beats_baselines", "dla", "With Faster R-CNN on COCO 2017 DLA-L's box AP is above "
          "ResNet's by 4.2 / 3.6 points at ResNet-50 / ResNet-101 (40.6 vs 36.4; 42.3 vs 38.7), SE's (+2.9 at "
          "ResNet-50: 37.7; 39.6 at ResNet-101) and ECA's (38.0; 40.3).", "DLA Table 3, Sec. 4.2", "better",
          _det("faster_rcnn", "dla_l", "resnet", "se", "eca"), _COCO, ("table3",), metric="box_ap"),
    Claim("dla.det_faster_ap75_over_se", "dla", "With Faster R-CNN DLA-L-50's box AP75 is 3.3 points above "
          "SE-50's (44.2 vs 40.9) at similar parameter counts.", "DLA Table 3, Sec. 4.2", "better",
          _det("faster_rcnn", "dla_l", "se"), _COCO50, ("table3",), metric="box_ap75"),
    Claim("dla.det_faster_beats_mrla_l", "dla", "With Faster R-CNN on COCO 2017 DLA-L's box AP is above the static "
          "MRLA-L's by 0.2 / 0.3 points at ResNet-50 / ResNet-101 (40.6 vs 40.4; 42.3 vs 42.0).",
          "DLA Table 3, Sec. 4.2", "better", _det("faster_rcnn", "dla_l", "mrla_l"), _COCO, ("table3",),
          metric="box_ap", note="the text's +1.8 / +1.1 over RLAg is not checked: RLAg is not implemented here"),
    Claim("dla.det_mask_beats_baselines", "dla", "With Mask R-CNN on COCO 2017 DLA-L's box AP is above ResNet's, "
          "SE's, ECA's and GC's (ResNet-50: 41.4 vs 37.2 / 38.7 / 39.0 / 39.9; ResNet-101: 42.9 vs 39.4 / 40.7 / "
          "41.3 / 41.7).", "DLA Table 3, Sec. 4.2", "better", _det("mask_rcnn", "dla_l", "resnet", "se", "eca", "gc"),
          _COCO, ("table3",), metric="box_ap",
          note=_MASK_LAYOUT + "; the text's gains over NL, BA and RLAg are not checked: not implemented here"),
    Claim("dla.det_mask_beats_mrla_l", "dla", "With Mask R-CNN on COCO 2017 DLA-L's box AP is above MRLA-L's "
          "(41.4 vs 41.2 at ResNet-50; 42.9 vs 42.8 at ResNet-101).", "DLA Table 3, Sec. 4.2", "better",
          _det("mask_rcnn", "dla_l", "mrla_l"), _COCO, ("table3",), metric="box_ap", note=_MASK_LAYOUT),
    Claim("dla.det_mask_ap", "dla", "With Mask R-CNN on COCO 2017 DLA-L's mask AP is above ResNet's, SE's, ECA's, "
          "GC's and MRLA-L's (ResNet-50: 37.2 vs 34.1 / 35.4 / 35.6 / 36.2 / 37.1; ResNet-101: 38.6 vs 35.9 / 36.8 "
          "/ 37.4 / 37.6 / 38.4).", "DLA Table 3, Sec. 4.2", "better",
          _det("mask_rcnn", "dla_l", "resnet", "se", "eca", "gc", "mrla_l"), _COCO, ("table3",), metric="mask_ap",
          note=_MASK_LAYOUT),
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
    Claim("dia.reduction_ratio_insensitive", "dia", "DIA-LSTM's accuracy is not sensitive to the reduction ratio: "
          "r = 1, 4, 8 and 16 (0.86M to 0.05M extra parameters) stay within 1 point of each other (the paper: "
          "77.24 to 76.59) on ResNet164, CIFAR-100. Rule: every pair of the four equivalent within ±1.0 point "
          "(TOST), the margin being under half of DIA-LSTM's gain over ResNet164 at r=16 (2.27).",
          "DIA Table XII, Sec. V-B", "equivalent",
          _all_pairs(*(Arm("dia", f"r={r}") for r in (1, 4, 8, 16))), _ctx("cifar100", "resnet", (164,)),
          ("table12",), threshold=1.0),
    Claim("dia.stage3_matters_most", "dia", "Removing DIA-LSTM from the last stage costs more accuracy than "
          "removing it from stage 1 or 2.", "DIA Table XV, Sec. VI-A1", "better",
          _vs(Arm("dia", "stages_removed=1"), Arm("dia", "stages_removed=3"))
          + _vs(Arm("dia", "stages_removed=2"), Arm("dia", "stages_removed=3")),
          _ctx("cifar100", "resnet", (164,)), ("table15",)),
    Claim("dia.correlated_attention_maps", "dia", "Attention maps of SE and ECA in different blocks of one stage "
          "are strongly correlated (mean Pearson coefficient above 0.85).", "DIA Fig. 2, Sec. II", "figure",
          _vs("se", "se") + _vs("eca", "eca"), _ctx("cifar100", "resnet", (164,)), (),
          note="Pearson correlations of 'channel' read-outs of trained SE/ECA-ResNet164: every stage's mean "
               "above 0.85 (correlation_figure_result)"),
    Claim("dia.sharing_saves_params_164", "dia", "Sharing a SAM across each stage of ResNet164 (18 blocks) cuts "
          "its parameters by 94.4% (SE, ECA, CBAM, SPA; within the printed rounding).", "DIA Sec. III-A",
          "params", tuple((Arm(f"dia_{s}"), Arm(s)) for s in ("se", "eca", "cbam", "spa")),
          _ctx("cifar100", "resnet", (164,)), ("table3",), threshold=0.944, tolerance=_HALF_PERMILLE, base="resnet"),
    Claim("dia.sharing_saves_params_83", "dia", "Sharing a SAM across each stage of ResNet83 (9 blocks) cuts "
          "its parameters by 88.9% (SE, ECA, CBAM, SPA; within the printed rounding).", "DIA Sec. III-A",
          "params", tuple((Arm(f"dia_{s}"), Arm(s)) for s in ("se", "eca", "cbam", "spa")),
          _ctx("cifar100", "resnet", (83,)), ("table3",), threshold=0.889, tolerance=_HALF_PERMILLE, base="resnet"),
    Claim("dia.srm_sharing_saves_40pct", "dia", "Shared by DIA with its BatchNorm unshared, SRM's parameters "
          "fall by only about 40% (read: 35-45%; ResNet83/164).", "DIA Sec. III-A, Sec. VI-B2", "params",
          _vs("dia_srm", "srm"), _ctx("cifar100", "resnet", (83, 164)), ("table3",), threshold=0.40,
          tolerance=0.05, base="resnet"),
    Claim("dia.light_fewer_params", "dia", "DIA-LSTM (Light) has fewer parameters than DIA-LSTM (ResNet164, "
          "WRN52-4, ResNeXt101 8x32d).", "DIA Table IV, Sec. III-C3, Sec. IV-A", "params",
          _vs("dia_light", "dia"), _DIA_T4, ("table4",)),
    Claim("dia.light_competitive", "dia", "DIA-LSTM (Light) is competitive with DIA-LSTM: within 0.5 points "
          "(TOST) on CIFAR-100 with ResNet164, WRN52-4 and ResNeXt101 8x32d.", "DIA Table IV, Sec. IV-A",
          "equivalent", _vs("dia_light", "dia"), _DIA_T4, ("table4",), threshold=0.5),
    Claim("dia.lstm_beats_sams_stl10", "dia", "On STL-10 DIA-LSTM is more accurate than SE, ECA, CBAM, SRM, SPA, "
          "SEM and SPEM (ResNet164, WRN52-4).", "DIA Table VI, Sec. IV-A", "better",
          _vs("dia", "se", "eca", "cbam", "srm", "spa", "sem", "spem"),
          (Context("stl10", "resnet", 164), Context("stl10", "wrn52_4", 52)), ("table6",)),
    Claim("dia.lstm_beats_sams_imagenet", "dia", "On mini-ImageNet and ImageNet DIA-LSTM is more accurate than "
          "SE, ECA, CBAM, SRM and SPA (ResNet18/34/50).", "DIA Tables VII, VIII, Sec. IV-A", "better",
          _vs("dia", *_SAMS), _ctx(("miniimagenet", "imagenet"), "resnet_imagenet", (18, 34, 50)),
          ("table7", "table8")),
    Claim("dia.sigmoid_output_best", "dia", "A sigmoid at the LSTM's output layer beats tanh and ReLU (one cell, "
          "DIANet164, CIFAR-100).", "DIA Table XIV, Sec. V-D", "better",
          _vs(Arm("dia", "activation=sigmoid;cells=1"), Arm("dia", "activation=tanh;cells=1"),
              Arm("dia", "activation=relu;cells=1")), _ctx("cifar100", "resnet", (164,)), ("table14",)),
    Claim("dia.tanh_gains_from_stacking", "dia", "With tanh at the output layer, three stacked LSTM cells beat "
          "one (DIANet164, CIFAR-100).", "DIA Table XIV, Sec. V-D", "better",
          _vs(Arm("dia", "activation=tanh;cells=3"), Arm("dia", "activation=tanh;cells=1")),
          _ctx("cifar100", "resnet", (164,)), ("table14",)),
    Claim("dia.srm_bn_unshared", "dia", "SRM shared by DIA must keep its BatchNorm per layer: with BN shared, "
          "training collapses (accuracy near 0), unshared it improves steadily (ResNet164, CIFAR-100; compared "
          "on the runs' accuracy).", "DIA Fig. 15, Sec. VI-B2", "better",
          _vs(Arm("dia_srm", "share_bn=false"), Arm("dia_srm", "share_bn=true")),
          _ctx("cifar100", "resnet", (164,)), ("fig15",), note="one seed per arm (DIA Fig. 15 module): n=1 at most"),
    Claim("dia.vit_improves_backbone", "dia", "DIA improves the vision transformers: DIA-LSTM and DIA-LSTM (Light) "
          "are more accurate than the plain ViT-S/16 and ViT-B/16 on ImageNet (ViT-S/16: 80.95 and 80.86 vs 80.05; "
          "ViT-B/16: 82.84 and 82.76 vs 81.39; Org marked p < 0.05).", "DIA Table IX, Sec. IV-A", "better",
          _vs("dia", "resnet") + _vs("dia_light", "resnet"), _VIT, ("table9",)),
    Claim("dia.vit_lstm_beats_sams", "dia", "On ViT-S/16 and ViT-B/16 DIA-LSTM is more accurate than SE, ECA and "
          "SPA (ImageNet; ViT-S/16: 80.95 vs 80.38 / 80.46 / 80.29; ViT-B/16: 82.84 vs 82.48 / 82.18 / 82.24; each "
          "marked p < 0.05).", "DIA Table IX, Sec. IV-A", "better", _vs("dia", "se", "eca", "spa"), _VIT,
          ("table9",)),
    Claim("dia.det_faster_beats_backbone", "dia", "With Faster R-CNN on MS COCO 2017 DIA-LSTM improves the plain "
          "ResNet's box AP by 2.6 / 2.7 points (ResNet50: 39.1 vs 36.5; ResNet101: 41.3 vs 38.6; marked p < 0.05).",
          "DIA Table X, Sec. IV-C", "better", _det("faster_rcnn", "dia", "resnet"), _COCO, ("table10",),
          metric="box_ap", note=_DIA_T10),
    Claim("dia.det_faster_beats_sams", "dia", "With Faster R-CNN on MS COCO 2017 DIA-LSTM's box AP is above SE's, "
          "ECA's and SGE's (ResNet50: 39.1 vs 38.0 / 38.4 / 38.5; ResNet101: 41.3 vs 39.8 / 40.1 / 40.3; each "
          "marked p < 0.05).", "DIA Table X, Sec. IV-C", "better", _det("faster_rcnn", "dia", "se", "eca", "sge"),
          _COCO, ("table10",), metric="box_ap",
          note=_DIA_T10 + "; DIA-LSTM (Light) is left out: at ResNet101 it is ahead of DIA-LSTM (41.8 vs 41.3, "
               "also marked '*') and the paper claims no gain over it with Faster R-CNN"),
    Claim("dia.det_retinanet_beats_all", "dia", "With RetinaNet on MS COCO 2017 DIA-LSTM's box AP is above every "
          "other model's, ResNet, SE, ECA, SGE and DIA-LSTM (Light), 'by a significant margin' (ResNet50: 38.8 vs "
          "35.5 / 37.4 / 37.4 / 37.6 / 37.9; ResNet101: 40.2 vs 37.8 / 38.6 / 39.4 / 38.8 / 39.8; each marked "
          "p < 0.05).", "DIA Table X, Sec. IV-C", "better",
          _det("retinanet", "dia", "resnet", "se", "eca", "sge", "dia_light"), _COCO, ("table10",), metric="box_ap",
          note=_DIA_T10),
    Claim("dia.gradients_without_skip", "dia", "Without skip connections, DIA-LSTM increases the mean and the "
          "variance of the absolute gradient at each stage's output of ResNet56 (CIFAR-100) over the plain "
          "ResNet56: 'the mean and variance of the gradient distribution noticeably increase'.",
          "DIA Fig. 13, Sec. VI-A2 (Removal of Skip Connection)", "figure", _vs("dia", "resnet", variant="no_skip"),
          _ctx("cifar100", "resnet", (56,)), ("fig13",),
          note="per-stage |gradient| of the DIA Fig. 13 runs' checkpoints (analysis.probes.stage_gradients), "
               "turned into a result by analysis.claims.gradient_figure_result and passed in as extra"),
    Claim("dia.gini_se_local_dia_spread", "dia", "SENet's hidden states draw mostly on the previous one or two "
          "layers ('the Gini importance in the diagonal is significantly larger than that in the other positions'), "
          "DIA-LSTM's on earlier layers too ('the DIA unit can adaptively integrate information between multiple "
          "layers'). Read as: in every stage of ResNet164 (CIFAR-100) the share of Gini importance on the two "
          "nearest earlier layers (h_{t-1}, h_{t-2}, rows with 3 or more sources) is larger for SE than for "
          "DIA-LSTM.", "DIA Fig. 11, Sec. VI-A3 (feature integration)", "figure", _vs("dia", "se"),
          _ctx("cifar100", "resnet", (164,)), ("fig11",),
          note="Gini matrices of the DIA Fig. 11 runs' checkpoints (analysis.probes.gini_importance, drawn by "
               "analysis.visual), turned into a result by analysis.claims.gini_figure_result"),
    Claim("dia.fig8_dia_lowers_fid", "dia", "DIA improves the images U-ViT generates on CIFAR-10: with the DIA "
          "unit the FID is lower. Read as: at every batch size of Fig. 8 the final FID of DIA-U-ViT is below "
          "U-ViT's.", "DIA Fig. 8, Sec. V-B (image generation)", "figure", _vs("dia", "resnet"), _UVIT, ("fig8",),
          note="the final FIDs of the DIA Fig. 8 diffusion runs (experiments.diffusion_run records; smoke runs "
               "never count), turned into a result by analysis.claims.fid_figure_results in the report"),
    Claim("dia.fig8_gain_largest_at_batch_32", "dia", "DIA's FID gain over U-ViT is largest when the batch is "
          "small, 'particularly when the batch size is small, such as 32'. Read as: U-ViT's final FID minus "
          "DIA-U-ViT's is larger at batch 32 than at every larger batch size of Fig. 8.",
          "DIA Fig. 8, Sec. V-B (image generation)", "figure", _vs("dia", "resnet"), _UVIT, ("fig8",),
          note="as dia.fig8_dia_lowers_fid (analysis.claims.fid_figure_results)"),
    Claim("dia.train_loss_without_skip", "dia", "Without skip connections DIA-LSTM optimises fastest: its train "
          "loss is below ResNet164's and SE's ('DIA-LSTM consistently demonstrates the fastest rate of "
          "optimization'; CIFAR-100). Read as: the run's train loss averaged over all epochs (the area under "
          "Fig. 14's train-loss curve per epoch) is lower.", "DIA Fig. 14 (train loss), Sec. VI-A2", "better",
          _vs("dia", "resnet", "se", variant="no_skip"), _ctx("cifar100", "resnet", (164,)), ("fig14",),
          metric="train_loss", note="the records' per-epoch train_loss (analysis.records.load_curves); one seed "
                                    "per arm (DIA Fig. 14 module): n=1 at most"),
    Claim("dia.light_inference_overhead", "dia", "DIA-LSTM (Light) cuts DIA-LSTM's inference overhead over "
          "ResNet164 from about 12% to 1%: its inference time is about 1 - 1.01/1.12 = 9.8% below DIA-LSTM's "
          "(CIFAR-100, ResNet164).", "DIA Sec. VI-B1 (Computational cost)", "faster", _vs("dia_light", "dia"),
          _ctx("cifar100", "resnet", (164,)), ("table4",), threshold=0.098, metric="eval_time",
          note="no benchmark measures inference: experiments.bench (results/bench) times training steps only and "
               "holds no ResNet164 / DIA-LSTM (Light) record, so no verdict without runs; the evidence is the "
               "Table IV runs' per-epoch test-set evaluation time (eval_time_s, on the hardware both arms share; "
               "it includes test-data loading, which dilutes the overhead)"),
    Claim("dia.sharing_amplifies_sams", "dia", "SE shared by DIA is more accurate than SE alone whatever the "
          "number k of blocks per stage carrying it (k = 3 to 18 of ResNet164's 18): 'the enhancement is more "
          "consistent and significant when SAMs are combined with DIA' (CIFAR-100).",
          "DIA Fig. 10, Sec. V-A", "better",
          tuple((Arm("dia_se", f"blocks={k}"), Arm("se", f"blocks={k}")) for k in (3, 6, 9, 12, 15))
          + _vs("dia_se", "se"), _ctx("cifar100", "resnet", (164,)), ("fig10",),
          note="k=18 is Table III's SE / DIA-SE pair (shared runs)"),
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
    metric = "epoch_time_h" if timing(claim) else claim.metric
    pa, pb = paper_value(paper, claim, ra, metric), paper_value(paper, claim, rb, metric)
    if pa:
        rec["paper_subject"] = pa["text"]
    if pb:
        rec["paper_other"] = pb["text"]
    if not (pa and pb and math.isfinite(pa["mean"]) and math.isfinite(pb["mean"])):
        return
    if claim.kind == "lower_std":
        rec["paper_delta"] = pa["std"] - pb["std"]  # std of the subject minus the other's
        return
    if timing(claim):
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
    col = "epoch_time_mean_s" if timing(claim) else f"{which}_{claim.metric}"
    done_a = run_a[run_a["status"] == "done"] if len(run_a) else run_a
    done_b = run_b[run_b["status"] == "done"] if len(run_b) else run_b
    if timing(claim) and len(done_a) and len(done_b):
        common = set(done_a["hardware"].dropna()) & set(done_b["hardware"].dropna())
        if common:
            hw = max(sorted(common), key=lambda h: min((done_a["hardware"] == h).sum(), (done_b["hardware"] == h).sum()))
            done_a, done_b = done_a[done_a["hardware"] == hw], done_b[done_b["hardware"] == hw]
            rec["hardware"] = hw
        else:
            done_a = done_b = done_a.iloc[0:0]
    if claim.metric in CURVE_METRICS:
        return curve_means(done_a, CURVE_METRICS[claim.metric]), curve_means(done_b, CURVE_METRICS[claim.metric])
    xa = pd.to_numeric(done_a[col], errors="coerce").dropna().to_numpy(float) if len(done_a) else np.array([])
    xb = pd.to_numeric(done_b[col], errors="coerce").dropna().to_numpy(float) if len(done_b) else np.array([])
    return xa, xb


def curve_means(runs: pd.DataFrame, field: str) -> np.ndarray:
    """Per run (its record under ``run_dir``), the mean over its epochs of ``field`` (e.g. train_loss,
    eval_time_s); runs without a record or without the field are left out."""
    out = []
    for d in (runs["run_dir"] if len(runs) and "run_dir" in runs else []):
        if not d:
            continue
        v = pd.to_numeric(load_curves(d)[field], errors="coerce").dropna()
        if len(v):
            out.append(float(v.mean()))
    return np.array(out, dtype=float)


def _test_arms(rec: dict[str, Any], claim: Claim, xa: np.ndarray, xb: np.ndarray, smoke: bool) -> dict[str, Any]:
    """Our two arms tested: Welch (TOST for 'equivalent'), and the seeds a Welch test needs."""
    (ma, sa, na), (mb, sb, nb) = _stats(xa), _stats(xb)
    digits, unit = (1, " s") if claim.kind == "faster" else (2, "")
    rec.update(n_subject=na, n_other=nb, ours_subject=_fmt(ma, sa, na, digits) + (unit if na else ""),
               ours_other=_fmt(mb, sb, nb, digits) + (unit if nb else ""))
    if na < 2 or nb < 2:
        if na and nb and claim.kind != "lower_std":
            return _single_run_result(rec, claim, ma, mb)
        if na or nb:
            rec["detail"] = f"n = {na} / {nb}: a test needs 2 or more full-scale runs per arm"
        elif smoke:
            rec["detail"] = "smoke runs only (not comparable)"
        else:
            rec["detail"] = "no full-scale runs" + (" on common hardware" if claim.kind == "faster" else "")
        return rec
    if claim.kind == "equivalent":
        rec.update(delta=ma - mb, p=tost(xa, xb, claim.threshold), detail=f"TOST margin ±{claim.threshold} points")
    elif claim.kind == "lower_std":
        rec.update(delta=sa - sb, p=float(sps.levene(xa, xb, center="median").pvalue),
                   detail="Brown-Forsythe test of equal spread")
        return rec
    else:
        rec["delta"] = (1 - ma / mb) if claim.kind == "faster" else _signed(claim, ma - mb)
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


def agrees_in_direction(claim: Claim, delta: float) -> bool:
    """Whether our difference points the claim's way: ahead (``better``), faster by about the
    claimed fraction (``faster``), within the margin (``equivalent``)."""
    if claim.kind == "faster":
        return delta > 0 and delta >= claim.threshold - SPEED_TOLERANCE
    if claim.kind == "equivalent":
        return abs(delta) < claim.threshold
    return delta > 0


def _signed(claim: Claim, d: float) -> float:
    """Our subject-minus-other difference turned the claim's way (lower is better: other minus subject)."""
    return -d if claim.metric in LOWER_IS_BETTER else d


def _single_run_result(rec: dict[str, Any], claim: Claim, ma: float, mb: float) -> dict[str, Any]:
    """A comparison with a single run in an arm: no test, only the sign of our difference."""
    rec["delta"] = (1 - ma / mb) if timing(claim) else _signed(claim, ma - mb)
    ok = agrees_in_direction(claim, rec["delta"])
    rec["result"] = N1_AGREES if ok else N1_DISAGREES
    rec["detail"] = (f"n = {rec['n_subject']} / {rec['n_other']}: no test is possible; our difference "
                     + ("points the claim's way" if ok else "points against the claim"))
    return rec


def _params_result(rec: dict[str, Any], claim: Claim, a: Arm, b: Arm, ctx: Context) -> dict[str, Any]:
    """A ``params`` comparison: the arms' models of the claim's tables counted from the zoo."""
    def count(arm: Arm) -> int | None:
        row = pseudo_row(claim, arm, ctx)
        return arm_params(tuple(f"{claim.paper}.{t}" for t in claim.tables),
                          (row["dataset"], row["backbone"], int(row["depth"]), row["model"], row["variant"]))

    ps, po = count(a), count(b)
    pb = count(Arm(claim.base, a.variant)) if claim.base else None
    if ps is None or po is None or (claim.base and pb is None):
        rec["detail"] = "an arm's model is not in the claim's tables"
        return rec
    d = params_measure(ps, po, pb)
    rec.update(ours_subject=f"{ps / 1e6:.4f}M", ours_other=f"{po / 1e6:.4f}M", delta=d, n_subject=1, n_other=1)
    if claim.tolerance:
        ok = abs(d - claim.threshold) <= claim.tolerance + 1e-12
    else:
        ok = d > claim.threshold
    rec.update(result="supported" if ok else "not supported", detail="zoo count: " + _params_detail(claim, d),
               paper_delta=claim.threshold if claim.tolerance else float("nan"))
    return rec


def _params_detail(claim: Claim, d: float) -> str:
    if claim.base:
        return (f"{100 * d:.2f}% of the extra parameters over {claim.base} saved "
                f"(claimed {100 * claim.threshold:g}% ± {100 * claim.tolerance:g})")
    if claim.tolerance:
        return f"{d:.3f}M fewer (claimed {claim.threshold:g}M ± {claim.tolerance:g}M)"
    return f"{d:.3f}M fewer (claimed: fewer)"


def _grows_result(claim: Claim, rec: dict[str, Any], a: Arm, b: Arm, ctx: Context, runs: pd.DataFrame,
                  paper: pd.DataFrame | None, which: str) -> dict[str, Any]:
    """A ``grows`` comparison: the arms' difference (accuracy gain, or with ``metric='epoch_time'``
    the time saving 1 - a/b) at the context's depth against the one at the claim's shallow depth
    for this backbone (``grows_from``); ``stats.growth`` when every arm has 2 or more runs."""
    shallow = Context(ctx.dataset, ctx.backbone, dict(claim.grows_from)[ctx.backbone])
    deltas, values, paper_deltas = [], [], []
    for c in (ctx, shallow):
        ra, rb = pseudo_row(claim, a, c), pseudo_row(claim, b, c)
        side = dict(rec)
        _paper_side(side, claim, ra, rb, paper)
        paper_deltas.append(side["paper_delta"])
        (run_a, _), (run_b, _) = _arm_runs(ra, runs), _arm_runs(rb, runs)
        xa, xb = _arm_values(rec, claim, run_a, run_b, which)
        values.append((xa, xb))
        deltas.append(_difference(claim, xa, xb))
    rec.update(paper_delta=paper_deltas[0] - paper_deltas[1],
               paper_subject=_fmt_delta(paper_deltas[0], ctx.depth, claim),
               paper_other=_fmt_delta(paper_deltas[1], shallow.depth, claim))
    n = min(len(x) for pair in values for x in pair)
    rec.update(n_subject=n, n_other=n, ours_subject=_fmt_delta(deltas[0], ctx.depth, claim),
               ours_other=_fmt_delta(deltas[1], shallow.depth, claim))
    if n == 0:
        rec["detail"] = f"needs runs of both arms at depths {shallow.depth} and {ctx.depth}"
        return rec
    rec["delta"] = deltas[0] - deltas[1]
    if n == 1:
        rec["result"] = N1_AGREES if rec["delta"] > 0 else N1_DISAGREES
        way = "grows" if rec["delta"] > 0 else "shrinks"
        rec["detail"] = f"a single run in some arm: no test; the difference {way}"
        return rec
    rec["p"] = growth(values[0], values[1], log=timing(claim)).p
    rec["detail"] = f"difference at depth {ctx.depth} minus at depth {shallow.depth}"
    return rec


def _difference(claim: Claim, xa: np.ndarray, xb: np.ndarray) -> float:
    """Our two arms' difference: the time saving 1 - a/b (timing claims) or a - b."""
    if not (len(xa) and len(xb)):
        return float("nan")
    return 1 - xa.mean() / xb.mean() if timing(claim) else xa.mean() - xb.mean()


def _fmt_delta(d: float, depth: int, claim: Claim) -> str:
    if not math.isfinite(d):
        return "—"
    return (f"{100 * d:.1f}% less" if timing(claim) else f"{d:+.2f}") + f" at depth {depth}"


def kl_stability(decisions: pd.DataFrame) -> float:
    """One run's KL stability (``load_ela_decisions`` rows of that run): the mean over consecutive
    pruning windows of the Spearman rank correlation of their per-layer KL, over the layers measured
    in both windows (3 or more); NaN when no pair of windows qualifies."""
    kl = decisions.pivot_table(index="layer", columns="window", values="kl", aggfunc="mean")
    rhos = []
    for w0, w1 in zip(sorted(kl.columns)[:-1], sorted(kl.columns)[1:]):
        both = kl[[w0, w1]].dropna()
        if len(both) >= 3:
            rho = sps.spearmanr(both[w0], both[w1]).statistic
            if math.isfinite(rho):
                rhos.append(float(rho))
    return float(np.mean(rhos)) if rhos else float("nan")


def _kl_result(claim: Claim, rec: dict[str, Any], arm: tuple[pd.DataFrame, int]) -> dict[str, Any]:
    """A ``kl_stable`` comparison: the ELA runs' KL stability (``kl_stability``) against ``threshold``."""
    run, smoke = arm
    done = run[run["status"] == "done"] if len(run) else run
    rhos = np.array([kl_stability(load_ela_decisions(d)) for d in (done["run_dir"] if len(done) else []) if d])
    rhos = rhos[np.isfinite(rhos)] if len(rhos) else rhos
    n = len(rhos)
    rec.update(n_subject=n, n_other=n)
    if not n:
        rec["detail"] = ("smoke runs only (not comparable)" if smoke else
                         "no full-scale ELA run with two or more pruning windows recorded")
        return rec
    m = float(rhos.mean())
    rec.update(ours_subject=_fmt(m, float(rhos.std(ddof=1)) if n > 1 else float("nan"), n) + " mean rho",
               ours_other=f"threshold {claim.threshold:g}", delta=m - claim.threshold)
    if n == 1:
        ok = rec["delta"] >= 0
        rec["result"] = N1_AGREES if ok else N1_DISAGREES
        rec["detail"] = f"one run: no test; its mean rho is {'at or above' if ok else 'below'} {claim.threshold:g}"
        return rec
    sd = float(rhos.std(ddof=1))
    rec["p"] = (0.0 if m > claim.threshold else 1.0) if sd == 0 else float(
        sps.ttest_1samp(rhos, claim.threshold, alternative="greater").pvalue)
    rec["detail"] = f"one-sided t-test of the runs' mean Spearman rho > {claim.threshold:g}"
    return rec


def near_share(matrix: np.ndarray) -> float:
    """DIA Fig. 11 read-out of one stage's Gini matrix (row t: importances of h_n, n < t, summing
    to 1): the mean over the rows with 3 or more sources of the importance on h_{t-1} and
    h_{t-2}; NaN when no row has 3 sources."""
    rows = [matrix[t, t - 1] + matrix[t, t - 2] for t in range(3, matrix.shape[0])]
    return float(np.mean(rows)) if rows else float("nan")


def gini_figure_result(mats: Mapping[str, Sequence[Mapping[int, np.ndarray]]], subject: str = "dia",
                       other: str = "se", alpha: float = 0.05) -> dict[str, str]:
    """The ``extra`` entry of ``dia.gini_se_local_dia_spread`` (DIA Fig. 11) from per-run Gini
    matrices (family -> one ``{stage: matrix}`` per checkpoint): in every stage the other's
    (SE's) ``near_share`` above the subject's (DIA's). One run in an arm: the direction only; 2
    or more: Welch per stage on the per-run shares, Holm over the stages."""
    def per_stage(runs: Sequence[Mapping[int, np.ndarray]]) -> dict[int, np.ndarray]:
        out: dict[int, list[float]] = {}
        for m in runs:
            for stage, mat in m.items():
                v = near_share(np.asarray(mat, dtype=float))
                if v == v:
                    out.setdefault(int(stage), []).append(v)
        return {k: np.array(v) for k, v in out.items()}

    ra, rb = list(mats.get(subject) or []), list(mats.get(other) or [])
    if not ra or not rb:
        return {"result": "not yet run", "detail": f"needs Gini matrices of {subject} and {other}"}
    sa, sb = per_stage(ra), per_stage(rb)
    stages = sorted(set(sa) & set(sb))
    if not stages:
        return {"result": "not yet run", "detail": "no stage with 4 or more blocks in both arms"}
    text = "; ".join(f"stage {s + 1}: {other} {sb[s].mean():.3f} vs {subject} {sa[s].mean():.3f}" for s in stages)
    if min(len(ra), len(rb)) < 2:
        ok = all(sb[s].mean() > sa[s].mean() for s in stages)
        return {"result": N1_AGREES if ok else N1_DISAGREES,
                "detail": f"one checkpoint in an arm: no test; share of importance on h_(t-1), h_(t-2): {text}"}
    tests = [welch(sb[s], sa[s]) for s in stages]
    adj = holm([t.p for t in tests], alpha)[0]
    ok = all(q < alpha and t.t > 0 for t, q in zip(tests, adj))
    return {"result": "supported" if ok else "not supported",
            "detail": f"Welch per stage, Holm over {len(tests)}: max p {max(adj):.3g}; share of importance on "
                      f"h_(t-1), h_(t-2): {text}"}


def _n1_or_all(oks: Sequence[bool], text: str, what: str) -> dict[str, str]:
    """A claim about every trained checkpoint: one checkpoint gives the direction only; 2 or
    more: supported when every checkpoint shows it."""
    if len(oks) == 1:
        return {"result": N1_AGREES if oks[0] else N1_DISAGREES, "detail": f"one checkpoint: no test; {text}"}
    return {"result": "supported" if all(oks) else "not supported",
            "detail": f"{sum(oks)} of {len(oks)} checkpoints {what}; {text}"}


def _stage_matrix(run: Mapping[int, np.ndarray], stage: int) -> tuple[int, np.ndarray]:
    """The stage a figure reads, or the last one of a smaller smoke stand-in (as the figure draws it)."""
    s = stage if stage in run else max(run)
    return s, np.asarray(run[s], dtype=float)


def redundant_streak(matrix: np.ndarray, peak: float = 0.5) -> int:
    """ELA Fig. 2(a) read-out of one stage's layer-attention matrix (row = attending layer, NaN
    where it does not retrieve): the longest run of consecutive layers that retrieve from 2 or
    more layers and put at least ``peak`` of their attention on the SAME earlier layer."""
    best = cur = 0
    prev = None
    for row in np.asarray(matrix, dtype=float):
        j = int(np.nanargmax(row)) if np.sum(~np.isnan(row)) >= 2 else None
        if j is None or row[j] < peak:
            prev, cur = None, 0
            continue
        cur = cur + 1 if j == prev else 1
        prev, best = j, max(best, cur)
    return best


def redundant_attention_result(scores: Mapping[str, Sequence[Mapping[int, np.ndarray]]], subject: str = "mrla_b",
                               stage: int = 1, length: int = 3, peak: float = 0.5) -> dict[str, str]:
    """The ``extra`` entry of ``ela.redundant_attention`` (ELA Fig. 2(a), Sec. 1: "the attention
    weights learned by three consecutive layers (the 4th, 5th, and 6th layers) are nearly
    identical, with the attention focusing on just one layer") from per-run layer-attention
    matrices (``probes.layer_attention_scores``: family -> one ``{stage: matrix}`` per
    checkpoint) of the figure's stage (0-based; ResNet-56 stage 2). Decision: "focusing on just
    one layer" = at least ``peak`` (half) of a layer's attention on one earlier layer, "nearly
    identical" = consecutive layers focusing on the same one; the claim holds for a checkpoint
    when ``length`` (the paper's three) consecutive layers do (``redundant_streak``)."""
    runs = list(scores.get(subject) or [])
    if not runs:
        return {"result": "not yet run", "detail": f"needs layer-attention scores of {subject}"}
    streaks = [(s, redundant_streak(m, peak)) for s, m in (_stage_matrix(r, stage) for r in runs)]
    text = (f"longest run of consecutive layers with >= {peak:g} of their attention on the same layer "
            "of the stage: " + ", ".join(f"stage {s + 1}: {k}" for s, k in streaks) + f"; the paper's {length}")
    return _n1_or_all([k >= length for _, k in streaks], text, f"have {length} or more")


def peak_weight(matrix: np.ndarray) -> float:
    """DLA Fig. 2 read-out of one stage's layer-attention matrix: the mean, over the layers that
    retrieve from 2 or more layers, of the largest weight a layer gives one layer (1 = all of
    its attention on one layer, as static MRLA in Fig. 2(a)); NaN when no layer does."""
    rows = [np.nanmax(r) for r in np.asarray(matrix, dtype=float) if np.sum(~np.isnan(r)) >= 2]
    return float(np.mean(rows)) if rows else float("nan")


def dynamic_attention_result(scores: Mapping[str, Sequence[Mapping[int, np.ndarray]]], subject: str = "dla_b",
                             other: str = "mrla_b", stage: int = 2, alpha: float = 0.05) -> dict[str, str]:
    """The ``extra`` entry of ``dla.dynamic_attention`` (DLA Fig. 2, Sec. 1: static MRLA "the key
    values from only one specific layer are activated"; DLA's attention shifts "from
    exclusively focusing on a particular layer to incorporating information from various
    layers") from per-run layer-attention matrices of the figure's stage (0-based; ResNet-56
    stage 3): the other's (MRLA-B's) ``peak_weight`` above the subject's (DLA-B's). One run in
    an arm: the direction only; 2 or more: Welch on the per-run peak weights."""
    ra, rb = list(scores.get(subject) or []), list(scores.get(other) or [])
    if not ra or not rb:
        return {"result": "not yet run", "detail": f"needs layer-attention scores of {subject} and {other}"}
    pa = np.array([peak_weight(_stage_matrix(r, stage)[1]) for r in ra])
    pb = np.array([peak_weight(_stage_matrix(r, stage)[1]) for r in rb])
    text = f"mean largest attention weight per layer, stage {_stage_matrix(ra[0], stage)[0] + 1}: " \
           f"{other} {np.nanmean(pb):.3f} vs {subject} {np.nanmean(pa):.3f}"
    if min(len(pa), len(pb)) < 2:
        ok = bool(np.nanmean(pb) > np.nanmean(pa))
        return {"result": N1_AGREES if ok else N1_DISAGREES, "detail": f"one checkpoint in an arm: no test; {text}"}
    t = welch(pb, pa)
    ok = t.p < alpha and t.t > 0
    return {"result": "supported" if ok else "not supported", "detail": f"Welch: p {t.p:.3g}; {text}"}


def correlation_figure_result(corrs: Mapping[str, Sequence[pd.DataFrame]], families: Sequence[str] = ("se", "eca"),
                              threshold: float = 0.85, alpha: float = 0.05) -> dict[str, str]:
    """The ``extra`` entry of ``dia.correlated_attention_maps`` (DIA Fig. 2, Sec. II: "the
    average inter-layer Pearson correlation coefficients exceed 0.85 ... irrespective of the
    chosen SAMs module, dataset, stage") from per-run correlation frames
    (``probes.attention_correlations``: stage, i, j, sample, r; one per checkpoint): per family
    and stage the mean r over block pairs and samples above ``threshold``. One run of a family:
    the direction only; 2 or more of every family: one-sided one-sample t-test of the per-run
    means above ``threshold`` per (family, stage), Holm over them."""
    missing = [f for f in families if not corrs.get(f)]
    if missing:
        return {"result": "not yet run", "detail": "needs attention correlations of " + " and ".join(missing)}
    cells = {}  # (family, stage) -> per-run means
    for f in families:
        for frame in corrs[f]:
            for stage, g in frame.groupby("stage"):
                cells.setdefault((f, int(stage)), []).append(float(np.nanmean(g["r"])))
    text = "; ".join(f"{f} stage {s + 1}: {np.mean(v):.3f}" for (f, s), v in sorted(cells.items()))
    text = f"mean Pearson r over block pairs and images: {text} (the paper: above {threshold:g})"
    if min(len(corrs[f]) for f in families) < 2:
        ok = all(np.mean(v) > threshold for v in cells.values())
        return {"result": N1_AGREES if ok else N1_DISAGREES, "detail": f"one checkpoint per family: no test; {text}"}
    tests = [sps.ttest_1samp(v, threshold, alternative="greater") for v in cells.values()]
    adj = holm([float(t.pvalue) for t in tests], alpha)[0]
    ok = all(q < alpha for q in adj)
    return {"result": "supported" if ok else "not supported",
            "detail": f"one-sided one-sample t-test per (family, stage), Holm over {len(tests)}: max p "
                      f"{max(adj):.3g}; {text}"}


def fid_figure_results(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """The ``extra`` results of DIA Fig. 8's two claims from diffusion records (``kind ==
    'diffusion'``: ``batch_size``, ``dia``, ``smoke``, ``status``, ``evals`` [{step, fid}]): the
    final FID per (batch size, network) of the finished full-scale runs, one run per curve as
    the figure (n = 1: the direction only). ``dia.fig8_dia_lowers_fid``: DIA's final FID below
    U-ViT's at every batch size with both; ``dia.fig8_gain_largest_at_batch_32``: U-ViT minus
    DIA largest at batch 32 (needs batch 32 and a larger one)."""
    final: dict[int, dict[bool, float]] = {}
    for rec in records:
        if rec.get("smoke") or rec.get("status") != "done" or not rec.get("evals"):
            continue
        last = max(rec["evals"], key=lambda e: e["step"])
        final.setdefault(int(rec["batch_size"]), {})[bool(rec["dia"])] = float(last["fid"])
    both = {b: v for b, v in sorted(final.items()) if len(v) == 2}
    gains = {b: v[False] - v[True] for b, v in both.items()}
    text = "; ".join(f"batch {b}: U-ViT {v[False]:.2f}, DIA {v[True]:.2f}" for b, v in both.items())
    if not both:
        none = {"result": "not yet run", "detail": "needs finished full-scale U-ViT and DIA-U-ViT runs of one "
                                                   "batch size (./reproduce.sh dia.fig8)"}
        return {"dia.fig8_dia_lowers_fid": none, "dia.fig8_gain_largest_at_batch_32": dict(none)}
    out = {"dia.fig8_dia_lowers_fid": {
        "result": N1_AGREES if all(g > 0 for g in gains.values()) else N1_DISAGREES,
        "detail": f"one run per curve: no test; final FID {text}"}}
    if 32 in gains and len(gains) > 1:
        ok = all(gains[32] > g for b, g in gains.items() if b != 32)
        out["dia.fig8_gain_largest_at_batch_32"] = {
            "result": N1_AGREES if ok else N1_DISAGREES,
            "detail": "one run per curve: no test; FID gain (U-ViT - DIA) " +
                      ", ".join(f"batch {b}: {g:+.2f}" for b, g in gains.items())}
    else:
        out["dia.fig8_gain_largest_at_batch_32"] = {
            "result": "not yet run", "detail": f"needs batch 32 and a larger batch with both networks; have {text}"}
    return out


def gradient_figure_result(grads: Mapping[str, Sequence[pd.DataFrame]], subject: str = "dia",
                           other: str = "resnet", alpha: float = 0.05) -> dict[str, str]:
    """The ``extra`` entry of ``dia.gradients_without_skip`` (DIA Fig. 13) from per-run gradient
    read-outs (``analysis.probes.stage_gradients`` frames: stage, abs_grad; one per checkpoint):
    in every stage the subject's mean and variance of |gradient| above the other's. One run in an
    arm: the direction only; 2 or more: Welch on the per-run log mean and log variance, Holm over
    stages x the two statistics, supported when every test is significant in the claim's way."""
    def per_run(frames: Sequence[pd.DataFrame]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        out: dict[int, tuple[list, list]] = {}
        for f in frames:
            for stage, g in f.groupby("stage"):
                x = g["abs_grad"].to_numpy(float)
                out.setdefault(int(stage), ([], []))
                out[int(stage)][0].append(x.mean())
                out[int(stage)][1].append(x.var(ddof=1))
        return {k: (np.array(a), np.array(b)) for k, (a, b) in out.items()}

    fa, fb = list(grads.get(subject) or []), list(grads.get(other) or [])
    if not fa or not fb:
        return {"result": "not yet run", "detail": f"needs gradient read-outs of {subject} and {other}"}
    sa, sb = per_run(fa), per_run(fb)
    stages = sorted(set(sa) & set(sb))
    ratios = [(s, sa[s][0].mean() / sb[s][0].mean(), sa[s][1].mean() / sb[s][1].mean()) for s in stages]
    text = "; ".join(f"stage {s}: mean x{rm:.2f}, variance x{rv:.2f}" for s, rm, rv in ratios)
    if min(len(fa), len(fb)) < 2:
        ok = bool(stages) and all(rm > 1 and rv > 1 for _, rm, rv in ratios)
        return {"result": N1_AGREES if ok else N1_DISAGREES,
                "detail": f"one checkpoint in an arm: no test; {subject} vs {other}: {text}"}
    tests = [welch(np.log(sa[s][i]), np.log(sb[s][i])) for s in stages for i in (0, 1)]
    adj = holm([t.p for t in tests], alpha)[0]
    ok = all(q < alpha and t.t > 0 for t, q in zip(tests, adj))
    return {"result": "supported" if ok else "not supported",
            "detail": f"Welch on per-run log mean / log variance, Holm over {len(tests)}: max p "
                      f"{max(adj):.3g}; {text}"}


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
    if claim.kind == "params":
        return _params_result(rec, claim, a, b, ctx)
    if claim.kind == "grows":
        return _grows_result(claim, rec, a, b, ctx, runs, paper, which)
    if claim.kind == "kl_stable":
        return _kl_result(claim, rec, _arm_runs(pseudo_row(claim, a, ctx), runs))
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
    if claim.kind == "lower_std":
        rec["result"] = "supported" if sig and d < 0 else "not supported"
        rec["detail"] += ("; subject's spread significantly lower" if sig and d < 0 else
                          "; significantly higher spread" if sig else "; difference in spread not significant")
        return
    if claim.kind == "kl_stable":
        rec["result"] = "supported" if sig and d > 0 else "not supported"
        rec["detail"] += ("; significantly above" if sig and d > 0 else "; not significantly above")
        return
    if claim.kind == "grows":
        rec["result"] = "supported" if sig and d > 0 else "not supported"
        rec["detail"] += ("; grows significantly" if sig and d > 0 else "; shrinks significantly" if sig
                          else "; change not significant")
        return
    if claim.kind == "faster":
        ok = sig and d > 0 and d >= claim.threshold - SPEED_TOLERANCE
        rec["result"] = "supported" if ok else "not supported"
        what = "test-set evaluation time" if claim.metric == "eval_time" else "time"
        rec["detail"] = (f"{100 * d:.1f}% less {what} per epoch (claimed {100 * claim.threshold:.0f}%)"
                         + ("" if sig else "; difference not significant"))
        return
    if sig and d > 0:
        rec["result"], rec["detail"] = "supported", "subject significantly ahead"
    elif sig:
        rec["result"], rec["detail"] = "not supported", "significant in the opposite direction"
    else:
        rec["result"], rec["detail"] = "not supported", "difference not significant"


def claim_verdict(claim: Claim, results: Sequence[str]) -> str:
    """The claim's verdict from its comparisons' results: tested ones decide; single-run ones
    alone give "n=1: direction only"."""
    decided = [r for r in results if r in ("supported", "not supported")]
    if decided:
        return "supported" if holds(claim, decided.count("supported"), len(decided)) else "not supported"
    return N1_VERDICT if any(r in (N1_AGREES, N1_DISAGREES) for r in results) else "not yet run"


def claim_scope(contexts: Sequence[str], results: Sequence[str]) -> str:
    """Which contexts were tested (or computed), which had single runs only (with the directions)
    and which were not yet run, e.g. 'Tested: CIFAR-100, ResNet-56. n=1, direction only:
    ImageNet-1K, ResNet-50 (1 of 2 agree). Not yet run: ImageNet-1K, ResNet-101.'"""
    by_ctx: dict[str, list[str]] = {}
    for c, r in zip(contexts, results):
        by_ctx.setdefault(c, []).append(r)
    tested, single, untested = [], [], []
    for c, rs in by_ctx.items():
        n1 = [r for r in rs if r in (N1_AGREES, N1_DISAGREES)]
        if any(r in ("supported", "not supported") for r in rs):
            tested.append(c)
        elif n1:
            single.append(f"{c} ({n1.count(N1_AGREES)} of {len(n1)} agree)")
        else:
            untested.append(c)
    parts = [("Tested", tested), ("n=1, direction only", single), ("Not yet run", untested)]
    return " ".join(f"{k}: {'; '.join(v)}." for k, v in parts if v)


def _summarise(claim: Claim, recs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    results = [r["result"] for r in recs]
    decided = [r for r in results if r in ("supported", "not supported")]
    n_sup, n1 = decided.count("supported"), sum(r in (N1_AGREES, N1_DISAGREES) for r in results)
    smoke_only = not decided and not n1 and any("smoke" in r["detail"] for r in recs)
    scope = claim_scope([r["context"] for r in recs], results)
    coverage = (f"{len(decided)}/{len(recs)} comparisons {'computed' if claim.kind == 'params' else 'tested'}"
                + (f", {n_sup} supporting" if decided else "")
                + (f", {n1} with a single run ({results.count(N1_AGREES)} agree in direction)" if n1 else "")
                + (" (smoke runs exist, not counted)" if smoke_only else "") + f". {scope.rstrip('.')}")
    return {"claim": claim.id, "paper": claim.paper, "text": claim.text, "source": claim.source,
            "kind": claim.kind, "verdict": claim_verdict(claim, results), "comparisons": len(recs),
            "run": len(decided), "supporting": n_sup, "single_run": n1, "smoke_only": smoke_only,
            "scope": scope, "coverage": coverage}


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
        summary.append(_summarise(claim, recs))
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
