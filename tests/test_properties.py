"""Bad input to every public function, generated (Hypothesis): each call must raise vaebook's clear
error, a ``TypeError`` or ``ValueError`` (or ``CheckpointError`` for a file) whose message names
the argument, never a deep error from torch, NumPy or scikit-learn, and never a silent result.

The classes of bad input (the ``event`` of each example, see ``--hypothesis-show-statistics``):
values (nan, ±inf, outside [0, 1]), dtypes (integer, bool, float64 for a float32 model), types
(lists, NumPy arrays, None, strings), shapes (wrong rank, empty, wrong width, shapes that do not
broadcast), devices (data on another device than the model), counts (0, negative, fractional,
bool), reals (0, negative, nan, inf), options (unknown names), model/loss mismatches, model
configurations, and malformed checkpoint files.
"""

from __future__ import annotations

import math
import re
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vaebook import analysis, data, plots, pretrained, vi
from vaebook.aggregate import kl_split, log_aggregate_posterior, sample_aggregate_posterior
from vaebook.checkpoints import CheckpointError, load_model, save_model
from vaebook.corruption import gaussian_noise, masking_noise, mse, psnr, salt_and_pepper
from vaebook.densities import (
    continuous_bernoulli_mean,
    kl_standard_normal,
    log_bernoulli,
    log_continuous_bernoulli,
    log_continuous_bernoulli_normalizer,
    log_normal_diag,
    log_standard_normal,
)
from vaebook.distributions import ContinuousBernoulliLikelihood, MixturePrior
from vaebook.estimators import (
    diagonal_gaussian,
    elbo_estimate,
    elbo_estimate_kl,
    pathwise_gradient,
    score_function_gradient,
)
from vaebook.exact import BayesianLinearRegression, LinearGaussian, SigmoidBeliefNet
from vaebook.likelihood import (
    bound_from_log_weights,
    estimate_log_likelihood,
    iwae_bound,
    log_importance_weights,
    sample_log_weights,
)
from vaebook.losses import (
    bce_loss,
    beta_vae_loss,
    conditional_vae_loss,
    denoising_bce_loss,
    elbo,
    mse_loss,
    vae_loss,
)
from vaebook.models import VAE, Autoencoder, ConditionalVAE, init_output_bias, mlp, reparameterize
from vaebook.training import evaluate, train

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
D = 12
AE, VAE_ = Autoencoder(data_dim=D, hidden=(4,), latent_dim=2), VAE(data_dim=D, hidden=(4,), latent_dim=2)
CB_VAE = VAE(data_dim=D, hidden=(4,), latent_dim=2, likelihood=ContinuousBernoulliLikelihood())
MIXTURE_VAE = VAE_.with_parts(prior=MixturePrior.initial(2, 3))
AE784, VAE784 = Autoencoder(hidden=(4,), latent_dim=2), VAE(hidden=(4,), latent_dim=2)
CVAE_ = ConditionalVAE(data_dim=D, hidden=(4,), latent_dim=2, classes=3)
LABELS = torch.zeros(3, dtype=torch.long)
Z32 = torch.zeros(3, 2)
GOOD = torch.rand(3, D, generator=torch.Generator().manual_seed(0))
Q = torch.distributions.Normal(torch.zeros(2), torch.ones(2))


def raises_clearly(call, name: str, errors=(TypeError, ValueError)) -> None:
    """``call()`` raises one of ``errors`` whose message names ``name`` as a whole word: "mu" is
    not found in "must", nor "x" in "pixel"."""
    with pytest.raises(errors) as error:
        call()
    assert re.search(rf"(?<!\w){re.escape(name)}(?!\w)", str(error.value)), (name, error.value)


# --- strategies ---------------------------------------------------------------------------------

VALUE_KINDS = ("nan", "inf", "-inf", "below 0", "above 1")
TYPE_KINDS = ("list", "numpy", "None", "string", "integer dtype", "bool dtype")
SHAPE_KINDS = ("rank 1", "rank 3", "rank 0", "no rows", "no columns", "wrong width")


@st.composite
def bad_batches(draw, width: int, unit: bool = True, model: bool = True, values: bool = True,
                device: bool = True):
    """A bad (B, width) batch, and its class. ``unit``: [0, 1] is required; ``model``: it is a
    model's input (float64 is wrong too, and with ``device`` another device); ``values``: the
    values are checked."""
    kinds = list(VALUE_KINDS if unit else VALUE_KINDS[:3]) if values else []
    kinds += list(TYPE_KINDS) + list(SHAPE_KINDS)
    kinds += ["float64 for a float32 model"] + (["another device"] if device else []) if model else []
    kind = draw(st.sampled_from(kinds))
    event(kind)
    rows = draw(st.integers(1, 3))
    good = torch.rand(rows, width, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))
    return kind, _make_bad(kind, good, draw(st.integers(0, rows * width - 1)))


