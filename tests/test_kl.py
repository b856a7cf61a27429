"""ELA section 3.3 (Eq. 11) KL between adjacent layer-attention distributions, and the
measurement windows of section 4. Expected numbers are worked out by hand in the
comments (ln 2 = 0.693147..., ln 1.25 = 0.223143...), not by re-calling the code."""
import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kl import (
    WINDOWS,
    KLMeter,
    layer_kl,
    pad_to,
    resolve_windows,
    scaled,
    window_end,
    window_index,
    windows,
)
from models.registry import ConfigError

T = lambda *rows: torch.tensor(rows, dtype=torch.float64)  # noqa: E731


# --------------------------------------------------------------------------- pad_to
def test_pad_to_appends_eps_without_renormalising():
    # Eq. 11: P = {p_1, ..., p_l, eps}, the p_i unchanged (sum 1 + eps)
    out = pad_to(T(0.5, 0.5), 3, eps=1e-3)
    assert out.tolist() == pytest.approx([0.5, 0.5, 0.001], abs=0)
    assert float(out.sum()) == pytest.approx(1.001, abs=1e-15)


def test_pad_to_renormalise_option():
    # [0.5, 0.5, 0.001] / 1.001
    out = pad_to(T(0.5, 0.5), 3, eps=1e-3, renormalize=True)
    assert out.tolist() == pytest.approx([0.4995004995004995, 0.4995004995004995, 0.000999000999000999], rel=1e-12)


def test_pad_to_batched_and_same_length():
    p = torch.full((2, 4, 3), 1 / 3, dtype=torch.float64)
    out = pad_to(p, 4, eps=1e-8)
    assert out.shape == (2, 4, 4)
    assert torch.all(out[..., 3] == 1e-8)
    assert torch.equal(pad_to(p, 3), p)
    with pytest.raises(ValueError):
        pad_to(p, 2)


# --------------------------------------------------------------------------- layer_kl
def test_layer_kl_hand_example_eps_1e3():
    # P=[0.5,0.5] -> [0.5,0.5,1e-3], P'=[0.25,0.25,0.5]
    # KL = 2 * 0.5 ln(0.5/0.25) + 1e-3 ln(1e-3/0.5) = ln 2 + 1e-3 ln(0.002)
    #    = 0.6931471805599453 - 0.0062146080984222 = 0.6869325724615231
    kl = layer_kl(T(0.5, 0.5), T(0.25, 0.25, 0.5), eps=1e-3)
    assert kl.dim() == 0
    assert float(kl) == pytest.approx(0.6869325724615231, abs=1e-14)


def test_layer_kl_hand_example_renormalised():
    # a = 1/1.001; P~ = [0.5a, 0.5a, 1e-3 a]
    # KL = a ln(2a) + 1e-3 a ln(2e-3 a) = 0.6852468258023043
    kl = layer_kl(T(0.5, 0.5), T(0.25, 0.25, 0.5), eps=1e-3, renormalize=True)
    assert float(kl) == pytest.approx(0.6852468258023043, abs=1e-14)


def test_layer_kl_default_eps_is_near_the_limit():
    # eps -> 0 limit: ln 2; the default eps=1e-8 adds 1e-8 ln(2e-8) = -1.77e-7
    assert float(layer_kl(T(0.5, 0.5), T(0.25, 0.25, 0.5), eps=0.0)) == pytest.approx(math.log(2), abs=1e-15)
    kl = float(layer_kl(T(0.5, 0.5), T(0.25, 0.25, 0.5)))
    assert kl == pytest.approx(0.6931471805599453 + 1e-8 * math.log(2e-8), abs=1e-14)


def test_layer_kl_first_block_of_a_stage():
    # block 0 attends only to itself: P=[1]; P'=[0.8, 0.2]; eps=0: ln(1/0.8) = ln 1.25
    assert float(layer_kl(T(1.0), T(0.8, 0.2), eps=0.0)) == pytest.approx(0.22314355131420976, abs=1e-15)


