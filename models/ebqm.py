"""Enhanced Beta Quantile Mapping (ELA Algorithm 1) and the alternatives ELA compares.

ELA section 3.3, Algorithm 1, on the per-layer KL values [x_1, ..., x_l] of one
measurement window (``models.kl``):

    line 2   sort ascending
    line 3   S_gamma = {x_i | x_i <= Q_gamma},  Q_gamma = gamma-quantile of [x_1..x_l]
    line 5   x'_j = (x_j - min S_gamma) / (max S_gamma - min S_gamma)       for x_j in S_gamma
    line 6   y_j  = F_Beta(x'_j; alpha, beta)                                (Eq. 12)
    line 7-8 if y_j < mu: x_j = -1  (skip layer j)
    line 12  return the updated list (pruned layers hold -1)

``ebqm(kl, alpha, beta, mu, gamma)`` does exactly this and returns a ``Selection``
(mask of layers to prune plus every intermediate, for logging). ``select_pruned``
adds the alternatives of ELA's ablations, one named option each:

* ``method='ebqm'`` (default); ``'threshold'``: raw KL < ``tau`` (section 5.1, Table 4
  "Threshold-Based"); ``'fixed'``: the ``k`` lowest-KL layers (Table 4 "Fixed Layer
  Pruning").
* ``mapping=`` replaces line 6: ``'beta'`` (default) / ``'normal'`` / ``'gamma'`` CDF,
  ``'softmax'``, ``'sigmoid'`` (section 5.2, Table 6); ``'identity'`` (no reshaping:
  the plain normalised threshold of section 3.3's six-layer example); quantile
  mappings (Appendix A, Algorithm 2, Table 7) ``'bqm'`` (= EBQM, ``'beta'``),
  ``'gqm'`` (Gamma), ``'eqm'`` (exponential), and ``'bqm_classic'`` (Algorithm 2 with a
  Beta target, for comparison).

Readings chosen where the paper is not explicit (all listed in docs/models.md,
"ELA: KL redundancy and EBQM"):

* gamma: the paper names "the computed gamma-quantile" but never gives its value.
  ``DEFAULT_GAMMA = 0.5`` (the median) is our choice, used by every preset.
* Q_gamma: numpy's default ``'linear'`` quantile (Hyndman-Fan type 7, also
  ``torch.quantile``'s); ``quantile_method=`` takes any numpy method.
* The threshold is called epsilon in Algorithm 1's parameter line and mu in line 7
  and in section 4; it is ``mu`` here. The test is strict, ``y < mu``.
* Layers already at -1 (pruned at an earlier window; "at each training stage (except
  the initial one), the KL divergence distribution is influenced by the results of the
  previous stage") stay pruned and take no part in the quantile, the min-max or the
  mapping (``pruned='exclude'``, default). Algorithm 1 read literally would sort the
  -1 entries with the rest, so they would lower Q_gamma and become min(S_gamma);
  ``pruned='include'`` does that (they still stay pruned).
* Algorithm 1's outer loop "for epoch e = 1 to E" is one run of the body per
  measurement window, on that window's averaged KL (section 4); running the body
  twice on the same list would only re-prune, since nothing is re-measured.
* Degenerate sets: if max S_gamma == min S_gamma (all KL equal, or a single layer)
  line 5 is 0/0; ``on_degenerate='keep'`` (default) prunes nothing, ``'prune'`` prunes
  all of S_gamma (the 0/0 := 0 convention: F(0) = 0 < mu). No layers left (empty
  input, or all already pruned): nothing new is pruned. Every numpy quantile lies in
  [min, max], so S_gamma is never empty otherwise; if it were, nothing is pruned.
* Note what Algorithm 1 implies for mu in (0, 1]: min S_gamma maps to F(0) = 0 and is
  always pruned; max S_gamma maps to F(1) = 1 and is never pruned.
* Table 7's GQM and EQM (Appendix A) come with no parameters. ``calibration='moments'``
  (default) gives each target the Beta(alpha, beta)'s mean (and variance, for the Gamma):
  then, with the CIFAR preset, GQM prunes NO layer (its smallest mapped value, about
  F_Gamma^{-1}(1/m) ~ 0.67 for m = 8, is above mu = 0.3: the row is MRLA-B) and EQM prunes
  about a third as many layers as EBQM (ResNet-56: 2+2+1 = 5 against 6+4+2 = 12 on evenly
  spread KL values over three windows; ResNet-110: 5+4+3 = 12 against 13+8+4 = 25).
  ``calibration='ebqm_fraction'`` makes the rules comparable: the target's scale (GQM,
  shape kept) or rate (EQM) is set so that F_target(mu) = F_Beta^{-1}(mu; alpha, beta),
  i.e. each prunes the same expected fraction of uniformly spread S_gamma values as EBQM
  (0.3^(1/5) = 78.6% with the CIFAR preset); on evenly spread values GQM and EQM then
  prune 6+3+2 = 11 (ResNet-56) and 13+7+5 = 25 (ResNet-110); on log-normal KL vectors
  (sigma 1, 200 draws, re-drawn each window) 11.0 / 25.0 against EBQM's 11.3 / 25.5 (and
  0 / 5.0 / 12.0 for moment-matched GQM / EQM). ELA Table 7 uses this reading. Note that
  any quantile mapping prunes by rank alone: layer j goes iff its empirical CDF p_j <
  F_target(mu), so the target's shape matters only through F_target(mu), and calibrated
  GQM and EQM make the same decisions (a cutoff at 78.6% of S_gamma's ranks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
from scipy import special, stats

from .registry import ConfigError

__all__ = [
    "DEFAULT_GAMMA",
    "MAPPINGS",
    "METHODS",
    "PRESETS",
    "PRUNED",
    "Selection",
    "apply_mapping",
    "ebqm",
    "ecdf",
    "select_pruned",
]

PRUNED = -1.0  # Algorithm 1 line 8: "Skip layer: Set x_j = -1"
DEFAULT_GAMMA = 0.5  # our choice: the paper gives no value for gamma

# ELA section 4 (and 4.2 for detection); gamma is ours (see above).
PRESETS: dict[str, dict[str, float]] = {
    "cifar": dict(alpha=5.0, beta=1.0, mu=0.3, gamma=DEFAULT_GAMMA),
    "imagenet": dict(alpha=2.0, beta=5.0, mu=0.25, gamma=DEFAULT_GAMMA),
    "detection": dict(alpha=2.0, beta=5.0, mu=0.2, gamma=DEFAULT_GAMMA),
}

METHODS = ("ebqm", "threshold", "fixed")
CALIBRATIONS = ("moments", "ebqm_fraction")
MAPPINGS = ("beta", "bqm", "normal", "gamma", "softmax", "sigmoid", "identity", "gqm", "eqm", "bqm_classic")
_MAPPING_PARAMS = {
    "beta": (),
    "bqm": (),
    "identity": (),
    "bqm_classic": (),
    "normal": ("loc", "scale"),
    "gamma": ("a", "scale"),
    "gqm": ("a", "scale"),
    "sigmoid": ("center", "scale"),
    "softmax": ("temperature",),
    "eqm": ("rate",),
}
_QUANTILE_METHODS = (
    "inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
    "hazen", "weibull", "linear", "median_unbiased", "normal_unbiased", "lower", "higher",
    "midpoint", "nearest",
)


@dataclass
class Selection:
    """One pruning decision over l layers (arrays of length l, in input order).

    mask: True = pruned after this decision (earlier -1 entries included);
    newly: True = pruned by this decision; values: Algorithm 1's output, the KL
    values with -1 at every pruned layer; subset: layers in S_gamma (``'threshold'`` and
    ``'fixed'``: the layers considered, i.e. not already pruned); normalized / mapped:
    x'_j and y_j on S_gamma, NaN elsewhere; q_gamma: Q_gamma (None when not used);
    degenerate: True when min-max was 0/0 or no layer was left; keys: the layer
    names when the input was a mapping.
    """

    mask: np.ndarray
    newly: np.ndarray
    values: np.ndarray
    subset: np.ndarray
    normalized: np.ndarray
    mapped: np.ndarray
    q_gamma: float | None
    method: str
    mapping: str | None
    degenerate: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    keys: list[Hashable] | None = None

    @property
    def num_pruned(self) -> int:
        return int(self.mask.sum())

    def pruned_keys(self) -> list:
        """Names (or indices) of every pruned layer."""
        names = self.keys if self.keys is not None else list(range(len(self.mask)))
        return [n for n, m in zip(names, self.mask) if m]

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and floats (NaN -> None), for JSON logs."""

        def clean(a):
            return [None if (isinstance(v, float) and math.isnan(v)) else v for v in a.tolist()]

        return {
            "method": self.method,
            "mapping": self.mapping,
            "params": dict(self.params),
            "keys": None if self.keys is None else [str(k) for k in self.keys],
            "q_gamma": self.q_gamma,
            "degenerate": self.degenerate,
            "mask": self.mask.tolist(),
            "newly": self.newly.tolist(),
            "values": self.values.tolist(),
            "subset": self.subset.tolist(),
            "normalized": clean(self.normalized),
            "mapped": clean(self.mapped),
        }


