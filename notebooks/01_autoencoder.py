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
# # 1. The autoencoder
#
# **What you will learn.** How a network that squeezes a 784-pixel digit through two numbers and
# back learns a map of MNIST, how it compares with PCA, the best *linear* map of the same size,
# and why that map, good as it is at reconstruction, does not by itself *generate* digits: it
# names no distribution to draw codes from. That gap is the reason for the variational
# autoencoder of the chapters that follow.

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
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sklearn.metrics import ConfusionMatrixDisplay

from vaebook import analysis, plots, pretrained
from vaebook.data import load_mnist
from vaebook.losses import bce_loss, mse_loss
from vaebook.models import Autoencoder
from vaebook.randomness import book_seed, seed_everything
from vaebook.training import evaluate, pick_device, train

SEED = book_seed()  # $VAEBOOK_SEED, else 0
seed_everything(SEED)
device = pick_device()
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## The data
#
# MNIST holds 70,000 grey-scale images of handwritten digits, 28 × 28 pixels each, split into
# 60,000 for training and 10,000 for testing. We flatten every image into a vector
# $x \in [0, 1]^D$ with $D = 784$. `load_mnist` reads the files (downloading them once if
# needed), checks them against their known SHA-256 sums and returns in-memory tensors.

# %%
x_train, y_train = load_mnist("train")
x_test, y_test = load_mnist("test")
print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, "
      f"pixels in [{x_train.min():.0f}, {x_train.max():.0f}]")
plots.image_grid(x_train[:20], nrow=10, title="the first 20 training digits")

# %% [markdown]
# ## The idea
#
# An autoencoder is two functions trained together. The **encoder** $h_\phi$ maps an image to a
# short *code* $z = h_\phi(x) \in \mathbb{R}^K$. The **decoder** $g_\theta$ maps the code back to
# $D$ numbers, the *logits* $\ell = g_\theta(z)$, and the reconstruction is
# $\hat x = \operatorname{sigmoid}(\ell)$, one value in $(0, 1)$ per pixel. $\phi$ and $\theta$
# are the weights of the two networks. Nobody tells the network what the code should be: the
# only signal is that $\hat x$ must look like $x$. With $K = 2$ the code is a point in the
# plane, so we can *look at* what the network learned.
#
# Two reconstruction losses are common, each summed over the $D$ pixels and averaged over
# the data:
#
# $$
# \begin{aligned}
# \text{MSE}(x, \hat x) &= \sum_{d=1}^{D} (x_d - \hat x_d)^2, \\
# \text{BCE}(x, \hat x) &= -\sum_{d=1}^{D} \big[x_d \log \hat x_d
#   + (1 - x_d) \log (1 - \hat x_d)\big].
# \end{aligned}
# $$
#
# MSE is, up to a scale and a constant, the negative log-likelihood of a Gaussian with a fixed
# variance; BCE (binary cross-entropy) is that of a Bernoulli. BCE is computed from the logits
# directly, which avoids $\log 0$ when a pixel saturates.
#
# **What the BCE's "nats" mean here.** For a binary pixel, $x_d \in \{0, 1\}$, the BCE term is
# $-\log$ of the probability that a coin with heads-probability $\hat x_d$ gives $x_d$: a
# negative log-likelihood, in nats (natural logarithms, see the notation page). MNIST's pixels
# are grey, though. For a grey $x_d$ the same formula is the *cross-entropy* between two coins,
# with heads-probabilities $x_d$ and $\hat x_d$. It is still smallest at $\hat x_d = x_d$, but its
# minimum there is the entropy $-x_d \log x_d - (1 - x_d) \log(1 - x_d)$, not 0, and the
# Bernoulli formula is not a normalized density over grey values (exercise 3 shows both). So
# the BCE we train with below is a loss measured in nats, not the log-likelihood of an image.
# Chapter 5, which needs a real likelihood, binarizes the images first (its section "Why
# binarize"). How far from 0 is the floor? Even a *perfect* reconstruction, $\hat x = x$, pays
# the entropy of every grey pixel:

# %%
# BCE(x, x) = sum_d H(x_d), with H(v) = -v log v - (1 - v) log(1 - v)
# (xlogy gives 0 log 0 = 0), in float64.
grey = x_test.double()
pixel_entropy = -(torch.special.xlogy(grey, grey)
                  + torch.special.xlogy(1 - grey, 1 - grey))
bce_floor = pixel_entropy.sum(1).mean().item()
print(f"BCE of a perfect reconstruction: {bce_floor:.2f} nats per test image")

# %% [markdown]
# The networks are small multilayer perceptrons, 784 → 256 → 64 → 2 and back, with ReLU
# between the layers.

# %%
# The settings live in vaebook as a recipe, so that chapter 6 can rebuild
# the same model.
recipe = pretrained.recipe("chapter1_ae")
HIDDEN, K, EPOCHS = recipe.hidden, recipe.latent_dim, recipe.epochs
print(Autoencoder(hidden=HIDDEN, latent_dim=K))

