"""Trained models that several chapters use, cached on disk and retrained when missing.

Chapters 1, 2 and 5 train the book's main autoencoder, denoising autoencoder and VAE, and the
digit classifier that judges generated images; later chapters need the same models. A *recipe*
says how to train one; ``train_recipe`` follows it and saves the result in the cache folder, and
``load_or_train`` loads it from there, or follows the recipe when the file is missing (a fresh
Colab session, a later chapter run first). The file name carries a hash of the recipe, so a
changed recipe never loads a stale model.

Some recipes were chosen on validation data by a script in ``benchmarks/``; ``selection`` returns
the table it wrote, which ships with the package (``vaebook/selection/<name>.json``).

The cache folder, in order: the ``directory`` argument, ``$VAEBOOK_CACHE``, then
``<data folder>/models`` (``vaebook.data.folder`` is that rule). A trained model is never lost to
the cache: ``train_recipe`` checks that the folder can be written before it trains, and when
saving still fails it warns and returns the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
from dataclasses import asdict, dataclass, replace
from importlib.resources import files
from pathlib import Path

import torch
from torch import Tensor, nn

from vaebook.checkpoints import load_model, save_model
from vaebook.data import binarize_dynamic, binarize_static, data_dir, folder, load_mnist
from vaebook.distributions import MixturePrior
from vaebook.likelihood import iwae_loss
from vaebook.losses import (
    bce_loss,
    beta_vae_loss,
    cross_entropy_loss,
    denoising_bce_loss,
    free_bits_loss,
    gumbel_softmax_loss,
    straight_through_loss,
    vae_loss,
    vq_vae_loss,
)
from vaebook.models import MODELS, init_output_bias
from vaebook.randomness import book_seed
from vaebook.training import History, train

ENV_VAR = "VAEBOOK_CACHE"


@dataclass(frozen=True)
class Recipe:
    """How to train one model on MNIST with ``vaebook.training.train``.

    ``model`` is "VAE", "Autoencoder" or "Classifier"; ``hidden`` are the hidden widths, those of
    the decoder in mirror order, and of the encoder too unless ``encoder_hidden`` (a VAE only) says
    otherwise; ``latent_dim`` is the code size K (for a classifier: the number of classes).
    ``loss`` is "vae" (−ELBO on dynamically binarized images), "iwae" (−L_k with k =
    ``iwae_k``, on the same images), "bce" (the reconstruction's
    cross-entropy), "denoising_bce" (the same for an input corrupted with Gaussian noise of std
    ``noise_std``) or "cross_entropy" (a classifier's, on the labels). ``output_bias_init``
    starts the decoder at the mean training image (``models.init_output_bias``). ``seed`` fixes
    the initial weights and every random draw of training; the book's seed
    (``randomness.book_seed``, ``$VAEBOOK_SEED``) is added to it by :func:`recipe`. A VAE's
    posterior gets ``flow_layers`` planar layers (``models.VAE``), and its prior becomes a
    learned mixture of ``prior_components`` Gaussians (``distributions.MixturePrior``) when that
    is above 0.

    Chapter 11's losses and models: "beta_vae" (the KL weighted by ``beta``), "free_bits" (an
    allowance of ``nats_per_unit`` per latent unit, ``losses.free_bits_loss``); a
    "CategoricalVAE" with ``latent_dim`` = J latents of ``n_categories`` values, trained by
    "gumbel_softmax" or "straight_through" at ``temperature``; a "VQVAE" with ``latent_dim`` = J
    code vectors of ``code_dim`` numbers from ``n_codes`` codes, trained by "vq_vae" with its
    ``commitment_weight``. All of them train on dynamically binarized images.
    """

    model: str
    hidden: tuple[int, ...]
    latent_dim: int
    loss: str
    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    cosine_schedule: bool = False
    noise_std: float = 0.0
    output_bias_init: bool = False
    seed: int = 0
    encoder_hidden: tuple[int, ...] | None = None
    iwae_k: int = 1
    flow_layers: int = 0
    prior_components: int = 0
    beta: float = 1.0
    nats_per_unit: float = 0.0
    temperature: float = 1.0
    n_categories: int = 0
    code_dim: int = 0
    n_codes: int = 0
    commitment_weight: float = 0.25

    def __repr__(self) -> str:
        """The fields, without the later ones left at their defaults (as ``digest`` counts them)."""
        shown = ", ".join(f"{key}={value!r}" for key, value in self._counted().items())
        return f"Recipe({shown})"

    def _counted(self) -> dict:
        return {key: value for key, value in asdict(self).items()
                if key not in LATER_FIELDS or value != LATER_FIELDS[key]}

    def digest(self) -> str:
        """A hash of the recipe. Fields added later count only when they differ from their
        defaults, so an older recipe keeps its hash, and its cached model."""
        return hashlib.sha256(json.dumps(self._counted(), sort_keys=True).encode()).hexdigest()[:10]


LATER_FIELDS = {"iwae_k": 1, "flow_layers": 0, "prior_components": 0, "beta": 1.0, "nats_per_unit": 0.0,
                "temperature": 1.0, "n_categories": 0, "code_dim": 0, "n_codes": 0, "commitment_weight": 0.25}


RECIPES = {
    "chapter1_ae": Recipe(model="Autoencoder", hidden=(256, 64), latent_dim=2, loss="bce", epochs=10),
    "chapter2_dae": Recipe(model="Autoencoder", hidden=(512,), latent_dim=64, loss="denoising_bce",
                           noise_std=0.5, epochs=6),
    # Chosen on validation data by benchmarks/vae_selection.py (chapter 5 shows the table).
    "chapter5_vae": Recipe(model="VAE", hidden=(400, 400), encoder_hidden=(400,), latent_dim=32,
                           loss="vae", epochs=45, lr=1e-3, cosine_schedule=True, output_bias_init=True),
    "digit_classifier": Recipe(model="Classifier", hidden=(256,), latent_dim=10, loss="cross_entropy",
                               epochs=5),
    # Chapter 10: a smaller VAE and three remedies, each with the same epochs (settings fixed in
    # advance, not tuned): the IWAE's bound L_5, four planar layers, a mixture of ten Gaussians.
    **{f"chapter10_{name}": Recipe(model="VAE", hidden=(256,), latent_dim=16, epochs=3, cosine_schedule=True,
                                   output_bias_init=True, **remedy)
       for name, remedy in (("plain", {"loss": "vae"}), ("iwae", {"loss": "iwae", "iwae_k": 5}),
                            ("flow", {"loss": "vae", "flow_layers": 4}),
                            ("mixture", {"loss": "vae", "prior_components": 10}))},
    # Chapter 11, the rate-distortion plane: small models, two epochs each (about 100 s for all
    # seventeen on two cores), settings fixed in advance. A β sweep of one Gaussian VAE (β = 16
    # pushes the rate towards 0), free bits at three allowances (nats per unit)...
    **{f"chapter11_beta_{beta:g}": Recipe(model="VAE", hidden=(256,), latent_dim=16, loss="beta_vae",
                                          beta=beta, epochs=2, cosine_schedule=True, output_bias_init=True)
       for beta in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)},
    **{f"chapter11_freebits_{allowance:g}": Recipe(model="VAE", hidden=(256,), latent_dim=16,
                                                   loss="free_bits", nats_per_unit=allowance, epochs=2,
                                                   cosine_schedule=True, output_bias_init=True)
       for allowance in (1.0, 2.0, 3.0)},
    # ... 20 categorical latents of 10 values trained by each estimator at temperature 1 ...
    **{f"chapter11_categorical_{loss}": Recipe(model="CategoricalVAE", hidden=(256,), latent_dim=20,
                                               n_categories=10, loss=loss, temperature=1.0, epochs=2,
                                               cosine_schedule=True, output_bias_init=True)
       for loss in ("gumbel_softmax", "straight_through")},
    # ... and VQ-VAEs of 8 code vectors (16 numbers each) from codebooks of three sizes. The
    # commitment weight is 2, not the paper's 0.25: against a reconstruction term summed over 784
    # pixels, 0.25 let the encoder's vectors drift away from the codes (a codebook loss of about
    # 200 nats per image after two epochs, 6 with weight 2, and a third of the codes in use).
    **{f"chapter11_vq_{codes}": Recipe(model="VQVAE", hidden=(256,), latent_dim=8, code_dim=16,
                                       n_codes=codes, commitment_weight=2.0, loss="vq_vae", epochs=2,
                                       cosine_schedule=True, output_bias_init=True)
       for codes in (16, 64, 256)},
    # ... and the 64-code VQ-VAE at two smaller commitment weights, the paper's 0.25 among them.
    **{f"chapter11_vq_64_commitment_{weight:g}": Recipe(
        model="VQVAE", hidden=(256,), latent_dim=8, code_dim=16, n_codes=64, commitment_weight=weight,
        loss="vq_vae", epochs=2, cosine_schedule=True, output_bias_init=True)
       for weight in (0.25, 0.5)},
}
LOSSES = {"vae": lambda recipe: vae_loss, "iwae": lambda recipe: iwae_loss(recipe.iwae_k),
          "bce": lambda recipe: bce_loss,
          "denoising_bce": lambda recipe: denoising_bce_loss(recipe.noise_std),
          "cross_entropy": lambda recipe: cross_entropy_loss,
          "beta_vae": lambda recipe: beta_vae_loss(recipe.beta),
          "free_bits": lambda recipe: free_bits_loss(recipe.nats_per_unit),
          "gumbel_softmax": lambda recipe: gumbel_softmax_loss(recipe.temperature),
          "straight_through": lambda recipe: straight_through_loss(recipe.temperature),
          "vq_vae": lambda recipe: vq_vae_loss}
# the losses that train on binarized images
BINARY = ("vae", "iwae", "beta_vae", "free_bits", "gumbel_softmax", "straight_through", "vq_vae")


def recipe(name: str) -> Recipe:
    """The recipe called ``name`` as the book trains it: ``RECIPES[name]`` with the book's seed
    (``$VAEBOOK_SEED``, default 0) added to its ``seed``. Its file name in the cache carries the
    seed, so models trained under another book seed never mix with the stored ones."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"no recipe called {name!r}; the recipes are {sorted(RECIPES)}.")
    stored = RECIPES[name]
    return replace(stored, seed=stored.seed + book_seed())


