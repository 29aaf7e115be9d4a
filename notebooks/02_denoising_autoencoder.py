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
# **What you will learn.** Why an autoencoder trained only to reconstruct is thrown off by a
# noisy input; how corrupting its input (Vincent et al., 2008) forces it to learn what digits
# look like instead; how well the result removes noise, compared
# with a plain autoencoder and a classical median filter, measured in PSNR against the clean
# images; where it fails; and, in an optional box at the end, how the best possible denoiser is
# tied to the gradient of a log-density (Tweedie's formula), the seed of score-based and
# diffusion models.

# %% tags=["hide-input", "nbval-ignore-output"]
# On Colab, install the book's package (once per session).
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
    mse,
    psnr,
    salt_and_pepper,
)
from vaebook.data import load_mnist
from vaebook.densities import log_bernoulli
from vaebook.losses import bce_loss, denoising_bce_loss
from vaebook.models import Autoencoder
from vaebook.randomness import book_seed, seed_everything
from vaebook.training import pick_device, train

SEED = book_seed()  # $VAEBOOK_SEED, else 0
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
# below what the plain 64-number autoencoder does with a noisy digit: the noise moves its
# output almost as far as it moved the input, though mostly not along the noise itself.
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
gen = torch.Generator().manual_seed(SEED)
examples = x_test[:8]
plots.plot_rows([examples, gaussian_noise(examples, 0.5, gen),
                 masking_noise(examples, 0.5, gen),
                 salt_and_pepper(examples, 0.3, gen)],
                ["clean", "Gaussian τ = 0.5", "masking 50%",
                 "salt & pepper 30%"])

# %% [markdown]
# Gaussian noise of standard deviation $\tau$ adds $\tau \xi_d$, with
# $\xi_d \sim \mathcal N(0, 1)$, to every pixel and clips the result to $[0, 1]$; masking
# sets a fraction of the pixels to 0; salt and pepper sets a fraction of them to 0 or 1. (We
# write $\tau$ and $\xi$ for Gaussian noise added to the data, as chapter 3 does for its
# linear-Gaussian model, and keep $\sigma$ and $\varepsilon$ for the VAE encoder's standard
# deviation and its reparameterization noise, as at the end of this chapter and from chapter 3
# on.)
#
# ## Two autoencoders of the same size
#
# Both are 784 → 512 → 64 → 512 → 784 with ReLU, trained for 6 epochs with the BCE of chapter 1.
# The plain one sees clean images; the denoising one sees images with Gaussian noise of standard
# deviation $\tau = 0.5$ (clipped to $[0, 1]$) and must output the clean image.

# %%
# tolerance: rtol=0.01 atol=0
# The denoising autoencoder's recipe is kept in vaebook, so that chapter 6
# can rebuild the same model.
recipe = pretrained.recipe("chapter2_dae")
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
# For several noise levels $\tau$ we corrupt the first 2,000 test images once (fixed seed).
# Each method turns a noisy image into an output $\hat x$, which we score against the clean
# image $x$ by the peak signal-to-noise ratio,
# $\mathrm{PSNR} = 10 \log_{10} \big(1 \big/ \tfrac1D \sum_d (x_d - \hat x_d)^2\big)$, in
# decibels (higher is better). For one image, +3 dB halves the mean squared error per pixel;
# the tables average the PSNR over the images, which is the PSNR of the geometric mean of their
# errors, so +3 dB in a table halves that geometric mean, not the mean error. The methods: the
# noisy image itself, a 3 × 3 median filter of it (a classical, non-learned denoiser), the plain
# autoencoder fed the noisy image, and the denoising autoencoder. Level 0 is the clean image
# itself: the "noisy" input is then perfect (inf dB), and each method shows the error it makes
# on its own. The figure draws one line per method, PSNR against $\tau$; the noisy input's line
# starts at 0.1, because its point at level 0 is infinitely high.

# %%
# tolerance: rtol=0.05 atol=0
# (the plain AE far outside its training data moved 2.4% between two CPUs)
def median3(images):
    squares = images.reshape(-1, 28, 28).numpy()
    filtered = median_filter(squares, size=(1, 3, 3))
    return torch.as_tensor(filtered).reshape(len(images), -1)