# %% [markdown]
# ## Training
#
# We train one autoencoder with each loss, with Adam, mini-batches of 128 and the same seed. The
# bar shows the mean loss per image after the last epoch: on the test set for the final model,
# on the training set as the mean over that epoch's steps, while the model was still changing.

# %%
# tolerance: rtol=0.01 atol=0
# train(model, bce_loss, x_train, x_test=x_test, epochs=EPOCHS, seed=SEED),
# as in the next cell, and a copy of the trained model kept in vaebook's
# model cache.
ae_bce, history_bce = pretrained.train_recipe("chapter1_ae", x_train, x_test,
                                              device=device)

# %%
# tolerance: rtol=0.01 atol=0
seed_everything(SEED)
ae_mse = Autoencoder(hidden=HIDDEN, latent_dim=K)
history_mse = train(ae_mse, mse_loss, x_train, x_test=x_test, epochs=EPOCHS,
                    seed=SEED, device=device)

# %% [markdown]
# To compare training and test loss fairly, we score the final models on all 60,000 training and
# 10,000 test images (`evaluate`: the mean loss per image, without gradients).

# %%
# tolerance: rtol=0.01 atol=0
ae_bce.cpu().eval()
ae_mse.cpu().eval()
final = {name: (evaluate(model, loss, x_train), evaluate(model, loss, x_test))
         for name, model, loss in (("BCE", ae_bce, bce_loss),
                                   ("MSE", ae_mse, mse_loss))}
for name, (on_train, on_test) in final.items():
    print(f"{name} autoencoder, final model: train {on_train:.2f}, "
          f"test {on_test:.2f} per image")
floor_share = bce_floor / final["BCE"][1]
print(f"the floor is {floor_share:.3f} of the final test BCE")
fig = plots.plot_losses({"BCE autoencoder": history_bce},
                        ylabel="BCE per image (nats)")
fig.axes[0].axhline(bce_floor, ls=":", color="grey",
                    label="floor: BCE of a perfect reconstruction")
fig.axes[0].set_ylim(bottom=0)
fig.axes[0].legend()
fig

# %%
plots.plot_losses({"MSE autoencoder": history_mse},
                  ylabel="squared error per image")

# %% [markdown]
# **Check.** Both runs learned: the test loss of the last epoch is below 90% of that of the
# first. The final models' training and test losses are within 3% of each other: they do not
# overfit the 60,000 images. A perfect reconstruction would still
# pay between a quarter and a half of the BCE autoencoder's final test loss: the floor is a large
# part of the "nats" in the plot.

# %%
for history, (on_train, on_test) in zip((history_bce, history_mse),
                                        final.values(), strict=True):
    assert history.test[-1] < 0.9 * history.test[0]
    assert abs(on_train - on_test) < 0.03 * on_test
assert 0.25 < floor_share < 0.5

# %% [markdown]
# ## Against PCA
#
# Principal component analysis finds the $K$-dimensional linear subspace that keeps the most
# variance; projecting onto it and back is the best *linear* autoencoder with a $K$-number code,
# for the squared error (Baldi & Hornik, 1989). To compare both losses on one scale we measure
# the mean squared error per pixel on the test set.

# %%
# tolerance: rtol=0.02 atol=0.0001
pca = analysis.pca_reconstruction(x_train, x_test, latent_dim=K)
with torch.no_grad():
    recon = {
        "autoencoder (BCE)": ae_bce.decode(ae_bce.encode(x_test)),
        "autoencoder (MSE)": ae_mse.decode(ae_mse.encode(x_test)),
        "PCA": torch.as_tensor(pca, dtype=torch.float32),
    }
pixel_mse = {name: ((x_hat - x_test) ** 2).mean().item()
             for name, x_hat in recon.items()}
for name, value in pixel_mse.items():
    print(f"{name:18s} test MSE per pixel = {value:.4f}")

# %% [markdown]
# **Check.** With two numbers per image, both autoencoders reconstruct the test digits with
# at least 20% less squared error than PCA (the cell prints the smaller of the two gains). The
# two losses end close: the autoencoders' errors differ by less than 5% of the smaller one. What
# matters here is the nonlinearity, not the choice of loss.

# %%
# tolerance: rtol=0 atol=3
mse_bce = pixel_mse["autoencoder (BCE)"]
mse_mse = pixel_mse["autoencoder (MSE)"]
gain = 1 - max(mse_bce, mse_mse) / pixel_mse["PCA"]
print(f"both autoencoders' squared error is at least {gain:.0%} below PCA's")
assert gain > 0.2
assert abs(mse_bce - mse_mse) < 0.05 * min(mse_bce, mse_mse)

# %% [markdown]
# The first 12 test digits, and their reconstructions by each method:

# %%
plots.plot_rows([x_test[:12], *(x_hat[:12] for x_hat in recon.values())],
                ["input", "AE (BCE)", "AE (MSE)", "PCA"])

