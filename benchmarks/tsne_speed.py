"""t-SNE of 5,000 latent codes: vaebook.analysis.tsne (openTSNE, FFT gradients, 250 steps after
250 of early exaggeration) against scikit-learn's default ``TSNE`` (Barnes-Hut, 1,000 steps in
all) on the same codes, and the trade-off between them.

The codes are chapter 5's VAE means of 5,000 binarized test images (the model comes from the
cache, or is trained when missing). Prints seconds (best of ``--repeats``) and trustworthiness
(10 neighbours) for each method, then the speed-up and the trustworthiness given up. A third row,
``analysis.tsne`` with openTSNE's default 500 steps, shows what more steps buy. Usage:
``python benchmarks/tsne_speed.py [--repeats 2]``.

What to expect: ``analysis.tsne`` is faster, and its trustworthiness is a few thousandths below
scikit-learn's; more steps do not close that gap. Read the trade-off from the printed lines of
your own machine: the times depend on the CPU and its load, and the embeddings (hence the
trustworthiness, in the fourth decimal) on the CPU and the number of threads.
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
        "analysis.tsne, n_iter=500": lambda: analysis.tsne(codes, seed=0, n_iter=500),
    }
    results = {}
    for name, embed in methods.items():
        seconds, embedding = timed(embed, repeats)
        results[name] = seconds, analysis.trustworthiness(codes, embedding)
        print(f"{name:34s}: {seconds:6.2f} s, trustworthiness {results[name][1]:.5f}")
    (ours, our_trust), (theirs, their_trust) = list(results.values())[:2]
    print(f"trade-off: analysis.tsne takes {ours / theirs:.2f} of scikit-learn's time and gives up "
          f"{their_trust - our_trust:+.4f} of trustworthiness")


if __name__ == "__main__":
    main()
