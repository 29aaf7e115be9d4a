"""Randomness: the one convention every random draw in vaebook follows.

1. A function that is one step of a random computation (a corruption, a binarization of a batch,
   a reparameterized draw, an ELBO estimate, a gradient estimate, a batch order) takes
   ``generator: torch.Generator | None`` and draws only from it. ``None`` means torch's global
   generator, as everywhere in torch.
2. A top-level entry point takes ``seed: int`` and builds its own generators from it:
   ``training.train`` and ``evaluate``, ``likelihood.sample_log_weights`` and
   ``estimate_log_likelihood``, ``vi.fit`` and ``refine_posterior``, ``pretrained.build_model``
   and ``train_recipe``, ``analysis.tsne``. So does a function whose result is one fixed, named
   draw: ``data.binarize_static`` (the test set's binarization), ``exact``'s ``random`` models and
   their ``sample``. The same arguments give the same result on the same machine. An entry
   point that needs several streams splits its seed with :func:`seeded_streams`, so that no
   stream repeats another's draws.
3. Nothing reseeds the caller's global generators. Where torch can only draw from its global
   generator (``nn.Linear``'s initial weights; ``sample``/``rsample`` of ``torch.distributions``),
   the draw runs inside ``torch.random.fork_rng``, which restores the caller's state afterwards:
   see :func:`drawing_from`.
4. :func:`seed_everything` is the one function that seeds the global generators (Python's,
   NumPy's and torch's), on purpose: a chapter's setup cell calls it.
5. The book has one seed, :func:`book_seed`: ``$VAEBOOK_SEED``, else 0. Every chapter's ``SEED``
   and every recipe of ``pretrained`` start from it, so one variable reruns the whole book, its
   shared models included, under another seed (``make seeds`` does that).
"""

from __future__ import annotations

import numbers
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

SEED_ENV_VAR = "VAEBOOK_SEED"


def book_seed() -> int:
    """The book's seed: the integer in ``$VAEBOOK_SEED``, else 0. Raises ``ValueError`` when the
    variable is set to anything but a non-negative integer."""
    text = os.environ.get(SEED_ENV_VAR, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"{SEED_ENV_VAR} must be a non-negative integer, got {text!r}; "
                         f"unset it to use the book's seed 0.")
    return int(text)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}.")
    return int(seed)


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A new generator on ``device`` seeded with ``seed`` (an integer >= 0): an entry point's own
    stream."""
    return torch.Generator(device=device).manual_seed(_check_seed(seed))


# The purposes that share a seed inside one entry point, or across entry points called with the
# same seed on the same data (chapter 5 binarizes the test set and importance-samples it with one
# seed). Each gets its own stream; append new ones, never reorder (that would change every result).
PURPOSES = ("data", "loss", "importance")


def seeded_streams(seed: int, purposes: tuple[str, ...], device: torch.device | str = "cpu"
                   ) -> list[torch.Generator]:
    """One independent generator on ``device`` per purpose in ``purposes`` (names from
    ``PURPOSES``): ``training.train`` draws its batch order and transform from "data" and the
    loss's draws from "loss"; ``likelihood.sample_log_weights`` draws from "importance".

    The split is NumPy's: the stream of the i-th name of ``PURPOSES`` is seeded with the first 63
    bits of the state of ``numpy.random.SeedSequence(seed).spawn(...)[i]``, so the streams differ
    from each other and from ``seeded_generator(seed)`` (a ``binarize_static`` draw, say), and the
    same ``seed`` gives the same streams."""
    unknown = [name for name in purposes if name not in PURPOSES]
    if unknown:
        raise ValueError(f"unknown purposes {unknown}; the streams are {PURPOSES}.")
    children = np.random.SeedSequence(_check_seed(seed)).spawn(len(PURPOSES))
    return [torch.Generator(device=device).manual_seed(
                int(children[PURPOSES.index(name)].generate_state(1, np.uint64)[0] >> 1))
            for name in purposes]


@contextmanager
def drawing_from(gen: torch.Generator | None) -> Iterator[None]:
    """Inside the block, torch's global generator for ``gen``'s device draws ``gen``'s numbers,
    for code that takes no generator (``torch.distributions``). Afterwards ``gen`` has advanced
    as if it had drawn them itself, and the global generator is as it was. With ``None`` the
    block draws from the global generator as usual."""
    if gen is None:
        yield
        return
    cuda = gen.device.type == "cuda"
    index = gen.device.index if gen.device.index is not None else torch.cuda.current_device() if cuda else 0
    with torch.random.fork_rng(devices=[index] if cuda else []):
        default = torch.cuda.default_generators[index] if cuda else torch.default_generator
        default.set_state(gen.get_state())
        yield
        gen.set_state(default.get_state())