# %% [markdown]
# ## The map the encoder drew
#
# Every test image is now a point in the plane. Colour each point by its digit.

# %%
with torch.no_grad():
    z_train, z_test = ae_bce.encode(x_train), ae_bce.encode(x_test)
plots.plot_latent_scatter(z_test, y_test,
                          title="test codes of the BCE autoencoder")

# %% [markdown]
# The encoder has partly sorted the digits without ever seeing a label: some digits occupy
# territories of their own, others share a crowded core (the confusion matrix below shows
# which). Now walk over the rectangle that holds the training codes and decode a grid of
# points: this is the decoder's picture of its own latent space.
#
# The grid is even; the codes are not. In the scatter above, a few classes stretch out in long
# arms towards the rectangle's edges, the others share a crowded core a few units wide, and
# whole corners of the rectangle hold no code at all. To measure how unevenly, give each
# training code to the grid point nearest to it, and count how many grid points it takes to
# collect half of the codes (the most crowded first), and how many get no code at all. The
# control is as many points drawn uniformly at random over the same rectangle.

# %%
# tolerance: rtol=0.2 atol=2
low, high = z_train.min(0).values, z_train.max(0).values
box = (low[0].item(), high[0].item(), low[1].item(), high[1].item())
grid = plots.latent_grid(box, n=15)


def crowding(codes):
    """How many grid points are nearest to half of the codes (the most
    crowded first), and how many are nearest to none."""
    nearest = torch.cdist(codes, grid).argmin(1)
    counts = torch.bincount(nearest, minlength=len(grid))
    collected = counts.sort(descending=True).values.cumsum(0) / len(codes)
    return int((collected < 0.5).sum()) + 1, int((counts == 0).sum())


gen = torch.Generator().manual_seed(SEED)
uniform = low + (high - low) * torch.rand(z_train.shape, generator=gen)
(half, empty), (half_even, empty_even) = crowding(z_train), crowding(uniform)
print(f"grid points that collect half of the codes: {half} of {len(grid)} "
      f"({half_even} for uniform points); with no code: {empty} "
      f"({empty_even})")

# %% [markdown]
# **Check.** Half of the training codes crowd around fewer than a tenth of the grid's points,
# where uniform points need more than 40% of them, and more than a fifth of the grid points
# have no code near them at all (uniform points leave none empty).

# %%
assert half < 0.1 * len(grid) and half_even > 0.4 * len(grid)
assert empty > 0.2 * len(grid) and empty_even == 0

# %% [markdown]
# In the picture below, $z_1$ grows from left to right and $z_2$ from bottom to top, as in the
# scatter plot. Many grid points fall on the thin arms or in the empty corners, where the decoder still
# draws something, mostly the digit of the nearest arm. That is why the picture below shows
# almost only the few classes with arms (which ones changes from one training to the next): a
# plain autoencoder has no reason to fill its code plane evenly, and the classes share it out
# very unequally.

# %%
plots.plot_decoder_grid(ae_bce.decode, box, n=15)

# %% [markdown]
# ## What goes wrong
#
# The pictures are pretty. Three measurements show what the map keeps of the digits, and why
# it is not, by itself, a model we can generate digits from.
#
# **1. What this code keeps of the classes.** Look-alike digits share territory. An
# $m$-nearest-neighbour classifier ($m$-NN: a point gets the most common digit among its $m$
# nearest training points; here $m = 5$) in the 2-D code space tells how well this code keeps
# the classes apart, compared with the same classifier on the raw pixels. Both are fitted on the
# first 10,000 training images and scored on the first 2,000 test images, to keep the pixel
# version quick.

# %%
# tolerance: rtol=0.04 atol=0
m, N_FIT, N_SCORE = 5, 10_000, 2_000
fit, score = slice(0, N_FIT), slice(0, N_SCORE)
knn_codes = analysis.knn_accuracy(z_train[fit], y_train[fit],
                                  z_test[score], y_test[score], m=m)
knn_pixels = analysis.knn_accuracy(x_train[fit], y_train[fit],
                                   x_test[score], y_test[score], m=m)
print(f"{m}-NN accuracy: 2-D codes {knn_codes:.3f}, "
      f"784 pixels {knn_pixels:.3f}")

# %% [markdown]
# **Check.** This encoder's 2-D code loses at least 10 points of accuracy against the pixels.
# That is a property of this code, not a limit of two dimensions: chapter 6 draws a
# two-dimensional map of the pixels (t-SNE) on which the same classifier does about as well as
# on the pixels themselves. (That map is not an encoder: it places the very images it is scored
# on, and cannot place a new one. It shows that two numbers *can* keep the classes apart.) The autoencoder's loss asks for reconstructions, not for separated
# classes, and its code merges some of them.

# %%
assert knn_codes < knn_pixels - 0.10

