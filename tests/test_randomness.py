"""The randomness convention's helpers: seeding on purpose, seeded generators, and drawing from a
given generator where torch only offers the global one."""

from __future__ import annotations

import random
from itertools import combinations

import numpy as np
import pytest
import torch
from torch.distributions import Uniform

from vaebook.randomness import (
    SEED_ENV_VAR,
    book_seed,
    drawing_from,
    seed_everything,
    seeded_generator,
    seeded_streams,
)


def test_seed_everything_repeats_python_numpy_and_torch_draws():
    seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1))
    seed_everything(3)
    assert (random.random(), np.random.rand()) == first[:2] and torch.equal(torch.rand(1), first[2])


def test_seeded_generator_is_the_stream_of_its_seed():
    # The reference is NumPy's Mersenne Twister seeded the same way (RandomState's legacy
    # seeding), not torch.Generator().manual_seed, the call seeded_generator makes: torch's float32
    # rand is the low 24 bits of each 32-bit word, divided by 2**24.
    words = np.random.RandomState(5).randint(0, 2**32, size=3, dtype=np.uint32)
    expected = torch.tensor((words & 0xFFFFFF) / 2**24, dtype=torch.float32)
    assert torch.equal(torch.rand(3, generator=seeded_generator(5)), expected)
    for bad in (-1, 1.5, True, "0", 2**63):
        with pytest.raises(ValueError, match="seed must be an integer"):
            seeded_generator(bad)


def test_seeded_streams_are_distinct_repeatable_streams():
    # The plain seeded_generator(seed) stream is binarize_static's: chapter 5 importance-samples
    # the test set it binarized, with the same seed.
    data, loss, importance = seeded_streams(5, ("data", "loss", "importance"))
    draws = {name: torch.rand(10_000, generator=g)
             for name, g in (("data", data), ("loss", loss), ("importance", importance),
                             ("plain", seeded_generator(5)))}
    for one, other in combinations(draws.values(), 2):
        assert not torch.equal(one[:10], other[:10])
        assert abs(torch.corrcoef(torch.stack([one, other]))[0, 1]) < 5 / 10_000**0.5
    # a stream is the same whatever else is asked for with it, and changes with the seed
    (again,) = seeded_streams(5, ("importance",))
    assert torch.equal(torch.rand(10_000, generator=again), draws["importance"])
    assert not torch.equal(torch.rand(10, generator=seeded_streams(6, ("data",))[0]), draws["data"][:10])
    with pytest.raises(ValueError, match="seed must be an integer"):
        seeded_streams(-1, ("data",))
    with pytest.raises(ValueError, match="unknown purposes"):
        seeded_streams(0, ("noise",))


def test_drawing_from_a_generator_draws_its_numbers_and_leaves_the_global_state_alone():
    # The reference draws come from the generator itself, through torch's ``generator=``
    # arguments, not from a copy of its state in the global generator (how drawing_from works).
    # Both generators have drawn before, so starting from the seed instead of the state shows.
    torch.manual_seed(0)
    global_before = torch.get_rng_state()
    mine, reference = seeded_generator(7), seeded_generator(7)
    for generator in (mine, reference):
        torch.rand(5, generator=generator)
    with drawing_from(mine):
        drawn = Uniform(torch.tensor(2.0), torch.tensor(5.0)).sample((4,))  # takes no generator
        normal = torch.randn(3)
    assert torch.equal(torch.get_rng_state(), global_before)
    assert torch.equal(drawn, 2 + 3 * torch.rand(4, generator=reference))
    assert torch.equal(normal, torch.randn(3, generator=reference))
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

