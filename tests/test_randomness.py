"""The randomness convention's helpers: seeding on purpose, seeded generators, and drawing from a
given generator where torch only offers the global one."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.distributions import Beta

from vaebook.randomness import SEED_ENV_VAR, book_seed, drawing_from, seed_everything, seeded_generator


def test_seed_everything_repeats_python_numpy_and_torch_draws():
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1))
    seed_everything(3)
    assert (random.random(), np.random.rand()) == first[:2] and torch.equal(torch.rand(1), first[2])


def test_seeded_generator_is_the_stream_of_its_seed():
    assert torch.equal(torch.rand(3, generator=seeded_generator(5)),
                       torch.rand(3, generator=torch.Generator().manual_seed(5)))
    for bad in (-1, 1.5, True, "0", 2**63):
        with pytest.raises(ValueError, match="seed must be an integer"):
            seeded_generator(bad)


def test_drawing_from_a_generator_draws_its_numbers_and_leaves_the_global_state_alone():
    torch.manual_seed(0)
    global_before = torch.get_rng_state()
    mine, reference = seeded_generator(7), seeded_generator(7)
    with drawing_from(mine):
        drawn = Beta(torch.tensor([2.0]), torch.tensor([3.0])).sample((4,))
        normal = torch.randn(3)
    assert torch.equal(torch.get_rng_state(), global_before)
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(reference.get_state())
        expected = Beta(torch.tensor([2.0]), torch.tensor([3.0])).sample((4,))
        expected_normal = torch.randn(3)
        reference.set_state(torch.get_rng_state())
    assert torch.equal(drawn, expected) and torch.equal(normal, expected_normal)
    # the generator advanced exactly as far as the draws took it
    assert torch.equal(torch.rand(2, generator=mine), torch.rand(2, generator=reference))


def test_drawing_from_none_uses_the_global_generator():
    torch.manual_seed(1)
    with drawing_from(None):
        a = torch.rand(2)
    torch.manual_seed(1)
    assert torch.equal(a, torch.rand(2))


def test_book_seed_reads_vaebook_seed_and_defaults_to_zero(monkeypatch):
    monkeypatch.delenv(SEED_ENV_VAR, raising=False)
    assert book_seed() == 0
    monkeypatch.setenv(SEED_ENV_VAR, " 7 ")
    assert book_seed() == 7
    for bad in ("-1", "1.5", "seven"):
        monkeypatch.setenv(SEED_ENV_VAR, bad)
        with pytest.raises(ValueError, match=r"\bVAEBOOK_SEED\b must be a non-negative integer"):
            book_seed()