# %% [markdown]
# Which digits does the code classifier mix up? The confusion matrix shows, for each true digit
# (a row), where its test codes land. Rather than read off which pair is worst, we ask a
# question about groups:
# what share of the errors stays inside two groups of digits that look alike on paper, 4, 7 and
# 9 (a stroke under a closed or open top) and 3, 5 and 8 (bellies on the right)? The share alone
# would mislead if these six digits were simply the ones most often wrong, or most often
# predicted wrongly. So we compare it with a control: the share expected if an error's true and
# predicted digits were drawn independently, each from its own share of the errors (the product
# of the two shares, renormalized over the pairs of different digits).

# %%
# tolerance: rtol=0 atol=5
predicted = analysis.knn_predict(z_train[fit], y_train[fit], z_test[score],
                                 m=m)
truth = y_test[score].numpy()
LOOK_ALIKE = ({4, 7, 9}, {3, 5, 8})
group = np.full(10, -1)
for index, digits in enumerate(LOOK_ALIKE):
    group[list(digits)] = index
# inside[t, p]: an error (true t, predicted p) that stays inside a group
inside = (group[:, None] == group[None, :]) & (group[:, None] >= 0)
np.fill_diagonal(inside, False)

fig = Figure(figsize=(6, 5.3))
ConfusionMatrixDisplay.from_predictions(
    truth, predicted, normalize="true", values_format=".0%", colorbar=False,
    ax=fig.subplots(), text_kw={"fontsize": 8})
fig.axes[0].set(title=f"{m}-NN on the 2-D codes: rows sum to 100%\n"
                "(red: errors inside a look-alike group)",
                xlabel="predicted digit", ylabel="true digit")
for t, p in zip(*np.nonzero(inside), strict=True):
    fig.axes[0].add_patch(Rectangle((p - 0.5, t - 0.5), 1, 1, fill=False,
                                    edgecolor="red", linewidth=1.5))


def look_alike_shares(truth, predicted):
    """The share of the errors that stay inside a look-alike group, and the
    control's share."""
    wrong = predicted != truth
    share = inside[truth[wrong], predicted[wrong]].mean()
    # control: true and predicted digit of an error drawn independently,
    # each with its frequency among the errors (and true != predicted)
    independent = np.outer(np.bincount(truth[wrong], minlength=10),
                           np.bincount(predicted[wrong], minlength=10))
    np.fill_diagonal(independent, 0)
    return share, independent[inside].sum() / independent.sum()


share, share_control = look_alike_shares(truth, predicted)
# standard errors from a bootstrap over the 2,000 test images
picks = np.random.default_rng(SEED).integers(len(truth),
                                             size=(1000, len(truth)))
again = np.array([look_alike_shares(truth[i], predicted[i]) for i in picks])
share_se = again[:, 0].std(ddof=1)
margin_se = (again[:, 0] - again[:, 1]).std(ddof=1)
print(f"errors inside a look-alike group: {share:.0%} ± {share_se:.0%} "
      f"of all errors; {share_control:.0%} if the predicted digit did not "
      f"depend on the true one; difference {share - share_control:.0%} "
      f"± {margin_se:.0%}")
fig

# %% [markdown]
# **Check.** More than half of all errors stay inside the two look-alike groups, at least 20
# points more than the control, each with three standard errors to spare (from a bootstrap
# over the 2,000 test images, which recomputes the control in every resample): the code does
# not scatter digits at random, it merges the ones that share strokes.

# %%
assert share - 3 * share_se > 0.5
assert share - share_control - 3 * margin_se > 0.2

# %% [markdown]
# **2. No distribution to draw codes from.** To *generate* a digit we would draw a code and
# decode it. Drawn from what? The autoencoder does not say. Its loss involves reconstructions
# only, so it defines no density on $z$ to draw codes from, and no likelihood $p(x)$ of an
# image. We have to pick a distribution ourselves and ask whether the codes follow it. Two
# choices come to mind: the uniform distribution on the rectangle that holds the training codes,
# and the Gaussian $\mathcal N(\mu, \Sigma)$ with the training codes' mean $\mu$ and covariance
# matrix $\Sigma$.
#
# A **two-sample comparison** (`analysis.empty_draws`) answers the question. Draw 2,000 points from the chosen
# distribution and measure how far each is from its nearest training code; do the same for the
# test codes, which follow the codes' distribution whatever it is. Call a draw *empty* when its
# distance to the nearest training code is larger than the 99th percentile of the same distance
# over the test codes: only 1% of test codes are that far from their nearest training code. If the codes followed the chosen
# distribution, a draw would be just another test code, and about 1% of the draws would be
# empty. Distances in the code plane have no unit of their own (an encoder that doubled every
# code, followed by a decoder that halved its input, would be the same autoencoder), which is why
# the threshold comes from the test codes and not from a fixed number.
#
# A test needs a **control** that must pass it: we run the same comparison on codes that follow
# $\mathcal N(\mu, \Sigma)$ by construction, 60,000 "training" and 10,000 "test" codes drawn from
# it.