def selection(name: str) -> dict:
    """The table that chose the settings of recipe ``name`` on validation data, as written by
    ``benchmarks/vae_selection.py`` (shipped with the package, so a chapter reads it on Colab
    too): ``{"protocol": {...}, "chosen": row name, "rows": {row name: row}}``. Each row holds
    the candidate's ``recipe`` (``dataclasses.asdict``, tuples as lists), whether it is a
    ``candidate`` (or a replicate), its predicted seconds on two cores (``epoch_seconds``,
    ``train_seconds``, ``test_nll_seconds``; for information), and its validation scores:
    ``val_neg_elbo``, ``val_nll`` ± ``val_nll_se``, and ``diff_to_chosen`` ± ``diff_se``, the
    mean and paired standard error of its per-image NLL minus the chosen one's, and the same
    against the centre, ``diff_to_centre`` ± ``diff_to_centre_se``. ``seed_sd`` is the standard
    deviation of the centre's validation NLL over three training seeds. Raises
    ``ValueError`` for a name that is no recipe or has no table."""
    recipe(name)
    path = files("vaebook").joinpath("selection", f"{name}.json")
    if not path.is_file():
        raise ValueError(f"recipe {name!r} has no selection table (vaebook/selection/{name}.json); "
                         f"chapter5_vae has one, written by benchmarks/vae_selection.py.")
    table = json.loads(path.read_text(encoding="utf-8"))
    for row in table["rows"].values():  # a table may predate the later fields: their defaults
        row["recipe"] = {**LATER_FIELDS, **row["recipe"]}
    return table


