"""Choose chapter 5's VAE on validation data, from a grid of affordable candidates.

Protocol (nothing here sees the MNIST test set):

1. The last 10,000 of the 60,000 training images are the *validation split*, binarized once
   (``binarize_static``, seed 0). Every candidate trains on the other 50,000 (dynamically
   binarized, as in the book) and never sees the validation images.
2. Each candidate is scored on validation: the −ELBO on all 10,000 images (one z per image,
   ``training.evaluate``) and the importance-sampled NLL −L_k with k = 1000 on the first 2,000
   validation images, with the same images, k and seed for every candidate. The table gives the
   NLL's standard error over images and, for each candidate, the mean per-image difference of its
   NLL to the chosen one's with the *paired* standard error (the standard deviation of the
   per-image differences over √2,000): two models scored on the same images share most of the
   images' difficulty, so their difference is far more precise than either NLL. The same is
   stored against the centre, for the one-factor-at-a-time comparisons. Neither standard error
   includes the variation between training runs: the centre is trained again with seeds 1 and 2,
   and the standard deviation of its three validation NLLs (``seed_sd``) is that yardstick.
3. Cost, for information. The grid is laid out so that every candidate is affordable in the
   chapter (at most 45 epochs, layers of at most 500 units). For every architecture and batch size
   the script times, with two threads, an epoch of 60,000 images and the test NLL's log-weights
   (best of three short runs, scaled up), and predicts the final model's cost from them. The
   choice does not use these times: on a shared two-core machine, two runs of this script
   minutes apart timed the same candidate up to 50% apart, more than most differences between
   candidates, so a budget line drawn through them would choose by timing noise.
4. The chosen model is the candidate with the lowest validation NLL. The replicates are no
   candidates: choosing a seed would be tuning on noise.

The grid is one factor at a time around a centre, over what chapter 5's "what mattered"
paragraph discusses: peak learning rate, the output bias started at the mean image, the
encoder's depth, the decoder's depth and width, the batch size and the number of epochs.

Writes ``vaebook/selection/chapter5_vae.json``, which ships with the package and which chapter 5
reads through ``pretrained.selection``, and prints the table. Each
candidate's scores are cached in ``_build/vae_selection/`` (keyed by its recipe and the
protocol), so an interrupted run goes on where it stopped. Usage, from the repository root:

    python benchmarks/vae_selection.py [--jobs 2] [--timing-only]

``--jobs`` trains that many candidates at a time, each on one thread (about 45 minutes of one
core in all); ``--timing-only`` re-measures the timings and rewrites the table from the cached
scores. MNIST comes from ``VAEBOOK_DATA`` as everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from multiprocessing import get_context
from pathlib import Path

import torch

from vaebook import pretrained
from vaebook.data import binarize_dynamic, binarize_static, load_mnist
from vaebook.likelihood import sample_log_weights
from vaebook.losses import vae_loss
from vaebook.training import evaluate, train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "vaebook" / "selection" / "chapter5_vae.json"  # pretrained.selection reads it
CACHE = ROOT / "_build" / "vae_selection"

N_VALIDATION = 10_000  # the last images of the training set
NLL_IMAGES = 2_000  # the first validation images, scored by -L_k
K = 1000  # importance samples, for validation and for the chapter's test NLL
SEED = 0  # validation binarization and evaluation draws
TEST_IMAGES = 10_000
TIMING_REPEATS = 3

CENTRE = pretrained.Recipe(model="VAE", hidden=(400, 400), encoder_hidden=(400,), latent_dim=32,
                           loss="vae", epochs=30, batch_size=128, lr=1e-3, cosine_schedule=True,
                           output_bias_init=True)
# name: (what differs from the centre, recipe)
CANDIDATES = {
    "centre": ("-", CENTRE),
    "lr 5e-4": ("peak learning rate 5e-4", replace(CENTRE, lr=5e-4)),
    "lr 2e-3": ("peak learning rate 2e-3", replace(CENTRE, lr=2e-3)),
    "no bias init": ("output bias starts at 0", replace(CENTRE, output_bias_init=False)),
    "encoder 400-400": ("two-layer encoder", replace(CENTRE, encoder_hidden=(400, 400))),
    "decoder 400": ("one-layer decoder", replace(CENTRE, hidden=(400,))),
    "decoder 300-300": ("narrower decoder", replace(CENTRE, hidden=(300, 300))),
    "decoder 500-500": ("wider decoder", replace(CENTRE, hidden=(500, 500))),
    "batch 256": ("batches of 256, 45 epochs", replace(CENTRE, batch_size=256, epochs=45)),
    "20 epochs": ("20 epochs", replace(CENTRE, epochs=20)),
    "45 epochs": ("45 epochs", replace(CENTRE, epochs=45)),
}
# The centre trained again with other seeds: how much the luck of one training run moves a score.
REPLICATES = {f"centre, seed {seed}": ("another seed (not a candidate)", replace(CENTRE, seed=seed))
              for seed in (1, 2)}
ALL = {**CANDIDATES, **REPLICATES}


def splits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 50,000 grey training images candidates train on, and the binarized validation split."""
    x_train, _ = load_mnist("train")
    x_fit, x_val = x_train[:-N_VALIDATION], x_train[-N_VALIDATION:]
    return x_fit, binarize_static(x_val, seed=SEED)