# %%
# tolerance: rtol=0 atol=8
# (percentage points: the rectangle hangs on the most extreme training codes;
# its empty share moved from 60% to 55% between two CPUs, with the same seed)
generator = torch.Generator().manual_seed(SEED)
mu, chol = z_train.mean(0), torch.linalg.cholesky(torch.cov(z_train.T))


def from_gaussian(n):
    """n draws from N(mu, Sigma), Sigma = chol chol^T."""
    return mu + torch.randn(n, K, generator=generator) @ chol.T


def from_rectangle(n, codes):
    """n draws from the uniform distribution on the codes' rectangle."""
    low, high = codes.min(0).values, codes.max(0).values
    return low + (high - low) * torch.rand(n, K, generator=generator)


control_train, control_test = from_gaussian(60_000), from_gaussian(10_000)
z_draws = from_gaussian(2_000)
empty = {
    ("rectangle", "autoencoder"): analysis.empty_draws(
        z_train, z_test, from_rectangle(2_000, z_train)),
    ("rectangle", "control"): analysis.empty_draws(
        control_train, control_test, from_rectangle(2_000, control_train)),
    ("Gaussian", "autoencoder"): analysis.empty_draws(z_train, z_test,
                                                      z_draws),
    ("Gaussian", "control"): analysis.empty_draws(
        control_train, control_test, from_gaussian(2_000)),
}
empty_share = {key: value.mean() for key, value in empty.items()}
print("empty draws     autoencoder codes   control codes")
for source in ("rectangle", "Gaussian"):
    print(f"{source:15s} {empty_share[source, 'autoencoder']:17.0%} "
          f"{empty_share[source, 'control']:15.0%}")

# %% [markdown]
# **Check.** When the codes follow the distribution drawn from, the share of empty draws is
# about 1%, with a standard error that comes from the 2,000 draws and from the 99% quantile
# estimated on 10,000 test codes. A share more than five standard errors above 1% fails the
# comparison. The control passes; the autoencoder's codes fail, with several times the expected
# share. The rectangle, on the other hand, is more than 40% empty for both: the rectangle around
# a sample with tails is mostly empty even when the sample follows a Gaussian exactly, so an
# empty rectangle says nothing about whether the codes follow a distribution we could draw from.
# The Gaussian comparison is the one that separates the two, and it is the one a variational
# autoencoder is trained to pass (chapter 5 runs it on one).

# %%
# 1% plus five standard errors: sqrt(0.01 * 0.99 * (1 / 2,000 + 1 / 10,000))
failing = analysis.empty_share_limit(n_draws=2_000, n_test=10_000)
print(f"a share of empty draws above {failing:.1%} fails")
assert empty_share["Gaussian", "control"] < failing
assert empty_share["Gaussian", "autoencoder"] > max(failing, 3 * 0.01)
assert min(empty_share["rectangle", source]
           for source in ("autoencoder", "control")) > 0.4

# %% [markdown]
# **3. What the decoder makes of the draws.** Decode a draw and encode the image again: near the
# codes the round trip $z \mapsto h_\phi(\operatorname{sigmoid}(g_\theta(z)))$ comes back close
# to where it started; elsewhere the decoder draws an image that the encoder may place somewhere
# else on the map. Take all 2,000 Gaussian draws above, empty or not, and 2,000 test codes, and
# measure how far each round trip goes. If the draws behaved like codes, one in ten of them would
# go farther than nine in ten test codes do.

# %%
# tolerance: rtol=0 atol=12
# (shares of 2,000 draws from a retrained model: they moved by up to 8
# points between two trainings with the same seed on another CPU's maths)
z_real = z_test[:2_000]
with torch.no_grad():
    from_draws = ae_bce.decode(z_draws)
    trip_draws = (ae_bce.encode(from_draws) - z_draws).norm(dim=1)
    trip_real = (ae_bce.encode(ae_bce.decode(z_real)) - z_real).norm(dim=1)
long_trip = (trip_draws > torch.quantile(trip_real, 0.9)).numpy()
empty_ae = empty["Gaussian", "autoencoder"]
print(f"round trips longer than 9 in 10 test codes' round trips: "
      f"{long_trip.mean():.0%} of the draws, "
      f"{long_trip[~empty_ae].mean():.0%} of those that are not empty")
fig = plots.image_grid(from_draws[:20], nrow=10, title=(
    "decoded from the first 20 Gaussian draws\n"
    "(red: round trip longer than 9 in 10 test codes')"))
plots.frame_tiles(fig.axes[0], np.flatnonzero(long_trip[:20]), nrow=10)

# %%
# tolerance: rtol=0 atol=30
# (a share of the few hundred empty draws, which depends on where training
# left the empty regions: 89% and 72% from two trainings with the same seed
# on two CPUs' maths, 65% and 66% under seeds 1 and 2)
print(f"long round trips among the empty draws: "
      f"{long_trip[empty_ae].mean():.0%}")