def test_layer_kl_mean_over_batch_and_heads():
    # [B=2, heads=2, t=2]. Row KLs (eps=0):
    #   p=[0.5,0.5], q=[0.25,0.25,0.5] -> ln 2
    #   p=[1.0,0.0], q=[0.8,0.1,0.1]   -> 1 ln(1/0.8) + 0 (0 log 0 := 0) = ln 1.25
    # mean over 4 rows with two of each: (ln 2 + ln 1.25)/2 = 0.45814536593707755
    a, qa = [0.5, 0.5], [0.25, 0.25, 0.5]
    b, qb = [1.0, 0.0], [0.8, 0.1, 0.1]
    p = torch.tensor([[a, b], [b, a]], dtype=torch.float64)
    q = torch.tensor([[qa, qb], [qb, qa]], dtype=torch.float64)
    assert float(layer_kl(p, q, eps=0.0)) == pytest.approx(0.45814536593707755, abs=1e-15)
    rows = layer_kl(p, q, eps=0.0, reduction="none")
    assert rows.shape == (2, 2)
    ln2, ln125 = 0.6931471805599453, 0.22314355131420976
    assert rows.flatten().tolist() == pytest.approx([ln2, ln125, ln125, ln2], abs=1e-15)


def test_layer_kl_of_mean_distribution_option():
    # averages: p=[0.75,0.25], q=[0.525,0.175,0.3]; both ratios are 10/7:
    # KL = 0.75 ln(10/7) + 0.25 ln(10/7) = ln(10/7) = 0.3566749439387324
    p = T([0.5, 0.5], [1.0, 0.0])
    q = T([0.25, 0.25, 0.5], [0.8, 0.1, 0.1])
    assert float(layer_kl(p, q, eps=0.0, reduction="kl_of_mean")) == pytest.approx(0.3566749439387324, abs=1e-15)


def test_layer_kl_is_numerically_safe():
    # q underflowed to 0 where p > 0: clamped at eps=1e-8, finite:
    # 0.5 ln(0.5/1) + 0.5 ln(0.5/1e-8) + 1e-8 ln(1e-8/1e-8) = 8.517193191416238
    kl = layer_kl(T(0.5, 0.5), T(1.0, 0.0, 0.0))
    assert float(kl) == pytest.approx(8.517193191416238, rel=1e-12)
    # identical distributions, q's new entry 0: KL = 0 exactly, never negative
    assert float(layer_kl(T(0.3, 0.7), T(0.3, 0.7, 0.0))) == 0.0
    # half precision in, float32 out, finite
    p = torch.tensor([[0.5, 0.5]], dtype=torch.float16)
    q = torch.tensor([[0.25, 0.25, 0.5]], dtype=torch.float16)
    out = layer_kl(p, q)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    assert float(out) == pytest.approx(math.log(2), abs=1e-3)


def test_layer_kl_rejects_bad_shapes_and_eps():
    with pytest.raises(ValueError, match=r"\[\.\.\., t\+1\]"):
        layer_kl(torch.rand(2, 4, 3), torch.rand(2, 4, 3))
    with pytest.raises(ValueError):
        layer_kl(torch.rand(2, 4, 3), torch.rand(2, 2, 4))
    for bad in (-1e-3, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="eps must be in") as e:
            layer_kl(torch.rand(1, 1, 1), torch.rand(1, 1, 2), eps=bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="reduction"):
        layer_kl(torch.rand(1, 1, 1), torch.rand(1, 1, 2), reduction="sum")


def test_layer_kl_on_softmax_tensors_like_mrla_b():
    # MRLA-B records [B, heads, t] softmaxes; adjacent blocks have t and t+1
    torch.manual_seed(0)
    p = torch.randn(8, 4, 3).softmax(-1)
    q = torch.randn(8, 4, 4).softmax(-1)
    kl = layer_kl(p, q)
    assert kl.dim() == 0 and float(kl) > 0
    # per-row value by Eq. 11 written out
    i, h = 3, 2
    want = sum(float(p[i, h, j]) * math.log(float(p[i, h, j]) / float(q[i, h, j])) for j in range(3))
    want += 1e-8 * math.log(1e-8 / float(q[i, h, 3]))
    assert float(layer_kl(p, q, reduction="none")[i, h]) == pytest.approx(want, rel=1e-5)