def _make_bad(kind: str, good: torch.Tensor, index: int):
    rows, width = good.shape
    value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "below 0": -0.5, "above 1": 255.0}.get(kind)
    if value is not None:
        bad = good.clone()
        bad.view(-1)[index] = value
        return bad
    return {
        "list": lambda: good.tolist(), "numpy": lambda: good.numpy(), "None": lambda: None,
        "string": lambda: "x", "integer dtype": lambda: (good > 0.5).long(), "bool dtype": lambda: good > 0.5,
        "rank 1": lambda: good[0], "rank 3": lambda: good[None], "rank 0": lambda: good[0, 0],
        "no rows": lambda: good[:0], "no columns": lambda: good[:, :0], "wrong width": lambda: good[:, 1:],
        "float64 for a float32 model": lambda: good.double(), "another device": lambda: good.to("meta"),
    }[kind]()


COUNTS = st.sampled_from([0, -1, -7, 2.5, 1.0, True, False, "3", None, math.nan])
REALS = st.sampled_from([0.0, -1.0, -1e-9, math.nan, math.inf, -math.inf, "0.1", None, True])
LEVELS = st.sampled_from([-0.1, 1.5, math.nan, math.inf, "0.1", None])
OPTIONS = st.sampled_from(["", "nope", "Score", None, 3, "leave-one-out"])


@st.composite
def bad_tensors(draw):
    """A bad tensor argument for a log-density: wrong type, dtype or value, or a scalar."""
    kind = draw(st.sampled_from(("nan", "inf", "-inf") + TYPE_KINDS + ("rank 0",)))
    event(kind)
    return kind, _make_bad(kind, torch.randn(3, 2), draw(st.integers(0, 5)))


# --- data going into models and losses ---------------------------------------------------------

MODEL_INPUTS = {
    "vae_loss": (lambda x: vae_loss(VAE_, x), "x"),
    "beta_vae_loss": (lambda x: beta_vae_loss(4.0)(VAE_, x), "x"),
    "continuous Bernoulli vae_loss": (lambda x: vae_loss(CB_VAE, x), "x"),
    "elbo with a mixture prior": (lambda x: elbo(MIXTURE_VAE, x, 2), "x"),
    "conditional_vae_loss": (lambda x: conditional_vae_loss(CVAE_, x, labels=LABELS), "x"),
    "elbo": (lambda x: elbo(VAE_, x, 2), "x"),
    "bce_loss": (lambda x: bce_loss(AE, x), "x"),
    "mse_loss": (lambda x: mse_loss(AE, x), "x"),
    "denoising_bce_loss": (lambda x: denoising_bce_loss(0.3)(AE, x), "x"),
    "log_importance_weights": (lambda x: log_importance_weights(VAE_, x, 2), "x"),
    "iwae_bound": (lambda x: iwae_bound(VAE_, x, 2), "x"),
    "init_output_bias": (lambda x: init_output_bias(VAE_, x), "x"),
    "refine_posterior": (lambda x: vi.refine_posterior(VAE_, x, steps=1, progress=False), "x"),
}
MOVED_INPUTS = {  # entry points that move the data to the model's device themselves
    "train x_train": (lambda x: train(AE, mse_loss, x, epochs=1, progress=False), "x_train"),
    "train x_test": (lambda x: train(AE, mse_loss, GOOD, epochs=1, x_test=x, progress=False), "x_test"),
    "evaluate": (lambda x: evaluate(VAE_, vae_loss, x), "x"),
    "sample_log_weights": (lambda x: sample_log_weights(VAE_, x, k=2, progress=False), "x"),
    "estimate_log_likelihood": (lambda x: estimate_log_likelihood(VAE_, x, k=2, progress=False), "x"),
}


@pytest.mark.parametrize("target", list(MODEL_INPUTS))
@SETTINGS
@given(bad=bad_batches(D))
def test_bad_data_for_a_model_is_refused(target, bad):
    call, name = MODEL_INPUTS[target]
    raises_clearly(lambda: call(bad[1]), name)


@pytest.mark.parametrize("target", list(MOVED_INPUTS))
@SETTINGS
@given(bad=bad_batches(D, device=False))
def test_bad_data_for_an_entry_point_is_refused_and_trains_nothing(target, bad):
    call, name = MOVED_INPUTS[target]
    before = [p.detach().clone() for p in AE.parameters()]
    raises_clearly(lambda: call(bad[1]), name)
    assert all(torch.equal(a, b) for a, b in zip(before, AE.parameters(), strict=True))