clean = x_test[:2000]
levels = [0.0, 0.1, 0.3, 0.5, 0.7]
methods = ["noisy input", "median filter", "plain AE", "denoising AE"]
table = {method: [] for method in methods}
per_image = {}  # (method, std) -> the PSNR of each of the 2,000 images
for std in levels:
    noisy = gaussian_noise(clean, std, torch.Generator().manual_seed(SEED))
    outputs = {"noisy input": noisy, "median filter": median3(noisy),
               **{name: reconstruct(model, noisy)
                  for name, model in models.items()}}
    for method in methods:
        per_image[method, std] = psnr(clean, outputs[method])
        table[method].append(per_image[method, std].mean().item())

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
ax.set_xlabel("noise standard deviation τ")
ax.set_ylabel("PSNR against the clean image (dB)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# A table of means hides how the images vary. Every image went through every method, so each
# margin can be taken image by image, and its standard error then comes from the spread of
# those paired differences over the 2,000 images:

# %%
# tolerance: rtol=0 atol=0.4
# (differences of two PSNRs, each of which can move a few tenths of a dB
# between CPUs)
margins = {(method, std):
           per_image["denoising AE", std] - per_image[method, std]
           for std in levels if std >= 0.3 for method in methods[:3]}
for (method, std), margin in margins.items():
    print(f"τ = {std}: denoising AE minus {method:13s} "
          f"{margin.mean():5.2f} ± {analysis.standard_error(margin):.2f} dB")

# %% [markdown]
# **Check.** From a noise level of 0.3 up, the denoising autoencoder beats the plain autoencoder,
# the median filter and the noisy input by at least 1 dB each, with three paired standard
# errors to spare.

# %%
for key, margin in margins.items():
    se = analysis.standard_error(margin)
    assert margin.mean() - 3 * se > 1, key

# %% [markdown]
# How does the noise get through? Write $\hat x(\tilde x)$ for a method's output on the noisy
# image and $\hat x(x)$ for its output on the clean one, so that the noise $\tilde x - x$ moves
# the output by $\hat x(\tilde x) - \hat x(x)$. Split that move into a multiple of the noise
# and a part perpendicular to it,
#
# $$
# \begin{aligned}
# \hat x(\tilde x) - \hat x(x) &= \psi\, (\tilde x - x) + \Delta_\perp,
#    \qquad \langle \Delta_\perp,\ \tilde x - x \rangle = 0, \\
# \psi &= \frac{\langle \hat x(\tilde x) - \hat x(x),\ \tilde x - x \rangle}
#    {\lVert \tilde x - x \rVert^2}.
# \end{aligned}
# $$
#
# The coefficient $\psi$ is the share of the noise that the output *carries*: the noisy
# pattern itself, scaled. The rest, $\Delta_\perp$, is the output turning into a different
# image. We
# report three numbers, each relative to the size of the noise $\lVert \tilde x - x \rVert$ and
# averaged over the images: how far the output moves,
# $\lVert \hat x(\tilde x) - \hat x(x) \rVert$ (the *noise gain*); the share carried, $\psi$; and
# the move that is not the noise, $\lVert \Delta_\perp \rVert$. Since the two parts are
# perpendicular, gain² = $\psi^2$ + rest² for each image.
# Three maps with known answers serve as controls: the identity carries all the noise (1, 1,
# 0), a constant map none (0, 0, 0), and halving the image half of it (0.5, 0.5, 0).

# %%
# tolerance: rtol=0.02 atol=0.01
def noise_transfer(method, clean, noisy):
    """How the noise moves method's output, relative to the noise's size and
    averaged over the images: the gain, the share psi carried along, and
    the rest of the move, perpendicular to the noise."""
    noise = noisy - clean
    move = method(noisy) - method(clean)
    size = noise.norm(dim=1)
    psi = (move * noise).sum(1) / size**2
    rest = (move - psi[:, None] * noise).norm(dim=1)
    return {"gain": (move.norm(dim=1) / size).mean().item(),
            "carried": psi.mean().item(),
            "rest": (rest / size).mean().item()}


noisy = gaussian_noise(clean, 0.3, torch.Generator().manual_seed(SEED))
methods_r = {"median filter": median3,
             **{name: (lambda images, model=model: reconstruct(model, images))
                for name, model in models.items()}}
controls = {"identity": lambda images: images,
            "constant": lambda images: torch.full_like(images, 0.5),
            "halving": lambda images: images / 2}
transfer = {name: noise_transfer(method, clean, noisy)
            for name, method in {**controls, **methods_r}.items()}
columns = transfer["plain AE"]
print(f"{'τ = 0.3':14s}" + "".join(f"{key:>9s}" for key in columns))
for name, numbers in transfer.items():
    print(f"{name:14s}" + "".join(f"{v:9.2f}" for v in numbers.values()))

# %% [markdown]
# **Check.** The controls come out as they must. The plain autoencoder's output moves more than
# 0.7 as far as its input, but it carries less than 0.4 of the noise: most of the move, more
# than 0.7, is perpendicular to the noise. Its code has only 64 numbers, so it cannot copy the
# noise; but nothing in its training asked it to ignore noise, so the noise moves the code, and
# the decoder draws another image, the blotches in the pictures below. The denoising
# autoencoder's output moves less than 0.4 as far, and carries less than 0.1 of the noise.

# %%
expected = {"identity": (1, 1, 0), "constant": (0, 0, 0),
            "halving": (0.5, 0.5, 0)}
for name, values in expected.items():
    measured = tuple(transfer[name].values())
    assert all(abs(a - b) < 1e-5
               for a, b in zip(measured, values, strict=True)), name
plain_t, dae_t = transfer["plain AE"], transfer["denoising AE"]
assert plain_t["gain"] > 0.7 and plain_t["rest"] > 0.7
assert plain_t["carried"] < 0.4
assert dae_t["gain"] < 0.4 and dae_t["carried"] < 0.1

# %% [markdown]
# **Where the denoising autoencoder fails.** At $\tau = 0.1$ it scores *below the noisy
# image it was given*, by several dB (3.8 in the cell below; the check asks for more than 2), and the plain autoencoder does too, by less. The 64-number
# code costs detail, but it does not explain this by itself: squeezed through the same 64
# numbers, clean images come out of the plain autoencoder 1.7 dB better than the $\tau = 0.1$
# input, and exercise 2 trains a network with this code that beats that input. The two
# autoencoders fall short for different reasons. The plain one is thrown off by the noise: at
# $\tau = 0.1$ too, the noise moves its output almost as far as it moved the input. The
# denoising one has a train/test mismatch. Trained at $\tau = 0.5$ only, it removes what it
# learned to remove whatever it is given, fine detail included (compare the rows of pictures
# below), so it reconstructs even clean digits more than 3 dB worse than the plain autoencoder,
# and worse than the noisy input at $\tau = 0.1$. It is nearly blind to the noise level: from
# $\tau = 0$ to $0.3$ its score barely changes, while the noisy input loses 9 dB from $0.1$ to
# $0.3$.

# %%
# tolerance: rtol=0.02 atol=0.2
dae_row, plain_row, noisy_row = (table[m] for m in
                                 ("denoising AE", "plain AE", "noisy input"))
deficit = noisy_row[1] - dae_row[1]
headroom = plain_row[0] - noisy_row[1]
mismatch = plain_row[0] - dae_row[0]
spread = max(dae_row[:3]) - min(dae_row[:3])
noisy_01 = gaussian_noise(clean, 0.1, torch.Generator().manual_seed(SEED))
plain_01 = noise_transfer(methods_r["plain AE"], clean, noisy_01)
print(f"τ = 0.1: denoising AE {deficit:.1f} dB below its noisy input; "
      f"plain AE noise gain {plain_01['gain']:.2f}")
print(f"τ = 0: plain AE {headroom:.1f} dB above the τ = 0.1 input, "
      f"denoising AE {mismatch:.1f} dB below the plain AE")
print(f"denoising AE from τ = 0 to 0.3: spread {spread:.1f} dB; noisy input "
      f"from 0.1 to 0.3: {noisy_row[1] - noisy_row[2]:.1f} dB")

# %% [markdown]
# **Check.** At $\tau = 0.1$ the denoising autoencoder is more than 2 dB below its noisy
# input, the plain one is below it by less, and the noise moves the plain autoencoder's output
# more than 0.7 as far as its input. On clean images the plain autoencoder is more than 1 dB
# above the $\tau = 0.1$ input; the denoising one is more than 3 dB below the plain one, and
# below the noisy input at $\tau = 0.1$; from $\tau = 0$ to $0.3$ its PSNR moves by less than
# 1.5 dB.

# %%
assert deficit > 2 and dae_row[1] < plain_row[1] < noisy_row[1]
assert plain_01["gain"] > 0.7
assert headroom > 1
assert mismatch > 3 and dae_row[0] < noisy_row[1]
assert spread < 1.5

# %% [markdown]
# Noise it was never trained on is another test: masking and salt and pepper, each hitting 30%
# of the pixels (a share of the pixels, so not comparable with Gaussian noise of $\tau = 0.3$):

# %%
# tolerance: rtol=0.02 atol=0
other = {"masking 0.3": masking_noise, "salt & pepper 0.3": salt_and_pepper}
other_table, other_margin = {}, {}
for label, process in other.items():
    noisy = process(clean, 0.3, torch.Generator().manual_seed(SEED))
    scores = {name: psnr(clean, method(noisy))
              for name, method in methods_r.items()}
    other_table[label] = {name: s.mean().item() for name, s in scores.items()}
    other_margin[label] = scores["denoising AE"] - scores["plain AE"]
    cells = [f"{name} {value:5.2f} dB"
             for name, value in other_table[label].items()]
    print(f"{label:18s} " + "  ".join(cells))

# %% [markdown]
# The denoising autoencoder's margin over the plain one, image by image:

# %%
# tolerance: rtol=0 atol=0.4
for label, margin in other_margin.items():
    print(f"{label:18s} denoising minus plain AE: {margin.mean():.2f} "
          f"± {analysis.standard_error(margin):.2f} dB (paired)")

# %% [markdown]
# **Check.** On both kinds of noise it never saw, the denoising autoencoder still beats the plain
# one by at least 1 dB, with three paired standard errors to spare.

# %%
for label, margin in other_margin.items():
    se = analysis.standard_error(margin)
    assert margin.mean() - 3 * se > 1, label

# %% [markdown]
# Ten test digits with Gaussian noise of $\tau = 0.5$, what each model makes of them, and the
# clean digits:

# %%
noisy = gaussian_noise(x_test[:10], 0.5, torch.Generator().manual_seed(SEED))
rows = [noisy] + [reconstruct(model, noisy) for model in models.values()]
plots.plot_rows(rows + [x_test[:10]],
                ["noisy, τ = 0.5", "plain AE", "denoising AE", "clean"])

# %% [markdown]
# ## What the first layer learned
#
# Each of the 512 units of the first encoder layer computes a weighted sum of the 784 pixels.
# Its weights $\chi \in \mathbb R^D$ (a row of the layer's weight matrix, part of the encoder's
# weights $\phi$) are its *filter*; drawn as an image, a filter shows what the unit responds
# to. Here are the first 40 filters of each model, each scaled to $[0, 1]$ on its own and
# drawn like the digits: its largest weight black, its smallest white.

# %%
def first_layer_filters(model, n=40):
    weights = model.encoder[0].weight.detach()[:n]
    low = weights.min(1, keepdim=True).values
    high = weights.max(1, keepdim=True).values
    return (weights - low) / (high - low)


fig = Figure(figsize=(6.7, 6))  # stacked, so that each filter stays legible
for ax, (name, model) in zip(fig.subplots(2, 1), models.items(), strict=True):
    plots.image_grid(first_layer_filters(model), nrow=10, ax=ax, title=name)
fig

# %% [markdown]
# Each panel holds two kinds of filter. Some are smooth blobs and strokes; the others are pure
# static, as random weights look. The static is not what noisy training leaves behind. A ReLU
# unit whose weighted sum is negative for every training input outputs 0 and gets no gradient,
# so once it falls silent its weights nearly stop moving: not at once, since Adam's momentum
# carries them on for a while, and not quite, since a unit we call silent below may still fire
# on a rare input. The two models differ in how many units fall silent, and in how smooth the
# filters of the others are.
#
# To measure this, call a unit *silent* when it fires (outputs more than 0) on fewer than 10 of
# 10,000 training inputs, the inputs it is trained on: clean images for the plain autoencoder,
# images with noise of $\tau = 0.5$ for the denoising one. Measure how far a filter moved in
# training by its distance from its initial weights $\chi^{\text{init}}$, relative to their
# size, $\lVert \chi - \chi^{\text{init}} \rVert / \lVert \chi^{\text{init}} \rVert$. And
# measure how smooth it is by Moran's I (Moran, 1950), which we write $\mathcal I$ since $I$ is
# the identity matrix: the correlation between the weights of pixels that share an edge,
#
# $$ \mathcal I(\chi) = \frac{D}{1512}\,
#    \frac{\sum_{d \sim d'} (\chi_d - \bar \chi)(\chi_{d'} - \bar \chi)}
#         {\sum_d (\chi_d - \bar \chi)^2}, $$
#
# where $d \sim d'$ runs over the $2 \cdot 28 \cdot 27 = 1512$ pairs of neighbouring pixels
# and $\bar \chi$ is the filter's mean weight. It is close to 1 for a smooth image; for
# weights in random order its expectation is exactly $-1/(D - 1) \approx -0.001$. It does not
# change when the filter is scaled: it sees how the weights are arranged, not how far they
# moved, which is why we measure both. Two controls must give
# that value: the initial weights, which are random, and the trained filters with their pixels
# shuffled (each filter by its own permutation), which keeps every weight and loses the picture.

# %%
# tolerance: rtol=0.02 atol=0.01
def morans_i(filters):
    """Moran's I of each 28 x 28 filter, with the pixels that share an edge
    as neighbours: filters (512, 784) -> (512,)."""
    f = filters.reshape(-1, 28, 28)
    f = f - f.mean((1, 2), keepdim=True)
    pairs = ((f[:, 1:] * f[:, :-1]).sum((1, 2))
             + (f[:, :, 1:] * f[:, :, :-1]).sum((1, 2)))
    return 784 / (2 * 28 * 27) * pairs / (f**2).sum((1, 2))


def shuffle_pixels(filters, generator):
    """Each filter with its pixels in a random order of its own."""
    order = torch.rand(filters.shape, generator=generator).argsort(1)
    return filters.gather(1, order)


gen = torch.Generator().manual_seed(SEED)
inputs = x_train[:10_000]
trained_on = {"plain AE": inputs,
              "denoising AE": gaussian_noise(inputs, TRAIN_STD, gen)}
initial = pretrained.build_model(recipe).encoder[0].weight.detach()
smooth = {"initial weights": morans_i(initial)}
silent, moved, rougher = {}, {}, {}
for name, model in models.items():
    weights = model.encoder[0].weight.detach()
    with torch.no_grad():
        fires = (model.encoder[0](trained_on[name]) > 0).float().mean(0)
    silent[name] = quiet = fires < 1e-3
    moved[name] = (weights - initial).norm(dim=1) / initial.norm(dim=1)
    smooth[name] = values = morans_i(weights)
    smooth[f"{name}, shuffled"] = morans_i(shuffle_pixels(weights, gen))
    # the share of (silent, firing) pairs whose silent filter is rougher
    rougher[name] = (values[quiet, None] < values[~quiet]).float().mean()
print(f"Moran's I of random weights: expected {-1 / 783:.3f}; initial "
      f"{smooth['initial weights'].mean():.3f}, shuffled "
      + ", ".join(f"{smooth[f'{name}, shuffled'].mean():.3f}"
                  for name in models))
for name in models:
    quiet, values = silent[name], smooth[name]
    print(f"{name}: silent units {quiet.float().mean():.2f}; moved: "
          f"silent {moved[name][quiet].mean():.2f}, firing "
          f"{moved[name][~quiet].mean():.2f}; Moran's I: silent "
          f"{values[quiet].mean():.2f}, firing {values[~quiet].mean():.2f}; "
          f"silent rougher in {rougher[name]:.3f} of pairs")

# %% [markdown]
# **Check.** Both controls give $-1/(D - 1)$ within four standard errors of their mean over
# the filters: $\mathcal I$ sees how the weights are arranged, not how large they are. In both
# models, of all pairs of a silent and a firing unit, at least 95% have the silent unit's
# filter rougher, and the silent ones average below 0.1, near random weights: they are the
# static in the pictures. They also stayed near their start: on average the silent filters
# moved less than half their initial size, the firing ones more than their initial size. The
# denoising autoencoder has more silent units, by more than 0.15 of the 512, and the filters
# of its firing units are smoother, by more than 0.04 with three standard errors to spare. (The
# sample behind that error bar is the filters of one trained pair of models, so it says nothing
# about how training varies; to see that, rerun the chapter with another `VAEBOOK_SEED`.)

# %%
standard_error = analysis.standard_error
for name in ("initial weights", *(f"{name}, shuffled" for name in models)):
    deviation = smooth[name].mean().item() + 1 / 783
    assert abs(deviation) < 4 * standard_error(smooth[name]), name
for name in models:
    quiet, values = silent[name], smooth[name]
    assert rougher[name] > 0.95, name
    assert values[quiet].mean() < 0.1, name
    assert moved[name][quiet].mean() < 0.5, name
    assert moved[name][~quiet].mean() > 1, name
share = {name: silent[name].float().mean().item() for name in models}
firing = {name: smooth[name][~silent[name]].mean().item()
          for name in models}
assert share["denoising AE"] > share["plain AE"] + 0.15
firing_se = math.hypot(*(standard_error(smooth[name][~silent[name]])
                          for name in models))
assert firing["denoising AE"] - 3 * firing_se > firing["plain AE"] + 0.04

# %% [markdown]
# So the picture and the numbers agree: the denoising autoencoder's panel shows more static
# because more of its units fell silent, and the filters of the units it does use are the
# cleaner ones, flat near the border where the plain autoencoder's stay noisy all the way out.
# Why the noisy inputs silence more units we leave open; exercise 4 explains the border.
# Vincent et al. (2008) found that denoising training turns first-layer filters into stroke and
# edge detectors, after long training of large networks; after six epochs, ours are blobs and
# strokes on the way there.
#
# ## Where this leads
#
# A VAE is also a regularized autoencoder: its noise is injected in the code,
# $z = \mu + \sigma \odot \varepsilon$ with $\mu$ and $\sigma$ computed by the encoder and
# $\varepsilon \sim \mathcal N(0, I)$, rather than in the input, and the KL term sets how much
# (chapters 3 and 5).
#
# :::{admonition} Going further: a denoiser learns a score
# :class: dropdown
# Denoising has a deeper connection too. Take Gaussian noise without clipping,
# $\tilde x = x + \tau \xi$ with $\xi \sim \mathcal N(0, I)$ and $x$ drawn from
# $p_{\mathrm{data}}$, the distribution the images come from. The noisy images have the density
# $p_\tau(\tilde x) = \mathbb E_{x \sim p_{\mathrm{data}}}\, \mathcal N(\tilde x; x, \tau^2 I)$:
# the data distribution smoothed by the noise. The denoiser with the smallest expected squared
# error is the posterior mean $\mathbb E[x \mid \tilde x]$, the average of the clean images
# that could have produced $\tilde x$, weighted by how likely each is to have done so; and
# **Tweedie's formula** (Efron, 2011, who traces it to Robbins and Tweedie) says
#
# $$ \mathbb E[x \mid \tilde x] = \tilde x + \tau^2\, \nabla_{\tilde x} \log p_\tau(\tilde x). $$
#
# So the step that the squared-error-optimal denoiser takes, divided by $\tau^2$, is the
# *score* of the smoothed density, $\nabla_{\tilde x} \log p_\tau(\tilde x)$. (Score here
# means the gradient of a log-density with respect to the point, as in score matching; the
# score of chapter 4 is a gradient with respect to parameters.) The formula is exact at every
# noise level, but it gives the score of $p_\tau$, not of $p_{\mathrm{data}}$. As $\tau$
# shrinks, $p_\tau$ comes closer to $p_{\mathrm{data}}$; but MNIST's pixels take only 256 grey
# values, so its $p_{\mathrm{data}}$ is discrete: it has no density, and so no score, and only
# its smoothed versions $p_\tau$ have one.
# Vincent (2011) turned this into a way to learn a score, *denoising score matching*. BCE has
# the same minimizer $\mathbb E[x \mid \tilde x]$ as the squared error, so our loss is not what
# separates our network from that ideal; the clipping of the noise to $[0, 1]$, which the
# formula does not cover, and a small network trained for six epochs are. Exercise 5 derives the
# formula and checks it on a single pixel. Score matching across many noise levels (Song &
# Ermon, 2019) and denoising diffusion models (Ho, Jain & Abbeel, 2020) build image generators
# out of exactly this ingredient: an estimate of the score of $p_\tau$ for a ladder of
# $\tau$.
# :::
#
# ## Summary
#
# - A plain autoencoder with a 64-number code is thrown off by a noisy input: the noise moves
#   its output almost as far as it moved the input, mostly into another image rather than
#   along the noise. A reconstruction loss on clean images never asks it to ignore noise.
# - A denoising autoencoder reconstructs clean images from corrupted ones, so it cannot succeed
#   by copying. Trained on Gaussian noise of standard deviation 0.5, it beats a plain
#   autoencoder of the same size and a median filter by more than 1 dB PSNR from noise level 0.3
#   up, and it also helps on masking and salt-and-pepper noise it never saw.
# - It fails where training and test differ: at noise 0.1 it scores several dB *below* the
#   noisy input it is given. Trained at 0.5 only, it removes what it learned to remove, fine
#   detail included, whatever the input (a train/test noise mismatch). Its 64-number code
#   costs some detail too, but not that much: a network with the same code, trained at 0.1,
#   beats the noisy input there (exercise 2).
# - (From the box "Going further: a denoiser learns a score".) The squared-error-optimal
#   denoiser moves a noisy image by $\tau^2$ times the score of the
#   noise-smoothed density (Tweedie's formula): denoising is a way to learn scores.

# %% [markdown]
# ## Exercises
#
# 1. Train the denoising autoencoder with masking noise (half of the pixels erased) instead.
#    On which test noise does it beat the Gaussian-trained model, and on which does it fail?
#    *Hint:*
#    `losses.denoising_bce_loss(noise_std)` returns the Gaussian version; write the same loss
#    with masking: `def masking_loss(model, x, generator=None): return
#    -log_bernoulli(x, model(masking_noise(x, 0.5, generator))).mean()`
#    (`log_bernoulli` from `vaebook.densities`), and pass it to `train`. Two epochs are enough to
#    see the answer.
# 2. Train with a noise level drawn at random between 0 and 0.7 for each batch, for as many
#    epochs as the chapter's models. Does one model cover all levels, and does it fix the
#    failure at $\tau = 0.1$? Is the 64-number code to blame: can a network with this code,
#    trained at $\tau = 0.1$ only, beat the noisy input there? *Hint:* in a loss like the one
#    of exercise 1, draw the level with `0.7 * torch.rand((), generator=generator).item()` and
#    corrupt with `gaussian_noise(x, std, generator)`; `losses.denoising_bce_loss(0.1)` is the
#    loss at the one level 0.1.
# 3. Compare the 64-number codes of both models with a 5-nearest-neighbour classifier, fitted
#    on 10,000 training codes and scored on the 10,000 test codes, and with the same classifier
#    on the raw pixels. Which code is more useful? *Hint:* the codes are `model.encode(x)`;
#    `vaebook.analysis.knn_predict` gives each test image's predicted class, so you can compare
#    two classifiers image by image, with the standard error of the paired difference. Chapter 6
#    measures this and more for chapter 1's autoencoder, this chapter's denoising one, chapter
#    5's VAE, PCA and the pixels.
# 4. The firing filters of the plain autoencoder are noisy all the way to the border of the
#    image; those of the denoising autoencoder are flat there. Find a number that shows this
#    difference, and explain it. *Hint:*
#    compare the size of the weights on pixels that almost never carry ink (in fewer than 1% of
#    the training images) with their size at initialization (`pretrained.build_model(recipe)`
#    rebuilds the initial model); what gradient does a weight get from a pixel that is 0?
# 5. (a) Derive Tweedie's formula: differentiate
#    $p_\tau(\tilde x) = \mathbb E_{x \sim p_{\mathrm{data}}}\, \mathcal N(\tilde x; x, \tau^2 I)$
#    under the expectation. (b) Show that the expected BCE,
#    $\mathbb E[\text{BCE}(x, \hat x) \mid \tilde x]$, is smallest at $\hat x = \mathbb E[x \mid \tilde x]$,
#    as the expected squared error is. (c) Check the formula for one binary pixel,
#    $x \in \{0, 1\}$ with $P(x = 1) = \rho$, and $\tilde x = x + \tau \xi$: compute
#    $\mathbb E[x \mid \tilde x]$ by Bayes' rule and compare it with
#    $\tilde x + \tau^2 \frac{d}{d \tilde x} \log p_\tau(\tilde x)$. *Hint:*
#    $\nabla_{\tilde x} \mathcal N(\tilde x; x, \tau^2 I) = \mathcal N(\tilde x; x, \tau^2 I)\,
#    (x - \tilde x) / \tau^2$; for (b), chapter 1's exercise 3; for (c), autograd computes the
#    derivative of a `torch.logsumexp`.

# %% [markdown]
# ## Solutions
#
# ### Solution 1
#
# :::{dropdown} Solution
# The masking autoencoder (trained for two epochs) handles what it was trained on: on masking
# noise with half the pixels erased it beats the chapter's Gaussian-trained model by more than
# 1 dB. It is useless against added noise: on Gaussian noise of $\tau = 0.3$ its output is
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
# Trained as long as the chapter's models, on levels drawn uniformly from $[0, 0.7]$, one model
# covers the range well: it is more than 1 dB better than the $\tau = 0.5$ model on clean and
# slightly noisy images, and within 0.5 dB of it at $\tau = 0.5$, the level the other one
# specialized in. It does not fix the failure at $\tau = 0.1$: its mean PSNR is still below the
# noisy input's, and its mean squared error over the images is above the input's. That second
# statistic is the one an ideal denoiser could not lose in: the posterior mean
# $\mathbb E[x \mid \tilde x]$ has the smallest expected squared error of all functions of
# $\tilde x$, the identity included, so its expected squared error is at most the input's.
# (The mean PSNR averages the logarithms of the errors, and the argument says nothing about
# it.)
#
# The 64-number code is not to blame by itself: the same network trained at $\tau = 0.1$
# only beats the noisy input at that level, and the model for all levels by more than 1 dB.
# With this network and this much training, covering every level costs accuracy at the low
# end; whether longer training or a larger network would close the gap, this exercise does not
# measure. Diffusion models, which need one network for all levels, tell it the level as an
# extra input.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0.0003
def random_level_loss(model, x, generator=None):
    """Denoising BCE at a noise level drawn from U(0, 0.7) for each batch."""
    std = 0.7 * torch.rand((), generator=generator).item()
    return -log_bernoulli(x, model(gaussian_noise(x, std, generator))).mean()


def trained(loss):
    """The chapter's autoencoder, trained with loss as long as the others."""
    seed_everything(SEED)
    model = Autoencoder(hidden=recipe.hidden, latent_dim=recipe.latent_dim)
    train(model, loss, x_train, epochs=EPOCHS, seed=SEED, device=device,
          progress=False)
    return model.cpu().eval()


any_level = trained(random_level_loss)
low_level = trained(denoising_bce_loss(0.1))
any_row = [psnr_of(any_level, gaussian_noise, std) for std in levels]
low_row = [psnr_of(low_level, gaussian_noise, std) for std in levels]
print(f"{'Gaussian std':14s}" + "".join(f"{std:>8.1f}" for std in levels))
for name, row in (("noisy input", noisy_row), ("τ = 0.5 only", dae_row),
                  ("τ ~ U(0, 0.7)", any_row), ("τ = 0.1 only", low_row)):
    print(f"{name:14s}" + "".join(f"{value:8.2f}" for value in row))
error = {"noisy input": mse(clean, noisy_01).mean().item(),
         "τ ~ U(0, 0.7)": mse(clean, reconstruct(any_level, noisy_01))
         .mean().item()}
print("τ = 0.1, mean squared error per pixel: "
      + ", ".join(f"{name} {value:.4f}" for name, value in error.items()))
assert any_row[0] > dae_row[0] + 1 and any_row[1] > dae_row[1] + 1
assert abs(any_row[3] - dae_row[3]) < 0.5
assert any_row[1] < noisy_row[1]
assert error["τ ~ U(0, 0.7)"] > error["noisy input"]
assert low_row[1] > noisy_row[1] and low_row[1] > any_row[1] + 1

# %% [markdown]
# ### Solution 3
#
# :::{dropdown} Solution
# Both 64-number codes are within two points of each other for a 5-NN classifier, and both are
# better than the raw pixels on the same 10,000 test images, by about a point: a small gain,
# but more than three standard errors of the paired difference (the two classifiers compared
# image by image). A code learned without labels can be a better space for nearest neighbours
# than the pixels it came from. On this measure, denoising training neither helps nor hurts
# much; chapter 6 compares the denoising code with chapter 1's, chapter 5's VAE, PCA and the
# pixels, with more measures.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0.004
fit = slice(0, 10_000)
features = {"784 pixels": (x_train[fit], x_test)}
with torch.no_grad():
    for name, model in models.items():
        features[name] = (model.encode(x_train[fit]), model.encode(x_test))
right = {name: torch.as_tensor(analysis.knn_predict(
    train_codes, y_train[fit], test_codes)) == y_test
    for name, (train_codes, test_codes) in features.items()}
accuracy = {name: hits.float().mean().item() for name, hits in right.items()}
gain = {}  # over the pixels: mean and standard error of the paired difference
for name in models:
    paired = right[name].float() - right["784 pixels"].float()
    gain[name] = (paired.mean().item(), standard_error(paired))
print("5-NN accuracy: " + ", ".join(f"{name} {value:.3f}"
                                   for name, value in accuracy.items()))
print("gain over the pixels: " + ", ".join(
    f"{name} {mean:.3f} ± {se:.3f}" for name, (mean, se) in gain.items()))
assert abs(accuracy["plain AE"] - accuracy["denoising AE"]) < 0.02
for name, (mean, se) in gain.items():
    assert mean > 3 * se, name

# %% [markdown]
# ### Solution 4
#
# :::{dropdown} Solution
# Look at the pixels that almost never carry ink, mostly near the border. The weight from
# pixel $d$ to a unit of the first layer gets as its gradient $x_d$ times the gradient of the
# loss with respect to the unit's weighted sum of the pixels (taken before the ReLU), so an
# image in which pixel $d$ is 0 gives that weight no gradient at all. The 67 pixels that
# are 0 in *every* training image give the plain autoencoder's weights no gradient ever, and
# those weights keep their initial values exactly (Adam's steps are built from past gradients,
# all zero here). The pixels inked in fewer than 1% of the images give small gradients, and not
# in every batch: with 128 images a batch, such a pixel is inked somewhere in the batch in about
# a fifth of the batches on average (the cell prints the share). Plain gradient descent would
# move these weights by small steps, and rarely. Adam divides each weight's step by the root
# mean square of that weight's recent gradients, so the size of the gradient cancels out: a
# gradient of steady size present in one batch of five still gives steps of about
# $\sqrt{1/5} \approx 0.45$ times the learning rate. The plain autoencoder's weights there grow
# to more than twice their initial size. On clean digits that costs nothing, since the pixels
# are 0; on a noisy input those large weights carry the noise straight into the code, which
# helps explain why noise moves the plain autoencoder's output so far. The denoising
# autoencoder sees noise in those pixels in every batch, and a large weight there would only
# carry noise into the code: its weights stay close to their initial size, while the weights
# on inked pixels grow. So its filters concentrate on the centre: the share of each filter's
# absolute weight inside the central 20 × 20 pixels is about $400/784 \approx 0.51$ for the
# plain autoencoder, the share of uniform weights, and at least 0.05 higher for the denoising
# one.
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
# the share of batches of 128 images in which a rare pixel is inked
in_batch = (1 - (1 - ink[rare]) ** 128).mean().item()
initial = pretrained.build_model(recipe).encoder[0].weight.detach()
size = {"initial": initial[:, rare].abs().mean().item()}
for name, model in models.items():
    size[name] = model.encoder[0].weight.detach()[:, rare].abs().mean().item()
    print(f"{name:12s} central share {central_share(model):.2f}")
print(f"{int(blank.sum())} pixels never inked, {int(rare.sum())} inked in "
      f"under 1% of images (in {in_batch:.2f} of the batches); "
      "mean |weight| on these: "
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
# (a) Write $\mathcal N(\tilde x; x, \tau^2 I) \propto \exp(-\lVert \tilde x - x \rVert^2 /
# 2\tau^2)$, so $\nabla_{\tilde x} \mathcal N(\tilde x; x, \tau^2 I) = \mathcal N(\tilde x;
# x, \tau^2 I)\, (x - \tilde x) / \tau^2$. Differentiating under the expectation,
#
# $$
# \begin{aligned}
# \nabla p_\tau(\tilde x)
#   &= \mathbb E_{x \sim p_{\mathrm{data}}}\Big[\mathcal N(\tilde x; x, \tau^2 I)\,
#     \frac{x - \tilde x}{\tau^2}\Big] \\
#   &= \frac{p_\tau(\tilde x)}{\tau^2}\, \big(\mathbb E[x \mid \tilde x] - \tilde x\big),
# \end{aligned}
# $$
#
# because by Bayes' rule $p_\tau(x \mid \tilde x) = p_{\mathrm{data}}(x)\, \mathcal N(\tilde x; x,
# \tau^2 I) / p_\tau(\tilde x)$. Dividing by $p_\tau(\tilde x)$ gives
# $\nabla \log p_\tau(\tilde x) = (\mathbb E[x \mid \tilde x] - \tilde x) / \tau^2$, which
# is Tweedie's formula. Nothing about $p_{\mathrm{data}}$ was assumed: it may be discrete, as
# in (c). The squared error $\mathbb E[\lVert x - \hat x \rVert^2 \mid \tilde x]$ is smallest at
# $\hat x = \mathbb E[x \mid \tilde x]$ (set its gradient $2(\hat x - \mathbb E[x \mid \tilde x])$ to 0),
# so the optimal denoiser's step is $\tau^2$ times the score of $p_\tau$.
#
# (b) Per pixel, with $\bar x = \mathbb E[x_d \mid \tilde x]$, the expected BCE is
# $-\bar x \log \hat x_d - (1 - \bar x) \log(1 - \hat x_d)$, because it is linear in $x_d$. Chapter 1's
# exercise 3 showed that this is smallest at $\hat x_d = \bar x$. So BCE and squared error have the
# same optimal denoiser.
#
# (c) By Bayes' rule, with $\mathcal N(\tilde x; x, \tau^2)$ the one-dimensional density,
#
# $$
# \begin{aligned}
# \mathbb E[x \mid \tilde x] = P(x = 1 \mid \tilde x)
#   &= \frac{\rho\, \mathcal N(\tilde x; 1, \tau^2)}{\rho\, \mathcal N(\tilde x; 1, \tau^2)
#     + (1 - \rho)\, \mathcal N(\tilde x; 0, \tau^2)} \\
#   &= \operatorname{sigmoid}\Big(\log \frac{\rho}{1 - \rho}
#     + \frac{2 \tilde x - 1}{2 \tau^2}\Big),
# \end{aligned}
# $$
#
# and $p_\tau(\tilde x) = \rho\, \mathcal N(\tilde x; 1, \tau^2) + (1 - \rho)\,
# \mathcal N(\tilde x; 0, \tau^2)$. The cell checks that both sides of Tweedie's formula
# agree to rounding error, for several $\rho$, $\tau$ and $\tilde x$. The denoised value is a
# soft vote between 0 and 1, not $\tilde x$ moved a little: for small $\tau$ the step
# $\tau^2 \nabla \log p_\tau$ is anything but small between the two modes.
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
# - Moran, P. A. P. (1950). Notes on continuous stochastic phenomena. *Biometrika*, 37(1/2),
#   17–23. {cite}`moran1950notes`
# - Efron, B. (2011). Tweedie's formula and selection bias. *Journal of the American
#   Statistical Association*, 106(496), 1602–1614. {cite}`efron2011tweedie`
# - Song, Y., & Ermon, S. (2019). Generative modeling by estimating gradients of the data
#   distribution. *NeurIPS*. {cite}`song2019generative`
# - Ho, J., Jain, A., & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS*.
#   {cite}`ho2020denoising`
