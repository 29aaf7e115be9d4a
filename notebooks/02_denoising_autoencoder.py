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
# **What you will learn.** Why an autoencoder with room to spare can learn something close to the
# identity, how corrupting its input (Vincent et al., 2008) forces it to learn the structure of the
# data instead, and how well the result removes noise compared with a plain autoencoder and with a
# classical median filter, measured in PSNR against the clean images.

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
import torch
from matplotlib.figure import Figure
from scipy.ndimage import median_filter

from vaebook import plots, pretrained
from vaebook.corruption import gaussian_noise, masking_noise, psnr, salt_and_pepper
from vaebook.data import load_mnist
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
# keep only what matters. Give it more room, here 64 numbers, and a plain autoencoder can
# reconstruct well by copying a lot of the input through, noise and all: a low training loss
# says little about whether it learned what digits look like.
#
# Vincent, Larochelle, Bengio & Manzagol (2008) changed the task instead of the architecture:
# corrupt the input with a random process $C(\tilde x \mid x)$ and ask the network to reconstruct
# the *clean* image,
#
# $$ \min_{\theta, \phi}\ \mathbb E_{x}\, \mathbb E_{\tilde x \sim C(\cdot \mid x)} \big[\text{BCE}\big(x,\ g_\theta(f_\phi(\tilde x))\big)\big]. $$
#
# Copying is now useless, since the input is wrong; the network has to know which images are
# plausible and move $\tilde x$ toward them. `vaebook.corruption` has three processes.

# %%
x_train, _ = load_mnist("train")
x_test, y_test = load_mnist("test")
g = torch.Generator().manual_seed(SEED)
examples = x_test[:8]
plots.plot_rows([examples, gaussian_noise(examples, 0.5, g), masking_noise(examples, 0.5, g),
                 salt_and_pepper(examples, 0.3, g)],
                ["clean", "Gaussian 0.5", "masking 0.5", "salt & pepper 0.3"])

# %% [markdown]
# ## Two autoencoders of the same size
#
# Both are 784 → 512 → 64 → 512 → 784 with ReLU, trained for 6 epochs with the BCE of chapter 1.
# The plain one sees clean images; the denoising one sees images with Gaussian noise of standard
# deviation 0.5 (clipped to $[0, 1]$) and must output the clean image.

# %%
# The denoising autoencoder's recipe is kept in vaebook, so chapter 6 can rebuild the same model.
recipe = pretrained.RECIPES["chapter2_dae"]
print(recipe)
TRAIN_STD, EPOCHS = recipe.noise_std, recipe.epochs

seed_everything(SEED)
models = {"plain AE": Autoencoder(hidden=recipe.hidden, latent_dim=recipe.latent_dim)}
train(models["plain AE"], bce_loss, x_train, epochs=EPOCHS, seed=SEED, device=device)
models["plain AE"].cpu().eval()
# The same training with losses.denoising_bce_loss (BCE of the clean image reconstructed from
# the noisy one); it also keeps a copy in the model cache.
models["denoising AE"], _ = pretrained.train_recipe("chapter2_dae", x_train, device=device)

# %% [markdown]
# ## Denoising, measured
#
# For several noise levels we corrupt the first 2,000 test images once (fixed seed) and measure the
# peak signal-to-noise ratio $\mathrm{PSNR} = 10 \log_{10}(1/\mathrm{MSE})$ against the clean image,
# in decibels (higher is better), of: the noisy image itself, a 3 × 3 median filter of it (a
# classical, non-learned denoiser), the plain autoencoder fed the noisy image, and the denoising
# autoencoder.

# %%
def median3(images):
    squares = images.reshape(-1, 28, 28).numpy()
    return torch.as_tensor(median_filter(squares, size=(1, 3, 3))).reshape(len(images), -1)