# --------------------------------------------------------------------------- input checks
def _as_array(kl_values) -> tuple[np.ndarray, list | None]:
    keys = None
    if isinstance(kl_values, Mapping):
        keys = list(kl_values.keys())
        kl_values = [float(kl_values[k]) for k in keys]
    if hasattr(kl_values, "detach"):  # torch tensor
        kl_values = kl_values.detach().cpu().numpy()
    x = np.asarray(kl_values, dtype=np.float64)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.ndim != 1:
        raise ValueError(f"KL values must be a 1-D list (one value per layer), got shape {x.shape}")
    bad = ~np.isfinite(x) | ((x < 0) & (x != PRUNED))
    if bad.any():
        raise ValueError(
            f"KL values must be finite and >= 0 (or -1 for an already pruned layer); bad at positions {np.flatnonzero(bad).tolist()}"
        )
    return x, keys


def _num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _check_params(alpha, beta, mu, gamma, where: str) -> None:
    if not (_num(alpha) and alpha > 0 and math.isfinite(alpha)):
        raise ConfigError(f"{where}: alpha must be a finite number > 0 (Beta shape), got {alpha!r}")
    if not (_num(beta) and beta > 0 and math.isfinite(beta)):
        raise ConfigError(f"{where}: beta must be a finite number > 0 (Beta shape), got {beta!r}")
    if not (_num(mu) and 0.0 <= mu <= 1.0):
        raise ConfigError(f"{where}: mu must be in [0, 1] (threshold on the mapped value), got {mu!r}")
    if not (_num(gamma) and 0.0 < gamma <= 1.0):
        raise ConfigError(f"{where}: gamma must be in (0, 1] (quantile of the KL values kept), got {gamma!r}")


