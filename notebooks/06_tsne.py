# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. t-SNE of latent codes, measured
#
# **What you will learn.** What t-SNE computes, which of its knobs matter and which features of
# its pictures mean nothing; and how to compare the codes of chapters 1, 2 and 5 with two numbers
# that do not depend on any picture: the trustworthiness of the embedding and the k-nearest-
# neighbour accuracy in the code space itself.

# %% tags=["hide-input", "nbval-ignore-output"]
# On Colab, install the book's package (once per session). The cell shows only pip's messages,
# which depend on the machine, so CI does not compare them.
try:
    import vaebook
except ImportError:
    # %pip install -q "vaebook @ git+https://github.com/vaebook/vaebook@v0.1.0"
    import vaebook

# %% tags=["hide-input"]
# Setup: fix the seed and pick the device (a GPU when there is one).
# %matplotlib inline
import numpy as np
import torch

from vaebook import analysis, plots, pretrained
from vaebook.data import binarize_static, load_mnist
from vaebook.randomness import seed_everything
from vaebook.training import pick_device

SEED = 0
seed_everything(SEED)
device = pick_device()
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## What t-SNE does
#
# t-SNE (van der Maaten & Hinton, 2008) places N points in the plane so that each point keeps
# the *same neighbours* it had in the original space. In the original space, point $i$ picks
# neighbour $j$ with probability
#
# $$ p_{j\mid i} = \frac{\exp(-\lVert x_i - x_j\rVert^2 / 2\sigma_i^2)}{\sum_{k \neq i} \exp(-\lVert x_i - x_k\rVert^2 / 2\sigma_i^2)}, $$
#
# with each bandwidth $\sigma_i$ chosen so that the distribution has a fixed **perplexity**
# $2^{H(p_{\cdot\mid i})}$, roughly the number of neighbours each point cares about; then
# $p_{ij} = (p_{j\mid i} + p_{i\mid j}) / 2N$. In the plane, the same probabilities are built from
# a heavy-tailed Student-t kernel,
# $q_{ij} \propto (1 + \lVert y_i - y_j\rVert^2)^{-1}$, and the positions $y$ minimize
# $\mathrm{KL}(P \,\|\, Q)$ by gradient descent, starting from an **initialization** (here the
# first two principal components) and with an **early exaggeration** phase that multiplies $P$ by
# 12 for 250 steps so clusters can form and pass each other.
#
# Two consequences to keep in mind. The heavy tails let clusters spread apart, so *distances
# between clusters* and *cluster sizes* in the picture say little about the original space: the
# bandwidths $\sigma_i$ adapt to the local density and erase it. And the objective is not convex:
# other seeds or perplexities give other pictures.
#
# `vaebook.analysis.tsne` wraps openTSNE (Poličar, Stražar & Zupan, 2024), which approximates the
# gradient with a Barnes-Hut tree for a few thousand points and with FFT-accelerated
# interpolation (Linderman et al., 2019) for many more; with a PCA start and 250 steps after the
# exaggeration phase it embeds 5,000 codes in about 10 s on two CPU cores, half the time of
# scikit-learn's default `TSNE` (`make bench` measures both).

# %%
x_test, y_test = load_mnist("test")
subset = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(SEED))[:5000]
images, labels = x_test[subset], y_test[subset]
print(f"{len(images)} test images, digit counts {torch.bincount(labels).tolist()}")

# %% [markdown]
# ## The knobs: perplexity and initialization
#
# The first 2,000 of these images, as raw pixels, embedded with perplexity 5, 30 (the usual
# default) and 100 from the PCA initialization, and once more with perplexity 30 from a random
# initialization. Trustworthiness, in the titles, is defined below; it uses each point's 10
# nearest neighbours.

# %%
pixels = images[:2000].numpy()
settings = {"perplexity 5": dict(perplexity=5), "perplexity 30": dict(perplexity=30),
            "perplexity 100": dict(perplexity=100),
            "perplexity 30, random init": dict(perplexity=30, initialization="random")}
