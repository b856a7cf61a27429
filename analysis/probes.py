"""Measurements on a model and a batch, behind the papers' analysis figures.

    model, record = load_run_model("runs/mrla_b_resnet56-cifar100-full-s0-<hash>")
    x, y = sample_batch("cifar100", "data", n=128)
    scores = layer_attention_scores(model, x)      # ELA Fig. 2(a), DLA Fig. 2
    corr = attention_correlations(model, x)        # DIA Fig. 2
    grads = stage_gradients(model, x, y)           # DIA Fig. 13
    gini = gini_importance(model, x)               # DIA Fig. 11

Every function takes a model (``torch.nn.Module`` from ``models.create_model`` or
``load_run_model``) and reads the per-block attention the models record on request
(``model(x, return_attention=True)`` -> ``(logits, readout)``; readout entries
``{stage, block, kind, value}``).
"""
from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

__all__ = ["load_run_model", "sample_batch", "readout", "layer_attention_scores", "channel_maps",
           "attention_correlations", "stage_gradients", "gini_importance", "run_readout"]


# --------------------------------------------------------------------------- inputs
def load_run_model(run: str | Path, map_location: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The trained model of a run (its folder, record.json or checkpoint.pt), in eval mode,
    and its record (or config when no record exists). The model is rebuilt from the run's
    config exactly as ``experiments.run`` built it, then the checkpoint's weights (and ELA's
    pruned flags, part of the state dict) are loaded."""
    from experiments.config import RunConfig
    from experiments.data import dataset_info
    from experiments.run import build_model

    run = Path(run)
    folder = run if run.is_dir() else run.parent
    ckpt = folder / "checkpoint.pt"
    rec_path, cfg_path = folder / "record.json", folder / "config.json"
    if not ckpt.exists():
        raise FileNotFoundError(f"no checkpoint.pt in {folder}")
    record = json.loads(rec_path.read_text()) if rec_path.exists() else {}
    cfg_dict = record.get("config") or json.loads(cfg_path.read_text())
    cfg = RunConfig.from_dict(cfg_dict)
    info = dataset_info(cfg.dataset)
    recipe = cfg.effective_recipe()
    model = build_model(cfg, info.num_classes, info.in_chans, recipe.drop_path, recipe.dropout)
    state = torch.load(ckpt, map_location=map_location, weights_only=False)
    model.load_state_dict(state["model"])
    return model.eval(), record or {"config": cfg_dict}


def sample_batch(dataset: str, data_root: str | Path | None = "data", n: int = 64, *,
                 train: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images and labels of a dataset's test split (train split with ``train=True``),
    eval transform (no augmentation), a fixed subset."""
    from experiments.data import build_datasets

    tr, te, _ = build_datasets(dataset, data_root, augment=False, train_subset=n if train else None,
                               test_subset=None if train else n)
    ds = tr if train else te
    loader = torch.utils.data.DataLoader(ds, batch_size=n, shuffle=False, num_workers=0)
    x, y = next(iter(loader))
    return x, y


# --------------------------------------------------------------------------- read-outs
@torch.no_grad()
def readout(model: nn.Module, x: torch.Tensor) -> list[dict[str, Any]]:
    """The model's per-block attention read-out on ``x`` (eval mode; the model's mode is restored)."""
    was = model.training
    model.eval()
    try:
        _, out = model(x, return_attention=True)
    finally:
        model.train(was)
    return out


def _pruned_blocks(model: nn.Module) -> tuple[set[tuple[int, int]], str]:
    try:
        from models.ela import ela_layers
    except ImportError:  # pragma: no cover
        return set(), "keep"
    layers = ela_layers(model)
    pruned = {(int(n[1:].split(".")[0]), int(n.split(".b")[1])) for n, l in layers.items() if l.pruned}
    mode = next(iter(layers.values())).kv_when_pruned if layers else "keep"
    return pruned, mode


