"""ELA: MRLA-B with KL-measured, EBQM-pruned attention layers (models/ela.py)."""
import math
import time
from pathlib import Path

import pytest
import torch

from experiments.config import RunConfig
from experiments.data import prepare_fashion_mnist
from experiments.params import count_macs
from experiments.run import run
from models import ConfigError, count_parameters, create_model
from models.backbone import StageState
from models.ela import ELALayer, ELAPruning, ela_layers, prune


def controller(net) -> ELAPruning:
    (ctrl,) = net.training_callbacks()
    return ctrl


@pytest.mark.parametrize("depth,classes,published", [(20, 10, 0.23), (20, 100, 0.25), (56, 10, 0.62), (56, 100, 0.64),
                                                     (110, 10, 1.21), (110, 100, 1.23)])
def test_counts_equal_mrla_b_and_ela_table1(depth, classes, published):
    ela = count_parameters(create_model(f"ela_resnet{depth}", num_classes=classes))
    assert ela == count_parameters(create_model(f"mrla_b_resnet{depth}", num_classes=classes))
    assert round(ela / 1e6, 2) == published


def test_imagenet_counts_match_table2():
    assert round(count_parameters(create_model("ela_resnet50_imagenet")) / 1e6, 1) == 25.7
    assert round(count_parameters(create_model("ela_resnet101_imagenet")) / 1e6, 1) == 44.9


def test_layer_names_and_first_layers_never_measured():
    net = create_model("ela_resnet20")
    assert list(ela_layers(net)) == ["s0.b0", "s0.b1", "s1.b0", "s1.b1", "s2.b0", "s2.b1"]
    ctrl = controller(net)
    ctrl.on_train_start(net, 180)
    ctrl.on_epoch_start(0, net)
    net(torch.randn(2, 3, 32, 32))
    assert set(ctrl.meter.compute()) == {"s0.b1", "s1.b1", "s2.b1"}


def test_measured_kl_equals_eq11_on_the_readout():
    """The controller's KL for each layer = Eq. 11 computed by hand from the softmax read-out."""
    torch.manual_seed(1)
    net = create_model("ela_resnet56")  # train mode: only training forward passes are measured
    x = torch.randn(3, 3, 32, 32)
    _, readout = net(x, return_attention=True)
    soft = {(r["stage"], r["block"]): r["value"].double() for r in readout if r["kind"] == "layer_softmax"}
    ctrl = controller(net)
    ctrl.on_train_start(net, 180)
    ctrl.on_epoch_start(0, net)
    net(x)
    measured = ctrl.meter.compute()
    eps = 1e-8
    for s in range(3):
        for b in range(1, 6):
            p, q = soft[(s, b - 1)], soft[(s, b)].clamp_min(eps)  # [B, heads, t], [B, heads, t+1]
            # Eq. 11: sum_i<=t p_i log(p_i / p'_i) + eps log(eps / p'_{t+1}); p' clamped at eps
            # where the softmax underflowed (as the implementation does)
            # (0 log 0 = 0 for softmax entries of p that underflowed to zero)
            terms = torch.where(p > 0, p * (p.clamp_min(1e-300) / q[..., :-1]).log(), torch.zeros_like(p))
            kl = terms.sum(-1) + eps * math.log(eps) - eps * q[..., -1].log()
            assert measured[f"s{s}.b{b}"] == pytest.approx(kl.mean().item(), rel=1e-4, abs=1e-6)


def _post_input(net, stage=1, block=2):
    blk = net.stages[stage].blocks[block]
    return blk.post


def test_pruned_layer_is_skipped_and_backbone_stays():
    net = create_model("ela_resnet56").eval()
    layer = _post_input(net)
    x = torch.randn(2, 128, 16, 16)
    state = StageState(stage=1)
    assert not torch.equal(layer(x, x, state), x)
    layer.pruned = True
    state = StageState(stage=1)
    assert torch.equal(layer(x, x, state), x)
    assert state.memory.get("mrla_b", {"keys": []})["keys"] == []  # 'drop': no key/value