# --------------------------------------------------------------------------- mappings
def ecdf(x: np.ndarray) -> np.ndarray:
    """Appendix A, Algorithm 2 line 1: p(x_i) = (1/n) sum_j I(x_j <= x_i)."""
    x = np.asarray(x, dtype=np.float64)
    s = np.sort(x)
    return np.searchsorted(s, x, side="right") / x.size


def _beta_moments(alpha: float, beta: float) -> tuple[float, float]:
    m = alpha / (alpha + beta)
    v = alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1.0))
    return m, v


def _resolve_params(mapping: str, alpha: float, beta: float, given: Mapping | None,
                    mu: float | None = None, calibration: str = "moments") -> dict[str, float]:
    if calibration not in CALIBRATIONS:
        raise ConfigError(f"unknown calibration {calibration!r}; valid: {', '.join(CALIBRATIONS)}")
    if calibration == "ebqm_fraction" and (mapping not in ("gqm", "eqm") or mu is None):
        raise ConfigError(f"calibration='ebqm_fraction' applies to the quantile mappings 'gqm' and 'eqm' "
                          f"(with mu), not {mapping!r}")
    allowed = _MAPPING_PARAMS[mapping]
    given = dict(given or {})
    extra = sorted(set(given) - set(allowed))
    if extra:
        raise ConfigError(
            f"mapping {mapping!r} takes mapping_params {list(allowed) or 'none'}, got unknown {extra}"
        )
    for k, v in given.items():
        if not (_num(v) and math.isfinite(v)) or (k != "loc" and k != "center" and v <= 0):
            raise ConfigError(f"mapping_params[{k!r}] for {mapping!r} must be a finite number{'' if k in ('loc', 'center') else ' > 0'}, got {v!r}")
    m, v = _beta_moments(alpha, beta)
    sd = math.sqrt(v)
    if mapping == "normal":  # N(m, v) moment-matched to Beta(alpha, beta)
        out = {"loc": m, "scale": sd}
    elif mapping in ("gamma", "gqm"):  # Gamma(shape a, scale) with mean m, variance v
        out = {"a": m * m / v, "scale": v / m}
    elif mapping == "sigmoid":  # logistic CDF with mean m, variance v: scale = sqrt(3 v) / pi
        out = {"center": m, "scale": math.sqrt(3.0 * v) / math.pi}
    elif mapping == "softmax":
        out = {"temperature": 1.0}
    elif mapping == "eqm":  # Exp(rate) with mean m
        out = {"rate": 1.0 / m}
    else:
        out = {}
    if calibration == "ebqm_fraction":  # F_target(mu) = F_Beta^{-1}(mu): EBQM's pruned fraction
        frac = float(stats.beta.ppf(mu, alpha, beta))
        if mapping == "gqm":
            out["scale"] = mu / float(stats.gamma.ppf(frac, out["a"]))
        else:
            out["rate"] = -math.log1p(-frac) / mu
    out.update({k: float(v) for k, v in given.items()})
    return out


