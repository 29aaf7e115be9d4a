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
# # 2. The denoising autoencoder
#
# **What you will learn.** Why an autoencoder trained only to reconstruct passes most of the
# noise of a noisy input on to its output; how corrupting its input (Vincent et al., 2008)
# forces it to learn what digits look like instead; how well the result removes noise, compared
# with a plain autoencoder and a classical median filter, measured in PSNR against the clean
# images; where it fails; and how the best possible denoiser is tied to the gradient of a
# log-density (Tweedie's formula), the seed of score-based and diffusion models.

# %% tags=["hide-input", "nbval-ignore-output"]
# On Colab, install the book's package (once per session). The cell shows
# only pip's messages, which depend on the machine, so CI does not compare
# them.
try:
    import vaebook
except ImportError:
    # %pip install -q "vaebook @ git+https://github.com/vaebook/vaebook@v0.1.0"
    import vaebook

# %% tags=["hide-input"]
# Setup: fix the seed and pick the device (a GPU when there is one).
# %matplotlib inline
import math

import torch
from matplotlib.figure import Figure
from scipy.ndimage import median_filter

from vaebook import analysis, plots, pretrained
from vaebook.corruption import (
    gaussian_noise,
    masking_noise,
    psnr,
    salt_and_pepper,
)
from vaebook.data import load_mnist
from vaebook.densities import log_bernoulli
from vaebook.losses import bce_loss
from vaebook.models import Autoencoder
from vaebook.randomness import seed_everything
from vaebook.training import pick_device, train

SEED = 0
seed_everything(SEED)
device = pick_device()
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## Why corrupt the input
#
# Chapter 1 squeezed each image through two numbers, and the bottleneck forced the network to
# keep only what matters. Give it more room, here $K = 64$ numbers, and a plain autoencoder
# reconstructs digits well. But a low reconstruction loss says little about whether it learned
# what digits look like. It is trained on digits only, so nothing tells it what to do with an
# image that is *not* a clean digit; and with still more room, $K \ge D$, the identity map
# would reconstruct every image almost perfectly while knowing nothing about digits. We will measure
# below what the plain 64-number autoencoder does with a noisy digit: it passes most of the
# noise on to its output.
#
# Vincent, Larochelle, Bengio & Manzagol (2008) changed the task instead of the architecture:
# draw a corrupted copy $\tilde x$ of each image $x$ from a random process (added noise, erased
# pixels) and ask the network to reconstruct the *clean* image from it. With the encoder
# $h_\phi$ and the decoder's logits $g_\theta$ of chapter 1,
#
# $$ \min_{\theta, \phi}\ \mathbb E_{x}\, \mathbb E_{\tilde x \mid x} \big[\text{BCE}\big(x,\ \operatorname{sigmoid}(g_\theta(h_\phi(\tilde x)))\big)\big]. $$
#
# Copying is now useless, since the input is wrong; the network has to know which images are
# plausible and move $\tilde x$ toward them. `vaebook.corruption` has three processes.

# %%
x_train, y_train = load_mnist("train")
x_test, y_test = load_mnist("test")
g = torch.Generator().manual_seed(SEED)
examples = x_test[:8]
plots.plot_rows([examples, gaussian_noise(examples, 0.5, g),
                 masking_noise(examples, 0.5, g),
                 salt_and_pepper(examples, 0.3, g)],
                ["clean", "Gaussian 0.5", "masking 0.5", "salt & pepper 0.3"])

# %% [markdown]
# Gaussian noise of standard deviation $\sigma$ adds $\sigma \varepsilon_d$, with
# $\varepsilon_d \sim \mathcal N(0, 1)$, to every pixel and clips the result to $[0, 1]$; masking
# sets a fraction of the pixels to 0; salt and pepper sets a fraction of them to 0 or 1.
#
# ## Two autoencoders of the same size
#
# Both are 784 → 512 → 64 → 512 → 784 with ReLU, trained for 6 epochs with the BCE of chapter 1.
# The plain one sees clean images; the denoising one sees images with Gaussian noise of standard
# deviation $\sigma = 0.5$ (clipped to $[0, 1]$) and must output the clean image.

