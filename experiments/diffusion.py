"""The diffusion core for U-ViT on CIFAR-10 (DIA Fig 8): noise schedule, noise-prediction loss,
samplers and EMA weights. Model-agnostic: ``model(x_t, t)`` predicts the noise, t in [0, 1]
(``models.uvit``).

Schedule: the continuous-time VP SDE with a linear beta (Song et al. 2021, "Score-Based
Generative Modeling through SDEs", Eq. 11 and App. B; the continuous limit of DDPM's linear
schedule beta_1 = 1e-4 .. beta_1000 = 0.02, Ho et al. 2020 Sec. 4)::

    beta(t)   = beta_min + t (beta_max - beta_min),     beta_min = 0.1, beta_max = 20
    alpha_t^2 = exp(-int_0^t beta) = exp(-(beta_min t + (beta_max - beta_min) t^2 / 2))
    sigma_t^2 = 1 - alpha_t^2,         x_t = alpha_t x_0 + sigma_t eps,  eps ~ N(0, I)

Source and decision: U-ViT (Bao et al. 2023) trains CIFAR-10 with noise prediction on this
VP SDE (its released CIFAR-10 configuration: ``pred='noise_pred'``, the ``vpsde`` with
beta_min 0.1 and beta_max 20, t ~ U[0, 1), the network reading ``999 t``). So not the
discrete 1000-step DDPM chain, but its continuous-time version; ``models.uvit`` scales t by
999 so the time token sees DDPM-like step indices.

Loss: DDPM's L_simple (Ho et al. 2020, Eq. 14) in continuous time,
``E_{t, x_0, eps} mean_pixels (eps - eps_theta(x_t, t))^2`` (:func:`noise_prediction_loss`).

Samplers (both deterministic under a seed: every random draw comes from one
``torch.Generator`` seeded by the caller, on the CPU, so the result does not depend on the
global RNG or the device's RNG):

* :func:`euler_maruyama_sample` -- U-ViT's CIFAR-10 sampler (released configuration:
  Euler-Maruyama on the reverse SDE, Song et al. 2021 Eq. 6, 1000 steps, t from 1 to
  1e-3, no noise on the last step to t = 0). This is what an FID comparable with U-ViT's
  Table (CIFAR-10 FID 3.11) and DIA Fig 8 needs: 1000 network evaluations per batch.
* :func:`ddim_sample` -- DDIM with eta = 0 (Song, Meng & Ermon 2021, Eq. 12), which on
  the VP SDE is the first-order DPM-Solver (Lu et al. 2022, DPM-Solver-1 = DDIM) for the
  probability-flow ODE: deterministic given x_1, good samples in 50-100 steps. Chosen for
  the smoke profile and the tests, where 1000 steps per sample are unaffordable on CPU;
  DIA does not say which sampler Fig 8 used.

EMA: ``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn(decay)``
(:func:`make_ema`), decay 0.9999 as in U-ViT's released training (EMA of every parameter
after each optimiser step, the EMA initialised as a copy of the network). The averaged
model is a deep copy, so a DIA-UViT keeps its one unit shared across blocks in the copy.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

__all__ = ["VPSDE", "noise_prediction_loss", "ddim_sample", "euler_maruyama_sample", "make_ema",
           "EMA_DECAY", "T_EPS"]

#: U-ViT's EMA rate (released training code).
EMA_DECAY = 0.9999
#: The smallest time the samplers integrate to (released Euler-Maruyama sampler, Song et al. 2021).
T_EPS = 1e-3

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class VPSDE:
    """The VP SDE with linear ``beta(t)`` on t in [0, 1] (module docstring)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """``log alpha_t = -(1/2) int_0^t beta``."""
        return -0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return self.log_alpha(t).exp()

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """``sqrt(1 - alpha_t^2)``, computed as ``sqrt(-expm1(2 log alpha_t))`` for small t."""
        return torch.sqrt(-torch.expm1(2.0 * self.log_alpha(t)))

    def perturb(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``x_t = alpha_t x_0 + sigma_t eps`` with ``t`` of shape [B]."""
        shape = (-1,) + (1,) * (x0.dim() - 1)
        return self.alpha(t).view(shape) * x0 + self.sigma(t).view(shape) * eps

    def __repr__(self) -> str:
        return f"VPSDE(beta_min={self.beta_min}, beta_max={self.beta_max})"


def noise_prediction_loss(model: Model, x0: torch.Tensor, sde: VPSDE | None = None, *,
                          t: torch.Tensor | None = None, eps: torch.Tensor | None = None,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """DDPM's L_simple on the VP SDE: ``mean_b mean_pixels (eps - model(x_t, t))^2``.

    ``t`` ~ U[0, 1) and ``eps`` ~ N(0, I) are drawn (from ``generator`` if given, on its
    device) unless passed, which fixes the loss for evaluation.
    """
    sde = sde or VPSDE()
    b = x0.shape[0]
    if t is None:
        dev = generator.device if generator is not None else x0.device
        t = torch.rand(b, generator=generator, device=dev).to(x0.device)
    if eps is None:
        dev = generator.device if generator is not None else x0.device
        eps = torch.randn(x0.shape, generator=generator, device=dev).to(x0)
    xt = sde.perturb(x0, t, eps)
    pred = model(xt, t)
    return (eps - pred).square().flatten(1).mean(1).mean()


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


def _eval_model(model: Model, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return model(x, t.expand(x.shape[0]).to(x))


@torch.no_grad()
def ddim_sample(model: Model, shape: tuple[int, ...], *, steps: int = 100, seed: int = 0,
                sde: VPSDE | None = None, t_eps: float = T_EPS, device: torch.device | str | None = None,
                denoise_last: bool = True) -> torch.Tensor:
    """DDIM (eta = 0) = DPM-Solver-1 from t = 1 to ``t_eps`` on a uniform time grid.

    One step from t to s < t (Song et al. 2021 DDIM Eq. 12 with sigma = 0)::

        x0_hat = (x_t - sigma_t eps_theta(x_t, t)) / alpha_t
        x_s    = alpha_s x0_hat + sigma_s eps_theta(x_t, t)

    ``x_1 ~ N(0, I)`` drawn from a CPU generator seeded with ``seed``; with
    ``denoise_last`` the returned images are the final ``x0_hat`` at ``t_eps`` (one more
    network call), else ``x_{t_eps}``. Needs the model in eval mode for determinism
    (dropout); the caller sets it.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps}")
    sde = sde or VPSDE()
    device = torch.device(device) if device is not None else next(_params(model), torch.empty(0)).device
    x = torch.randn(shape, generator=_generator(seed)).to(device)
    ts = torch.linspace(1.0, t_eps, steps + 1, dtype=torch.float64)
    for t, s in zip(ts[:-1], ts[1:]):
        t_, s_ = t.float().to(device), s.float().to(device)
        eps = _eval_model(model, x, t_)
        x0 = (x - sde.sigma(t_) * eps) / sde.alpha(t_)
        x = sde.alpha(s_) * x0 + sde.sigma(s_) * eps
    if denoise_last:
        t_ = ts[-1].float().to(device)
        x = (x - sde.sigma(t_) * _eval_model(model, x, t_)) / sde.alpha(t_)
    return x