@pytest.mark.parametrize("mode,expected_t", [("drop", [1, 2, 3, 3, 4, 5]), ("keep", [1, 2, 3, 4, 5, 6])])
def test_kv_when_pruned_readings(mode, expected_t):
    net = create_model("ela_resnet56", attn_kwargs={"kv_when_pruned": mode}).eval()
    prune(net, ["s1.b3"])
    _, readout = net(torch.randn(2, 3, 32, 32), return_attention=True)
    t = [r["value"].shape[-1] for r in readout if r["kind"] == "layer_softmax" and r["stage"] == 1]
    assert t == [n for i, n in enumerate(expected_t) if i != 3]


def test_pruning_reduces_flops_and_step_time():
    torch.manual_seed(0)
    mrla = create_model("mrla_b_resnet56")
    ela = create_model("ela_resnet56")
    ela.load_state_dict(mrla.state_dict(), strict=False)
    layers = ela_layers(ela)
    prune(ela, [n for n in layers if not n.endswith(".b0")])  # 15 of 18 layers
    with torch.device("meta"):
        m_meta, e_meta = create_model("mrla_b_resnet56"), create_model("ela_resnet56")
    prune(e_meta, [n for n in layers if not n.endswith(".b0")])
    macs_mrla, macs_ela = count_macs(m_meta, 32), count_macs(e_meta, 32)
    assert macs_ela < 0.95 * macs_mrla
    # an unpruned ELA net computes exactly MRLA-B's FLOPs
    with torch.device("meta"):
        assert count_macs(create_model("ela_resnet56"), 32) == macs_mrla

    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))

    def step(net):
        t0 = time.perf_counter()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        return time.perf_counter() - t0

    step(mrla), step(ela)  # warm-up
    # interleaved, best of 7 each: robust to other load on the machine changing over time
    times = {"mrla": [], "ela": []}
    for _ in range(7):
        times["mrla"].append(step(mrla))
        times["ela"].append(step(ela))
    assert min(times["ela"]) < min(times["mrla"]), times


def test_invalid_settings_are_one_line_errors():
    for kwargs, words in ((dict(preset="cifar10"), "preset"), (dict(scope="block"), "scope"),
                          (dict(alpha=0), "alpha"), (dict(mu=1.5), "mu"), (dict(gamma=0), "gamma"),
                          (dict(colour=1), "colour"), (dict(method="threshold"), "tau")):
        with pytest.raises(ConfigError) as exc:
            create_model("ela_resnet20", attn_kwargs={"pruning": kwargs})
        assert "\n" not in str(exc.value) and words in str(exc.value)
    with pytest.raises(ConfigError, match="kv_when_pruned"):
        create_model("ela_resnet20", attn_kwargs={"kv_when_pruned": "maybe"})


def test_stage_scope_decides_per_stage():
    net = create_model("ela_resnet56", attn_kwargs={"pruning": {"scope": "stage", "windows": [[1, 1]]}})
    ctrl = controller(net)
    ctrl.on_train_start(net, 10)
    ctrl.on_epoch_start(0, net)
    net(torch.randn(2, 3, 32, 32))
    ctrl.on_epoch_end(0, net, {})
    stages = {n.split(".")[0] for n in ctrl.decisions[0]["newly_pruned"]}
    assert stages == {"s0", "s1", "s2"}  # EBQM always prunes the lowest value of each group


def test_smoke_scale_maps_the_paper_windows():
    net = create_model("ela_resnet20")
    ctrl = controller(net)
    ctrl.on_train_start(net, 18)
    assert ctrl.windows == ((1, 1), (5, 5), (10, 10))
    net2 = create_model("ela_resnet20", attn_kwargs={"pruning": {"windows": [[2, 3]]}})
    controller(net2).on_train_start(net2, 18)
    assert controller(net2).windows == ((2, 3),)


