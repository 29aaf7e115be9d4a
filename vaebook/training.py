"""One small training loop for every chapter, and the evaluation of a loss over a data set:
seeded, device-aware, with a progress bar.

A *loss* is ``loss(model, x_batch, generator) -> scalar mean loss`` (``vaebook.losses`` has the
book's); when ``labels`` are given, the loss also gets the batch's labels as ``labels=``. A
*transform* is ``transform(x_batch, generator) -> new batch``, e.g.
``vaebook.data.binarize_dynamic`` or a corruption process. When they are ``Checked`` (the book's
are), ``train`` and ``evaluate`` check the model and all the data once, before the first step;
any other callable gets a check that the data are finite. The batches then run inside
``checks.trusted()``: no checked function checks again, not even inside a loss of your own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm import tqdm

from vaebook.checks import (
    Checked,
    check_batch,
    check_finite,
    check_positive_int,
    check_real,
    check_same_length,
    trusted,
)
from vaebook.data import batches
from vaebook.models import eval_mode, model_device
from vaebook.randomness import seeded_streams

LossFn = Callable[[nn.Module, Tensor, torch.Generator | None], Tensor]
Transform = Callable[[Tensor, torch.Generator | None], Tensor]


def pick_device(name: str | torch.device | None = None) -> torch.device:
    """``name`` if given, else CUDA when present, else Apple's MPS when present, else the CPU."""
    if name is not None:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class History:
    """Mean loss per epoch, on the training data and (when given) on the test data."""

    train: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)


def _prepare(model: nn.Module, loss_fn: LossFn, transform: Transform | None, x: object, name: str,
             device: torch.device, labels: object = None
             ) -> tuple[Tensor, ...]:
    """Move ``x`` (and ``labels``, when given) to ``device``, check them once for the loss and the
    transform, and return them."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (model, x, generator) -> loss, got {loss_fn!r}.")
    x = check_batch(x, name).to(device)
    data, extra = (x,), {}
    if labels is not None:
        if not isinstance(labels, Tensor):
            raise TypeError(f"the labels of {name} must be a torch.Tensor, got {type(labels).__name__}.")
        check_same_length((x, labels), f"{name} and its labels")
        data = (x, labels.to(device))
        extra = {"labels": data[1]}
    for fn, args, kwargs in ((loss_fn, (model, x), extra), (transform, (x,), {})):
        if isinstance(fn, Checked):
            try:
                fn.check(*args, **kwargs)
            except (TypeError, ValueError) as err:  # the check calls the data x: say which data
                message = str(err)
                raise type(err)(name + message[1:] if message.startswith("x ") else message) from None
    if not isinstance(loss_fn, Checked):
        check_finite(x, name)
    return data


def _split(batch: tuple[Tensor, ...]) -> tuple[Tensor, dict[str, Tensor]]:
    """A batch of (x,) or (x, labels) as x and the loss's keyword arguments."""
    return batch[0], ({"labels": batch[1]} if len(batch) == 2 else {})