# %% [markdown]
# **Check.** The share of draws that go farther than nine in ten test codes is more than three
# standard errors above the 10% expected if they behaved like codes (the standard error comes
# from the number of draws and from the 90% quantile estimated on 2,000 test codes). For the
# empty draws a long trip is partly built in: the encoder places a decoded digit among the codes,
# so a draw far from every code rarely comes back close to itself, and their share of long trips
# is more than three standard errors above the other draws' share. How far above depends on
# where training left the empty regions, so this share moves more than the others from one
# training to the next (the second printed line). The draws that are not empty
# have no such excuse, and their share of long trips, too, is more than three standard errors
# above 10%: between the codes, the decoder draws images, many of them digit-like, that the
# encoder files elsewhere on the map. What the decoder draws at such a point says little about
# that point.

# %%
def above_expected(is_long, expected=0.1, n_test=2_000):
    """Is the share of long trips more than 3 standard errors above
    `expected`? (The standard error of a share beyond a quantile estimated
    on n_test codes, as for the empty draws.)"""
    return is_long.mean() > analysis.empty_share_limit(
        len(is_long), n_test, level=1 - expected, n_se=3)


def share_gap_in_standard_errors(a, b):
    """(share in a - share in b) over its standard error, a and b being two
    disjoint groups of draws."""
    p, q = a.mean(), b.mean()
    return (p - q) / np.sqrt(p * (1 - p) / len(a) + q * (1 - q) / len(b))


assert above_expected(long_trip)
assert above_expected(long_trip[~empty_ae])
assert share_gap_in_standard_errors(long_trip[empty_ae],
                                    long_trip[~empty_ae]) > 3

# %% [markdown]
# ## Why this calls for a variational autoencoder
#
# The gap is not that the plane has empty parts: a rectangle around codes that do follow a
# Gaussian is more than 40% empty too. The gap is that an autoencoder defines no density on $z$ to draw
# codes from and no likelihood $p(x)$ to score an image, so it is not, by itself, a generative
# model.
# One can fit a density to its codes after training and draw from that instead (Ghosh et al.,
# 2020, and chapter 8, which fits Gaussian mixtures to a VAE's codes); the single Gaussian above
# is the simplest such fit, and the codes do not follow it. A variational autoencoder (Kingma &
# Welling, 2014) builds both into the model. It fixes a prior $p(z) = \mathcal N(0, I)$ ($I$ the $K \times K$ identity) to draw
# codes from, reads the decoder as a likelihood $p_\theta(x \mid z)$, so that
# $p_\theta(x) = \int p(z)\, p_\theta(x \mid z)\, dz$ is a density of images, makes the encoder
# output a *distribution* $q_\phi(z \mid x)$ rather than a point, and trains on a lower bound of
# $\log p_\theta(x)$ whose KL term pulls every $q_\phi(z \mid x)$ toward the prior, so that the
# codes fill the region the prior draws from. Chapter 3 derives that loss; chapter 5 trains it.
#
# ## Summary
#
# - An autoencoder learns a code by reconstruction alone; with $K = 2$ it partly sorts MNIST by
#   digit without labels.
# - Nonlinear encoders and decoders beat PCA, the best linear autoencoder, by more than 20% in
#   squared error at the same $K$; BCE and MSE training end within 5% of each other.
# - BCE on grey pixels is a loss in nats, not a log-likelihood: even a perfect reconstruction
#   pays the entropy of the grey pixels, and the formula is not a normalized density over grey
#   values. Chapter 5 binarizes for that reason.
# - This encoder's 2-D code keeps the classes less well apart than the pixels (a property of
#   the code, not of two dimensions) and merges look-alike digits.
# - An autoencoder defines no density on $z$ and no likelihood: its codes fail a two-sample
#   comparison with the Gaussian fitted to them, which codes drawn from that Gaussian pass, and
#   its decoder's images at the Gaussian's draws are often filed elsewhere by its encoder. It is
#   not, by itself, a generative model.

# %% [markdown]
# ## Exercises
#
# 1. Train with $K = 10$ and compare the test MSE per pixel with PCA at $K = 10$. Does the
#    nonlinear autoencoder's advantage survive a larger code? *Hint:*
#    `Autoencoder(hidden=HIDDEN, latent_dim=10)`, trained as `ae_bce` was (`bce_loss`), and
#    `analysis.pca_reconstruction(x_train, x_test, latent_dim=10)`; two epochs are enough to answer.
# 2. Remove every nonlinearity: a *linear* autoencoder $\hat x = W_2 (W_1 x + c_1) + c_2$ with
#    $K = 2$, trained on the squared error. Does its test error approach PCA's, beat it, or stay
#    above? *Hint:* `losses.mse_loss` applies a sigmoid to the decoder's output, so write the
#    model and the loss yourself:
#    `torch.nn.Sequential(torch.nn.Linear(784, 2), torch.nn.Linear(2, 784))`, and
#    `def squared_error(model, x, generator=None): return ((model(x) - x) ** 2).sum(-1).mean()`;
#    `vaebook.training.train` accepts both (three epochs with `lr=1e-2` suffice). Baldi & Hornik
#    (1989) predict the answer.
# 3. Take one grey pixel, $x_d \in [0, 1]$. (a) Show that its BCE term,
#    $-x_d \log \hat x_d - (1 - x_d) \log(1 - \hat x_d)$, is smallest at $\hat x_d = x_d$, and that
#    the minimum is the entropy $-x_d \log x_d - (1 - x_d) \log(1 - x_d)$. (b) Show that the
#    Bernoulli formula $\hat x_d^{\,x_d} (1 - \hat x_d)^{1 - x_d}$, read as a function of a grey
#    $x_d$, is not a probability density on $[0, 1]$: compute its integral. *Hint:* for (a),
#    differentiate in $\hat x_d$ and look at the sign of the derivative; for (b), write
#    $\hat x_d^{\,x_d} (1 - \hat x_d)^{1 - x_d} = (1 - \hat x_d)\, e^{x_d \ell_d}$ with the logit
#    $\ell_d = \log \frac{\hat x_d}{1 - \hat x_d}$.

