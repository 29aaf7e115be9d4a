"""One training epoch of the same 784-400-20 VAE on the 60,000 MNIST training images, two ways:

1. vaebook's path: the whole set as one in-memory tensor, mini-batches sliced with a seeded
   permutation (``vaebook.training.train``);
2. the usual path: ``DataLoader(torchvision MNIST, ToTensor(), batch_size=128, shuffle=True)``,
   which converts every image from PIL to a tensor, one item at a time.

Both run the same model, loss (negative ELBO, dynamic binarization), optimizer and batch size.
Prints the seconds per epoch (best of ``--repeats``) and the ratio, then the seconds per epoch of
chapter 5's main model (its recipe in ``vaebook.pretrained``, same data path and batch size as
the recipe), which sets that chapter's run time, and those of chapter 10's four models (the same
epochs, a different cost per epoch; chapter 10's table of models quotes them). Usage:
``python benchmarks/epoch_speed.py [--repeats 2] [--chapter10-only]``; data from ``VAEBOOK_DATA``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import ToTensor

from vaebook import pretrained
from vaebook.checks import trusted
from vaebook.data import binarize_dynamic, data_dir, load_mnist
from vaebook.losses import vae_loss
from vaebook.models import VAE
from vaebook.randomness import seed_everything
from vaebook.training import train

BATCH_SIZE = 128


def vaebook_epoch(x_train: torch.Tensor, model: VAE | None = None, batch_size: int = BATCH_SIZE) -> float:
    seed_everything(0)
    model = VAE(hidden=(400,), latent_dim=20) if model is None else model
    start = time.perf_counter()
    train(model, vae_loss, x_train, epochs=1, batch_size=batch_size, transform=binarize_dynamic,
          device="cpu", progress=False)
    return time.perf_counter() - start


def recipe_epoch(x_train: torch.Tensor, recipe: pretrained.Recipe) -> float:
    """Seconds for one epoch of ``recipe``'s training, model set-up included."""
    start = time.perf_counter()
    pretrained.fit_recipe(dataclasses.replace(recipe, epochs=1), x_train, progress=False)
    return time.perf_counter() - start


def dataloader_epoch(dataset: datasets.MNIST) -> float:
    seed_everything(0)
    model = VAE(hidden=(400,), latent_dim=20)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # as vaebook.training.train
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
    start = time.perf_counter()
    with trusted():  # the same work per batch as train's loop: checked once, not per batch
        for x, _ in loader:
            loss = vae_loss(model, binarize_dynamic(x.view(len(x), -1)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per path; best is kept")
    parser.add_argument("--chapter10-only", action="store_true", help="time only chapter 10's models")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    x_train, _ = load_mnist("train")
    if not args.chapter10_only:
        compare_data_paths(x_train, args.repeats)
    chapter10_epochs(x_train, args.repeats)


def compare_data_paths(x_train: torch.Tensor, repeats: int) -> None:
    start = time.perf_counter()
    load_mnist("train")
    print(f"vaebook: load and check 60,000 images once: {time.perf_counter() - start:.2f} s")
    dataset = datasets.MNIST(str(data_dir()), train=True, transform=ToTensor())

    fast = min(vaebook_epoch(x_train) for _ in range(repeats))
    slow = min(dataloader_epoch(dataset) for _ in range(repeats))
    print(f"vaebook in-memory batches : {fast:6.2f} s per epoch")
    print(f"DataLoader + ToTensor     : {slow:6.2f} s per epoch")
    print(f"ratio vaebook / DataLoader: {fast / slow:.2f} (target <= 0.55)")
    recipe = pretrained.RECIPES["chapter5_vae"]
    chapter5 = min(vaebook_epoch(x_train, pretrained.build_model(recipe), recipe.batch_size)
                   for _ in range(repeats))
    print(f"chapter 5 model ({recipe.encoder_hidden or recipe.hidden} encoder, {recipe.hidden} decoder, "
          f"K = {recipe.latent_dim}): {chapter5:6.2f} s per epoch, "
          f"{chapter5 * recipe.epochs:.0f} s for its {recipe.epochs} epochs")


def chapter10_epochs(x_train: torch.Tensor, repeats: int) -> None:
    for name in ("plain", "iwae", "flow", "mixture"):
        recipe = pretrained.RECIPES[f"chapter10_{name}"]
        seconds = min(recipe_epoch(x_train, recipe) for _ in range(repeats))
        print(f"chapter 10 {name:8s}: {seconds:6.2f} s per epoch, {seconds * recipe.epochs:5.1f} s for its "
              f"{recipe.epochs} epochs")


if __name__ == "__main__":
    main()
