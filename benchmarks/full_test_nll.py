"""Chapter 10's test NLL on all 10,000 test images, where the chapter scores a fixed random 1,000.

For each of the chapter's four models (from the model cache; trained by their recipes when
missing): −L_1000 on every statically binarized test image with its standard error, the change
against the plain VAE with its paired standard error, and the seconds the pass took. Then the
check that the chapter's 1,000 images are a fair sample: each model's mean over those 1,000
(this pass's values at the rows that ``data.random_rows`` picks in the chapter) lies within 3
standard errors of the mean over all 10,000, the standard error of a subset mean being
sd · sqrt(1/1000 − 1/10000). Run on a quiet machine for the seconds to mean anything:

    VAEBOOK_SEED=0 python benchmarks/full_test_nll.py
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from vaebook import pretrained
from vaebook.data import binarize_static, load_mnist, random_row_indices
from vaebook.likelihood import bound_from_log_weights, sample_log_weights
from vaebook.randomness import book_seed

NAMES = ("plain", "iwae", "flow", "mixture")
SUBSET = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    seed = book_seed()  # the chapter's SEED: $VAEBOOK_SEED, as for the models' recipes
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    x_test, _ = load_mnist("test")
    x_test_bin = binarize_static(x_test, seed=seed)
    # the rows that random_rows draws for the chapter
    rows = random_row_indices(len(x_test_bin), SUBSET, seed=seed)
    nll = {}
    for name in NAMES:
        model = pretrained.load_or_train(f"chapter10_{name}")
        start = time.perf_counter()
        log_w = sample_log_weights(model, x_test_bin, k=1000, seed=seed, progress=False)
        seconds = time.perf_counter() - start
        nll[name] = -bound_from_log_weights(log_w)
        mean, sd = nll[name].mean().item(), nll[name].std().item()
        print(f"{name:8s} NLL {mean:7.2f} ± {sd / math.sqrt(len(log_w)):.2f} on "
              f"{len(log_w):,d} images, {seconds:5.1f} s")
        subset = nll[name][rows].mean().item()
        subset_se = sd * math.sqrt(1 / SUBSET - 1 / len(log_w))
        print(f"{'':8s} the chapter's {SUBSET:,d} images: {subset:7.2f}, "
              f"{(subset - mean) / subset_se:+.1f} standard errors from the full mean")
        assert abs(subset - mean) < 3 * subset_se, name
    for name in NAMES[1:]:
        diff = nll[name] - nll["plain"]
        print(f"{name:8s} vs plain: {diff.mean():+.2f} ± "
              f"{diff.std() / math.sqrt(len(diff)):.2f} (paired)")


if __name__ == "__main__":
    main()