@pytest.mark.parametrize("method", ["encode", "forward", "decode_logits"])
@SETTINGS
@given(bad=bad_batches(D, values=False))
def test_model_methods_refuse_bad_structure(method, bad):
    # values are checked where data enters (losses, train); the methods check type, shape, dtype, device
    call = {"encode": lambda x: VAE_.encode(x), "forward": lambda x: AE(x),
            "decode_logits": lambda x: VAE_.decode_logits(x[..., :2] if torch.is_tensor(x) and x.ndim else x)}
    if method == "decode_logits" and bad[0] in ("wrong width", "no columns", "rank 1", "rank 3"):
        return  # decode_logits takes z: (..., K), any leading shape, and x[..., :2] gave it K
    raises_clearly(lambda: call[method](bad[1]), "z" if method == "decode_logits" else "x")


PIXEL_FUNCTIONS = {
    "binarize_dynamic": (lambda x: data.binarize_dynamic(x), False),
    "binarize_static": (lambda x: data.binarize_static(x, seed=1), False),
    "gaussian_noise": (lambda x: gaussian_noise(x, 0.1), True),
    "masking_noise": (lambda x: masking_noise(x, 0.1), True),
    "salt_and_pepper": (lambda x: salt_and_pepper(x, 0.1), True),
    "log_bernoulli x": (lambda x: log_bernoulli(x, torch.zeros(D)), False),
    "log_continuous_bernoulli x": (lambda x: log_continuous_bernoulli(x, torch.zeros(D)), False),
}


@pytest.mark.parametrize("target", list(PIXEL_FUNCTIONS))
@SETTINGS
@given(bad=bad_batches(D, model=False))
def test_bad_pixels_are_refused(target, bad):
    call, needs_batch = PIXEL_FUNCTIONS[target]
    if bad[0] in SHAPE_KINDS and bad[0] != "rank 0" and (not needs_batch or bad[0] == "wrong width"):
        return  # these take any shape of pixels, or any width
    if bad[0] == "rank 0" and not needs_batch:
        return  # a single pixel is a valid input to binarize, and broadcasts against logits
    raises_clearly(lambda: call(bad[1]), "x")


FINITE_BATCHES = {
    "mse x": (lambda x: mse(x, GOOD), "x"), "mse x_hat": (lambda x: mse(GOOD, x), "x_hat"),
    "psnr x_hat": (lambda x: psnr(GOOD, x), "x_hat"),
    "nearest_distance": (lambda x: analysis.nearest_distance(x, GOOD.numpy()), "queries"),
    "knn_predict": (lambda x: analysis.knn_predict(GOOD, [0, 1, 0], x, m=1), "z_query"),
    "knn_accuracy": (lambda x: analysis.knn_accuracy(x, [0, 1, 0], GOOD, [0, 1, 1], m=1), "z_train"),
    "pca_reconstruction": (lambda x: analysis.pca_reconstruction(x, GOOD, latent_dim=1), "x_train"),
    "pca_codes": (lambda x: analysis.pca_codes(GOOD, x, latent_dim=1), "x"),
    "tsne": (lambda x: analysis.tsne(x, perplexity=0.5), "x"),
    "trustworthiness": (lambda x: analysis.trustworthiness(x, GOOD, m=1), "x_high"),
    "neighbour_overlap": (lambda x: analysis.neighbour_overlap(GOOD, x, m=1), "b"),
    "active_units": (lambda x: analysis.active_units(x), "mu"),
    "steps_to_reach": (lambda x: vi.steps_to_reach(x, torch.ones(D), 0.1), "trace"),
    "plot_latent_scatter": (lambda x: _scatter(x), "z"),
    "image_grid": (lambda x: plots.image_grid(x.repeat(1, 66)[:, :784] if torch.is_tensor(x) and x.ndim == 2
                                              and x.shape[1] == D else x), "x"),
}
def _scatter(x):
    """plot_latent_scatter of x's values as 2-D codes (every value kept), one label per code."""
    if torch.is_tensor(x) and x.ndim == 2 and x.shape[1] == D:
        x = x.reshape(-1, 2)
    n = len(x) if hasattr(x, "__len__") and getattr(x, "ndim", 1) > 0 else 1
    return plots.plot_latent_scatter(x, torch.zeros(n, dtype=torch.long))


NUMPY_OK = {"nearest_distance", "knn_predict", "knn_accuracy", "pca_reconstruction", "pca_codes", "tsne",
            "trustworthiness", "neighbour_overlap", "active_units"}