def apply_mapping(
    xn: np.ndarray, mapping: str, alpha: float, beta: float, mapping_params: Mapping | None = None,
    *, mu: float | None = None, calibration: str = "moments",
) -> tuple[np.ndarray, dict[str, float]]:
    """Algorithm 1 line 6 and its replacements, on the normalised values x' of S_gamma.

    Forward maps (value -> [0, 1]), section 5.2 / Table 6:
      'beta' = 'bqm'  F_Beta(x'; alpha, beta) (Eq. 12), scipy.stats.beta.cdf
      'normal'        Phi((x' - loc) / scale)
      'gamma'         F_Gamma(x'; a, scale)
      'sigmoid'       1 / (1 + exp(-(x' - center) / scale))
      'softmax'       exp(x'/T) / sum over S_gamma of exp(x'/T)
      'identity'      x' itself (no reshaping)
    The paper gives no parameters for Normal, Gamma and sigmoid; by default each is
    the distribution with the Beta(alpha, beta)'s mean m = alpha/(alpha+beta) and
    variance v = alpha beta / ((alpha+beta)^2 (alpha+beta+1)) (the logistic one for the
    sigmoid), so only the shape differs from EBQM; softmax has temperature 1.
    ``mapping_params`` overrides (e.g. Appendix A's letters, Gamma shape alpha and
    scale beta: ``{'a': alpha, 'scale': beta}``).

    Quantile mappings, Appendix A Algorithm 2 (x'_i = F_theta^{-1}(p(x_i)), p the
    empirical CDF over S_gamma; invariant to the min-max step):
      'gqm'           Gamma target (a, scale), default moment-matched as above
      'eqm'           exponential target, x' = -log(1 - p) / rate, default rate = 1/m
      'bqm_classic'   Beta(alpha, beta) target
    The largest value has p = 1 and maps to +inf for these (never pruned).
    ``calibration='ebqm_fraction'`` (with ``mu``) re-parameterises 'gqm' / 'eqm' so that
    they prune EBQM's expected fraction (module docstring).

    Every mapping is non-decreasing in x' (within one call).
    """
    if mapping not in MAPPINGS:
        raise ConfigError(f"unknown EBQM mapping {mapping!r}; valid: {', '.join(MAPPINGS)}")
    prm = _resolve_params(mapping, alpha, beta, mapping_params, mu, calibration)
    xn = np.asarray(xn, dtype=np.float64)
    if xn.size == 0:
        return xn.copy(), prm
    if mapping in ("beta", "bqm"):
        y = stats.beta.cdf(xn, alpha, beta)
    elif mapping == "normal":
        y = stats.norm.cdf(xn, loc=prm["loc"], scale=prm["scale"])
    elif mapping == "gamma":
        y = stats.gamma.cdf(xn, prm["a"], scale=prm["scale"])
    elif mapping == "sigmoid":
        y = special.expit((xn - prm["center"]) / prm["scale"])
    elif mapping == "softmax":
        y = special.softmax(xn / prm["temperature"])
    elif mapping == "identity":
        y = xn.copy()
    else:
        p = ecdf(xn)
        if mapping == "gqm":
            y = stats.gamma.ppf(p, prm["a"], scale=prm["scale"])
        elif mapping == "eqm":
            y = stats.expon.ppf(p, scale=1.0 / prm["rate"])
        else:  # bqm_classic
            y = stats.beta.ppf(p, alpha, beta)
    return np.asarray(y, dtype=np.float64), prm


