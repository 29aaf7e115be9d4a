"""t-SNE of 5,000 latent codes: vaebook.analysis.tsne (openTSNE, FFT gradients, 500 steps after
250 of early exaggeration) against scikit-learn's default ``TSNE`` on the same codes.

The codes are chapter 5's VAE means of 5,000 binarized test images (the model comes from the
cache, or is trained when missing). Prints seconds and trustworthiness (10 neighbours) for each,
best time of ``--repeats``. Usage: ``python benchmarks/tsne_speed.py [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.manifold import TSNE

from vaebook import analysis, pretrained
from vaebook.data import binarize_static, load_mnist

N_POINTS = 5000


def timed(embed, repeats: int):
    best, embedding = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        embedding = embed()
        best = min(best, time.perf_counter() - start)
    return best, embedding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs timed per method; best is kept")
    repeats = parser.parse_args().repeats
    x_test, _ = load_mnist("test")
    images = x_test[torch.randperm(len(x_test), generator=torch.Generator().manual_seed(0))[:N_POINTS]]
    vae = pretrained.load_or_train("chapter5_vae")
    with torch.no_grad():
        codes = vae.encode(binarize_static(images, seed=0))[0].numpy()
    print(f"{N_POINTS} codes of dimension {codes.shape[1]}, {torch.get_num_threads()} threads")
    methods = {
        "vaebook.analysis.tsne (openTSNE)": lambda: analysis.tsne(codes, seed=0),
        "sklearn TSNE defaults": lambda: TSNE(random_state=0).fit_transform(codes),
    }
    for name, embed in methods.items():
        seconds, embedding = timed(embed, repeats)
        trust = analysis.trustworthiness(codes, embedding)
        print(f"{name:34s}: {seconds:6.2f} s, trustworthiness {trust:.5f}")


if __name__ == "__main__":
    main()
