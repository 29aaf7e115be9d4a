"""Where the time of chapter 5's test NLL goes: the importance-sampling pass, k = 1000 samples for
each of 10,000 test images, split into the decoder (matrix products) and the Bernoulli
log-likelihood of 784 pixels (a softplus per pixel), and the pass itself under ``torch.no_grad``
(what ``likelihood.sample_log_weights`` uses) against ``torch.inference_mode``, for a few chunk
sizes. Each timing is the best of three on ``SAMPLES`` samples, scaled to the whole pass.

    python benchmarks/nll_speed.py [--threads 2]

Needs chapter 5's VAE in the model cache (``make book`` puts it there; otherwise it is trained).
Times depend on the machine and its load: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from vaebook import pretrained
from vaebook.checks import trusted
from vaebook.data import binarize_static, load_mnist
from vaebook.densities import log_bernoulli
from vaebook.likelihood import log_importance_weights, sample_log_weights
from vaebook.models import reparameterize

IMAGES, K = 10_000, 1000
SAMPLES = 100 * 250  # 100 images x 250 samples per timing


def best_of_three(run) -> float:
    run()  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * IMAGES * K / SAMPLES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    torch.set_num_threads(parser.parse_args().threads)
    vae = pretrained.load_or_train("chapter5_vae", progress=False)
    x = binarize_static(load_mnist("test")[0][:100], seed=0)
    with torch.no_grad(), trusted():  # no input check per call, as inside sample_log_weights
        mu, logvar = vae.encode(x[:50])
        z = reparameterize(mu, logvar, 50)  # one chunk: 50 samples of 50 images
        logits = vae.decoder(z)
        parts = {"decoder": lambda: vae.decoder(z),
                 "Bernoulli log-likelihood": lambda: log_bernoulli(x[:50], logits),
                 "log-weights, one chunk": lambda: log_importance_weights(vae, x[:50], 50)}
        # each part above handles 2,500 samples, not SAMPLES: scale accordingly
        for name, run in parts.items():
            print(f"{name:28s} {best_of_three(run) * SAMPLES / 2_500:6.1f} s for the whole pass")
    for chunk in (25, 50, 100):
        for mode in ("no_grad", "inference_mode"):
            context = torch.inference_mode if mode == "inference_mode" else torch.no_grad

            def run(chunk=chunk, context=context) -> None:
                with context():
                    sample_log_weights(vae, x, k=250, chunk=chunk, progress=False)

            print(f"sample_log_weights, chunk {chunk:3d}, {mode:14s} {best_of_three(run):6.1f} s")


if __name__ == "__main__":
    main()