@pytest.mark.parametrize("target", list(FINITE_BATCHES))
@SETTINGS
@given(bad=bad_batches(D, unit=False, model=False))
def test_bad_finite_data_is_refused(target, bad):
    kind, x = bad
    call, name = FINITE_BATCHES[target]
    accepted = {"integer dtype", "bool dtype", "list", "numpy"} if target in NUMPY_OK else set()
    accepted |= {"rank 1", "rank 3"} if target == "steps_to_reach" else set()  # any shape of iterates
    accepted |= {"no columns", "wrong width"} if target in ("active_units", "pca_reconstruction",
                                                            "steps_to_reach", "tsne") else set()
    accepted |= {"wrong width"} if target in ("neighbour_overlap", "trustworthiness") else set()  # K' ≠ K
    if kind in accepted or (target == "plot_latent_scatter" and kind in ("no columns", "wrong width")):
        return
    raises_clearly(lambda: call(x), name)


# --- log-densities, reparameterization, estimators ----------------------------------------------

DENSITIES = {
    "log_bernoulli logits": (lambda t: log_bernoulli(torch.zeros(3, 2), t), "logits"),
    "log_continuous_bernoulli logits": (lambda t: log_continuous_bernoulli(torch.zeros(3, 2), t), "logits"),
    "log_continuous_bernoulli_normalizer": (lambda t: log_continuous_bernoulli_normalizer(t), "logits"),
    "continuous_bernoulli_mean": (lambda t: continuous_bernoulli_mean(t), "logits"),
    "kl_split mu": (lambda t: kl_split(t, Z32, n_samples=2), "mu"),
    "log_aggregate_posterior z": (lambda t: log_aggregate_posterior(t, Z32, Z32), "z"),
    "sample_aggregate_posterior logvar": (lambda t: sample_aggregate_posterior(Z32, t, 2), "logvar"),
    "log_normal_diag z": (lambda t: log_normal_diag(t, torch.zeros(2), torch.zeros(2)), "z"),
    "log_normal_diag mu": (lambda t: log_normal_diag(torch.zeros(2), t, torch.zeros(2)), "mu"),
    "log_normal_diag logvar": (lambda t: log_normal_diag(torch.zeros(2), torch.zeros(2), t), "logvar"),
    "log_standard_normal": (lambda t: log_standard_normal(t), "z"),
    "kl_standard_normal mu": (lambda t: kl_standard_normal(t, torch.zeros(3, 2)), "mu"),
    "kl_standard_normal logvar": (lambda t: kl_standard_normal(torch.zeros(3, 2), t), "logvar"),
    "reparameterize mu": (lambda t: reparameterize(t, torch.zeros(2)), "mu"),
    "reparameterize logvar": (lambda t: reparameterize(torch.zeros(2), t), "logvar"),
    "elbo posterior": (lambda t: elbo(VAE_, GOOD, posterior=(t, torch.zeros(3, 2))), "mu"),
    "score_function_gradient": (lambda t: score_function_gradient(
        lambda z, q: z.sum(-1), diagonal_gaussian, {"mu": t, "logvar": torch.zeros(2)}, 4), "mu"),
    "pathwise_gradient": (lambda t: pathwise_gradient(
        lambda z, q: z.sum(-1), diagonal_gaussian, {"mu": torch.zeros(2), "logvar": t}, 4), "logvar"),
    "GaussianMeanField": (lambda t: vi.GaussianMeanField(t, torch.zeros(2)), "mu"),
    "BetaMeanField": (lambda t: vi.BetaMeanField(torch.ones(2), t), "a0"),
    "CategoricalMeanField": (lambda t: vi.CategoricalMeanField(t), "logits"),
    "bound_from_log_weights": (lambda t: bound_from_log_weights(t), "log_w"),
    "LinearGaussian": (lambda t: LinearGaussian(t, torch.zeros(3), 0.5), "W"),
    "BayesianLinearRegression": (lambda t: BayesianLinearRegression(t, torch.zeros(3), 1.0, 1.0), "X"),
    "SigmoidBeliefNet": (lambda t: SigmoidBeliefNet(t, torch.zeros(3), torch.zeros(2), torch.zeros(3)), "W"),
}


@pytest.mark.parametrize("target", list(DENSITIES))
@SETTINGS
@given(bad=bad_tensors())
def test_bad_tensors_are_refused(target, bad):
    kind, t = bad
    call, name = DENSITIES[target]
    if kind == "-inf" and target == "bound_from_log_weights":
        return  # a zero importance weight is allowed
    if kind == "rank 0" and target in BROADCAST:
        return  # a scalar broadcasts against the other arguments: valid
    raises_clearly(lambda: call(t), name)


