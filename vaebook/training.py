"""One small training loop for every chapter: seeded, device-aware, with a progress bar.

A *loss function* takes ``(model, x_batch)`` and returns a scalar mean loss; the objectives module
has the book's. A *transform* takes ``(x_batch, generator)`` and returns a new batch, e.g.
``vaebook.data.binarize_dynamic`` or a corruption process.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from vaebook.checks import check_batch, check_positive_int
from vaebook.data import batches
from vaebook.objectives import bound_from_log_weights, log_importance_weights

LossFn = Callable[[nn.Module, Tensor], Tensor]
Transform = Callable[[Tensor, torch.Generator], Tensor]


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` if given, else CUDA when present, else Apple's MPS when present, else the CPU."""
    if name is not None:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device that holds the model's parameters (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class History:
    """Mean loss per epoch, on the training data and (when given) on the test data."""

    train: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)


def train(
    model: nn.Module,
    loss_fn: LossFn,
    x_train: Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    x_test: Tensor | None = None,
    transform: Transform | None = None,
    cosine_schedule: bool = False,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with Adam on mini-batches of ``x_train`` (N, D); return its History.

    The batch order and the transform's randomness come from one generator seeded with ``seed``,
    and torch's global generator (used by sampling inside the loss) is seeded too, so two runs
    with the same arguments on the same machine give the same model. With ``cosine_schedule`` the
    learning rate decays from ``lr`` to 0 along a half cosine over all steps.
    """
    check_batch(x_train, "x_train")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if x_test is not None:
        check_batch(x_test, "x_test", x_train.shape[1])
    device = pick_device(device)
    seed_everything(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    model.to(device)
    x_train = x_train.to(device)
    # The fused kernel updates all parameters in one pass: a third faster per step on a CPU.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))
    steps = epochs * math.ceil(len(x_train) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine_schedule else None

    history = History()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, mininterval=0)
    for _ in bar:
        history.train.append(_train_epoch(model, loss_fn, x_train, batch_size, optimizer,
                                          scheduler, transform, generator))
        if x_test is not None:
            history.test.append(evaluate(model, loss_fn, x_test, transform=transform, seed=seed,
                                         device=device))
        bar.set_postfix(_postfix(history), refresh=True)
    return history


def _train_epoch(model, loss_fn, x_train, batch_size, optimizer, scheduler, transform, generator):
    model.train()
    total = 0.0
    for (x,) in batches(x_train, batch_size=batch_size, generator=generator):
        if transform is not None:
            x = transform(x, generator)
        loss = loss_fn(model, x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(x)
    return total / len(x_train)


def _postfix(history: History) -> dict[str, str]:
    postfix = {"train": f"{history.train[-1]:.2f}"}
    if history.test:
        postfix["test"] = f"{history.test[-1]:.2f}"
    return postfix


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    x: Tensor,
    *,
    batch_size: int = 1000,
    transform: Transform | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Mean of ``loss_fn`` over all of ``x`` (N, D), in eval mode, without gradients.

    Randomness (the transform's, and sampling inside the loss) is seeded with ``seed``, so the
    same model gets the same score every time. Runs where the model is unless ``device`` is given.
    """
    check_batch(x, "x")
    check_positive_int(batch_size, "batch_size")
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for (batch,) in batches(x.to(device), batch_size=batch_size, shuffle=False):
            if transform is not None:
                batch = transform(batch, generator)
            total += loss_fn(model, batch).item() * len(batch)
    model.train(was_training)
    return total / len(x)


@torch.no_grad()
def sample_log_weights(
    model: nn.Module,
    x: Tensor,
    *,
    k: int = 1000,
    batch_size: int = 50,
    chunk: int = 50,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Tensor:
    """k importance log-weights log w_s = log p_θ(x | z_s) p(z_s) / q_φ(z_s | x) for every row of
    x (N, D), z_s from the encoder: (N, k) on the CPU. Computed ``chunk`` samples at a time, so
    memory stays at chunk · batch_size · D numbers whatever k is; the default 50 · 50 rows of
    MNIST (8 MB) stay in a CPU's cache, twice as fast as 250 · 50 on 2 cores. Seeded. Runs where
    the model is unless ``device`` is given. ``objectives.bound_from_log_weights`` gives L_k."""
    check_batch(x, "x")
    for value, name in ((k, "k"), (batch_size, "batch_size"), (chunk, "chunk")):
        check_positive_int(value, name)
    device = model_device(model) if device is None else torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval().to(device)
    results = []
    steps = tqdm(range(0, len(x), batch_size), desc=f"log p(x), k={k}", unit="batch", disable=not progress)
    for start in steps:
        batch = x[start:start + batch_size].to(device)
        log_w = torch.cat([log_importance_weights(model, batch, min(chunk, k - done), generator)
                           for done in range(0, k, chunk)])
        results.append(log_w.T.cpu())
    model.train(was_training)
    return torch.cat(results)


def estimate_log_likelihood(model: nn.Module, x: Tensor, *, k: int = 1000, **options) -> Tensor:
    """Importance-sampled estimate of log p_θ(x) for every row of x (N, D): the bound L_k of
    ``objectives.iwae_bound`` from k samples, returned as (N,) on the CPU, in nats. ``options``
    (batch_size, chunk, seed, device, progress) are those of ``sample_log_weights``."""
    return bound_from_log_weights(sample_log_weights(model, x, k=k, **options))