@torch.no_grad()
def euler_maruyama_sample(model: Model, shape: tuple[int, ...], *, steps: int = 1000, seed: int = 0,
                          sde: VPSDE | None = None, t_eps: float = T_EPS,
                          device: torch.device | str | None = None) -> torch.Tensor:
    """Euler-Maruyama on the reverse VP SDE (Song et al. 2021, Eq. 6), U-ViT's CIFAR-10 sampler.

    Grid ``0, t_eps = t_1 < ... < t_N = 1`` (N = ``steps``); from t to s < t, with
    ``score = -eps_theta / sigma_t`` and ``f = -beta x / 2``, ``g^2 = beta``::

        x_s = x_t - (f(x_t, t) - g(t)^2 score) (t - s) + g(t) sqrt(t - s) z,   z ~ N(0, I)

    and no noise on the last step (to s = 0). All draws (x_1 and every z) come from a CPU
    generator seeded with ``seed``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps}")
    sde = sde or VPSDE()
    device = torch.device(device) if device is not None else next(_params(model), torch.empty(0)).device
    g = _generator(seed)
    x = torch.randn(shape, generator=g).to(device)
    grid = torch.cat([torch.zeros(1, dtype=torch.float64), torch.linspace(t_eps, 1.0, steps, dtype=torch.float64)])
    for i in range(steps, 0, -1):
        t, s = grid[i].float().to(device), grid[i - 1].float().to(device)
        dt = t - s
        eps = _eval_model(model, x, t)
        beta = sde.beta(t)
        # f - g^2 score = -beta x / 2 + beta eps / sigma
        drift = -0.5 * beta * x + beta * eps / sde.sigma(t)
        x = x - drift * dt
        if i > 1:
            x = x + torch.sqrt(beta * dt) * torch.randn(shape, generator=g).to(device)
    return x


def _params(model) -> "iter":
    return iter(model.parameters()) if isinstance(model, nn.Module) else iter(())


def make_ema(model: nn.Module, decay: float = EMA_DECAY) -> AveragedModel:
    """EMA weights ``theta_ema <- decay theta_ema + (1 - decay) theta`` after each
    ``ema.update_parameters(model)``; the first update copies the weights (U-ViT initialises
    its EMA network as a copy). Call the averaged network as ``ema.module(x_t, t)``."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"EMA decay must lie in [0, 1], not {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