BROADCAST = {"log_bernoulli logits", "log_continuous_bernoulli logits", "log_normal_diag z",
             "log_normal_diag mu", "log_normal_diag logvar", "reparameterize mu", "reparameterize logvar"}


@SETTINGS
@given(shape=st.sampled_from([(4,), (3, 3), (2, 1, 3)]))
def test_shapes_that_do_not_broadcast_are_named(shape):
    event(f"shape {shape}")
    raises_clearly(lambda: log_bernoulli(torch.zeros(2, 2), torch.zeros(shape)), "logits")
    raises_clearly(lambda: log_normal_diag(torch.zeros(2), torch.zeros(shape), torch.zeros(2)), "mu")
    raises_clearly(lambda: reparameterize(torch.zeros(2), torch.zeros(shape)), "logvar")


# --- counts, reals and options -------------------------------------------------------------------

COUNT_ARGUMENTS = {
    "VAE.sample n": (lambda n: VAE_.sample(n), "n"),
    "reparameterize n_samples": (lambda n: reparameterize(torch.zeros(2), torch.zeros(2), n), "n_samples"),
    "elbo n_samples": (lambda n: elbo(VAE_, GOOD, n), "n_samples"),
    "log_importance_weights k": (lambda n: log_importance_weights(VAE_, GOOD, n), "k"),
    "sample_log_weights k": (lambda n: sample_log_weights(VAE_, GOOD, k=n, progress=False), "k"),
    "sample_log_weights batch_size": (lambda n: sample_log_weights(VAE_, GOOD, batch_size=n, progress=False),
                                      "batch_size"),
    "sample_log_weights chunk": (lambda n: sample_log_weights(VAE_, GOOD, k=2, chunk=n, progress=False),
                                 "chunk"),
    "train epochs": (lambda n: train(AE, mse_loss, GOOD, epochs=n, progress=False), "epochs"),
    "train batch_size": (lambda n: train(AE, mse_loss, GOOD, epochs=1, batch_size=n, progress=False),
                         "batch_size"),
    "evaluate batch_size": (lambda n: evaluate(AE, mse_loss, GOOD, batch_size=n), "batch_size"),
    "batches batch_size": (lambda n: list(data.batches(GOOD, batch_size=n)), "batch_size"),
    "fit steps": (lambda n: vi.fit(vi.GaussianMeanField(torch.zeros(2), torch.zeros(2)),
                                   lambda z: -(z**2).sum(-1), steps=n), "steps"),
    "fit n_samples": (lambda n: vi.fit(vi.GaussianMeanField(torch.zeros(2), torch.zeros(2)),
                                       lambda z: -(z**2).sum(-1), steps=1, n_samples=n), "n_samples"),
    "refine_posterior steps": (lambda n: vi.refine_posterior(VAE_, GOOD, steps=n, progress=False), "steps"),
    "refine_posterior n_samples": (lambda n: vi.refine_posterior(VAE_, GOOD, n_samples=n, progress=False),
                                   "n_samples"),
    "elbo_estimate n_samples": (lambda n: elbo_estimate(lambda z: z.sum(-1), Q, n), "n_samples"),
    "elbo_estimate_kl n_estimates": (lambda n: elbo_estimate_kl(lambda z: z.sum(-1), Q, Q, 3, n_estimates=n),
                                     "n_estimates"),
    "score_function_gradient n_samples": (lambda n: score_function_gradient(
        lambda z, q: z.sum(-1), diagonal_gaussian, {"mu": torch.zeros(2), "logvar": torch.zeros(2)}, n),
        "n_samples"),
    "mlp sizes": (lambda n: mlp([3, n, 2]), "width"),
    "Autoencoder latent_dim": (lambda n: Autoencoder(latent_dim=n), "latent_dim"),
    "VAE data_dim": (lambda n: VAE(data_dim=n), "data_dim"),
    "VAE hidden": (lambda n: VAE(hidden=(n,)), "hidden"),
    "knn_predict m": (lambda n: analysis.knn_predict(GOOD, [0, 1, 0], GOOD, m=n), "m"),
    "trustworthiness m": (lambda n: analysis.trustworthiness(GOOD, GOOD, m=n), "m"),
    "pca_codes latent_dim": (lambda n: analysis.pca_codes(GOOD, GOOD, latent_dim=n), "latent_dim"),
    "tsne n_iter": (lambda n: analysis.tsne(GOOD, perplexity=0.5, n_iter=n), "n_iter"),
    "interpolate steps": (lambda n: analysis.interpolate([0.0], [1.0], n), "steps"),
    "image_grid nrow": (lambda n: plots.image_grid(torch.rand(2, 784), nrow=n), "nrow"),
    "latent_grid n": (lambda n: plots.latent_grid((0, 1, 0, 1), n), "n"),
    "LinearGaussian.random latent_dim": (lambda n: LinearGaussian.random(3, n), "latent_dim"),
    "SigmoidBeliefNet.random data_dim": (lambda n: SigmoidBeliefNet.random(n, 2), "data_dim"),
    "binarize_static seed": (lambda n: data.binarize_static(GOOD, seed=n if n != 0 else -1), "seed"),
}