def cache_file(recipe: pretrained.Recipe) -> Path:
    protocol = f"v{N_VALIDATION}-n{NLL_IMAGES}-k{K}-s{SEED}"
    return CACHE / f"{recipe.digest()}-{protocol}.pt"


def score(name: str) -> str:
    """Train candidate ``name`` on one thread, score it on validation, cache the scores."""
    recipe, path = ALL[name][1], cache_file(ALL[name][1])
    if path.is_file():
        return f"{name}: cached"
    torch.set_num_threads(1)
    x_fit, x_val = splits()
    start = time.process_time()
    model, _ = pretrained.fit_recipe(recipe, x_fit, device="cpu", progress=False)
    seconds = time.process_time() - start
    neg_elbo = evaluate(model, vae_loss, x_val, seed=SEED)
    log_w = sample_log_weights(model, x_val[:NLL_IMAGES], k=K, seed=SEED, progress=False)
    log_px = log_w.logsumexp(1) - torch.log(torch.tensor(float(K)))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"neg_elbo": neg_elbo, "log_px": log_px, "train_cpu_seconds": seconds}, path)
    return f"{name}: -ELBO {neg_elbo:.2f}, NLL {-log_px.mean().item():.2f} ({seconds:.0f} s)"


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def time_recipe(recipe: pretrained.Recipe, x_fit: torch.Tensor, x_val: torch.Tensor
                ) -> dict[str, float]:
    """Seconds of one epoch of 60,000 images (timed on 6,000, after a warm-up) and of the test
    NLL, k = 1000 on 10,000 images (timed on 100 images x 250 samples), on the current threads."""
    model = pretrained.build_model(recipe)

    def epoch() -> None:
        train(model, vae_loss, x_fit[:6000], epochs=1, batch_size=recipe.batch_size,
              transform=binarize_dynamic, device="cpu", progress=False)

    def nll() -> None:
        sample_log_weights(model, x_val[:100], k=250, progress=False)

    epoch(), nll()  # warm-up
    return {"epoch_seconds": best_of(TIMING_REPEATS, epoch) * 10,
            "test_nll_seconds": best_of(TIMING_REPEATS, nll) * (TEST_IMAGES * K) / (100 * 250)}