# %%
# tolerance: rtol=0.01 atol=0
# The denoising autoencoder's recipe is kept in vaebook, so that chapter 6
# can rebuild the same model.
recipe = pretrained.RECIPES["chapter2_dae"]
print(recipe)
TRAIN_STD, EPOCHS = recipe.noise_std, recipe.epochs

seed_everything(SEED)
plain = Autoencoder(hidden=recipe.hidden, latent_dim=recipe.latent_dim)
train(plain, bce_loss, x_train, epochs=EPOCHS, seed=SEED, device=device)
# The same training with losses.denoising_bce_loss(TRAIN_STD): the BCE of
# the clean image reconstructed from the noisy one. train_recipe also keeps
# a copy in the model cache.
dae, _ = pretrained.train_recipe("chapter2_dae", x_train, device=device)
models = {"plain AE": plain.cpu().eval(), "denoising AE": dae}


def reconstruct(model, images):
    """sigmoid(g(h(x))): the autoencoder's output for each image."""
    with torch.no_grad():
        return model.decode(model.encode(images))

# %% [markdown]
# ## Denoising, measured
#
# For several noise levels $\sigma$ we corrupt the first 2,000 test images once (fixed seed).
# Each method turns a noisy image into an output $\hat x$, which we score against the clean
# image $x$ by the peak signal-to-noise ratio,
# $\mathrm{PSNR} = 10 \log_{10} \big(1 \big/ \tfrac1D \sum_d (x_d - \hat x_d)^2\big)$, in
# decibels (higher is better; +3 dB halves the mean squared error per pixel). The methods: the
# noisy image itself, a 3 × 3 median filter of it (a classical, non-learned denoiser), the plain
# autoencoder fed the noisy image, and the denoising autoencoder. Level 0 is the clean image
# itself: the "noisy" input is then perfect (inf dB), and each method shows the error it makes
# on its own.

# %%
# tolerance: rtol=0.02 atol=0
def median3(images):
    squares = images.reshape(-1, 28, 28).numpy()
    filtered = median_filter(squares, size=(1, 3, 3))
    return torch.as_tensor(filtered).reshape(len(images), -1)


clean = x_test[:2000]
levels = [0.0, 0.1, 0.3, 0.5, 0.7]
methods = ["noisy input", "median filter", "plain AE", "denoising AE"]
table = {method: [] for method in methods}
for std in levels:
    noisy = gaussian_noise(clean, std, torch.Generator().manual_seed(SEED))
    outputs = {"noisy input": noisy, "median filter": median3(noisy),
               **{name: reconstruct(model, noisy)
                  for name, model in models.items()}}
    for method in methods:
        table[method].append(psnr(clean, outputs[method]).mean().item())

print(f"{'Gaussian std':14s}" + "".join(f"{std:>8.1f}" for std in levels))
for method in methods:
    values = "".join(f"{value:8.2f}" for value in table[method])
    print(f"{method:14s}{values}")

fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
for method in methods:
    shown = [i for i, value in enumerate(table[method])
             if math.isfinite(value)]  # the clean input's PSNR is inf
    ax.plot([levels[i] for i in shown], [table[method][i] for i in shown],
            "o-", label=method)