@pytest.mark.parametrize("target", list(COUNT_ARGUMENTS))
@SETTINGS
@given(n=COUNTS)
def test_bad_counts_are_refused(target, n):
    event(f"count {n!r}")
    call, name = COUNT_ARGUMENTS[target]
    if n == 1.0 and not isinstance(n, bool) and target == "interpolate steps":
        n = 1  # below the two ends either way
    if target == "binarize_static seed" and isinstance(n, int) and not isinstance(n, bool) and n > 0:
        return
    if n is None and target in ("reparameterize n_samples", "elbo_estimate_kl n_estimates"):
        return  # None means "no sample dimension" / "one estimate" there
    raises_clearly(lambda: call(n), name)


REAL_ARGUMENTS = {
    "train lr": (lambda r: train(AE, mse_loss, GOOD, epochs=1, lr=r, progress=False), "lr"),
    "fit lr": (lambda r: vi.fit(vi.GaussianMeanField(torch.zeros(2), torch.zeros(2)),
                                lambda z: -(z**2).sum(-1), steps=1, lr=r), "lr"),
    "refine_posterior lr": (lambda r: vi.refine_posterior(VAE_, GOOD, steps=1, lr=r, progress=False), "lr"),
    "tsne perplexity": (lambda r: analysis.tsne(GOOD, perplexity=r), "perplexity"),
    "LinearGaussian noise_var": (lambda r: LinearGaussian(torch.zeros(3, 2), torch.zeros(3), r), "noise_var"),
    "BayesianLinearRegression noise_std": (
        lambda r: BayesianLinearRegression(torch.zeros(3, 2), torch.zeros(3), r, 1.0), "noise_std"),
}
LEVEL_ARGUMENTS = {
    "gaussian_noise std": (lambda r: gaussian_noise(GOOD, r), "std"),
    "masking_noise fraction": (lambda r: masking_noise(GOOD, r), "fraction"),
    "salt_and_pepper fraction": (lambda r: salt_and_pepper(GOOD, r), "fraction"),
    "denoising_bce_loss noise_std": (lambda r: denoising_bce_loss(r), "noise_std"),
    "active_units threshold": (lambda r: analysis.active_units(GOOD, threshold=r if r != 1.5 else -1.0),
                               "threshold"),
    "steps_to_reach rtol": (lambda r: vi.steps_to_reach(GOOD, GOOD[0], r if r != 1.5 else -1.0), "rtol"),
}


@pytest.mark.parametrize("target", list(REAL_ARGUMENTS))
@SETTINGS
@given(r=REALS)
def test_bad_positive_reals_are_refused(target, r):
    event(f"real {r!r}")
    call, name = REAL_ARGUMENTS[target]
    raises_clearly(lambda: call(r), name)


@pytest.mark.parametrize("target", list(LEVEL_ARGUMENTS))
@SETTINGS
@given(r=LEVELS)
def test_bad_levels_are_refused(target, r):
    event(f"level {r!r}")
    call, name = LEVEL_ARGUMENTS[target]
    if target in ("active_units threshold", "steps_to_reach rtol") and r == -0.1:
        r = -1.0
    raises_clearly(lambda: call(r), name)


OPTION_ARGUMENTS = {
    "load_mnist split": (lambda o: data.load_mnist(o, root="/nonexistent", download=False), "split"),
    "score_function_gradient baseline": (lambda o: score_function_gradient(
        lambda z, q: z.sum(-1), diagonal_gaussian, {"mu": torch.zeros(2), "logvar": torch.zeros(2)}, 4,
        baseline=o), "baseline"),
    "fit method": (lambda o: vi.fit(vi.GaussianMeanField(torch.zeros(2), torch.zeros(2)),
                                    lambda z: -(z**2).sum(-1), steps=1, method=o), "method"),
    "fit optimizer": (lambda o: vi.fit(vi.GaussianMeanField(torch.zeros(2), torch.zeros(2)),
                                       lambda z: -(z**2).sum(-1), steps=1, optimizer=o), "optimizer"),
    "tsne initialization": (lambda o: analysis.tsne(GOOD, perplexity=0.5, initialization=o),
                            "initialization"),
    "recipe name": (lambda o: pretrained.checkpoint_path(o), "recipe"),
}


