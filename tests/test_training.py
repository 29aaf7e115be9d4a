from __future__ import annotations

import pytest
import torch

from vaebook.data import binarize_dynamic
from vaebook.models import VAE, Autoencoder
from vaebook.objectives import mse_loss, vae_loss
from vaebook.training import History, evaluate, pick_device, seed_everything, train


def _toy_data(n=512, seed=0):
    # Points on a 2-D plane inside [0, 1]^784: an autoencoder with K = 2 can learn them exactly.
    g = torch.Generator().manual_seed(seed)
    basis = torch.rand(2, 784, generator=g)
    return (torch.rand(n, 2, generator=g) @ basis) / basis.sum(0).max()


def test_pick_device_honours_a_name_and_falls_back_to_cpu():
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device().type == expected


def test_seed_everything_repeats_global_draws():
    seed_everything(3)
    first = torch.rand(3)
    seed_everything(3)
    assert torch.equal(first, torch.rand(3))


def test_train_lowers_the_loss_and_reports_history():
    x = _toy_data()
    model = Autoencoder(hidden=(64,), latent_dim=2)
    before = evaluate(model, mse_loss, x)
    history = train(model, mse_loss, x, epochs=15, batch_size=64, lr=3e-3, x_test=x[:100],
                    device="cpu", progress=False)
    assert isinstance(history, History)
    assert len(history.train) == len(history.test) == 15
    assert history.train[-1] < 0.2 * history.train[0]
    assert evaluate(model, mse_loss, x) < 0.2 * before


def test_train_is_repeatable_with_a_seed_and_the_cosine_schedule():
    x = torch.rand(300, 784)
    runs = []
    for _ in range(2):
        seed_everything(7)  # the initial weights come from the global generator
        model = VAE(hidden=(32,), latent_dim=2)
        runs.append(train(model, vae_loss, x, epochs=2, batch_size=50, transform=binarize_dynamic,
                          cosine_schedule=True, seed=7, device="cpu", progress=False).train)
    assert runs[0] == runs[1]


def test_evaluate_is_deterministic_for_a_stochastic_loss_and_restores_the_mode():
    model = VAE(hidden=(16,), latent_dim=2).train()
    x = torch.rand(200, 784)
    first = evaluate(model, vae_loss, x, batch_size=64, transform=binarize_dynamic, seed=1)
    assert first == evaluate(model, vae_loss, x, batch_size=64, transform=binarize_dynamic, seed=1)
    assert model.training


def test_train_refuses_bad_input():
    model = Autoencoder(hidden=(8,))
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        train(model, mse_loss, torch.rand(10, 28, 28), epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train(model, mse_loss, torch.rand(10, 784), epochs=0, progress=False)
    with pytest.raises(ValueError, match="x_test must have 784 features"):
        train(model, mse_loss, torch.rand(10, 784), epochs=1, x_test=torch.rand(5, 10), progress=False)
    with pytest.raises(TypeError, match="torch.Tensor"):
        evaluate(model, mse_loss, [[0.0] * 784])


def test_evaluation_runs_where_the_model_is(monkeypatch):
    import vaebook.training as training

    # A model moved back to the CPU must be evaluated there even when a GPU is present.
    monkeypatch.setattr(training, "pick_device", lambda name=None: torch.device("meta"))
    model = VAE(hidden=(8,), latent_dim=2)
    x = torch.rand(20, 784)
    assert training.model_device(model) == torch.device("cpu")
    assert isinstance(evaluate(model, vae_loss, x), float)
    assert training.estimate_log_likelihood(model, torch.bernoulli(x), k=4, progress=False).shape == (20,)
