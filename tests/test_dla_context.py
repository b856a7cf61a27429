"""DLA refresh context (models/dla.py, option ``context``): DLA Eq. 6 refreshes each image
with its own recurrent context ('per_image', default); the released code refreshes every
image of a batch with image 0's ('batch0'), so an image's output depends on the image that
leads its batch. Eval mode, float64, CIFAR ResNet-20."""
import pytest
import torch

from models import create_model
from models.dla import DLABase, DLALight
from models.registry import ConfigError

FAMILIES = ("dla_l", "dla_b")
CONTEXTS = ("per_image", "batch0")


def _model(family: str, context: str | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    kwargs = {} if context is None else {"attn_kwargs": {"context": context}}
    net = create_model(f"{family}_resnet20", **kwargs).double().eval()
    with torch.no_grad():  # non-trivial eval-mode BN, so no layer is close to the identity
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def _lead_swap(net: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Outputs for a batch and for the same batch with image 0 replaced."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 32, 32, generator=g, dtype=torch.float64)
    x2 = x.clone()
    x2[0] = torch.randn(3, 32, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        return net(x), net(x2), x, x2


@pytest.mark.parametrize("family", FAMILIES)
def test_default_context_is_per_image(family):
    """Default (DLA Eq. 6): images 1 and 2 do not see a change of image 0."""
    net = _model(family)
    assert all(m.context == "per_image" for m in net.modules() if isinstance(m, (DLALight, DLABase)))
    y, y2, _, _ = _lead_swap(net)
    assert _rel(y2[1:], y[1:]) < 1e-12
    assert _rel(y2[:1], y[:1]) > 1e-3  # image 0 itself did change


@pytest.mark.parametrize("family", FAMILIES)
def test_batch0_context_depends_on_lead_image(family):
    """'batch0' (released code): changing image 0 changes the outputs of images 1 and 2."""
    net = _model(family, "batch0")
    assert all(m.context == "batch0" for m in net.modules() if isinstance(m, (DLALight, DLABase)))
    y, y2, _, _ = _lead_swap(net)
    assert _rel(y2[1:], y[1:]) > 1e-8


@pytest.mark.parametrize("family", FAMILIES)
def test_batch0_equals_per_image_for_the_lead_image(family):
    """Image 0 is refreshed with its own context either way, and so is every image of a
    batch of one: same weights, same outputs; only the other images differ."""
    per_image, batch0 = _model(family, "per_image"), _model(family, "batch0")
    batch0.load_state_dict(per_image.state_dict())
    _, _, x, _ = _lead_swap(per_image)
    with torch.no_grad():
        a, b = per_image(x), batch0(x)
        assert _rel(b[:1], a[:1]) < 1e-12
        assert _rel(b[1:], a[1:]) > 1e-8
        for i in range(x.shape[0]):
            assert _rel(batch0(x[i:i + 1]), per_image(x[i:i + 1])) < 1e-12


@pytest.mark.parametrize("family", FAMILIES)
def test_context_adds_no_parameter(family):
    import models.dla

    assert models.dla.CONTEXTS == CONTEXTS
    counts = {c: sum(p.numel() for p in _model(family, c).parameters()) for c in CONTEXTS}
    assert len(set(counts.values())) == 1, counts
    assert counts["batch0"] == sum(p.numel() for p in _model(family).parameters())
    assert set(_model(family, "batch0").state_dict()) == set(_model(family).state_dict())


@pytest.mark.parametrize("family", FAMILIES)
def test_unknown_context_is_a_config_error(family):
    with pytest.raises(ConfigError, match="per_image.*batch0"):
        create_model(f"{family}_resnet20", attn_kwargs={"context": "image0"})