@pytest.mark.parametrize("target", list(OPTION_ARGUMENTS))
@SETTINGS
@given(o=OPTIONS)
def test_unknown_options_are_refused(target, o):
    event(f"option {o!r}")
    call, name = OPTION_ARGUMENTS[target]
    if o is None and target == "score_function_gradient baseline":
        return  # no baseline
    raises_clearly(lambda: call(o), name)


# --- models against losses, model configurations -------------------------------------------------

NEEDS_VAE = [vae_loss, elbo, partial(log_importance_weights, k=2), partial(iwae_bound, k=2),
             partial(sample_log_weights, k=2, progress=False),
             partial(vi.refine_posterior, steps=1, progress=False)]
NEEDS_AUTOENCODER = [bce_loss, mse_loss, denoising_bce_loss(0.2)]


@SETTINGS
@given(rows=st.integers(1, 4), which=st.integers(0, len(NEEDS_VAE) + len(NEEDS_AUTOENCODER) - 1),
       wrong=st.sampled_from(["other book model", "torch module"]))
def test_a_model_that_does_not_fit_the_loss_is_refused_whatever_the_batch(rows, which, wrong):
    event(f"{wrong}, {rows} rows")
    needs_vae = which < len(NEEDS_VAE)
    loss = (NEEDS_VAE + NEEDS_AUTOENCODER)[which]
    model = (AE if needs_vae else VAE_) if wrong == "other book model" else torch.nn.Linear(D, 4)
    x = torch.rand(rows, D)
    raises_clearly(lambda: loss(model, x), "model")
    raises_clearly(lambda: train(model, loss if not isinstance(loss, partial) else vae_loss, x, epochs=1,
                                 batch_size=2, progress=False), "model")


@SETTINGS
@given(hidden=st.one_of(st.integers(1, 500), st.text(max_size=3), st.none(),
                        st.lists(st.sampled_from([0, -1, 2.5, True, "4"]), min_size=1, max_size=3)),
       model=st.sampled_from([VAE, Autoencoder]))
def test_bad_configurations_are_refused(hidden, model):
    event(f"hidden of type {type(hidden).__name__}")
    raises_clearly(lambda: model(hidden=hidden), "hidden" if not isinstance(hidden, list) else "width")


# --- checkpoints ---------------------------------------------------------------------------------

JUNK = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                 st.just(torch.zeros(2)), st.just(torch.full((4, 12), math.nan)), st.just({"a": 1}),
                 st.just({"w": torch.zeros(1)}))
KEYS = ["format", "class", "config", "state_dict"]


@pytest.fixture(scope="module")
def checkpoint_dir():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@SETTINGS
@given(damage=st.lists(st.tuples(st.sampled_from(KEYS + ["config.hidden", "config.latent_dim",
                                                          "state_dict.first"]),
                                 st.one_of(st.just("delete"), JUNK)), min_size=1, max_size=3),
       model=st.sampled_from(["VAE", "Autoencoder"]))