sweep = {name: analysis.tsne(pixels, seed=SEED, **options) for name, options in settings.items()}
trust = {name: analysis.trustworthiness(pixels, embedding) for name, embedding in sweep.items()}
plots.plot_embeddings({f"{name}\ntrustworthiness {trust[name]:.3f}": e for name, e in sweep.items()},
                      labels[:2000], ncols=4)

# %% [markdown]
# Small perplexity breaks digits into many small islands; large perplexity keeps more of the
# global layout but blurs the boundaries. The random start ends in another arrangement of the
# same clusters: the objective has many optima, and which one t-SNE finds depends on where it
# starts. A PCA start fixes that, and another seed then changes almost nothing (Kobak & Berens,
# 2019).
#
# **Check.** Every setting keeps local neighbourhoods far better than chance (trustworthiness
# above 0.9). The random start agrees with the PCA start on neighbourhoods (more than half of
# each point's 10 nearest neighbours are shared) but not on positions (points move by more than
# half the picture's typical radius), while a second seed from the PCA start moves them by less
# than a quarter of it.

# %%
def displacement(a, b):
    """Mean distance between a point's two positions, in units of a's mean distance from its centre."""
    return np.linalg.norm(a - b, axis=1).mean() / np.linalg.norm(a - a.mean(0), axis=1).mean()


pca_start, random_start = sweep["perplexity 30"], sweep["perplexity 30, random init"]
other_seed = analysis.tsne(pixels, seed=SEED + 1)
overlap = analysis.neighbour_overlap(pca_start, random_start, k=10)
print(f"PCA start vs random start: 10-NN overlap {overlap:.2f}, displacement "
      f"{displacement(pca_start, random_start):.2f}")
print(f"PCA start, seed {SEED} vs seed {SEED + 1}: displacement {displacement(pca_start, other_seed):.2f}")
assert min(trust.values()) > 0.9
assert overlap > 0.5
assert displacement(pca_start, random_start) > 0.5
assert displacement(pca_start, other_seed) < 0.25

# %% [markdown]
# ## Five representations of the same 5,000 images
#
# - **pixels**: the 784 grey values;
# - **PCA**: the top 32 principal components (fitted on the training set);
# - **AE**: chapter 1's autoencoder, 2 numbers per image;
# - **DAE**: chapter 2's denoising autoencoder, 64 numbers;
# - **VAE**: chapter 5's VAE, the posterior mean $\mu_\phi(x)$ of the binarized image, 32 numbers.
#
# The models come from vaebook's model cache: chapters 1, 2 and 5 leave them there; when one is
# missing (a fresh Colab session), `pretrained.load_or_train` trains it with the same recipe.

# %%
x_train, _ = load_mnist("train")
models = {name: pretrained.load_or_train(name, device=device)
          for name in ("chapter1_ae", "chapter2_dae", "chapter5_vae")}
print({name: model.config for name, model in models.items()})

# %%
with torch.no_grad():
    codes = {
        "pixels": images.numpy(),
        "PCA": analysis.pca_codes(x_train, images, k=32, seed=SEED),
        "AE": models["chapter1_ae"].encode(images).numpy(),
        "DAE": models["chapter2_dae"].encode(images).numpy(),
        "VAE": models["chapter5_vae"].encode(binarize_static(images, seed=SEED))[0].numpy(),
    }
embeddings = {name: analysis.tsne(z, seed=SEED) for name, z in codes.items()}
plots.plot_embeddings({f"{name} ({z.shape[1]}-D)": embeddings[name] for name, z in codes.items()}, labels)

# %% [markdown]
# ## Two numbers per representation
#
# The pictures invite stories ("the VAE separates 4s from 9s better"); two measurements check them.
#
# - **Trustworthiness** (Venna & Kaski, 2001) of the t-SNE picture with respect to the codes it
#   was made from: 1 when every point's 10 nearest neighbours in the picture are also among its
#   nearest neighbours in the code space, lower when the picture invents neighbours. It measures
#   t-SNE's work, not the codes.
# - **k-NN accuracy** in the code space itself: a 5-nearest-neighbour classifier fitted on 4,000
#   of the images' codes and scored on the other 1,000. It measures the codes: how well nearby
#   codes share a digit, without any picture in between. We add the same accuracy *in the t-SNE
#   plane*, which says whether the picture kept that property.