def cache_dir(directory: str | os.PathLike | None = None) -> Path:
    """The folder for trained models: ``directory``, else ``$VAEBOOK_CACHE``, else
    ``<data folder>/models``."""
    return folder(directory, ENV_VAR, lambda: data_dir() / "models")


def checkpoint_path(name: str, directory: str | os.PathLike | None = None) -> Path:
    """Where the model of recipe ``name`` is cached: ``<cache>/<name>-<recipe hash>.pt``."""
    return cache_dir(directory) / f"{name}-{recipe(name).digest()}.pt"


def build_model(recipe: Recipe) -> nn.Module:
    """The untrained model of ``recipe``, its initial weights drawn with ``recipe.seed`` (inside
    ``torch.random.fork_rng``: the caller's global generator is left as it was)."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a pretrained.Recipe, got {type(recipe).__name__}.")
    if recipe.model not in MODELS or recipe.loss not in LOSSES:
        raise ValueError(f"a recipe's model must be one of {sorted(MODELS)} and its loss one of "
                         f"{sorted(LOSSES)}, got {recipe.model!r} and {recipe.loss!r}.")
    vae_only = {"encoder_hidden": recipe.encoder_hidden is not None, "flow_layers": recipe.flow_layers,
                "prior_components": recipe.prior_components, "iwae": recipe.loss == "iwae"}
    for field, used in vae_only.items():
        if used and recipe.model != "VAE":
            raise ValueError(f"{field} is for a VAE only, not a {recipe.model}.")
    for field, owner in (("n_categories", "CategoricalVAE"), ("code_dim", "VQVAE"), ("n_codes", "VQVAE")):
        if getattr(recipe, field) and recipe.model != owner:
            raise ValueError(f"{field} is for a {owner} only, not a {recipe.model}.")
    if recipe.model == "Classifier":
        options = {"hidden": recipe.hidden, "classes": recipe.latent_dim}
    elif recipe.model == "CategoricalVAE":
        options = {"hidden": recipe.hidden, "n_latents": recipe.latent_dim,
                   "n_categories": recipe.n_categories}
    elif recipe.model == "VQVAE":
        options = {"hidden": recipe.hidden, "n_latents": recipe.latent_dim, "code_dim": recipe.code_dim,
                   "n_codes": recipe.n_codes, "commitment_weight": recipe.commitment_weight}
    else:
        options = {"hidden": recipe.hidden, "latent_dim": recipe.latent_dim}
        if recipe.encoder_hidden is not None:
            options["encoder_hidden"] = recipe.encoder_hidden
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        if recipe.flow_layers:
            options["flow_layers"] = recipe.flow_layers
        if recipe.prior_components:
            options["prior"] = MixturePrior.initial(recipe.latent_dim, recipe.prior_components)
        return MODELS[recipe.model](**options)


def check_writable(directory: Path) -> None:
    """Raise ``OSError`` naming ``directory`` and the remedy unless a file can be created there
    (the folder is created when missing)."""
    probe = directory / f".write-test-{secrets.token_hex(4)}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as err:
        raise type(err)(err.errno, f"cannot save trained models in {directory} ({err.strerror or err}); "
                                   f"set {ENV_VAR} to a folder you can write, or pass directory=...") from err


def _save_or_warn(model: nn.Module, path: Path) -> None:
    try:
        save_model(model, path)
    except OSError as err:
        warnings.warn(f"the trained model could not be saved to {path} ({err}); it is returned but not "
                      f"cached, so a later chapter will train it again. Set {ENV_VAR} to a folder you can "
                      f"write, then save it with vaebook.checkpoints.save_model(model, path).",
                      RuntimeWarning, stacklevel=3)


def train_recipe(name: str, x_train: Tensor, x_test: Tensor | None = None, *,
                 labels: Tensor | None = None, test_labels: Tensor | None = None,
                 directory: str | os.PathLike | None = None, device: torch.device | str | None = None,
                 progress: bool = True) -> tuple[nn.Module, History]:
    """Train the model of recipe ``name`` on ``x_train`` (grey MNIST, (N, 784)), report the loss on
    ``x_test`` after each epoch (binarized, for a VAE), save it in the cache; returns it (on the
    CPU, in eval mode) with its History. A classifier's recipe needs the ``labels`` of x_train
    (and ``test_labels`` with x_test). The cache folder is checked to be writable before
    training (``OSError`` otherwise); if saving fails all the same, a ``RuntimeWarning`` says so
    and the model is still returned."""
    spec, path = recipe(name), checkpoint_path(name, directory)
    if (labels is None) != (spec.loss != "cross_entropy"):
        raise ValueError(f"recipe {name!r} {'needs' if labels is None else 'takes no'} labels.")
    check_writable(path.parent)
    model, history = fit_recipe(spec, x_train, x_test, labels=labels, test_labels=test_labels,
                                device=device, progress=progress)
    _save_or_warn(model, path)
    return model, history


def fit_recipe(recipe: Recipe, x_train: Tensor, x_test: Tensor | None = None, *,
               labels: Tensor | None = None, test_labels: Tensor | None = None,
               device: torch.device | str | None = None,
               progress: bool = True) -> tuple[nn.Module, History]:
    """Train ``recipe``'s model on ``x_train`` as ``train_recipe`` does, without the cache (for a
    recipe that is not in ``RECIPES``, e.g. a candidate of a selection): the model (on the CPU,
    in eval mode) and its History."""
    model = build_model(recipe)
    if recipe.output_bias_init:
        init_output_bias(model, x_train)
    history = train(model, LOSSES[recipe.loss](recipe), x_train, x_test=x_test, labels=labels,
                    test_labels=test_labels, epochs=recipe.epochs, batch_size=recipe.batch_size,
                    lr=recipe.lr, transform=binarize_dynamic if recipe.loss in BINARY else None,
                    cosine_schedule=recipe.cosine_schedule, seed=recipe.seed, device=device,
                    progress=progress)
    return model.cpu().eval(), history


def load_or_train(name: str, *, directory: str | os.PathLike | None = None,
                  device: torch.device | str | None = None, progress: bool = True) -> nn.Module:
    """The model of recipe ``name`` from the cache; trained by ``train_recipe`` (on MNIST from
    ``vaebook.data``, with a progress bar) when the file is missing. On the CPU, in eval mode.
    A damaged file raises ``CheckpointError``: delete it and call again. When the cache cannot be
    written, the model is trained all the same, returned, and a ``RuntimeWarning`` says why it
    was not saved."""
    spec, path = recipe(name), checkpoint_path(name, directory)
    if path.is_file():
        return load_model(path, expected_class=MODELS[spec.model])
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    if spec.loss in BINARY:
        x_test = binarize_static(x_test, seed=spec.seed)
    labelled = spec.loss == "cross_entropy"
    model, _ = fit_recipe(spec, x_train, x_test, labels=y_train if labelled else None,
                          test_labels=y_test if labelled else None, device=device,
                          progress=progress)
    _save_or_warn(model, path)
    return model
