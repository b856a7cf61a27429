"""Faithful models of the ELA, DLA and DIA papers and their baselines.

    from models import create_model, list_models
    net = create_model("dia_resnet164", num_classes=100)
"""
from .registry import ConfigError, create_model, list_models, register_model

__all__ = ["ConfigError", "create_model", "list_models", "register_model", "count_parameters"]


def count_parameters(model) -> int:
    """Trainable parameters, each shared tensor counted once (as the papers count)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