ax.set_xlabel("noise standard deviation σ")
ax.set_ylabel("PSNR against the clean image (dB)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# **Check.** From a noise level of 0.3 up, the denoising autoencoder beats the plain autoencoder,
# the median filter and the noisy input by at least 1 dB each.

# %%
for i, std in enumerate(levels):
    if std >= 0.3:
        for method in ("noisy input", "median filter", "plain AE"):
            assert table["denoising AE"][i] > table[method][i] + 1, method

# %% [markdown]
# How much of the noise gets through? Write $r(x)$ for a method's output. Compare how far the
# output moves when the input moves from $x$ to $\tilde x$: the *noise gain*
# $\lVert r(\tilde x) - r(x) \rVert / \lVert \tilde x - x \rVert$, averaged over the images, is 1
# for the identity, which passes all the noise on, and 0 for a method whose output ignores it.

# %%
# tolerance: rtol=0.02 atol=0
noisy = gaussian_noise(clean, 0.3, torch.Generator().manual_seed(SEED))
methods_r = {"median filter": median3,
             **{name: (lambda images, model=model: reconstruct(model, images))
                for name, model in models.items()}}
gain = {}
for name, method in methods_r.items():
    moved = (method(noisy) - method(clean)).norm(dim=1)
    gain[name] = (moved / (noisy - clean).norm(dim=1)).mean().item()
print("noise gain at σ = 0.3: "
      + ", ".join(f"{name} {value:.2f}" for name, value in gain.items()))

# %% [markdown]
# **Check.** The plain autoencoder passes more than 80% of the noise on to its output, although
# its code has only 64 numbers: nothing in its training asked it to remove noise. The denoising
# autoencoder passes on less than 40%.

# %%
assert gain["plain AE"] > 0.8
assert gain["denoising AE"] < 0.4

# %% [markdown]
# **Where the denoising autoencoder fails.** At $\sigma = 0.1$ it scores *below the noisy
# image it was given*, by about 3 dB (the plain autoencoder does too, by less). The column at
# $\sigma = 0$ shows why. Every network here squeezes the image through 64 numbers and loses
# detail doing so: even on clean images the plain autoencoder's output is less than 2.5 dB
# better than the $\sigma = 0.1$ input, and it passes most of the noise on. The denoising
# autoencoder adds a train/test mismatch. Trained at $\sigma = 0.5$ only, it removes what it
# learned to remove whatever it is given, fine detail included (compare the rows of pictures
# below), so it reconstructs even clean digits more than 3 dB worse than the plain autoencoder,
# and worse than the noisy input at $\sigma = 0.1$. It is nearly blind to the noise level: its
# score barely changes from $\sigma = 0$ to $0.3$.

# %%
# tolerance: rtol=0.02 atol=0.2
dae_row, plain_row, noisy_row = (table[m] for m in
                                 ("denoising AE", "plain AE", "noisy input"))
deficit = noisy_row[1] - dae_row[1]
mismatch = plain_row[0] - dae_row[0]
spread = max(dae_row[:3]) - min(dae_row[:3])
print(f"σ = 0.1: denoising AE {deficit:.1f} dB below its noisy input")
print(f"σ = 0: denoising AE {mismatch:.1f} dB below the plain AE")
print(f"denoising AE from σ = 0 to 0.3: spread {spread:.1f} dB")

# %% [markdown]
# **Check.** At $\sigma = 0.1$ the denoising autoencoder is more than 2 dB below its noisy
# input. On clean images the plain autoencoder is less than 2.5 dB above that input; the
# denoising one is more than 3 dB below the plain one, and below the noisy input at
# $\sigma = 0.1$; from $\sigma = 0$ to $0.3$ its PSNR moves by
# less than 1 dB. Exercise 2 trains one model on a range of noise levels instead.

# %%
assert deficit > 2
assert plain_row[0] < noisy_row[1] + 2.5
assert mismatch > 3 and dae_row[0] < noisy_row[1]
assert spread < 1

# %% [markdown]
# Noise it was never trained on is another test. Masking and salt-and-pepper noise at the same
# level, 30% of the pixels:

# %%
# tolerance: rtol=0.02 atol=0
other = {"masking 0.3": masking_noise, "salt & pepper 0.3": salt_and_pepper}
other_table = {}
for label, process in other.items():
    noisy = process(clean, 0.3, torch.Generator().manual_seed(SEED))
    other_table[label] = {name: psnr(clean, method(noisy)).mean().item()
                          for name, method in methods_r.items()}
    cells = [f"{name} {value:5.2f} dB"
             for name, value in other_table[label].items()]
    print(f"{label:18s} " + "  ".join(cells))

# %% [markdown]
# **Check.** On both kinds of noise it never saw, the denoising autoencoder still beats the plain
# one by at least 1 dB.

# %%
for label in other:
    row = other_table[label]
    assert row["denoising AE"] > row["plain AE"] + 1, label

# %%
noisy = gaussian_noise(x_test[:10], 0.5, torch.Generator().manual_seed(SEED))
rows = [noisy] + [reconstruct(model, noisy) for model in models.values()]
plots.plot_rows(rows + [x_test[:10]],
                ["noisy (0.5)", "plain AE", "denoising AE", "clean"])

# %% [markdown]
# ## What the first layer learned
#
# Each of the 512 units of the first encoder layer computes a weighted sum of the 784 pixels; its
# weights, drawn as an image, show what it responds to. Scaled to $[0, 1]$ per unit:

# %%
def first_layer_filters(model, n=40):
    weights = model.encoder[0].weight.detach()[:n]
    low = weights.min(1, keepdim=True).values
    high = weights.max(1, keepdim=True).values
    return (weights - low) / (high - low)


fig = Figure(figsize=(12, 2.6))
for ax, (name, model) in zip(fig.subplots(1, 2), models.items(), strict=True):
    plots.image_grid(first_layer_filters(model), nrow=10, ax=ax, title=name)
fig

# %% [markdown]
# Vincent et al. (2008) found that denoising training turns first-layer filters into stroke and
# edge detectors, after long training of large networks. After six epochs here, compare the two
# sets yourself: the plain autoencoder's filters look noisy all the way to the border, the
# denoising autoencoder's less so. Exercise 4 puts a number on that difference and explains it.
#
# ## Where this leads
#
# A VAE is also a regularized autoencoder: its noise is injected in the code,
# $z = \mu + \sigma \odot \varepsilon$, rather than in the input, and the KL term sets how much
# (chapters 3 and 5).
#
# Denoising has a deeper connection too. Take Gaussian noise without clipping,
# $\tilde x = x + \sigma \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$ and $x$ drawn from
# $p_{\mathrm{data}}$, the distribution the images come from. The noisy images have the density
# $p_\sigma(\tilde x) = \mathbb E_{x \sim p_{\mathrm{data}}}\, \mathcal N(\tilde x; x, \sigma^2 I)$:
# the data distribution smoothed by the noise. The denoiser with the smallest expected squared
# error is the posterior mean $\mathbb E[x \mid \tilde x]$, the average of the clean images
# that could have produced $\tilde x$, weighted by how likely each is to have done so; and
# **Tweedie's formula** (Efron, 2011, who traces it to Robbins and Tweedie) says
#
# $$ \mathbb E[x \mid \tilde x] = \tilde x + \sigma^2\, \nabla_{\tilde x} \log p_\sigma(\tilde x). $$
#
# So the step that the squared-error-optimal denoiser takes, divided by $\sigma^2$, is the
# *score* of the smoothed density, $\nabla_{\tilde x} \log p_\sigma(\tilde x)$. (Score here
# means the gradient of a log-density with respect to the point, as in score matching; the
# score of chapter 4 is a gradient with respect to parameters.) The formula is exact at every
# noise level, but it gives the score of $p_\sigma$, not of $p_{\mathrm{data}}$; the two
# approach each other only as $\sigma \to 0$.
# Vincent (2011) turned this into a way to learn a score, *denoising score matching*. BCE has
# the same minimizer $\mathbb E[x \mid \tilde x]$ as the squared error, so our loss is not what
# separates our network from that ideal; the clipping of the noise to $[0, 1]$, which the
# formula does not cover, and a small network trained for six epochs are. Exercise 5 derives the
# formula and checks it on a single pixel. Score matching across many noise levels (Song &
# Ermon, 2019) and denoising diffusion models (Ho, Jain & Abbeel, 2020) build image generators
# out of exactly this ingredient: an estimate of the score of $p_\sigma$ for a ladder of
# $\sigma$.
#
# ## Summary
#
# - A plain autoencoder, even with a 64-number code, passes most of the noise of a noisy input
#   on to its output: a reconstruction loss on clean images never asks it to remove noise.
# - A denoising autoencoder reconstructs clean images from corrupted ones, so it cannot succeed
#   by copying. Trained on Gaussian noise of standard deviation 0.5, it beats a plain
#   autoencoder of the same size and a median filter by more than 1 dB PSNR from noise level 0.3
#   up, and it also helps on masking and salt-and-pepper noise it never saw.
# - It fails where training and test differ: at noise 0.1 it scores about 3 dB *below* the
#   noisy input it is given. Trained at 0.5 only, it removes what it learned to remove, fine
#   detail included, whatever the input (a train/test noise mismatch), and its 64-number code
#   caps every autoencoder here even on clean images.
# - The squared-error-optimal denoiser moves a noisy image by $\sigma^2$ times the score of the
#   noise-smoothed density (Tweedie's formula): denoising is a way to learn scores.

# %% [markdown]
# ## Exercises
#
# 1. Train the denoising autoencoder with masking noise (half of the pixels erased) instead.
#    Which test noise does it handle best now, and which worst? *Hint:*
#    `losses.denoising_bce_loss(noise_std)` returns the Gaussian version; write the same loss
#    with masking: `def masking_loss(model, x, generator=None): return
#    -log_bernoulli(x, model(masking_noise(x, 0.5, generator))).mean()`
#    (`log_bernoulli` from `vaebook.densities`), and pass it to `train`. Two epochs are enough to
#    see the answer.
# 2. Train with a noise level drawn at random between 0 and 0.7 for each batch. Does one model
#    cover all levels, and does it fix the failure at $\sigma = 0.1$? *Hint:* in a loss like the
#    one of exercise 1, draw the level with `0.7 * torch.rand((), generator=generator).item()`
#    and corrupt with `gaussian_noise(x, std, generator)`.
# 3. Compare the 64-number codes of both models with a 5-nearest-neighbour classifier
#    (`vaebook.analysis.knn_accuracy`, fitted on 10,000 training codes and scored on 2,000 test
#    codes), and with the same classifier on the raw pixels. Which code is more useful? *Hint:*
#    the codes are `model.encode(x)`. Chapter 6 measures this for every model in the book.
# 4. Find a number that tells the two sets of first-layer filters apart, and explain it. *Hint:*
#    compare the size of the weights on pixels that almost never carry ink (in fewer than 1% of
#    the training images) with their size at initialization (`pretrained.build_model(recipe)`
#    rebuilds the initial model); what gradient does a weight get from a pixel that is 0?
# 5. (a) Derive Tweedie's formula: differentiate
#    $p_\sigma(\tilde x) = \mathbb E_{x \sim p_{\mathrm{data}}}\, \mathcal N(\tilde x; x, \sigma^2 I)$
#    under the expectation. (b) Show that the expected BCE,
#    $\mathbb E[\text{BCE}(x, r) \mid \tilde x]$, is smallest at $r = \mathbb E[x \mid \tilde x]$,
#    as the expected squared error is. (c) Check the formula for one binary pixel,
#    $x \in \{0, 1\}$ with $P(x = 1) = \rho$, and $\tilde x = x + \sigma \varepsilon$: compute
#    $\mathbb E[x \mid \tilde x]$ by Bayes' rule and compare it with
#    $\tilde x + \sigma^2 \frac{d}{d \tilde x} \log p_\sigma(\tilde x)$. *Hint:*
#    $\nabla_{\tilde x} \mathcal N(\tilde x; x, \sigma^2 I) = \mathcal N(\tilde x; x, \sigma^2 I)\,
#    (x - \tilde x) / \sigma^2$; for (b), chapter 1's exercise 3; for (c), autograd computes the
#    derivative of a `torch.logsumexp`.

# %% [markdown]
# ## Solutions
#
# ### Solution 1
#
# :::{dropdown} Solution
# The masking autoencoder (trained for two epochs) handles what it was trained on: on masking
# noise with half the pixels erased it beats the chapter's Gaussian-trained model by more than
# 1 dB. It is useless against added noise: on Gaussian noise of $\sigma = 0.3$ its output is
# *worse* than the noisy input, and on salt and pepper it is worse than the Gaussian model by
# more than 5 dB. Erasing teaches it to fill in missing ink, never to remove stray ink: a
# denoising autoencoder learns to undo the corruption it saw, not corruption in general.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0
def masking_loss(model, x, generator=None):
    """BCE of the clean x reconstructed from x with half its pixels erased."""
    return -log_bernoulli(x, model(masking_noise(x, 0.5, generator))).mean()


def psnr_of(model, process, level):
    """Mean PSNR of the model's output on the clean test images corrupted
    once (fixed seed) by process at level."""
    noisy = process(clean, level, torch.Generator().manual_seed(SEED))
    return psnr(clean, reconstruct(model, noisy)).mean().item()


seed_everything(SEED)
masking_ae = Autoencoder(hidden=recipe.hidden, latent_dim=recipe.latent_dim)
train(masking_ae, masking_loss, x_train, epochs=2, seed=SEED, device=device,
      progress=False)
masking_ae.cpu().eval()
tests = {"masking 0.5": (masking_noise, 0.5),
         "Gaussian 0.3": (gaussian_noise, 0.3),
         "salt & pepper 0.3": (salt_and_pepper, 0.3)}
scores = {label: [psnr_of(model, *test) for model in (masking_ae, dae)]
          for label, test in tests.items()}
for label, (masked, gaussian) in scores.items():
    print(f"{label:18s} masking-trained {masked:5.2f} dB, "
          f"Gaussian-trained {gaussian:5.2f} dB")
assert scores["masking 0.5"][0] > scores["masking 0.5"][1] + 1
assert scores["Gaussian 0.3"][0] < table["noisy input"][levels.index(0.3)]
assert scores["salt & pepper 0.3"][0] < scores["salt & pepper 0.3"][1] - 5

# %% [markdown]
# ### Solution 2
#
# :::{dropdown} Solution
# A model trained on levels drawn uniformly from $[0, 0.7]$ (three epochs here, half the
# chapter's) trades: it is more than 0.5 dB better than the $\sigma = 0.5$ model on clean and
# slightly noisy images, and somewhat worse at $\sigma = 0.5$, the level the other one
# specialized in. It does not fix the failure at $\sigma = 0.1$: it still scores below the noisy
# input. The mismatch was one cause; the other, the 64-number bottleneck that caps even the
# plain autoencoder on clean images, remains. An ideal denoiser would never lose to its input
# (the posterior mean has the smallest expected squared error of all functions of
# $\tilde x$, the identity included, in expected squared error), so closing the gap takes a larger code or a network
# that can pass the input through where it is already clean, as the skip connections of the
# U-Nets of diffusion models do.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0
def random_level_loss(model, x, generator=None):
    """Denoising BCE at a noise level drawn from U(0, 0.7) for each batch."""
    std = 0.7 * torch.rand((), generator=generator).item()
    return -log_bernoulli(x, model(gaussian_noise(x, std, generator))).mean()


seed_everything(SEED)
any_level = Autoencoder(hidden=recipe.hidden, latent_dim=recipe.latent_dim)
train(any_level, random_level_loss, x_train, epochs=3, seed=SEED,
      device=device, progress=False)
any_level.cpu().eval()
any_row = [psnr_of(any_level, gaussian_noise, std) for std in levels]
print(f"{'Gaussian std':14s}" + "".join(f"{std:>8.1f}" for std in levels))
for name, row in (("noisy input", noisy_row), ("σ = 0.5 only", dae_row),
                  ("σ ~ U(0, 0.7)", any_row)):
    print(f"{name:14s}" + "".join(f"{value:8.2f}" for value in row))
assert any_row[0] > dae_row[0] + 0.5 and any_row[1] > dae_row[1] + 0.5
assert any_row[3] < dae_row[3]
assert any_row[1] < noisy_row[1]

# %% [markdown]
# ### Solution 3
#
# :::{dropdown} Solution
# Both 64-number codes are within two points of each other for a 5-NN classifier, and both are
# better than the raw pixels on the same images: a code learned without labels can be a better
# space for nearest neighbours than the pixels it came from. On this measure, denoising training
# neither helps nor hurts much; chapter 6 compares all the book's codes with more measures.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0
fit, score = slice(0, 10_000), slice(0, 2_000)
with torch.no_grad():
    accuracy = {name: analysis.knn_accuracy(
        model.encode(x_train[fit]), y_train[fit],
        model.encode(x_test[score]), y_test[score])
        for name, model in models.items()}
accuracy["784 pixels"] = analysis.knn_accuracy(
    x_train[fit], y_train[fit], x_test[score], y_test[score])
print("5-NN accuracy: " + ", ".join(f"{name} {value:.3f}"
                                   for name, value in accuracy.items()))
assert abs(accuracy["plain AE"] - accuracy["denoising AE"]) < 0.02
assert min(accuracy["plain AE"], accuracy["denoising AE"]) \
    > accuracy["784 pixels"]

# %% [markdown]
# ### Solution 4
#
# :::{dropdown} Solution
# Look at the pixels that almost never carry ink, mostly near the border. A weight $W_{ud}$ of
# the first layer gets the gradient $\partial\, \text{loss} / \partial W_{ud} = \delta_u\, x_d$,
# where $\delta_u$ is the gradient at unit $u$'s output, so an image in which pixel $d$ is 0
# gives that weight no gradient at all. The 67 pixels that are 0 in *every* training image
# give the plain autoencoder's weights no gradient ever, and those weights keep their initial
# values exactly (Adam's steps are built from past gradients, all zero here). The pixels inked
# in fewer than 1% of the images give rare, small gradients; but Adam scales each weight's step
# by the size of that weight's own past gradients, so rare gradients still move it by
# full-sized steps, and the plain autoencoder's weights there grow to more than twice their
# initial size. On clean digits that costs nothing, since the pixels are 0; on a noisy input
# those large weights carry the noise straight into the code, which helps explain why the plain
# autoencoder passes most of the noise on. The denoising autoencoder sees noise in those pixels in every
# batch, and a large weight there would only carry noise into the code: its weights stay close
# to their initial size, while the weights on inked pixels grow. So its filters concentrate on
# the centre: the share of each filter's absolute weight inside the central 20 × 20 pixels is
# about $400/784 \approx 0.51$ for the plain autoencoder, the share of uniform weights, and at
# least 0.05 higher for the denoising one.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0
def central_share(model):
    """Mean share of each first-layer filter's absolute weight that lies in
    the central 20 x 20 pixels."""
    weights = model.encoder[0].weight.detach().abs().reshape(-1, 28, 28)
    return (weights[:, 4:24, 4:24].sum((1, 2)) / weights.sum((1, 2))).mean()


ink = (x_train > 0).float().mean(0)  # share of images inking each pixel
blank, rare = ink == 0, (ink > 0) & (ink < 0.01)
initial = pretrained.build_model(recipe).encoder[0].weight.detach()
size = {"initial": initial[:, rare].abs().mean().item()}
for name, model in models.items():
    size[name] = model.encoder[0].weight.detach()[:, rare].abs().mean().item()
    print(f"{name:12s} central share {central_share(model):.2f}")
print(f"{int(blank.sum())} pixels never inked, {int(rare.sum())} inked in "
      f"under 1% of images; mean |weight| on these: "
      + ", ".join(f"{name} {value:.4f}" for name, value in size.items()))
assert torch.equal(plain.encoder[0].weight.detach()[:, blank],
                   initial[:, blank])
assert size["plain AE"] > 2 * size["initial"]
assert size["denoising AE"] < 1.2 * size["initial"]
assert abs(central_share(plain) - 400 / 784) < 0.02
assert central_share(dae) > central_share(plain) + 0.05

# %% [markdown]
# ### Solution 5
#
# :::{dropdown} Solution
# (a) Write $\mathcal N(\tilde x; x, \sigma^2 I) \propto \exp(-\lVert \tilde x - x \rVert^2 /
# 2\sigma^2)$, so $\nabla_{\tilde x} \mathcal N(\tilde x; x, \sigma^2 I) = \mathcal N(\tilde x;
# x, \sigma^2 I)\, (x - \tilde x) / \sigma^2$. Differentiating under the expectation,
#
# $$
# \nabla p_\sigma(\tilde x)
#   = \mathbb E_{x \sim p_{\mathrm{data}}}\Big[\mathcal N(\tilde x; x, \sigma^2 I)\,
#     \frac{x - \tilde x}{\sigma^2}\Big]
#   = \frac{p_\sigma(\tilde x)}{\sigma^2}\, \big(\mathbb E[x \mid \tilde x] - \tilde x\big),
# $$
#
# because by Bayes' rule $p(x \mid \tilde x) = p_{\mathrm{data}}(x)\, \mathcal N(\tilde x; x,
# \sigma^2 I) / p_\sigma(\tilde x)$. Dividing by $p_\sigma(\tilde x)$ gives
# $\nabla \log p_\sigma(\tilde x) = (\mathbb E[x \mid \tilde x] - \tilde x) / \sigma^2$, which
# is Tweedie's formula. Nothing about $p_{\mathrm{data}}$ was assumed: it may be discrete, as
# in (c). The squared error $\mathbb E[\lVert x - r \rVert^2 \mid \tilde x]$ is smallest at
# $r = \mathbb E[x \mid \tilde x]$ (set its gradient $2(r - \mathbb E[x \mid \tilde x])$ to 0),
# so the optimal denoiser's step is $\sigma^2$ times the score of $p_\sigma$.
#
# (b) Per pixel, with $\bar x = \mathbb E[x_d \mid \tilde x]$, the expected BCE is
# $-\bar x \log r_d - (1 - \bar x) \log(1 - r_d)$, because it is linear in $x_d$. Chapter 1's
# exercise 3 showed that this is smallest at $r_d = \bar x$. So BCE and squared error have the
# same optimal denoiser.
#
# (c) By Bayes' rule, with $\mathcal N(\tilde x; x, \sigma^2)$ the one-dimensional density,
#
# $$
# \mathbb E[x \mid \tilde x] = P(x = 1 \mid \tilde x)
#   = \frac{\rho\, \mathcal N(\tilde x; 1, \sigma^2)}{\rho\, \mathcal N(\tilde x; 1, \sigma^2)
#     + (1 - \rho)\, \mathcal N(\tilde x; 0, \sigma^2)}
#   = \operatorname{sigmoid}\Big(\log \frac{\rho}{1 - \rho} + \frac{2 \tilde x - 1}{2 \sigma^2}\Big),
# $$
#
# and $p_\sigma(\tilde x) = \rho\, \mathcal N(\tilde x; 1, \sigma^2) + (1 - \rho)\,
# \mathcal N(\tilde x; 0, \sigma^2)$. The cell checks that both sides of Tweedie's formula
# agree to rounding error, for several $\rho$, $\sigma$ and $\tilde x$. The denoised value is a
# soft vote between 0 and 1, not $\tilde x$ moved a little: for small $\sigma$ the step
# $\sigma^2 \nabla \log p_\sigma$ is anything but small between the two modes.
# :::

# %% tags=["hide-cell"]
def log_normal(t, mean, std):
    """log N(t; mean, std^2) in one dimension."""
    return (-0.5 * ((t - mean) / std) ** 2
            - math.log(std * math.sqrt(2 * math.pi)))


worst = 0.0
for rho in (0.2, 0.5, 0.9):
    for std in (0.1, 0.5, 1.0):
        x_noisy = torch.linspace(-1, 2, 61, dtype=torch.float64,
                                 requires_grad=True)
        log_p = torch.logsumexp(torch.stack([
            math.log(rho) + log_normal(x_noisy, 1.0, std),
            math.log(1 - rho) + log_normal(x_noisy, 0.0, std)]), dim=0)
        score, = torch.autograd.grad(log_p.sum(), x_noisy)
        tweedie = x_noisy + std**2 * score
        posterior_mean = torch.sigmoid(math.log(rho / (1 - rho))
                                       + (2 * x_noisy - 1) / (2 * std**2))
        worst = max(worst, (tweedie - posterior_mean).abs().max().item())
assert worst < 1e-12
print("Tweedie's formula holds for a binary pixel, to within 1e-12")

# %% [markdown]
# ## References
#
# - Vincent, P., Larochelle, H., Bengio, Y., & Manzagol, P.-A. (2008). Extracting and composing
#   robust features with denoising autoencoders. *ICML*. {cite}`vincent2008extracting`
# - Vincent, P. (2011). A connection between score matching and denoising autoencoders. *Neural
#   Computation*, 23(7), 1661–1674. {cite}`vincent2011connection`
# - Efron, B. (2011). Tweedie's formula and selection bias. *Journal of the American
#   Statistical Association*, 106(496), 1602–1614. {cite}`efron2011tweedie`
# - Song, Y., & Ermon, S. (2019). Generative modeling by estimating gradients of the data
#   distribution. *NeurIPS*. {cite}`song2019generative`
# - Ho, J., Jain, A., & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS*.
#   {cite}`ho2020denoising`