dist = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=8).filter(lambda v: sum(v) > 1e-3)


@settings(max_examples=200, deadline=None)
@given(dist, dist)
def test_layer_kl_nonnegative_and_converges_as_eps_to_zero(a, b):
    t = len(a)
    b = (b + [0.5] * (t + 1))[: t + 1]
    p = torch.tensor(a, dtype=torch.float64)
    p = p / p.sum()
    q = torch.tensor(b, dtype=torch.float64) + 1e-3
    q = q / q.sum()
    for renorm in (False, True):
        for eps in (0.0, 1e-12, 1e-8, 1e-4):
            assert float(layer_kl(p, q, eps=eps, renormalize=renorm)) >= 0.0
    limit = sum(float(x) * math.log(float(x) / float(y)) for x, y in zip(p[:t], q[:t]) if x > 0)
    assert float(layer_kl(p, q, eps=1e-12)) == pytest.approx(limit, abs=1e-9)
    assert float(layer_kl(p, q, eps=1e-12, renormalize=True)) == pytest.approx(limit, abs=1e-9)


# --------------------------------------------------------------------------- windows
def test_window_presets_are_the_papers():
    # ELA section 4 and 4.2, epochs counted from 1
    assert WINDOWS["cifar"] == ((1, 3), (45, 48), (91, 93))
    assert WINDOWS["imagenet"] == ((1, 3), (51, 53))
    assert WINDOWS["detection"] == ((1, 1), (7, 7))
    assert windows is WINDOWS


def test_window_end_and_index():
    closes = [e for e in range(1, 181) if window_end(e, "cifar")]
    assert closes == [3, 48, 93]
    assert [e for e in range(1, 101) if window_end(e, "imagenet")] == [3, 53]
    assert [e for e in range(1, 13) if window_end(e, "detection")] == [1, 7]
    assert window_index(0, "cifar") is None  # epochs count from 1
    assert [window_index(e, "cifar") for e in (1, 3, 4, 44, 45, 48, 49, 91, 93, 94)] == [0, 0, None, None, 1, 1, None, 2, 2, None]
    assert window_end(5, ((2, 5),)) and not window_end(4, ((2, 5),))


@pytest.mark.parametrize("bad", ["cifar10", ((0, 2),), ((3, 2),), ((1, 3), (3, 5)), ((5, 6), (1, 2)), ((1.5, 2),), (1, 2)])
def test_bad_windows_are_one_line_config_errors(bad):
    with pytest.raises(ConfigError) as e:
        resolve_windows(bad)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- KLMeter
def test_meter_averages_over_batches():
    m = KLMeter("cifar")
    assert m.update({"s1.b1": 0.2, "s1.b2": 1.0}, epoch=1)
    assert m.update({"s1.b1": 0.4, "s1.b2": 3.0}, epoch=2)
    assert m.update({"s1.b1": torch.tensor(0.6, dtype=torch.float64)}, epoch=3)
    # s1.b1: (0.2 + 0.4 + 0.6)/3 = 0.4; s1.b2: (1 + 3)/2 = 2
    assert m.compute() == pytest.approx({"s1.b1": 0.4, "s1.b2": 2.0}, abs=1e-15)
    assert list(m.compute()) == ["s1.b1", "s1.b2"]


def test_meter_weights_and_window_gating():
    m = KLMeter("cifar")
    m.update({"a": 1.0}, weight=3)
    m.update({"a": 2.0}, weight=1)
    assert m.compute()["a"] == pytest.approx(1.25, abs=1e-15)  # (3*1 + 1*2)/4
    assert not m.update({"a": 100.0}, epoch=4)  # epoch 4 is in no CIFAR window: ignored
    assert m.compute()["a"] == pytest.approx(1.25, abs=1e-15)
    assert m.measuring(45) and not m.measuring(44) and m.closes(48) and not m.closes(47)
    m.reset()
    assert m.compute() == {} and len(m) == 0
    with pytest.raises(ValueError):
        m.update({"a": torch.ones(2)})
    with pytest.raises(ValueError):
        m.update({"a": 1.0}, weight=0)