def timings(recipes: list[pretrained.Recipe]) -> dict[tuple, dict[str, float]]:
    """``time_recipe`` on two threads for each architecture and batch size among ``recipes``."""
    torch.set_num_threads(2)
    x_fit, x_val = splits()
    result = {}
    for recipe in recipes:
        key = (recipe.hidden, recipe.encoder_hidden, recipe.latent_dim, recipe.batch_size)
        if key not in result:
            result[key] = time_recipe(recipe, x_fit, x_val)
            print(f"timed {key}: {result[key]['epoch_seconds']:.2f} s per epoch, "
                  f"{result[key]['test_nll_seconds']:.0f} s for the test NLL", flush=True)
    return result


def table(timed: dict) -> dict:
    rows, scores = {}, {name: torch.load(cache_file(r), weights_only=True)
                        for name, (_, r) in ALL.items()}
    for name, (change, recipe) in ALL.items():
        t = timed[(recipe.hidden, recipe.encoder_hidden, recipe.latent_dim, recipe.batch_size)]
        train_seconds = recipe.epochs * t["epoch_seconds"]
        log_px = scores[name]["log_px"]
        rows[name] = {
            "change": change, "candidate": name in CANDIDATES,
            "recipe": asdict(recipe),
            "epoch_seconds": round(t["epoch_seconds"], 2),
            "train_seconds": round(train_seconds), "test_nll_seconds": round(t["test_nll_seconds"]),
            "val_neg_elbo": round(scores[name]["neg_elbo"], 3),
            "val_nll": round(-log_px.mean().item(), 3),
            "val_nll_se": round(log_px.std().item() / NLL_IMAGES**0.5, 3),
        }
    chosen = min(CANDIDATES, key=lambda n: rows[n]["val_nll"])
    for name, row in rows.items():
        row["diff_to_chosen"], row["diff_se"] = paired(scores[name], scores[chosen])
        row["diff_to_centre"], row["diff_to_centre_se"] = paired(scores[name], scores["centre"])
    centre_seeds = torch.tensor([rows[name]["val_nll"] for name in ("centre", *REPLICATES)])
    return {
        "protocol": {"validation_images": N_VALIDATION, "nll_images": NLL_IMAGES, "k": K,
                     "seed": SEED, "fit_images": 60_000 - N_VALIDATION,
                     "test_images": TEST_IMAGES,
                     "timing": f"two threads, best of {TIMING_REPEATS}, load average "
                               f"{os.getloadavg()[0]:.1f}, torch {torch.__version__}"},
        "chosen": chosen, "rows": rows,
        # The standard deviation of the centre's validation NLL over its training seeds (0, 1, 2).
        "seed_sd": round(centre_seeds.std().item(), 3),
    }


def paired(row: dict, other: dict) -> tuple[float, float]:
    """The mean per-image NLL of ``row`` minus that of ``other`` (both scored on the same images
    with the same draws) and its paired standard error."""
    diff = other["log_px"] - row["log_px"]
    return round(diff.mean().item(), 3), round(diff.std().item() / NLL_IMAGES**0.5, 3)


def show(result: dict) -> None:
    print(f"{'':16s} {'train s':>7s} {'+NLL s':>6s} {'-ELBO':>6s} {'NLL':>6s} "
          f"{'+-':>4s} {'vs chosen':>9s} {'+-':>4s}")
    for name, r in result["rows"].items():
        print(f"{name:16s} {r['train_seconds']:7d} {r['test_nll_seconds']:6d} "
              f"{r['val_neg_elbo']:6.2f} {r['val_nll']:6.2f} "
              f"{r['val_nll_se']:4.2f} {r['diff_to_chosen']:+9.2f} {r['diff_se']:4.2f}")
    print(f"chosen: {result['chosen']}; the centre's NLL over three seeds: sd {result['seed_sd']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="candidates trained at a time")
    parser.add_argument("--timing-only", action="store_true",
                        help="re-time and rewrite the table from the cached scores")
    args = parser.parse_args()
    if not args.timing_only:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            for done in as_completed([pool.submit(score, name) for name in ALL]):
                print(done.result(), flush=True)
    result = table(timings([recipe for _, recipe in ALL.values()]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    show(result)


if __name__ == "__main__":
    main()