# %% [markdown]
# ## Solutions
#
# ### Solution 1
#
# :::{dropdown} Solution
# A code of ten numbers holds far more than two, so both errors fall, and the question is
# whether the nonlinear encoder still beats the best linear one. The cell below trains the
# $K = 10$ autoencoder for only two epochs (against the chapter's ten), which handicaps it; it
# still ends with at least 15% less squared error than PCA with ten components, and below the
# $K = 2$ autoencoder by far: the nonlinearity keeps paying at $K = 10$.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.03 atol=0.0001
seed_everything(SEED)
ae10 = Autoencoder(hidden=HIDDEN, latent_dim=10)
train(ae10, bce_loss, x_train, epochs=2, seed=SEED, device=device,
      progress=False)
ae10.cpu().eval()
with torch.no_grad():
    x_hat10 = ae10.decode(ae10.encode(x_test))
mse_ae10 = ((x_hat10 - x_test) ** 2).mean().item()
pca10 = analysis.pca_reconstruction(x_train, x_test, latent_dim=10)
mse_pca10 = ((torch.as_tensor(pca10, dtype=torch.float32) - x_test) ** 2
             ).mean().item()
print(f"K = 10: autoencoder {mse_ae10:.4f}, PCA {mse_pca10:.4f} "
      f"(K = 2: autoencoder {mse_bce:.4f}, PCA {pixel_mse['PCA']:.4f})")
assert mse_ae10 < 0.85 * mse_pca10
assert mse_ae10 < 0.75 * mse_bce

# %% [markdown]
# ### Solution 2
#
# :::{dropdown} Solution
# Baldi & Hornik (1989) showed that for the squared error a linear autoencoder with a $K$-number
# code has no local minima other than the global one, and that at the global minimum
# $W_2 W_1$ projects (after centring, which the biases $c_1, c_2$ learn) onto the span of the
# top $K$ principal components: the same reconstruction as PCA. The weights themselves are not
# unique: for any invertible $K \times K$ matrix $A$, $W_2 A^{-1}$, $A W_1$ and $A c_1$ give the
# same map, so the linear code is PCA's code up to an invertible affine change of coordinates. On the
# training set PCA is therefore a floor the linear autoencoder can only approach; on the test
# set it is nearly one. The cell below trains it for three epochs: its test error ends within 3%
# of PCA's and not below 99% of it. The gain of the chapter's autoencoders over PCA (more than 20%,
# printed and checked in "Against PCA") comes from the nonlinearities, not from training with gradients.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0.0001
def squared_error(model, x, generator=None):
    """Plain squared error of the raw output, summed over pixels."""
    return ((model(x) - x) ** 2).sum(-1).mean()


torch.manual_seed(SEED)
linear_ae = torch.nn.Sequential(torch.nn.Linear(784, K),
                                torch.nn.Linear(K, 784))
train(linear_ae, squared_error, x_train, epochs=3, lr=1e-2, seed=SEED,
      device=device, progress=False)
linear_ae.cpu()
with torch.no_grad():
    mse_linear = ((linear_ae(x_test) - x_test) ** 2).mean().item()
print(f"test MSE per pixel: linear autoencoder {mse_linear:.4f}, "
      f"PCA {pixel_mse['PCA']:.4f}")
assert 0.99 * pixel_mse["PCA"] < mse_linear < 1.03 * pixel_mse["PCA"]