@pytest.mark.fashion_mnist
def test_training_through_a_window_prunes_and_survives_resume(tmp_path, monkeypatch):
    root = tmp_path / "data"
    prepare_fashion_mnist(root)
    base = dict(model="ela_resnet56", dataset="fashionmnist", data_root=str(root), epochs=2, batch_size=64,
                train_subset=256, test_subset=128, workers=0, deterministic=True, progress=False,
                pruning={"windows": [[1, 1]]})
    full = run(RunConfig(**base, out_root=str(tmp_path / "a")), handle_signals=False)
    rec = full["callbacks"]["ela_pruning"]
    assert full["status"] == "done"
    assert len(rec["decisions"]) == 1 and rec["decisions"][0]["epoch"] == 0
    assert len(rec["decisions"][0]["kl"]) == 15 and len(rec["pruned"]) >= 1
    assert rec["pruned"] == rec["decisions"][0]["newly_pruned"]

    from experiments import run as run_mod

    calls = {"n": 0}

    def stop_in_epoch_2(self):
        calls["n"] += 1
        return calls["n"] == 6  # 4 steps per epoch

    monkeypatch.setattr(run_mod._StopFlag, "__call__", stop_in_epoch_2)
    part = run(RunConfig(**base, out_root=str(tmp_path / "b")), handle_signals=False)
    assert part["status"] == "interrupted"
    monkeypatch.undo()
    resumed = run(RunConfig(**base, out_root=str(tmp_path / "b")), handle_signals=False)
    assert resumed["callbacks"] == full["callbacks"]
    assert resumed["epochs"][-1]["test_top1"] == full["epochs"][-1]["test_top1"]
    ck = torch.load(next((tmp_path / "b").glob("*/checkpoint.pt")), weights_only=False)
    net = create_model("ela_resnet56", num_classes=10, in_chans=1)
    net.load_state_dict(ck["model"])
    assert sorted(n for n, l in ela_layers(net).items() if l.pruned) == sorted(rec["pruned"])


# ----------------------------------------------------------------- fidelity (issue: test data, resume, MACs)
def test_evaluation_inside_a_window_leaves_the_kl_sums_unchanged():
    """Only training forward passes are measured: an eval-mode pass inside a window epoch
    (what `evaluate` does with the test set) adds nothing to the KL averages."""
    from experiments.distributed import DistInfo
    from experiments.engine import evaluate

    torch.manual_seed(0)
    net = create_model("ela_resnet20")
    ctrl = controller(net)
    ctrl.on_train_start(net, 180)
    ctrl.on_epoch_start(0, net)
    net(torch.randn(4, 3, 32, 32))  # one training batch
    before = ctrl.state_dict()
    assert len(before["meter"]["sum"]) == 3 and all(w == 1.0 for w in before["meter"]["weight"].values())
    test = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))) for _ in range(3)]
    evaluate(net, test, device=torch.device("cpu"), amp=False, dist=DistInfo(), num_classes=10)
    with torch.no_grad():
        net.eval()(torch.randn(4, 3, 32, 32))
    assert ctrl.state_dict() == before
    net.train()(torch.randn(4, 3, 32, 32))  # the next training batch is measured again
    assert all(w == 2.0 for w in ctrl.state_dict()["meter"]["weight"].values())


def _window_run(tmp_path, out, **extra):
    root = tmp_path / "data"
    if not (root / "FashionMNIST").exists():
        prepare_fashion_mnist(root)
    cfg = dict(model="ela_resnet20", dataset="fashionmnist", data_root=str(root), epochs=3, batch_size=32,
               train_subset=128, test_subset=64, workers=0, deterministic=True, progress=False,
               pruning={"windows": [[1, 2]]}, out_root=str(tmp_path / out))
    cfg.update(extra)
    return RunConfig(**cfg)