def test_malformed_checkpoints_raise_checkpoint_error(checkpoint_dir, damage, model):
    path = save_model(VAE_ if model == "VAE" else AE, checkpoint_dir / "model.pt")
    checkpoint = torch.load(path, weights_only=True)
    for where, value in damage:
        event(f"{where} <- {'deleted' if value == 'delete' else type(value).__name__}")
        target, _, key = where.partition(".")
        container = checkpoint if not key else checkpoint.get(target)
        key = key or target
        if not isinstance(container, dict):
            continue
        if key == "first":
            key = next(iter(container), "first")
        if value == "delete":
            container.pop(key, None)
        else:
            container[key] = value
    torch.save(checkpoint, path)
    original = {"VAE": VAE_, "Autoencoder": AE}[model]
    try:
        loaded = load_model(path)
    except CheckpointError:
        return
    # only a damage that changed nothing that matters may load, and then it is the same model
    for a, b in zip(loaded.state_dict().values(), original.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@SETTINGS
@given(content=st.binary(max_size=64))
def test_files_that_are_not_checkpoints_raise_checkpoint_error(checkpoint_dir, content):
    event("random bytes")
    path = checkpoint_dir / "junk.pt"
    path.write_bytes(content)
    raises_clearly(lambda: load_model(path), str(path), CheckpointError)


# --- the rest of the public surface -------------------------------------------------------------

@SETTINGS
@given(extent=st.one_of(st.tuples(st.floats(allow_nan=True), st.floats(), st.floats(), st.floats()),
                        st.just((1.0, 0.0, 0.0, 1.0)), st.just((0.0, 1.0)), st.just((0, 1, 1, 1))))
def test_bad_extents_are_refused(extent):
    event("extent")
    ok = (len(extent) == 4 and all(abs(v) <= torch.finfo(torch.float32).max for v in extent)
          and extent[0] < extent[1] and extent[2] < extent[3])
    if ok:
        assert plots.latent_grid(extent, 2).shape == (4, 2)
    else:
        raises_clearly(lambda: plots.latent_grid(extent, 2), "extent")


@SETTINGS
@given(rows=st.lists(st.integers(0, 3), min_size=0, max_size=3), labels=st.integers(0, 3))
def test_plot_rows_refuses_mismatched_rows_and_labels(rows, labels):
    event("rows and labels")
    tensors = [torch.rand(n, 784) for n in rows]
    if rows and len(rows) == labels and len(set(rows)) == 1 and rows[0] > 0:
        plots.plot_rows(tensors, [str(i) for i in range(labels)])
        return
    raises_clearly(lambda: plots.plot_rows(tensors, [str(i) for i in range(labels)]), "row")


@SETTINGS
@given(grads=st.sampled_from([{}, {"a": torch.zeros(1, 2)}, {"a": torch.zeros(())}, {"a": [1, 2]}, None,
                              {"a": torch.zeros(3, 2, dtype=torch.long)}]))
def test_gradient_variance_refuses_what_is_not_per_sample_gradients(grads):
    event("grads")
    raises_clearly(lambda: vi.gradient_variance(grads), "grads" if not isinstance(grads, dict) or not grads
                   else "a")


@SETTINGS
@given(family=st.sampled_from(["a distribution", None, 3]), method=st.sampled_from(vi.METHODS))
def test_elbo_gradient_refuses_what_is_not_a_family(family, method):
    event("family")
    raises_clearly(lambda: vi.elbo_gradient(family, lambda z: z.sum(-1), 4, method=method), "family")


@SETTINGS
@given(q=st.sampled_from([None, "q", torch.zeros(2), 3]))
def test_elbo_estimates_refuse_what_is_not_a_distribution(q):
    event("q")
    raises_clearly(lambda: elbo_estimate(lambda z: z.sum(-1), q, 3), "q")


BAD_RECIPES = [None, "chapter5_vae",
               pretrained.Recipe(model="GAN", hidden=(4,), latent_dim=2, loss="vae", epochs=1),
               pretrained.Recipe(model="VAE", hidden=(4,), latent_dim=2, loss="nope", epochs=1),
               pretrained.Recipe(model="VAE", hidden=400, latent_dim=2, loss="vae", epochs=1)]


@SETTINGS
@given(recipe=st.sampled_from(BAD_RECIPES))
def test_build_model_refuses_bad_recipes(recipe):
    event("recipe")
    name = "hidden" if getattr(recipe, "hidden", None) == 400 else "recipe"
    raises_clearly(lambda: pretrained.build_model(recipe), name)


def test_properties_cover_many_public_functions():
    # a reminder that a new public function belongs in one of the tables above
    tables = (MODEL_INPUTS, MOVED_INPUTS, PIXEL_FUNCTIONS, FINITE_BATCHES, DENSITIES, COUNT_ARGUMENTS,
              REAL_ARGUMENTS, LEVEL_ARGUMENTS, OPTION_ARGUMENTS)
    assert sum(len(t) for t in tables) >= 100
    assert np.all([callable(call) for t in tables for call, _ in t.values()])


# --- values that overflow: a clear error or the right value, never a silent nan ----------------

@SETTINGS
@given(magnitude=st.floats(1e2, 1e30), sign=st.sampled_from([-1.0, 1.0]))
def test_continuous_bernoulli_gradients_stay_finite_at_any_logit(magnitude, sign):
    event("logit magnitude")
    logits = torch.tensor([sign * magnitude, 0.0, 1e-3, 0.3], requires_grad=True)
    for fn in (continuous_bernoulli_mean, log_continuous_bernoulli_normalizer):
        value = fn(logits)
        (grad,) = torch.autograd.grad(value.sum(), logits)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all(), fn.__name__


def test_overflowing_aggregate_posterior_draws_are_refused_and_kl_split_does_not_return_nan():
    mu, logvar = torch.zeros(5, 2), torch.full((5, 2), 200.0)  # σ = e^100 overflows float32
    raises_clearly(lambda: sample_aggregate_posterior(mu, logvar, 10), "logvar")
    raises_clearly(lambda: kl_split(mu, logvar, n_samples=10), "logvar")
    split = kl_split(mu.double(), logvar.double(), n_samples=10)  # float64 holds e^100
    assert math.isfinite(split.mutual_information) and math.isfinite(split.average_kl)