def train(
    model: nn.Module,
    loss_fn: LossFn,
    x_train: Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    x_test: Tensor | None = None,
    labels: Tensor | None = None,
    test_labels: Tensor | None = None,
    transform: Transform | None = None,
    cosine_schedule: bool = False,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with Adam on mini-batches of ``x_train`` (N, D); return its History.

    Two independent generators split from ``seed`` (``randomness.seeded_streams``) feed the
    randomness: one the batch order and the transform, the other whatever the loss draws; the
    caller's global generators are not touched
    (``vaebook.randomness``), so two runs with the same arguments and the same initial model give
    the same model on the same machine. With ``cosine_schedule`` the learning rate decays from
    ``lr`` to 0 along a half cosine over all steps. ``x_test`` is scored by ``evaluate`` after each
    epoch. ``labels`` (N,) and ``test_labels`` (class indices, for a classifier or a model
    conditioned on the class) travel with their rows and reach the loss as ``labels=``. Raises
    ``FloatingPointError`` at the first non-finite loss or gradient, naming the epoch and step,
    before that step changes the model. The model stays on the device it trained on (``device``,
    else the fastest there is), as after ``model.to(device)``.
    """
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_real(lr, "lr")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    device = pick_device(device)
    model.to(device)
    data = _prepare(model, loss_fn, transform, x_train, "x_train", device, labels)
    if x_test is not None:
        _prepare(model, loss_fn, transform, check_batch(x_test, "x_test", data[0].shape[1]), "x_test",
                 device, test_labels)
    data_generator, loss_generator = seeded_streams(seed, ("data", "loss"), device)
    # The fused kernel updates all parameters in one pass: a third faster per step on a CPU.
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))
    steps = epochs * math.ceil(len(data[0]) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine_schedule else None

    history = History()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, mininterval=0)
    with trusted():  # checked above, once: no check per step
        for epoch in bar:
            model.train()
            total = 0.0
            for step, batch in enumerate(batches(*data, batch_size=batch_size, generator=data_generator)):
                x, extra = _split(batch)
                if transform is not None:
                    x = transform(x, data_generator)
                loss = loss_fn(model, x, loss_generator, **extra)
                value = loss.item()  # the step's one synchronization, for the running mean
                if not math.isfinite(value):
                    raise FloatingPointError(_divergence_message(f"the loss is {value}", epoch, step, lr))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if not _gradients_finite(model):  # a finite loss can still have an inf gradient
                    raise FloatingPointError(_divergence_message("a gradient is not finite", epoch, step,
                                                                 lr))
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                total += value * len(x)
            history.train.append(total / len(data[0]))
            if x_test is not None:
                history.test.append(evaluate(model, loss_fn, x_test, labels=test_labels, transform=transform,
                                             seed=seed, device=device))
            bar.set_postfix(_postfix(history), refresh=True)
    return history


def _gradients_finite(model: nn.Module) -> bool:
    # One sum per tensor (inf and nan survive a sum): 0.08 ms a step for chapter 5's VAE, where
    # isfinite(g).all() per tensor takes 2.3 ms. A sum that overflows float32 counts as not
    # finite too; such a gradient is a divergence anyway.
    sums = [p.grad.sum() for p in model.parameters() if p.grad is not None]
    return bool(torch.isfinite(torch.stack(sums)).all()) if sums else True


def _divergence_message(what: str, epoch: int, step: int, lr: float) -> str:
    return (f"training diverged: {what} at epoch {epoch + 1}, step {step + 1} (the model "
            f"keeps the weights from before that step). Lower the learning rate (lr={lr:g} now, try "
            f"{lr / 10:g}), and check the data and the loss for values that can overflow.")


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
    labels: Tensor | None = None,
    batch_size: int = 1000,
    transform: Transform | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Mean of ``loss_fn`` over all of ``x`` (N, D), in eval mode, without gradients.

    Randomness (the transform's, from one generator, and the loss's, from another, independent
    one: ``randomness.seeded_streams``) comes from ``seed``, so the same model gets the same
    score every time. Raises ``FloatingPointError`` when
    the mean is not finite. Runs where the model is unless ``device`` is given (the model is moved
    there; x is moved to it). The model's train/eval mode is restored afterwards, even when the
    loss raises. ``labels`` (N,) reach the loss as
    ``labels=``, as in ``train``.
    """
    check_positive_int(batch_size, "batch_size")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    device = model_device(model) if device is None else torch.device(device)
    model.to(device)
    data = _prepare(model, loss_fn, transform, x, "x", device, labels)
    data_generator, loss_generator = seeded_streams(seed, ("data", "loss"), device)
    total = 0.0
    with trusted():  # checked above, once
        with eval_mode(model):
            for batch in batches(*data, batch_size=batch_size, shuffle=False):
                x, extra = _split(batch)
                if transform is not None:
                    x = transform(x, data_generator)
                total += loss_fn(model, x, loss_generator, **extra).item() * len(x)
    if not math.isfinite(total):
        raise FloatingPointError(f"evaluate: the mean loss is {total}; the model's weights or its "
                                 f"outputs on these data are not finite (a diverged model?).")
    return total / len(data[0])