def _comparable(rec):
    """A record without wall-clock fields (they differ between any two runs)."""
    drop = {"epoch_time_s", "eval_time_s", "images_per_s"}
    return {"callbacks": rec["callbacks"], "epochs": [{k: v for k, v in e.items() if k not in drop}
                                                      for e in rec["epochs"]],
            "final": rec["final"], "best": rec["best"], "macs": rec["macs_per_image_final"]}


@pytest.mark.fashion_mnist
@pytest.mark.parametrize("stop_after", [1, 2, 3])  # first, middle, last step of the window's 2nd epoch (4 steps)
def test_resume_inside_a_window_epoch_equals_the_uninterrupted_run(tmp_path, monkeypatch, stop_after):
    full = run(_window_run(tmp_path, "a"), handle_signals=False)
    dec = full["callbacks"]["ela_pruning"]["decisions"]
    assert len(dec) == 1 and dec[0]["epoch"] == 1 and len(dec[0]["kl"]) == 3

    from experiments import run as run_mod

    calls = {"n": 0}

    def stop(self):
        calls["n"] += 1
        return calls["n"] == 4 + stop_after  # epoch 1 has steps 1-4

    monkeypatch.setattr(run_mod._StopFlag, "__call__", stop)
    part = run(_window_run(tmp_path, "b"), handle_signals=False)
    assert part["status"] == "interrupted" and part["epochs_done"] == 1
    monkeypatch.undo()
    resumed = run(_window_run(tmp_path, "b"), handle_signals=False)
    assert resumed["resumes"] == 1
    assert _comparable(resumed) == _comparable(full)


@pytest.mark.fashion_mnist
def test_record_carries_effective_macs_and_clamped_fractions(tmp_path):
    rec = run(_window_run(tmp_path, "a"), handle_signals=False)
    ela = rec["callbacks"]["ela_pruning"]
    (dec,) = ela["decisions"]
    with torch.device("meta"):
        meta = create_model("ela_resnet20", num_classes=10, in_chans=1)
    assert rec["macs_per_image"] == count_macs(meta, 32, 1)  # as built (unpruned)
    prune(meta, ela["pruned"])
    assert rec["macs_per_image_final"] == dec["macs_per_image"] == count_macs(meta, 32, 1)
    assert rec["macs_per_image_final"] < rec["macs_per_image"]
    assert set(dec["clamped_fraction"]) == set(dec["kl"])
    assert all(0.0 <= f <= 1.0 for f in dec["clamped_fraction"].values())


@pytest.mark.fashion_mnist
@pytest.mark.parametrize("extra,words", [
    (dict(pruning={"windows": [[2, 4]]}), "ends after the run's last epoch 3"),
    (dict(pruning={}, epochs=2), "3 KL windows, more than the run's 2 epochs"),
])
def test_a_run_that_cannot_hold_its_windows_fails_before_writing(tmp_path, extra, words):
    cfg = _window_run(tmp_path, "out", **extra)
    with pytest.raises(ConfigError, match=words):
        run(cfg, handle_signals=False)
    assert not (tmp_path / "out").exists()


def test_fixed_pruning_takes_one_count_per_window():
    net = create_model("ela_resnet56", attn_kwargs={"pruning": {"method": "fixed", "k": [5, 4, 2],
                                                                "windows": [[1, 1], [2, 2], [3, 3]]}})
    ctrl = controller(net)
    ctrl.on_train_start(net, 3)
    for epoch in range(3):
        ctrl.on_epoch_start(epoch, net)
        net(torch.randn(2, 3, 32, 32))
        ctrl.on_epoch_end(epoch, net, {})
    assert [len(d["newly_pruned"]) for d in ctrl.decisions] == [5, 4, 2]
    with pytest.raises(ConfigError, match="one count per window"):
        create_model("ela_resnet56", attn_kwargs={"pruning": {"method": "fixed", "k": [5, 4]}})
