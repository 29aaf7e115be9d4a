from __future__ import annotations

import pytest
import torch

from vaebook.data import binarize_dynamic
from vaebook.losses import mse_loss, vae_loss
from vaebook.models import VAE, Autoencoder
from vaebook.training import History, evaluate, pick_device, train


def _toy_data(n=512, seed=0):
    # Points on a 2-D plane inside [0, 1]^784: an autoencoder with K = 2 can learn them exactly.
    g = torch.Generator().manual_seed(seed)
    basis = torch.rand(2, 784, generator=g)
    return (torch.rand(n, 2, generator=g) @ basis) / basis.sum(0).max()


def test_pick_device_honours_a_name_and_prefers_an_accelerator(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("meta")) == torch.device("meta")
    for cuda, mps, expected in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        assert pick_device() == torch.device(expected)


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


def test_train_is_repeatable_and_leaves_the_global_generator_alone():
    x = torch.rand(300, 784, generator=torch.Generator().manual_seed(0))
    runs = []
    for _ in range(2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)  # the initial weights come from the global generator
            model = VAE(hidden=(32,), latent_dim=2)
        torch.manual_seed(123)
        runs.append(train(model, vae_loss, x, epochs=2, batch_size=50, transform=binarize_dynamic,
                          cosine_schedule=True, seed=7, device="cpu", progress=False).train)
        after = torch.rand(1)
        torch.manual_seed(123)
        assert torch.equal(after, torch.rand(1))
    assert runs[0] == runs[1]


def test_evaluate_is_deterministic_for_a_stochastic_loss_and_restores_the_mode():
    model = VAE(hidden=(16,), latent_dim=2).train()
    x = torch.rand(200, 784)
    first = evaluate(model, vae_loss, x, batch_size=64, transform=binarize_dynamic, seed=1)
    assert first == evaluate(model, vae_loss, x, batch_size=64, transform=binarize_dynamic, seed=1)
    assert model.training

    def failing(model, x, generator):
        assert not model.training
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        evaluate(model, failing, x)
    assert model.training


def _first_draws_of_transform_and_loss(run):
    """The first 1,000 uniforms the transform's and the loss's generators give inside ``run``."""
    drawn = {}

    def transform(batch, generator):
        drawn.setdefault("transform", torch.rand(1000, generator=generator))
        return binarize_dynamic(batch, generator)

    def loss(model, batch, generator):
        drawn.setdefault("loss", torch.rand(1000, generator=generator))
        return vae_loss(model, batch, generator)

    run(loss, transform)
    return drawn["transform"], drawn["loss"]


def test_the_transform_and_the_loss_draw_from_independent_streams():
    # With one seed for both, the loss's first uniforms repeated the transform's, and its normal
    # draws were the Box-Muller transform of the uniforms that binarized the pixels.
    x = torch.rand(64, 784)
    model = VAE(hidden=(8,), latent_dim=2)
    for run in (lambda loss, transform: train(model, loss, x, epochs=1, batch_size=64,
                                              transform=transform, seed=3, progress=False),
                lambda loss, transform: evaluate(model, loss, x, batch_size=64,
                                                 transform=transform, seed=3)):
        a, b = _first_draws_of_transform_and_loss(run)
        assert not torch.equal(a, b)
        correlation = torch.corrcoef(torch.stack([a, b]))[0, 1]
        assert abs(correlation) < 5 / 1000**0.5


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
    with pytest.raises(TypeError, match="model must be a VAE"):
        train(model, vae_loss, torch.rand(2, 784), epochs=1, batch_size=2, progress=False)
    with pytest.raises(ValueError, match=r"x_train must hold values in \[0, 1\]"):
        train(model, mse_loss, 255 * torch.rand(4, 784), epochs=1, progress=False)


def test_a_nan_pixel_is_refused_before_training_and_the_model_is_untouched():
    model = VAE(hidden=(8,), latent_dim=2)
    weights = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(64, 784)
    x[5, 7] = float("nan")
    with pytest.raises(ValueError, match="x_train"):
        train(model, vae_loss, x, epochs=1, transform=binarize_dynamic, device="cpu", progress=False)
    with pytest.raises(ValueError, match="x_train has 1 non-finite"):
        train(model, lambda m, b, g: vae_loss(m, b, g), x, epochs=1, device="cpu", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters(), strict=True))


def test_divergence_raises_naming_the_epoch_and_step_and_keeps_finite_weights():
    model = VAE(hidden=(16,), latent_dim=2)
    x = torch.rand(256, 784, generator=torch.Generator().manual_seed(0))
    with pytest.raises(FloatingPointError, match=r"diverged.*epoch \d+, step \d+.*Lower the learning rate"):
        train(model, vae_loss, x, epochs=3, batch_size=32, lr=1e4, transform=binarize_dynamic,
              device="cpu", progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_finite_loss_with_an_infinite_gradient_stops_before_the_step():
    # sqrt at 0 has an infinite derivative: the loss is finite, its gradient is not. The
    # weights must be exactly those from before the step, not merely finite.
    model = Autoencoder(hidden=(8,), latent_dim=2)
    before = [p.detach().clone() for p in model.parameters()]

    def sqrt_loss(model, x, generator=None):
        return torch.sqrt((model(x) * 0).sum())

    with pytest.raises(FloatingPointError, match=r"a gradient is not finite at epoch 1, step 1"):
        train(model, sqrt_loss, torch.rand(16, 784), epochs=1, device="cpu", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_evaluate_raises_on_a_model_that_is_not_finite():
    model = Autoencoder(hidden=(8,), latent_dim=2)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="mean loss is nan"):
        evaluate(model, mse_loss, torch.rand(4, 784))


def test_evaluation_runs_where_the_model_is(monkeypatch):
    import vaebook.training as training
    from vaebook.likelihood import estimate_log_likelihood

    # A model moved back to the CPU must be evaluated there even when a GPU is present.
    monkeypatch.setattr(training, "pick_device", lambda name=None: torch.device("meta"))
    model = VAE(hidden=(8,), latent_dim=2)
    x = torch.rand(20, 784)
    assert isinstance(evaluate(model, vae_loss, x), float)
    assert estimate_log_likelihood(model, torch.bernoulli(x), k=4, progress=False).shape == (20,)


def test_train_with_labels_learns_a_classifier_and_evaluate_scores_it():
    from vaebook.losses import cross_entropy_loss
    from vaebook.models import Classifier

    # Two classes told apart by 50 brighter pixels in noise: a classifier must learn which.
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (512,), generator=g)
    x = 0.5 * torch.rand(512, 784, generator=g)
    x[:, :50] += 0.5 * y[:, None]
    model = Classifier(hidden=(16,), classes=2)
    before = evaluate(model, cross_entropy_loss, x, labels=y)
    history = train(model, cross_entropy_loss, x, labels=y, x_test=x[:64], test_labels=y[:64],
                    epochs=5, batch_size=64, lr=1e-2, progress=False)
    assert history.train[-1] < 0.1 < before and len(history.test) == 5
    assert (model.probabilities(x).argmax(1) == y).float().mean() > 0.99


def test_labels_must_match_the_data():
    from vaebook.losses import cross_entropy_loss
    from vaebook.models import Classifier

    x = torch.rand(10, 784)
    with pytest.raises(ValueError, match="labels"):
        train(Classifier(hidden=(4,)), cross_entropy_loss, x, labels=torch.zeros(9, dtype=torch.long),
              epochs=1, progress=False)
    with pytest.raises(TypeError, match="labels"):  # a labelled loss without labels
        evaluate(Classifier(hidden=(4,)), cross_entropy_loss, x)