clean = x_test[:2000]
levels = [0.1, 0.3, 0.5, 0.7]
methods = ["noisy input", "median filter", "plain AE", "denoising AE"]
table = {method: [] for method in methods}
for std in levels:
    noisy = gaussian_noise(clean, std, torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        outputs = {"noisy input": noisy, "median filter": median3(noisy),
                   "plain AE": models["plain AE"].decode(models["plain AE"].encode(noisy)),
                   "denoising AE": models["denoising AE"].decode(models["denoising AE"].encode(noisy))}
    for method in methods:
        table[method].append(psnr(clean, outputs[method]).mean().item())

print(f"{'Gaussian std':14s}" + "".join(f"{std:>8.1f}" for std in levels))
for method in methods:
    print(f"{method:14s}" + "".join(f"{value:8.2f}" for value in table[method]))

fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
for method in methods:
    ax.plot(levels, table[method], "o-", label=method)
ax.set_xlabel("noise standard deviation")
ax.set_ylabel("PSNR against the clean image (dB)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# **Check.** From a noise level of 0.3 up, the denoising autoencoder beats the plain autoencoder,
# the median filter and the noisy input by at least 1 dB each. (At 0.1 the plain autoencoder's
# own reconstruction error, not the noise, limits both networks.)

# %%
for i, std in enumerate(levels):
    if std >= 0.3:
        for method in ("noisy input", "median filter", "plain AE"):
            assert table["denoising AE"][i] > table[method][i] + 1, (std, method)

# %% [markdown]
# Noise it was never trained on is the harder test. Masking and salt-and-pepper noise at the same
# level, 30% of the pixels:

# %%
other = {"masking 0.3": masking_noise, "salt & pepper 0.3": salt_and_pepper}
other_table = {}
for label, process in other.items():
    noisy = process(clean, 0.3, torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        other_table[label] = {name: psnr(clean, model.decode(model.encode(noisy))).mean().item()
                              for name, model in models.items()}
    other_table[label]["median filter"] = psnr(clean, median3(noisy)).mean().item()
    print(f"{label:18s} " + "  ".join(f"{name} {value:5.2f} dB" for name, value in other_table[label].items()))

# %% [markdown]
# **Check.** On both kinds of noise it never saw, the denoising autoencoder still beats the plain
# one by at least 1 dB.

# %%
for label in other:
    assert other_table[label]["denoising AE"] > other_table[label]["plain AE"] + 1, label

# %%
noisy = gaussian_noise(x_test[:10], 0.5, torch.Generator().manual_seed(SEED))
with torch.no_grad():
    rows = [noisy] + [model.decode(model.encode(noisy)) for model in models.values()] + [x_test[:10]]
plots.plot_rows(rows, ["noisy (0.5)", "plain AE", "denoising AE", "clean"])

# %% [markdown]
# ## What the first layer learned
#
# Each of the 512 units of the first encoder layer computes a weighted sum of the 784 pixels; its
# weights, drawn as an image, show what it responds to. Scaled to $[0, 1]$ per unit:

# %%
def first_layer_filters(model, n=40):
    weights = model.encoder[0].weight.detach()[:n]
    low, high = weights.min(1, keepdim=True).values, weights.max(1, keepdim=True).values
    return (weights - low) / (high - low)


fig = Figure(figsize=(12, 2.6))
for ax, (name, model) in zip(fig.subplots(1, 2), models.items(), strict=True):
    plots.image_grid(first_layer_filters(model), nrow=10, ax=ax, title=name)
fig

# %% [markdown]
# Vincent et al. (2008) found that denoising training turns first-layer filters into stroke and
# edge detectors after long training on large networks. After six epochs here, compare the two
# sets yourself; this chapter makes no claim about them, and exercise 4 asks you to find a
# number that tells them apart.
#
# ## Where this leads
#
# A VAE is also a regularized autoencoder: its noise is injected in the code, $z = \mu + \sigma
# \odot \varepsilon$, rather than in the input, and the KL term sets how much (chapters 3 and 5).
# Denoising has a deeper connection too. Vincent (2011) showed that training a denoiser on
# Gaussian noise of small variance $\sigma^2$ estimates the *score* $\nabla_x \log p(x)$ of the data
# distribution, since the optimal denoiser moves $\tilde x$ by about $\sigma^2 \nabla_x \log p(\tilde x)$.
# Score matching across many noise levels (Song & Ermon, 2019) and denoising diffusion models
# (Ho, Jain & Abbeel, 2020) build image generators out of exactly this ingredient.
#
# ## Summary
#
# - A denoising autoencoder reconstructs clean images from corrupted ones; it cannot succeed by
#   copying its input.
# - Trained on Gaussian noise of standard deviation 0.5, it beats a plain autoencoder of the same
#   size and a median filter by more than 1 dB PSNR from noise level 0.3 up, and it also helps on
#   salt-and-pepper noise it never saw.
# - Corruption acts as a regularizer: the network must learn what digits look like, not how to
#   copy pixels.
#
# ## Exercises
#
# 1. Train the denoising autoencoder with masking noise instead. Which test noise does it handle
#    best now? *Hint:* swap `gaussian_noise` for `masking_noise` in `denoising_loss`.
# 2. Train with noise levels drawn at random between 0 and 0.7 for each batch. Does one model
#    cover all levels? *Hint:* draw the level with `torch.rand(())` inside the loss.
# 3. Compare the 64-number codes of both models with a $k$-nearest-neighbour classifier
#    (`vaebook.analysis.knn_accuracy`). Which code is more useful? Chapter 6 measures this for
#    every model in the book.
# 4. Find a number that tells the two sets of first-layer filters apart. *Hint:* try the fraction
#    of each filter's weight mass inside the central 20 × 20 pixels, or the filters' correlation
#    with the mean digit.
#
# ## References
#
# - Vincent, P., Larochelle, H., Bengio, Y., & Manzagol, P.-A. (2008). Extracting and composing
#   robust features with denoising autoencoders. *ICML*. {cite}`vincent2008extracting`
# - Vincent, P. (2011). A connection between score matching and denoising autoencoders. *Neural
#   Computation*, 23(7), 1661–1674. {cite}`vincent2011connection`
# - Song, Y., & Ermon, S. (2019). Generative modeling by estimating gradients of the data
#   distribution. *NeurIPS*. {cite}`song2019generative`
# - Ho, J., Jain, A., & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS*. {cite}`ho2020denoising`