# --------------------------------------------------------------------------- Algorithm 1
def ebqm(
    kl_values: Sequence[float] | np.ndarray | Mapping[Hashable, float],
    alpha: float,
    beta: float,
    mu: float,
    gamma: float = DEFAULT_GAMMA,
    *,
    mapping: str = "beta",
    mapping_params: Mapping[str, float] | None = None,
    quantile_method: str = "linear",
    pruned: str = "exclude",
    on_degenerate: str = "keep",
    calibration: str = "moments",
) -> Selection:
    """ELA Algorithm 1 (one window's decision). See the module docstring for the
    readings; ``kl_values`` is a 1-D sequence, tensor or ``{layer: KL}`` mapping, with
    -1 at layers pruned earlier (they stay pruned)."""
    _check_params(alpha, beta, mu, gamma, "ebqm")
    if mapping not in MAPPINGS:
        raise ConfigError(f"unknown EBQM mapping {mapping!r}; valid: {', '.join(MAPPINGS)}")
    if quantile_method not in _QUANTILE_METHODS:
        raise ConfigError(f"unknown quantile_method {quantile_method!r}; valid: {', '.join(_QUANTILE_METHODS)}")
    if pruned not in ("exclude", "include"):
        raise ConfigError(f"pruned must be 'exclude' or 'include', got {pruned!r}")
    if on_degenerate not in ("keep", "prune"):
        raise ConfigError(f"on_degenerate must be 'keep' or 'prune', got {on_degenerate!r}")
    x, keys = _as_array(kl_values)
    n = x.size
    already = x == PRUNED
    live = ~already
    pool = x if pruned == "include" else x[live]
    normalized = np.full(n, np.nan)
    mapped = np.full(n, np.nan)
    params = dict(alpha=float(alpha), beta=float(beta), mu=float(mu), gamma=float(gamma),
                  quantile_method=quantile_method, pruned=pruned, on_degenerate=on_degenerate)
    mkw = dict(mu=mu, calibration=calibration)
    _, mprm = apply_mapping(np.empty(0), mapping, alpha, beta, mapping_params, **mkw)
    params.update({f"map_{k}": v for k, v in mprm.items()})

    def result(newly, subset, q, degenerate):
        values = x.copy()
        values[newly] = PRUNED
        return Selection(mask=already | newly, newly=newly, values=values, subset=subset,
                         normalized=normalized, mapped=mapped, q_gamma=q, method="ebqm",
                         mapping=mapping, degenerate=degenerate, params=params, keys=keys)

    no = np.zeros(n, dtype=bool)
    if not live.any():
        return result(no.copy(), no.copy(), None, True)
    # line 3: Q_gamma and S_gamma (over the pool; under 'include' the -1 entries too)
    q = float(np.quantile(pool, gamma, method=quantile_method))
    in_s = x <= q if pruned == "include" else live & (x <= q)
    decide = in_s & live  # layers whose fate is decided here
    if not decide.any():
        return result(no.copy(), in_s, q, True)
    lo, hi = float(x[in_s].min()), float(x[in_s].max())
    span = hi - lo
    if not span > 0:  # line 5 is 0/0
        newly = decide.copy() if (on_degenerate == "prune" and mu > 0) else no.copy()
        return result(newly, in_s, q, True)
    # line 5: min-max normalisation (clipped against rounding)
    normalized[in_s] = np.clip((x[in_s] - lo) / span, 0.0, 1.0)
    # line 6: the mapping (jointly over S_gamma: softmax and the ECDF need the whole set)
    mapped[in_s], _ = apply_mapping(normalized[in_s], mapping, alpha, beta, mapping_params, **mkw)
    # lines 7-8: y_j < mu -> skip layer j
    newly = decide & (mapped < mu)
    return result(newly, in_s, q, False)