def layer_attention_scores(model: nn.Module, x: torch.Tensor) -> dict[int, np.ndarray]:
    """Mean softmax weight of every layer attention (MRLA-B, ELA, DLA-B 'layer_softmax'
    read-outs) over the batch and heads: per stage a [blocks x blocks] matrix, row = the
    attending block, column = the earlier (or same) block it retrieves from; NaN where a
    block does not retrieve (later blocks; ELA's pruned layers)."""
    pruned, mode = _pruned_blocks(model)
    by_stage: dict[int, dict[int, np.ndarray]] = {}
    for r in readout(model, x):
        if r["kind"] == "layer_softmax":
            by_stage.setdefault(r["stage"], {})[r["block"]] = r["value"].float().mean((0, 1)).cpu().numpy()
    if not by_stage:
        raise ValueError("the model records no 'layer_softmax' attention (use an MRLA-B, ELA or DLA-B model)")
    out = {}
    for s, blocks in sorted(by_stage.items()):
        n = max(max(blocks) + 1, len(next(iter(blocks.values()))))
        blocks_in_stage = _stage_len(model, s, n)
        m = np.full((blocks_in_stage, blocks_in_stage), np.nan)
        for b, w in blocks.items():
            t = len(w)
            if t == b + 1:
                cols = list(range(b + 1))
            else:  # ELA 'drop': only unpruned earlier layers were stored
                cols = [j for j in range(b + 1) if (s, j) not in pruned or (mode == "keep")]
                cols = cols[-t:] if len(cols) >= t else list(range(b + 1 - t, b + 1))
            m[b, cols] = w
        out[s] = m
    return out


def _stage_len(model: nn.Module, stage: int, fallback: int) -> int:
    stages = getattr(model, "stages", None)
    try:
        return len(stages[stage].blocks)
    except (TypeError, IndexError, AttributeError):
        return fallback


def channel_maps(model: nn.Module, x: torch.Tensor, kind: str = "channel") -> dict[int, np.ndarray]:
    """Per stage the channel attention maps of its blocks, [blocks, batch, channels]
    (SE/ECA/CBAM/... per block; DIA's h_t). Blocks without a map are left out."""
    by_stage: dict[int, dict[int, np.ndarray]] = {}
    for r in readout(model, x):
        if r["kind"] == kind and r["value"].dim() == 2:
            by_stage.setdefault(r["stage"], {})[r["block"]] = r["value"].float().cpu().numpy()
    if not by_stage:
        raise ValueError(f"the model records no {kind!r} attention maps")
    return {s: np.stack([blocks[b] for b in sorted(blocks)]) for s, blocks in sorted(by_stage.items())}