# %% [markdown]
# ### Solution 3
#
# :::{dropdown} Solution
# (a) Write $x = x_d$ and $\hat x = \hat x_d$. The derivative of the pixel's loss
# $\text{BCE}_d(\hat x) = -x \log \hat x - (1 - x) \log(1 - \hat x)$ is
#
# $$
# \text{BCE}_d'(\hat x) = -\frac{x}{\hat x} + \frac{1 - x}{1 - \hat x}
#            = \frac{\hat x - x}{\hat x (1 - \hat x)},
# $$
#
# negative for $\hat x < x$ and positive for $\hat x > x$, so $\text{BCE}_d$ is smallest at $\hat x = x$,
# where it equals $-x \log x - (1 - x) \log(1 - x)$, the entropy of a coin with
# heads-probability $x$. It is 0 only for a black or white pixel ($x \in \{0, 1\}$, with
# $0 \log 0 = 0$), and largest, $\log 2 \approx 0.69$ nats, for $x = \tfrac12$. Summed over the
# pixels of an image this is the floor printed in the chapter.
#
# (b) With $\ell = \log \frac{\hat x}{1 - \hat x}$, $\hat x^{x} (1 - \hat x)^{1 - x}
# = (1 - \hat x) \big(\frac{\hat x}{1 - \hat x}\big)^{x} = (1 - \hat x)\, e^{x \ell}$, so
#
# $$
# \int_0^1 \hat x^{x} (1 - \hat x)^{1 - x} \, dx = (1 - \hat x) \frac{e^{\ell} - 1}{\ell}
#   = \frac{2 \hat x - 1}{\ell},
# $$
#
# and $\tfrac12$ at $\hat x = \tfrac12$ ($\ell \to 0$).
#
# This is at most $\tfrac12$ (it falls towards 0 as $\hat x$ moves to 0 or 1), never 1: on grey
# values the formula is not a density. Making it one takes a normalizing constant
# $C(\ell) = \ell / (2 \hat x - 1) \ge 2$ that depends on $\hat x$, the *continuous Bernoulli*
# (Loaiza-Ganem & Cunningham, 2019). Minimizing BCE ignores $C$, so BCE values on grey images
# are losses, not log-likelihoods, and comparing models by them is not comparing likelihoods.
# On binary pixels the formula sums to 1 over $x \in \{0, 1\}$, which is why chapter 5
# binarizes. The cell checks (a) by minimizing the pixel's loss numerically, and (b) by numerical
# integration; it also shows that PyTorch's binary cross-entropy gives the floor printed above (a
# demonstration of the formula in another library, not a check of the claim).
# :::

# %% tags=["hide-cell"]
from scipy import optimize, stats

# (a) for a few grey levels x, a numerical minimizer of BCE_d finds
# x_hat = x, and the minimum is the coin's entropy as scipy computes it
for x in (0.05, 0.3, 0.5, 0.8):
    found = optimize.minimize_scalar(
        lambda x_hat, x=x: -x * np.log(x_hat) - (1 - x) * np.log(1 - x_hat),
        bounds=(1e-9, 1 - 1e-9), method="bounded",
        options={"xatol": 1e-10})
    assert abs(found.x - x) < 1e-5
    assert abs(found.fun - stats.entropy([x, 1 - x])) < 1e-9
# ... (a demonstration) PyTorch's BCE of x_hat = x (clamped away from 0
# and 1, as a sigmoid never reaches them) on the test set is the floor
# printed above
x_hat = grey.clamp(1e-12, 1 - 1e-12)
bce_at_x = torch.nn.functional.binary_cross_entropy(
    x_hat, grey, reduction="none").sum(1).mean()
assert abs(bce_at_x.item() - bce_floor) < 1e-6
# (b) the integral over grey x of x_hat^x (1 - x_hat)^(1 - x), by the
# trapezoidal rule, against (2 x_hat - 1) / logit(x_hat)
level = torch.linspace(0, 1, 20_001, dtype=torch.float64)  # grey x_d
for x_hat in (0.1, 0.3, 0.7, 0.99):
    formula = x_hat**level * (1 - x_hat) ** (1 - level)
    integral = torch.trapezoid(formula, level).item()
    closed_form = (2 * x_hat - 1) / np.log(x_hat / (1 - x_hat))
    assert abs(integral - closed_form) < 1e-8 and integral < 0.5
print("BCE(x, x) = pixel entropy; the Bernoulli formula integrates to <= 1/2")

# %% [markdown]
# ## References
#
# - Rumelhart, D. E., Hinton, G. E., & Williams, R. J. (1986). Learning representations by
#   back-propagating errors. *Nature*, 323, 533–536. {cite}`rumelhart1986learning`
# - Baldi, P., & Hornik, K. (1989). Neural networks and principal component analysis: learning
#   from examples without local minima. *Neural Networks*, 2(1), 53–58. {cite}`baldi1989neural`
# - Hinton, G. E., & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with
#   neural networks. *Science*, 313(5786), 504–507. {cite}`hinton2006reducing`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
# - Loaiza-Ganem, G., & Cunningham, J. P. (2019). The continuous Bernoulli: fixing a pervasive
#   error in variational autoencoders. *NeurIPS*. {cite}`loaizaganem2019continuous`
# - Ghosh, P., Sajjadi, M. S. M., Vergari, A., Black, M., & Schölkopf, B. (2020). From variational
#   to deterministic autoencoders. *ICLR*. {cite}`ghosh2020variational`
