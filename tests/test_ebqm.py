"""ELA Algorithm 1 (EBQM) and the alternatives of ELA Tables 4, 6 and 7.

Expected values are worked out by hand in the comments: Beta(5,1) has CDF x^5;
Beta(2,5) has CDF I_x(2,5) = sum_{j=2..6} C(6,j) x^j (1-x)^(6-j) = 1 - (1-x)^6 - 6x(1-x)^5.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from models.ebqm import (
    DEFAULT_GAMMA,
    MAPPINGS,
    PRESETS,
    PRUNED,
    apply_mapping,
    ebqm,
    ecdf,
    select_pruned,
)
from models.registry import ConfigError


def beta25_cdf(x):
    """Closed form of the Beta(2, 5) CDF (integer shapes: a binomial tail)."""
    return 1 - (1 - x) ** 6 - 6 * x * (1 - x) ** 5


def gamma_int_cdf(x, a, scale):
    """Erlang CDF (integer shape a): 1 - sum_{j<a} e^{-x/s} (x/s)^j / j!."""
    z = x / scale
    return 1 - sum(math.exp(-z) * z**j / math.factorial(j) for j in range(a))


# The fixed vector. Sorted: .1 .2 .3 .4 .5 .6 .7 .9 (n = 8).
# Q_0.5 (linear) = position 3.5 = (0.4 + 0.5)/2 = 0.45 -> S = {.1, .2, .3, .4}
# min .1, max .4, span .3: x' = 0, 1/3, 2/3, 1
KL = [0.1, 0.5, 0.2, 0.9, 0.3, 0.7, 0.4, 0.6]
IN_S = [True, False, True, False, True, False, True, False]


def test_presets_are_the_papers():
    # ELA section 4 (CIFAR, ImageNet) and 4.2 (detection); gamma is our documented choice
    assert PRESETS["cifar"] == dict(alpha=5, beta=1, mu=0.3, gamma=0.5)
    assert PRESETS["imagenet"] == dict(alpha=2, beta=5, mu=0.25, gamma=0.5)
    assert PRESETS["detection"] == dict(alpha=2, beta=5, mu=0.2, gamma=0.5)
    assert DEFAULT_GAMMA == 0.5


def test_beta51_fixed_vector():
    r = ebqm(KL, alpha=5, beta=1, mu=0.3, gamma=0.5)
    assert r.q_gamma == pytest.approx(0.45, abs=1e-15)
    assert r.subset.tolist() == IN_S
    norm = r.normalized[r.subset]
    assert norm == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0], abs=1e-15)
    # x^5: 0, 1/243 = 0.004115, 32/243 = 0.131687, 1
    assert r.mapped[r.subset] == pytest.approx([0.0, 1 / 243, 32 / 243, 1.0], abs=1e-12)
    assert np.isnan(r.normalized[~r.subset]).all() and np.isnan(r.mapped[~r.subset]).all()
    # y < 0.3: .1, .2, .3 pruned; .4 (y = 1) kept
    assert r.mask.tolist() == [True, False, True, False, True, False, False, False]
    assert r.newly.tolist() == r.mask.tolist()
    # Algorithm 1's output: the KL list with -1 at skipped layers
    assert r.values.tolist() == [-1, 0.5, -1, 0.9, -1, 0.7, 0.4, 0.6]
    assert r.num_pruned == 3 and r.pruned_keys() == [0, 2, 4]


@pytest.mark.parametrize("preset,mu", [("imagenet", 0.25), ("detection", 0.2)])
def test_beta25_fixed_vector(preset, mu):
    r = select_pruned(KL, preset=preset)
    # F(1/3) = 1 - (2/3)^6 - 2 (2/3)^5 = 1 - 64/729 - 192/729 = 473/729 = 0.648834
    # F(2/3) = 1 - (1/3)^6 - 4 (1/3)^5 = 1 - 1/729 - 12/729 = 716/729 = 0.982167
    assert r.mapped[r.subset] == pytest.approx([0.0, 473 / 729, 716 / 729, 1.0], abs=1e-12)
    assert [beta25_cdf(x) for x in (0, 1 / 3, 2 / 3, 1)] == pytest.approx([0.0, 473 / 729, 716 / 729, 1.0], abs=1e-12)
    # only y = 0 < mu: the smallest KL
    assert r.mask.tolist() == [True] + [False] * 7
    assert r.params["mu"] == mu


def test_gamma_one_uses_every_layer():
    # Q_1 = max = 0.9, S = all, x' = (x - .1)/.8 -> .1 .2 .3 .4 .5 .6 .7 .9 -> 0 1/8 2/8 3/8 4/8 5/8 6/8 1
    # x^5: 0, 3.05e-5, 9.77e-4, 7.42e-3, 0.03125, 0.0954, 0.2373, 1 -> all but 0.9 under 0.3
    r = ebqm(KL, 5, 1, 0.3, gamma=1.0)
    assert r.q_gamma == pytest.approx(0.9)
    assert r.subset.all()
    assert sorted(r.mapped) == pytest.approx([0, (1 / 8) ** 5, (2 / 8) ** 5, (3 / 8) ** 5, (4 / 8) ** 5, (5 / 8) ** 5, (6 / 8) ** 5, 1.0])
    assert r.mask.tolist() == [True, True, True, False, True, True, True, True]


def test_mapping_input_keeps_layer_names():
    r = ebqm(dict(zip("abcdefgh", KL)), 5, 1, 0.3)
    assert r.keys == list("abcdefgh")
    assert r.pruned_keys() == ["a", "c", "e"]
    d = r.as_dict()
    assert d["keys"] == list("abcdefgh") and d["mapped"][1] is None and d["mask"][0] is True


# --------------------------------------------------------------------------- the paper's example
# ELA section 3.3: "if the threshold mu is set to 0.3, six layers with KL divergence values
# ranging from 0.31 to 0.33 in one training run may fall within the range of 0.27 to 0.29 in
# another. This discrepancy results in a six-layer difference in the layers skipped".
# Built so that S_0.5 = the first 8 values with min 0 and max 1 (n = 15, the median is the
# 8th smallest = 1.0), i.e. the normalised values equal the raw ones.
TAIL = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
RUN_A = [0.0, 0.31, 0.314, 0.318, 0.322, 0.326, 0.33] + TAIL
RUN_B = [0.0, 0.27, 0.274, 0.278, 0.282, 0.286, 0.29] + TAIL
SIX = slice(1, 7)


def test_paper_example_plain_threshold_flips_all_six():
    for how in (dict(method="ebqm", preset="cifar", mapping="identity"), dict(method="threshold", tau=0.3)):
        a, b = select_pruned(RUN_A, **how), select_pruned(RUN_B, **how)
        assert not a.mask[SIX].any()  # 0.31..0.33 >= 0.3: kept
        assert b.mask[SIX].all()  # 0.27..0.29 < 0.3: pruned
        assert int((a.mask != b.mask).sum()) == 6


def test_paper_example_ebqm_gives_the_same_decision():
    a, b = select_pruned(RUN_A, preset="cifar"), select_pruned(RUN_B, preset="cifar")
    assert a.q_gamma == 1.0 and b.q_gamma == 1.0
    assert a.normalized[:8] == pytest.approx(RUN_A[:8], abs=1e-15)
    # Beta(5,1): 0.27^5 = 0.0014349 ... 0.33^5 = 0.0039135, all far below mu = 0.3
    assert a.mapped[SIX] == pytest.approx([x**5 for x in RUN_A[SIX]], abs=1e-12)
    assert max(a.mapped[SIX]) == pytest.approx(0.0039135393, abs=1e-10)
    assert min(b.mapped[SIX]) == pytest.approx(0.0014348907, abs=1e-10)
    assert a.mask.tolist() == b.mask.tolist() == [True] * 7 + [False] * 8
    # ImageNet preset, Beta(2,5), mu=0.25: F(0.27) = 0.512828, F(0.33) = 0.642217: all kept, in both runs
    a, b = select_pruned(RUN_A, preset="imagenet"), select_pruned(RUN_B, preset="imagenet")
    assert b.mapped[1] == pytest.approx(0.512828175645, abs=1e-9)
    assert a.mapped[6] == pytest.approx(0.642216846645, abs=1e-9)
    assert a.mask.tolist() == b.mask.tolist() == [True] + [False] * 14


# --------------------------------------------------------------------------- already pruned layers
def test_already_pruned_layers_are_skipped_and_stay_pruned():
    r = ebqm([PRUNED] + KL, 5, 1, 0.3)
    # same decision on the live layers as without the -1
    assert r.mask.tolist() == [True, True, False, True, False, True, False, False, False]
    assert r.newly.tolist() == [False, True, False, True, False, True, False, False, False]
    assert not r.subset[0] and np.isnan(r.mapped[0]) and r.values[0] == -1


def test_already_pruned_literal_reading():
    # pruned='include': the -1 is sorted with the rest. Pool of 9, median (position 4) = 0.4,
    # S = {-1, .1, .2, .3, .4}, min -1, span 1.4: .1 -> 11/14, .2 -> 12/14, .3 -> 13/14, .4 -> 1
    # (11/14)^5 = 161051/537824 = 0.29945 < 0.3 pruned; (6/7)^5 = 7776/16807 = 0.46266 kept
    r = ebqm([PRUNED] + KL, 5, 1, 0.3, pruned="include")
    assert r.q_gamma == pytest.approx(0.4)
    assert r.mapped[1] == pytest.approx(161051 / 537824, abs=1e-12)
    assert r.mapped[3] == pytest.approx(7776 / 16807, abs=1e-12)
    assert r.mask.tolist() == [True, True] + [False] * 7


# --------------------------------------------------------------------------- degenerate inputs
def test_all_equal_and_single_layer():
    for vals in ([0.2, 0.2, 0.2], [0.5]):
        r = ebqm(vals, 5, 1, 0.3)
        assert r.degenerate and not r.mask.any() and np.isnan(r.normalized).all()
        r = ebqm(vals, 5, 1, 0.3, on_degenerate="prune")
        assert r.degenerate and r.mask.all()
    # gamma below 1 on equal values: Q = 0.2, S = all three, still degenerate
    assert not ebqm([0.2, 0.2, 0.2], 5, 1, 0.3, gamma=0.1).mask.any()


def test_empty_and_all_pruned():
    r = ebqm([], 5, 1, 0.3)
    assert r.mask.shape == (0,) and r.q_gamma is None and r.degenerate
    r = ebqm([PRUNED, PRUNED], 5, 1, 0.3)
    assert r.mask.tolist() == [True, True] and not r.newly.any() and r.degenerate
    for method, kw in (("threshold", dict(tau=1.0)), ("fixed", dict(k=1))):
        assert select_pruned([], method, **kw).mask.shape == (0,)
        assert select_pruned([PRUNED], method, **kw).mask.tolist() == [True]


def test_mu_bounds():
    assert not ebqm(KL, 5, 1, 0.0).mask.any()  # y < 0 never holds
    # mu = 1: everything in S except its max (y = 1)
    assert ebqm(KL, 5, 1, 1.0).mask.tolist() == [True, False, True, False, True, False, False, False]


def test_bad_kl_values():
    for bad in ([0.1, float("nan")], [0.1, float("inf")], [0.1, -0.5], [[0.1, 0.2]]):
        with pytest.raises(ValueError):
            ebqm(bad, 5, 1, 0.3)


# --------------------------------------------------------------------------- invalid parameters
@pytest.mark.parametrize(
    "kw,name,rng",
    [
        (dict(alpha=0), "alpha", "> 0"),
        (dict(alpha=-1), "alpha", "> 0"),
        (dict(alpha=float("nan")), "alpha", "> 0"),
        (dict(beta=0), "beta", "> 0"),
        (dict(beta=-2.5), "beta", "> 0"),
        (dict(mu=-0.1), "mu", "[0, 1]"),
        (dict(mu=1.5), "mu", "[0, 1]"),
        (dict(gamma=0), "gamma", "(0, 1]"),
        (dict(gamma=1.01), "gamma", "(0, 1]"),
        (dict(gamma=-0.5), "gamma", "(0, 1]"),
    ],
)
def test_invalid_parameters_are_one_line_config_errors(kw, name, rng):
    args = dict(alpha=5, beta=1, mu=0.3, gamma=0.5)
    args.update(kw)
    with pytest.raises(ConfigError) as e:
        ebqm(KL, **args)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"ebqm: {name} must be") and rng in msg


@pytest.mark.parametrize(
    "call",
    [
        lambda: select_pruned(KL, "random"),
        lambda: select_pruned(KL, preset="coco"),
        lambda: select_pruned(KL, "threshold"),
        lambda: select_pruned(KL, "threshold", tau=float("nan")),
        lambda: select_pruned(KL, "fixed"),
        lambda: select_pruned(KL, "fixed", k=-1),
        lambda: select_pruned(KL, "fixed", k=1.5),
        lambda: select_pruned(KL, "fixed", k=2, mapping="gamma"),
        lambda: select_pruned(KL, "ebqm", alpha=5, beta=1),
        lambda: select_pruned(KL, "ebqm", preset="cifar", tau=0.3),
        lambda: ebqm(KL, 5, 1, 0.3, mapping="lognormal"),
        lambda: ebqm(KL, 5, 1, 0.3, mapping="normal", mapping_params={"scale": 0}),
        lambda: ebqm(KL, 5, 1, 0.3, mapping="beta", mapping_params={"loc": 0}),
        lambda: ebqm(KL, 5, 1, 0.3, quantile_method="exact"),
        lambda: ebqm(KL, 5, 1, 0.3, pruned="drop"),
        lambda: ebqm(KL, 5, 1, 0.3, on_degenerate="maybe"),
    ],
)
def test_invalid_options_are_one_line_config_errors(call):
    with pytest.raises(ConfigError) as e:
        call()
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- Table 4
def test_threshold_method_raw_kl():
    r = select_pruned([0.4, 0.1, 0.1, 0.3, PRUNED], "threshold", tau=0.3)
    assert r.mask.tolist() == [False, True, True, False, True]  # strict: 0.3 is kept
    assert r.newly.tolist() == [False, True, True, False, False]
    assert r.values.tolist() == [0.4, -1, -1, 0.3, -1]


def test_fixed_method_k_lowest():
    kl = [0.4, 0.1, 0.1, 0.3, PRUNED]
    assert select_pruned(kl, "fixed", k=0).newly.tolist() == [False] * 5
    assert select_pruned(kl, "fixed", k=1).newly.tolist() == [False, True, False, False, False]  # tie: earlier
    assert select_pruned(kl, "fixed", k=3).newly.tolist() == [False, True, True, True, False]
    assert select_pruned(kl, "fixed", k=10).mask.tolist() == [True] * 5


def test_select_pruned_preset_and_overrides():
    with pytest.raises(ConfigError, match="needs alpha, beta, mu"):
        select_pruned(KL)  # EBQM without parameters or preset
    r = select_pruned(KL, preset="cifar", mu=0.0)
    assert not r.mask.any() and r.params["alpha"] == 5 and r.params["mu"] == 0.0
    r = select_pruned(KL, alpha=5, beta=1, mu=0.3)
    assert r.params["gamma"] == 0.5 and r.mask.tolist() == [True, False, True, False, True, False, False, False]


# --------------------------------------------------------------------------- Table 6
# Defaults: moment-matched to Beta(5,1): m = 5/6, v = 5*1/(36*7) = 5/252, sd = 0.140859
def test_table6_normal_cdf():
    r = ebqm(KL, 5, 1, 0.3, mapping="normal")
    assert r.params["map_loc"] == pytest.approx(5 / 6) and r.params["map_scale"] == pytest.approx(math.sqrt(5 / 252))
    # Phi((2/3 - 5/6)/sd) = Phi(-1.183216) = erfc(1.183216/sqrt 2)/2 = 0.1183618
    assert r.mapped[4] == pytest.approx(0.11836178531892858, abs=1e-10)
    assert r.mask.tolist() == [True, False, True, False, True, False, False, False]


def test_table6_gamma_cdf():
    r = ebqm(KL, 5, 1, 0.3, mapping="gamma")
    # shape m^2/v = (25/36)/(5/252) = 35, scale v/m = 6/252 = 1/42: Erlang(35, 1/42)
    assert r.params["map_a"] == pytest.approx(35) and r.params["map_scale"] == pytest.approx(1 / 42)
    assert r.mapped[4] == pytest.approx(gamma_int_cdf(2 / 3, 35, 1 / 42), abs=1e-10)
    assert r.mapped[4] == pytest.approx(0.112101142, abs=1e-8)
    assert r.mask.tolist() == [True, False, True, False, True, False, False, False]
    # Appendix A's letters instead (shape alpha=5, scale beta=1): F(1) = 1 - e^-1 (1+1+1/2+1/6+1/24)
    # = 0.0036598 < 0.3, so all of S, its max included, is pruned
    r = ebqm(KL, 5, 1, 0.3, mapping="gamma", mapping_params={"a": 5, "scale": 1})
    assert r.mapped[6] == pytest.approx(0.003659846827343771, abs=1e-12)
    assert r.mask.tolist() == IN_S


def test_table6_sigmoid():
    r = ebqm(KL, 5, 1, 0.3, mapping="sigmoid")
    # logistic with mean 5/6, scale sqrt(3 v)/pi = sqrt(15/252)/pi = 0.0776597
    # y(2/3) = 1/(1 + exp((1/6)/0.0776597)) = 1/(1 + e^2.146158) = 0.1046947
    assert r.params["map_scale"] == pytest.approx(math.sqrt(15 / 252) / math.pi)
    assert r.mapped[4] == pytest.approx(0.10469469360578457, abs=1e-10)
    assert r.mask.tolist() == [True, False, True, False, True, False, False, False]


def test_table6_softmax():
    r = ebqm(KL, 5, 1, 0.3, mapping="softmax")
    # e^0, e^(1/3), e^(2/3), e^1 = 1, 1.395612, 1.947734, 2.718282; sum 7.061628
    assert r.mapped[r.subset] == pytest.approx([0.1416103989, 0.1976332323, 0.2758193946, 0.3849369742], abs=1e-9)
    assert r.mask.tolist() == [True, False, True, False, True, False, False, False]
    # a hotter softmax flattens to 1/4 each, all under 0.3
    assert ebqm(KL, 5, 1, 0.3, mapping="softmax", mapping_params={"temperature": 100.0}).mask.tolist() == IN_S


# --------------------------------------------------------------------------- Table 7 / Algorithm 2
def test_ecdf_is_algorithm2_line1():
    assert ecdf(np.array([0.3, 0.1, 0.1, 0.7])).tolist() == [0.75, 0.5, 0.5, 1.0]


def test_table7_eqm():
    r = ebqm(KL, 5, 1, 0.3, mapping="eqm")
    # ECDF on S: 1/4, 2/4, 3/4, 1; Exp(rate 6/5) quantile -(5/6) ln(1 - p):
    # 0.2397351, (5/6) ln 2 = 0.5776227, (5/6) ln 4 = 1.1552453, inf
    assert r.mapped[r.subset] == pytest.approx([0.2397350603764841, 0.5776226504666211, 1.1552453009332422, math.inf])
    assert r.mask.tolist() == [True] + [False] * 7


def test_table7_gqm():
    r = ebqm(KL, 5, 1, 0.3, mapping="gqm")
    y = r.mapped[r.subset]
    assert y[-1] == math.inf
    # F_Gamma(y) = p: the quantile mapping inverts the target CDF at the ECDF
    assert [gamma_int_cdf(v, 35, 1 / 42) for v in y[:3]] == pytest.approx([0.25, 0.5, 0.75], abs=1e-9)
    assert not r.mask.any()  # every mapped value is near the target's mean 5/6, none under 0.3


def test_bqm_is_ebqm_and_classic_beta_qm_differs():
    assert ebqm(KL, 5, 1, 0.3, mapping="bqm").mapped.tolist() == pytest.approx(ebqm(KL, 5, 1, 0.3).mapped.tolist(), nan_ok=True)
    r = ebqm(KL, 5, 1, 0.3, mapping="bqm_classic")
    # Beta(5,1) quantile p^(1/5): 0.25^0.2 = 0.757858, 0.5^0.2 = 0.870551, 0.75^0.2 = 0.944088, 1
    assert r.mapped[r.subset] == pytest.approx([0.757858283255199, 0.8705505632961241, 0.944087511294902, 1.0], abs=1e-9)
    assert not r.mask.any()


# --------------------------------------------------------------------------- properties
kl_lists = st.lists(
    st.one_of(st.floats(0.0, 10.0, allow_nan=False, allow_subnormal=False), st.just(PRUNED), st.sampled_from([0.25, 0.5])),
    min_size=0,
    max_size=30,
)
params = st.fixed_dictionaries(
    dict(
        alpha=st.floats(0.1, 10.0),
        beta=st.floats(0.1, 10.0),
        mu=st.floats(0.0, 1.0),
        gamma=st.floats(0.01, 1.0),
    )
)


@settings(max_examples=300, deadline=None)
@given(kl_lists, params, st.sampled_from(MAPPINGS))
def test_normalised_in_unit_interval_and_mapping_monotone(kl, prm, mapping):
    r = ebqm(kl, mapping=mapping, **prm)
    x = np.asarray(kl, dtype=float)
    s = r.subset
    assert (r.mask == ((x == PRUNED) | r.newly)).all()
    assert not (r.newly & (x == PRUNED)).any()
    if r.degenerate:
        return
    xs, xn, ys = x[s], r.normalized[s], r.mapped[s]
    assert ((xn >= 0) & (xn <= 1)).all()
    assert xn.min() == 0 and xn.max() == 1
    assert np.isnan(r.normalized[~s]).all()
    order = np.argsort(xs, kind="stable")
    # larger KL never gets a lower normalised or mapped value
    assert (np.diff(xn[order]) >= 0).all()
    ys = ys[order]
    assert (ys[1:] >= ys[:-1] - 1e-12).all()  # (inf >= inf holds; a diff would give nan)
    # so the pruned set is a prefix: whatever is pruned, every smaller live KL is too
    live = x != PRUNED
    if r.newly.any():
        cut = x[r.newly].max()
        assert r.newly[live & (x < cut)].all()


@settings(max_examples=200, deadline=None)
@given(kl_lists, params, st.integers(-20, 20), st.randoms(use_true_random=False))
def test_decision_invariant_to_scale_and_order(kl, prm, k, rnd):
    r = ebqm(kl, **prm)
    scaledkl = [v if v == PRUNED else v * 2.0**k for v in kl]  # exact in floating point
    assume(all(v == PRUNED or v < 1e300 for v in scaledkl))
    assert ebqm(scaledkl, **prm).mask.tolist() == r.mask.tolist()
    perm = list(range(len(kl)))
    rnd.shuffle(perm)
    rp = ebqm([kl[i] for i in perm], **prm)
    assert rp.mask.tolist() == [bool(r.mask[i]) for i in perm]


@settings(max_examples=200, deadline=None)
@given(kl_lists, st.integers(0, 40), st.floats(0.0, 10.0))
def test_alternatives_prune_lowest_live_values(kl, k, tau):
    x = np.asarray(kl, dtype=float)
    live = x != PRUNED
    f = select_pruned(kl, "fixed", k=k)
    assert int(f.newly.sum()) == min(k, int(live.sum()))
    if f.newly.any() and (live & ~f.newly).any():
        assert x[f.newly].max() <= x[live & ~f.newly].min()
    t = select_pruned(kl, "threshold", tau=tau)
    assert (t.newly == (live & (x < tau))).all()


def test_apply_mapping_standalone():
    y, prm = apply_mapping(np.array([0.0, 0.5, 1.0]), "beta", 5, 1)
    assert y.tolist() == pytest.approx([0.0, 1 / 32, 1.0]) and prm == {}
    y, _ = apply_mapping(np.array([0.5]), "beta", 2, 5)
    assert y[0] == pytest.approx(beta25_cdf(0.5)) == pytest.approx(57 / 64)  # 1 - 1/64 - 6/64


# --------------------------------------------------------------------------- Table 7, comparable reading
def test_table7_ebqm_fraction_calibration_hand_computed():
    """calibration='ebqm_fraction': F_target(mu) = F_Beta^-1(mu; 5, 1) = 0.3^(1/5) = 0.7860030."""
    c = 0.3 ** 0.2
    r = ebqm(KL, 5, 1, 0.3, mapping="eqm", calibration="ebqm_fraction")
    # rate = -ln(1 - c) / mu = -ln(0.2139970) / 0.3 = 1.5417937 / 0.3 = 5.1393123
    assert r.params["map_rate"] == pytest.approx(-math.log(1 - c) / 0.3)
    assert r.params["map_rate"] == pytest.approx(5.1393123, abs=1e-6)
    # ECDF on S_gamma (4 values): 1/4, 2/4, 3/4 < 0.786 are pruned, the max (p = 1) is not
    assert r.mask.tolist() == [True, False, True, False, True, False, False, False]
    g = ebqm(KL, 5, 1, 0.3, mapping="gqm", calibration="ebqm_fraction")
    assert g.params["map_a"] == pytest.approx(35)  # shape kept (moment-matched)
    assert gamma_int_cdf(0.3, 35, g.params["map_scale"]) == pytest.approx(c, abs=1e-9)
    assert g.mask.tolist() == r.mask.tolist()  # a quantile mapping decides by rank: same layers
    with pytest.raises(ConfigError, match="applies to the quantile mappings"):
        ebqm(KL, 5, 1, 0.3, mapping="normal", calibration="ebqm_fraction")
    with pytest.raises(ConfigError, match="unknown calibration"):
        ebqm(KL, 5, 1, 0.3, mapping="gqm", calibration="median")


def _three_windows(n, **kw):
    values, counts = np.linspace(0.0, 1.0, n), []
    for _ in range(3):
        sel = select_pruned(values, "ebqm", preset="cifar", **kw)
        counts.append(int(sel.newly.sum()))
        values = sel.values
    return counts


def test_table7_readings_prune_as_documented():
    """Evenly spread KL over ELA-ResNet-56 (15 layers with a KL) / -110 (33), three windows."""
    assert _three_windows(15) == [6, 4, 2] and _three_windows(33) == [13, 8, 4]  # EBQM
    assert _three_windows(15, mapping="gqm") == [0, 0, 0]  # moment-matched GQM prunes nothing
    assert _three_windows(15, mapping="eqm") == [2, 2, 1] and _three_windows(33, mapping="eqm") == [5, 4, 3]
    for m in ("gqm", "eqm"):
        assert _three_windows(15, mapping=m, calibration="ebqm_fraction") == [6, 3, 2]
        assert _three_windows(33, mapping=m, calibration="ebqm_fraction") == [13, 7, 5]


def test_ela_tables_4_and_7_use_the_aligned_readings():
    from experiments.tables import get_table
    from experiments.tables.ela_table4 import fixed_counts

    assert fixed_counts(56) == [6, 4, 2] and fixed_counts(110) == [13, 8, 4]  # totals 12 of 15, 25 of 33
    fixed = {r.depth: r.pruning for r in get_table("ela.table4").rows if r.variant == "pruning=fixed"}
    assert fixed == {56: {"method": "fixed", "k": [6, 4, 2]}, 110: {"method": "fixed", "k": [13, 8, 4]}}
    t7 = {(r.depth, r.variant): r.pruning for r in get_table("ela.table7").rows}
    assert t7[(56, "qm=gqm")] == {"mapping": "gqm", "calibration": "ebqm_fraction"}
    assert t7[(110, "qm=eqm")] == {"mapping": "eqm", "calibration": "ebqm_fraction"}
    assert any("prunes 0 layers with GQM" in d for d in get_table("ela.table7").decisions)