# --------------------------------------------------------------------------- alternatives
def select_pruned(
    kl_values: Sequence[float] | np.ndarray | Mapping[Hashable, float],
    method: str = "ebqm",
    *,
    preset: str | None = None,
    alpha: float | None = None,
    beta: float | None = None,
    mu: float | None = None,
    gamma: float | None = None,
    tau: float | None = None,
    k: int | None = None,
    **ebqm_kwargs,
) -> Selection:
    """The layer-selection rules ELA compares (Table 4), one named ``method`` each.

    ``'ebqm'``: Algorithm 1 (``ebqm``) with ``alpha, beta, mu, gamma`` (or a ``preset``
    name from ``PRESETS``, explicit values overriding it) and ``ebqm``'s keyword options
    (``mapping=`` for Tables 6 and 7, ...).

    ``'threshold'``: section 5.1, "a fixed hyperparameter to define a KL divergence
    threshold: layers with values below the threshold were discarded": raw KL < ``tau``
    (strict, as line 7). The paper gives no tau. (Section 3.3's six-layer example
    thresholds the gamma-quantile-normalised values instead: that is
    ``method='ebqm', mapping='identity'``.)

    ``'fixed'``: "the number of pruned layers was determined by a hyperparameter": the
    ``k`` lowest-KL layers not yet pruned are pruned at this decision ("the same number
    of layers is removed from each stage"); ties go to the earlier layer; k larger than
    the layers left prunes them all.

    In every method -1 entries are layers pruned before and stay pruned.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown pruning method {method!r}; valid: {', '.join(METHODS)}")
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown EBQM preset {preset!r}; valid: {', '.join(PRESETS)}")
    if method == "ebqm":
        if tau is not None or k is not None:
            raise ConfigError("select_pruned: tau is for method='threshold' and k for method='fixed', not 'ebqm'")
        cfg = dict(PRESETS[preset]) if preset else {"gamma": DEFAULT_GAMMA}
        for name, val in (("alpha", alpha), ("beta", beta), ("mu", mu), ("gamma", gamma)):
            if val is not None:
                cfg[name] = val
        missing = [n for n in ("alpha", "beta", "mu") if n not in cfg]
        if missing:
            raise ConfigError(f"select_pruned: method 'ebqm' needs {', '.join(missing)} (or preset=one of {', '.join(PRESETS)})")
        return ebqm(kl_values, cfg["alpha"], cfg["beta"], cfg["mu"], cfg["gamma"], **ebqm_kwargs)
    if preset is not None or ebqm_kwargs or any(v is not None for v in (alpha, beta, mu, gamma)):
        raise ConfigError(f"select_pruned: method {method!r} takes only {'tau' if method == 'threshold' else 'k'}; preset/alpha/beta/mu/gamma/mapping are EBQM options")
    x, keys = _as_array(kl_values)
    already = x == PRUNED
    live = ~already
    newly = np.zeros(x.size, dtype=bool)
    if method == "threshold":
        if tau is None or not (_num(tau) and math.isfinite(tau)):
            raise ConfigError(f"select_pruned: method 'threshold' needs tau, a finite KL threshold, got {tau!r}")
        if k is not None:
            raise ConfigError("select_pruned: k is for method='fixed', not 'threshold'")
        newly = live & (x < tau)
        params: dict[str, Any] = {"tau": float(tau)}
    else:
        if k is None or not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 0:
            raise ConfigError(f"select_pruned: method 'fixed' needs k, an integer >= 0 (layers pruned per decision), got {k!r}")
        if tau is not None:
            raise ConfigError("select_pruned: tau is for method='threshold', not 'fixed'")
        idx = np.flatnonzero(live)
        order = idx[np.argsort(x[idx], kind="stable")]
        newly[order[: int(k)]] = True
        params = {"k": int(k)}
    values = x.copy()
    values[newly] = PRUNED
    nan = np.full(x.size, np.nan)
    return Selection(mask=already | newly, newly=newly, values=values, subset=live, normalized=nan,
                     mapped=nan.copy(), q_gamma=None, method=method, mapping=None,
                     degenerate=not live.any(), params=params, keys=keys)