def test_meter_window_loop_gives_one_decision_per_window():
    m = KLMeter(((1, 2), (4, 4)))
    decisions = []
    for epoch in range(1, 6):
        for batch in range(2):
            m.update({"x": float(epoch * 10 + batch)}, epoch=epoch)
        if m.closes(epoch):
            decisions.append((epoch, m.compute()["x"]))
            m.reset()
    # window 1: mean of 10, 11, 20, 21 = 15.5; window 2: mean of 40, 41 = 40.5
    assert decisions == [(2, 15.5), (4, 40.5)]


def test_meter_state_dict_round_trip():
    full = KLMeter("imagenet")
    resumed = KLMeter("imagenet")
    seq = [(1, {"a": 0.1, "b": 0.7}), (2, {"a": 0.3, "b": 0.5}), (3, {"a": 0.8})]
    for epoch, vals in seq:
        full.update(vals, epoch=epoch)
    for epoch, vals in seq[:2]:
        resumed.update({k: torch.tensor(v) for k, v in vals.items()}, epoch=epoch)
    buf = io.BytesIO()
    torch.save(resumed.state_dict(), buf)
    buf.seek(0)
    fresh = KLMeter("cifar")  # windows come from the state
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert fresh.windows == WINDOWS["imagenet"]
    fresh.update(seq[2][1], epoch=3)
    # a: (0.1 + 0.3 + 0.8)/3 = 0.4, b: (0.7 + 0.5)/2 = 0.6
    assert fresh.compute() == pytest.approx({"a": 0.4, "b": 0.6}, abs=1e-7)
    assert fresh.compute() == pytest.approx(full.compute(), abs=1e-7)


# --------------------------------------------------------------------------- scaled
def test_scaled_identity_and_smoke_scale():
    assert scaled("cifar", 180, 180) == WINDOWS["cifar"]
    assert scaled("imagenet", 100, 100) == WINDOWS["imagenet"]
    # window (s, e) -> (floor((s-1)T/P)+1, ceil(eT/P))
    # CIFAR on 18 epochs: (0*0.1+1, ceil 0.3) (floor 4.4+1, ceil 4.8) (floor 9.0+1, ceil 9.3)
    assert scaled("cifar", 18, 180) == ((1, 1), (5, 5), (10, 10))
    # on 36: (1, ceil 0.6), (floor 8.8+1, ceil 9.6), (floor 18+1, ceil 18.6)
    assert scaled("cifar", 36, 180) == ((1, 1), (9, 10), (19, 19))
    assert scaled("imagenet", 10, 100) == ((1, 1), (6, 6))
    assert scaled("detection", 3, 12) == ((1, 1), (2, 2))


def test_scaled_keeps_windows_distinct():
    # on 3 epochs all three CIFAR windows map to epoch 1 (or 2): pushed apart
    assert scaled("cifar", 3, 180) == ((1, 1), (2, 2), (3, 3))
    # windows at the end collide and run past T: pulled back
    assert scaled(((8, 8), (9, 9), (10, 10)), 3, 10) == ((1, 1), (2, 2), (3, 3))
    with pytest.raises(ConfigError, match="do not fit"):
        scaled("cifar", 2, 180)
    with pytest.raises(ConfigError):
        scaled("cifar", 10, 90)  # (91, 93) ends after the paper's schedule


@st.composite
def window_sets(draw):
    paper = draw(st.integers(1, 300))
    cuts = sorted(draw(st.sets(st.integers(1, paper), min_size=1, max_size=min(paper, 12))))
    ws, prev = [], 0
    for c in cuts:  # split into windows, dropping some gaps
        if c > prev:
            s = draw(st.integers(prev + 1, c))
            ws.append((s, c))
            prev = c
    return tuple(ws), paper


@settings(max_examples=300, deadline=None)
@given(window_sets(), st.integers(1, 400))
def test_scaled_properties(ws_paper, total):
    ws, paper = ws_paper
    if total < len(ws):
        with pytest.raises(ConfigError):
            scaled(ws, total, paper)
        return
    out = scaled(ws, total, paper)
    assert len(out) == len(ws)
    prev = 0
    for s, e in out:
        assert 1 <= s <= e <= total
        assert s > prev
        prev = e
    if total == paper:
        assert out == ws
