"""Every registered model: builds on the meta device (no CUDA needed), runs forward and
backward on CPU on a small input, any batch size, every parameter receives a gradient."""
import pytest
import torch

from models import create_model, list_models

GENERIC = {"cifar_resnet", "imagenet_resnet", "wrn", "resnext"}
NAMES = [n for n in list_models() if n not in GENERIC]


def _input(name: str, batch: int) -> torch.Tensor:
    # small inputs keep ~370 models affordable on 2 CPU cores; every stage still sees a
    # map of at least 1x1 (ImageNet nets downsample 32x, CIFAR nets 4x)
    size = 32 if name.endswith("_imagenet") else 16
    return torch.randn(batch, 3, size, size)


def _kwargs(name: str) -> dict:
    # timm's ViTs take one fixed image size (224 by default, too slow here): build them for
    # the small input, 16x16 in 4x4 patches (models.vit, tests/test_vit.py)
    return dict(img_size=16, patch_size=4) if "_patch16_" in name else {}


@pytest.mark.parametrize("name", NAMES)
def test_meta_construction(name):
    with torch.device("meta"):
        net = create_model(name)
    assert all(p.device.type == "meta" for p in net.parameters())


#: diffusion backbones (models.uvit): net(x_t, t) predicts the noise, an image like x_t
DENOISERS = [n for n in NAMES if n.startswith(("uvit_", "dia_uvit_"))]


@pytest.mark.parametrize("name", DENOISERS)
def test_denoiser_forward_backward(name):
    net = create_model(name, img_size=16, patch_size=4)
    x = _input(name, 2)
    out = net(x, torch.rand(2))
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"


@pytest.mark.parametrize("name", [n for n in NAMES if n not in DENOISERS])
def test_forward_backward(name):
    net = create_model(name, num_classes=7, **_kwargs(name))
    net.train()
    out = net(_input(name, 2))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    net.eval()
    with torch.no_grad():
        assert net(_input(name, 1)).shape == (1, 7)  # batch size 1


@pytest.mark.parametrize("kind,kwargs", [
    ("cifar_resnet", dict(depth=26, block="basic", family="cbam")),
    ("cifar_resnet", dict(depth=47, family="mrla_b")),
    ("cifar_resnet", dict(depth=29, family="dla_l")),
    ("imagenet_resnet", dict(depth=18, family="dia_srm")),
])
def test_generic_builders_take_any_depth_and_family(kind, kwargs):
    net = create_model(kind, num_classes=5, **kwargs)
    out = net(torch.randn(2, 3, 32 if kind == "imagenet_resnet" else 16, 32 if kind == "imagenet_resnet" else 16))
    out.sum().backward()
    assert out.shape == (2, 5)


def test_mrla_on_16_wide_basic_blocks_is_a_one_line_error():
    from models import ConfigError

    with pytest.raises(ConfigError) as exc:
        create_model("cifar_resnet", depth=20, block="basic", family="mrla_l")
    assert "\n" not in str(exc.value) and "dim_per_head" in str(exc.value)


def test_registry_is_large_and_covers_the_papers():
    names = set(NAMES)
    for required in ("resnet20", "resnet164", "preresnet164", "se_resnet110", "resnet50_imagenet",
                     "se_resnet50_imagenet", "dia_se_resnet164"):
        assert required in names