# %%
reference, held_out = slice(0, 4000), slice(4000, 5000)
y = labels.numpy()
table = {}
for name, z in codes.items():
    table[name] = (
        analysis.trustworthiness(z, embeddings[name]),
        analysis.knn_accuracy(z[reference], y[reference], z[held_out], y[held_out]),
        analysis.knn_accuracy(embeddings[name][reference], y[reference], embeddings[name][held_out],
                              y[held_out]),
    )
print(f"{'codes':8s} {'dim':>4s} {'trustworthiness':>16s} {'5-NN acc. (codes)':>18s} {'5-NN acc. (t-SNE)':>18s}")
for name, (trust, acc_codes, acc_plane) in table.items():
    print(f"{name:8s} {codes[name].shape[1]:4d} {trust:16.3f} {acc_codes:18.3f} {acc_plane:18.3f}")

# %% [markdown]
# **Check.** What the table shows and this cell asserts:
#
# 1. The 2-D autoencoder's codes are the poorest for classification by a wide margin (its
#    2-D bottleneck merges digits), and t-SNE cannot add what the codes lack.
# 2. The 32-D VAE means classify at least as well as 784 raw pixels (within one point), with 25×
#    fewer numbers.
# 3. For every representation with more than two dimensions, the t-SNE plane keeps the k-NN
#    accuracy within 3 points of the codes' own: the pictures are faithful about *which* points
#    are neighbours, whatever they suggest about distances.

# %%
acc = {name: row[1] for name, row in table.items()}
assert acc["AE"] < min(acc[name] for name in ("pixels", "PCA", "DAE", "VAE")) - 0.1
assert acc["VAE"] > acc["pixels"] - 0.01
for name, (_, acc_codes, acc_plane) in table.items():
    if codes[name].shape[1] > 2:
        assert abs(acc_plane - acc_codes) < 0.03, name

# %% [markdown]
# ## Summary
#
# - t-SNE keeps neighbourhoods; it does not keep distances, densities or cluster sizes, and
#   runs differ. Read its pictures for *who is next to whom*.
# - Judge codes by numbers computed in the code space (k-NN accuracy here), and judge the
#   picture by how well it keeps the codes' neighbourhoods (trustworthiness).
#
# ## Exercises
#
# 1. Embed the VAE's codes with perplexity 5 and 300. Which number of the table changes, and
#    which stays? *Hint:* `analysis.tsne(z, perplexity=...)`.
# 2. Replace the VAE's means by one sample $z \sim q_\phi(z \mid x)$ per image. What happens to the
#    k-NN accuracy, and why? *Hint:* the posterior variance.
# 3. Compute trustworthiness with 50 neighbours instead of 10. Does the ranking change?
#
# ## References
#
# - van der Maaten, L., & Hinton, G. (2008). Visualizing data using t-SNE. *JMLR*. {cite}`vandermaaten2008visualizing`
# - Wattenberg, M., Viégas, F., & Johnson, I. (2016). How to use t-SNE effectively. *Distill*. {cite}`wattenberg2016how`
# - Venna, J., & Kaski, S. (2001). Neighborhood preservation in nonlinear projection methods. *ICANN*. {cite}`venna2001neighborhood`
# - Linderman, G. C., et al. (2019). Fast interpolation-based t-SNE for improved visualization of
#   single-cell RNA-seq data. *Nature Methods*. {cite}`linderman2019fast`
# - Poličar, P. G., Stražar, M., & Zupan, B. (2024). openTSNE: a modular Python library for t-SNE
#   dimensionality reduction and embedding. *JSS*. {cite}`policar2024opentsne`
# - Kobak, D., & Berens, P. (2019). The art of using t-SNE for single-cell transcriptomics.
#   *Nature Communications*. {cite}`kobak2019art`