def attention_correlations(model: nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """DIA Fig. 2: Pearson correlation, for every input sample, between the channel
    attention maps of every pair of blocks (i < j) of a stage. One row per (stage, i, j,
    sample) with ``r``; NaN where a map is constant."""
    rows = []
    for s, maps in channel_maps(model, x).items():
        z = maps - maps.mean(-1, keepdims=True)
        norm = np.sqrt((z**2).sum(-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            for i in range(len(maps)):
                for j in range(i + 1, len(maps)):
                    r = (z[i] * z[j]).sum(-1) / (norm[i] * norm[j])
                    rows += [{"stage": s, "i": i, "j": j, "sample": k, "r": float(v)} for k, v in enumerate(r)]
    return pd.DataFrame(rows, columns=["stage", "i", "j", "sample", "r"])


def stage_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, max_values: int = 20000,
                    train_mode: bool = True, seed: int = 0) -> pd.DataFrame:
    """DIA Fig. 13: absolute values of the cross-entropy loss gradient at the output tensor
    of each stage, on a copy of the model (in train mode by default, as during training;
    the model passed in is not changed). At most ``max_values`` values per stage, sampled
    uniformly at random. One row per value: stage (1-based), abs_grad."""
    net = copy.deepcopy(model)
    net.train(train_mode)
    outs: dict[int, torch.Tensor] = {}
    hooks = []
    for i, stage in enumerate(net.stages):
        def hook(mod, inp, out, i=i):
            out.retain_grad()
            outs[i] = out
        hooks.append(stage.register_forward_hook(hook))
    try:
        net.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    rng = np.random.default_rng(seed)
    rows = []
    for i, out in sorted(outs.items()):
        g = out.grad.detach().abs().flatten().cpu().numpy()
        if g.size > max_values:
            g = rng.choice(g, max_values, replace=False)
        rows.append(pd.DataFrame({"stage": i + 1, "abs_grad": g}))
    return pd.concat(rows, ignore_index=True)


def gini_importance(model: nn.Module, x: torch.Tensor, *, stages: list[int] | None = None,
                    n_estimators: int = 50, max_rows: int = 4000, seed: int = 0) -> dict[int, np.ndarray]:
    """DIA Fig. 11: how much each earlier hidden state h_n (n < t) tells about h_t, per stage.

    For every target block t of a stage, a random forest (scikit-learn
    ``RandomForestRegressor``) regresses h_t on (h_1, ..., h_{t-1}); one observation is one
    (sample, channel) pair, the n-th feature is h_n at that sample and channel. The forest's
    Gini (impurity) importances form row t of a [blocks x blocks] matrix (NaN for n >= t;
    row 0 has no sources). ``max_rows`` observations are sampled per forest.
    """
    from sklearn.ensemble import RandomForestRegressor

    maps = channel_maps(model, x)
    rng = np.random.default_rng(seed)
    out = {}
    for s, h in maps.items():
        if stages is not None and s not in stages:
            continue
        T = len(h)
        m = np.full((T, T), np.nan)
        flat = h.reshape(T, -1)  # [blocks, batch * channels]
        rows = flat.shape[1]
        idx = rng.choice(rows, min(rows, max_rows), replace=False)
        for t in range(1, T):
            X, yt = flat[:t, idx].T, flat[t, idx]
            if np.allclose(yt, yt[0]):
                m[t, :t] = 1.0 / t  # a constant target: no source is more informative than another
                continue
            rf = RandomForestRegressor(n_estimators=n_estimators, random_state=seed, n_jobs=1, max_features=1.0)
            rf.fit(X, yt)
            m[t, :t] = rf.feature_importances_
        out[s] = m
    return out


# --------------------------------------------------------------------------- a run's read-outs
#: the read-outs ``run_readout`` takes by name; stage_gradients also takes the labels
READOUTS = {"layer_attention_scores": layer_attention_scores, "attention_correlations": attention_correlations,
            "stage_gradients": stage_gradients, "gini_importance": gini_importance}
_MEMO: dict[tuple, Any] = {}


def run_readout(run_dir: str | Path, dataset: str, data_root: str | Path | None, n: int, name: str, **kwargs) -> Any:
    """The read-out ``name`` (a key of ``READOUTS``, called with ``kwargs``) of a run's trained
    checkpoint on the fixed batch of ``n`` test images of ``dataset`` (``sample_batch``).

    Memoised in this process per (checkpoint file and its modification time, dataset,
    data_root, n, name, the arguments with their defaults filled in): the report draws a
    figure and evaluates the figure's claim from the same read-out, computed once. The value
    is shared: callers do not modify it."""
    fn = READOUTS[name]
    args = inspect.signature(fn).bind_partial(**kwargs)
    args.apply_defaults()
    ckpt = Path(run_dir) / "checkpoint.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"no checkpoint.pt in {run_dir}")
    key = (str(ckpt.resolve()), ckpt.stat().st_mtime_ns, dataset, str(data_root), n, name,
           tuple(sorted((k, repr(v)) for k, v in args.arguments.items())))
    if key not in _MEMO:
        model, _ = load_run_model(run_dir)
        x, y = sample_batch(dataset, data_root, n)
        _MEMO[key] = fn(model, x, y, **kwargs) if name == "stage_gradients" else fn(model, x, **kwargs)
    return _MEMO[key]
