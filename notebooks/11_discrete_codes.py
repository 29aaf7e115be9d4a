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
# # 11. Discrete codes and the rate–distortion plane
#
# **What you will learn.** How to train a model whose codes are discrete, a choice among a few
# values rather than a point of $\mathbb R^K$: three ways to get a gradient through a random
# choice, measured against the exact gradient of a model small enough to enumerate; a VAE with
# categorical codes; the vector-quantized autoencoder (VQ-VAE) and how much of its codebook it
# uses. Then one picture for every model in the book so far: the *rate* (bits the code carries)
# against the *distortion* (bits the decoder still needs), where $\beta$, free bits, codebook
# sizes and chapter 9's coders each find their place.

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

from vaebook import pretrained
from vaebook.data import binarize_static, load_mnist, random_rows
from vaebook.discrete import (
    bias_and_variance,
    codebook_perplexity,
    dead_codes,
    enumerated_elbo,
    exact_gradient,
    gumbel_softmax_estimate,
    score_function_estimate,
    straight_through_estimate,
)
from vaebook.losses import categorical_elbo, rate_distortion, vq_rate_distortion
from vaebook.randomness import book_seed, seed_everything
from vaebook.training import pick_device

SEED = book_seed()  # $VAEBOOK_SEED, else 0
seed_everything(SEED)
device = pick_device()
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## 1. A gradient through a random choice
#
# **The problem.** Give the code $K$ discrete latents $z_1, \dots, z_K$, each one of $|\mathcal
# V|$ values, written as a one-hot vector $z_j \in \{0, 1\}^{|\mathcal V|}$. The approximate
# posterior picks each value with the probabilities $\operatorname{softmax}(\lambda_j)$, so
# $q_\lambda(z) = \prod_j \operatorname{Cat}(z_j; \operatorname{softmax}(\lambda_j))$, and the ELBO
# is $\mathcal L(\lambda) = \mathbb E_{q_\lambda}[f(z)]$ with $f(z) = \log p(x, z) - \log
# q_\lambda(z)$, as in chapters 4 and 7. Chapter 4's reparameterization trick wrote a Gaussian
# draw as a smooth function of its parameters, $z = \mu + \sigma \odot \varepsilon$. A discrete
# draw has no such function: nudging $\lambda$ changes *which* value is drawn only by jumps, and
# between jumps $z$ does not move at all, so $\partial z / \partial \lambda$ is 0 almost
# everywhere and the pathwise gradient says nothing. Three ways around it:
#
# - **The score function** (chapter 4) needs no derivative of $z$: $\nabla_\lambda \mathcal L =
#   \mathbb E_q[f(z)\, u(z)]$ with the score $u(z) = \nabla_\lambda \log q_\lambda(z)$, which for a
#   categorical is $z_j - \operatorname{softmax}(\lambda_j)$ in the block of $\lambda_j$. (The
#   term $\mathbb E_q[\nabla_\lambda f]$ that $f$'s own $-\log q_\lambda$ adds is $-\mathbb E_q[u] = 0$.)
#   From $S$ draws, $\hat g = \frac1S \sum_s (f(z_s) - b_s)\, u(z_s)$ with chapter 7's
#   control variate in its leave-one-out form: $b_s = \frac{1}{S - 1} \sum_{s' \ne s} f(z_{s'})$,
#   the mean of the *other* draws' $f$, which does not depend on $z_s$, so $\mathbb E[b_s\,
#   u(z_s)] = \mathbb E[b_s]\, \mathbb E[u(z_s)] = 0$: unbiased, whatever the draws.
# - **The Gumbel-softmax (concrete) relaxation** (Jang et al., 2017; Maddison et al., 2017).
#   The *Gumbel-max trick* writes an exact categorical draw as a function of noise: with
#   $\varepsilon_j$ a vector of independent standard Gumbel variables (each $-\log(-\log$ of a
#   uniform draw$)$), $\operatorname{one\_hot}(\arg\max(\lambda_j + \varepsilon_j))$ has the
#   distribution $\operatorname{Cat}(\operatorname{softmax}(\lambda_j))$. The argmax still has no
#   useful derivative, so replace it by a softmax at a *temperature* $t > 0$:
#
# $$
# \tilde z_j = \operatorname{softmax}\big((\lambda_j + \varepsilon_j) / t\big),
# $$
#
#   a point inside the simplex that is smooth in $\lambda_j$, and that tends to the one-hot draw
#   as $t \to 0$. The estimate is the pathwise gradient of $f$ evaluated at the relaxed $\tilde
#   z$ (the decoder takes $\tilde z$ as if it were one-hot, and $\log q$ is the categorical's,
#   $\sum_j \tilde z_j^\top \log \operatorname{softmax}(\lambda_j)$). It is *biased*: it is the exact
#   gradient of a different objective, the relaxed one. A high $t$ gives a smooth objective far
#   from the true one (large bias, small variance); a low $t$ gives an objective close to the
#   true one but nearly a step function, whose gradient is large where it is not 0, since
#   $\partial \tilde z / \partial \lambda$ scales as $1/t$ (small bias, large variance).
# - **Straight-through** (Bengio et al., 2013; Jang et al., 2017): use the exact one-hot draw in
#   the forward pass, so that $f$ is evaluated where the model actually is, and pretend in the
#   backward pass that it was the relaxed $\tilde z$. In code, $z = \operatorname{one\_hot} +
#   \tilde z - \operatorname{sg}[\tilde z]$, with $\operatorname{sg}$ the stop-gradient
#   (`detach`). It is the gradient of no objective at all, and biased at every $t$.
#
# **The test bench.** A model small enough to sum over: $K = 3$ latents of $|\mathcal V| = 4$
# values each, $4^3 = 64$ configurations, a uniform prior, and a decoder $p(x \mid z)$ that is
# Bernoulli over $D = 20$ pixels with logits $W \operatorname{vec}(z) + c$ (a random $W$ and $c$,
# and a random binary $x$ and random $\lambda$; none of it trained). vaebook's `enumerated_elbo`
# sums $q_\lambda(z) f(z)$ over all 64 configurations, and autograd through that sum gives the
# exact $\nabla_\lambda \mathcal L$. Each estimator then draws $M = 2{,}000$ independent estimates
# from $S = 4$ draws each, and we measure its **bias** $\lVert \bar g - \nabla_\lambda \mathcal L
# \rVert$ (with $\bar g$ the mean of the $M$ estimates; for an unbiased estimator it is only noise,
# of about $\sqrt{\sum_i \operatorname{Var}[\hat g_i] / M}$, which the printout gives beside it)
# and its **variance**, the mean over the 12 components of $\operatorname{Var}[\hat g_i]$.

# %%
torch.set_default_dtype(torch.float64)  # the toy's sums are exact to 1e-15
rng = torch.Generator().manual_seed(SEED)
K, VALUES, D = 3, 4, 20
W = 1.5 * torch.randn(D, K * VALUES, generator=rng)
c = torch.randn(D, generator=rng)
x = (torch.rand(D, generator=rng) < 0.5).double()
lam = torch.randn(K, VALUES, generator=rng)


def log_joint(z):
    """log p(x, z) for one-hot or relaxed codes z: (S, K, VALUES) -> (S,)."""
    logits = z.flatten(-2) @ W.T + c
    log_likelihood = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none").sum(-1)
    return log_likelihood - K * math.log(VALUES)  # uniform prior


exact = exact_gradient(log_joint, lam)
M, S = 2000, 4
estimators = {"score function": lambda: score_function_estimate(
    log_joint, lam, S, rng)}
TEMPERATURES = (0.1, 0.3, 1.0, 3.0)
for t in TEMPERATURES:
    estimators[f"Gumbel-softmax, t = {t}"] = (
        lambda t=t: gumbel_softmax_estimate(log_joint, lam, S, t, rng))
for t in (0.3, 1.0):
    estimators[f"straight-through, t = {t}"] = (
        lambda t=t: straight_through_estimate(log_joint, lam, S, t, rng))
error = {name: bias_and_variance(torch.stack([draw() for _ in range(M)]),
                                 exact)
         for name, draw in estimators.items()}
torch.set_default_dtype(torch.float32)
# tolerance: rtol=0.1 atol=0.02
print(f"exact gradient: norm {exact.norm():.2f}")
print(f"{'estimator':26s} {'bias':>6s} {'noise':>6s} {'variance':>9s}")
for name, e in error.items():
    print(f"{name:26s} {e.bias:6.3f} {e.bias_noise:6.3f} "
          f"{e.variance:9.4f}")

# %% [markdown]
# **Check.** The exact gradient is autograd through a sum of 64 terms; central finite differences
# of the same sum, one component of $\lambda$ at a time, must agree with it.

# %%
torch.set_default_dtype(torch.float64)
step, finite = 1e-5, torch.zeros_like(lam)
for index in range(lam.numel()):
    shift = torch.zeros(lam.numel()).index_fill_(0, torch.tensor(index), step)
    shift = shift.view_as(lam)
    finite.view(-1)[index] = (enumerated_elbo(log_joint, lam + shift)
                              - enumerated_elbo(log_joint, lam - shift)) / (2 * step)
torch.set_default_dtype(torch.float32)
print(f"largest difference from finite differences: "
      f"{(finite - exact).abs().max():.0e}")
assert torch.allclose(finite, exact, rtol=0, atol=1e-7)

# %% [markdown]
# The trade-off, drawn: each estimator is a point, its bias against its variance; the
# Gumbel-softmax points are joined in the order of their temperatures.

# %%
fig = Figure(figsize=(6.3, 4.2))
ax = fig.subplots()
relaxed = [error[f"Gumbel-softmax, t = {t}"] for t in TEMPERATURES]
ax.plot([e.variance for e in relaxed], [e.bias for e in relaxed], "o-",
        label="Gumbel-softmax")
for t, e in zip(TEMPERATURES, relaxed, strict=True):
    ax.annotate(f"t = {t:g}", (e.variance, e.bias), textcoords="offset points",
                xytext=(5, 5), fontsize=8)
for t in (0.3, 1.0):
    e = error[f"straight-through, t = {t}"]
    ax.plot(e.variance, e.bias, "s", color="C1",
            label="straight-through" if t == 0.3 else None)
    ax.annotate(f"t = {t:g}", (e.variance, e.bias), textcoords="offset points",
                xytext=(5, -10), fontsize=8)
e = error["score function"]
ax.plot(e.variance, e.bias, "D", color="C2", label="score function")
ax.plot(e.variance, e.bias_noise, "_", color="C2", markersize=14,
        label="score function: the bias noise alone gives")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("variance (mean over the 12 components)")
ax.set_ylabel("bias (norm of the mean's error)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %%
score = error["score function"]
assert score.bias < 3 * score.bias_noise  # unbiased: only noise
for low, high in zip(TEMPERATURES[1:], TEMPERATURES[2:]):
    a, b = error[f"Gumbel-softmax, t = {low}"], error[f"Gumbel-softmax, t = {high}"]
    assert a.bias + 3 * a.bias_noise < b.bias  # more bias at higher t
for low, high in zip(TEMPERATURES, TEMPERATURES[1:]):
    a, b = error[f"Gumbel-softmax, t = {low}"], error[f"Gumbel-softmax, t = {high}"]
    assert a.variance - 3 * a.variance_se > b.variance  # less variance
for t in (0.3, 1.0):
    st = error[f"straight-through, t = {t}"]
    assert st.bias > 3 * st.bias_noise  # biased
for t in (0.3, 1.0):
    st, gs = (error[f"{kind}, t = {t}"]
              for kind in ("straight-through", "Gumbel-softmax"))
    assert st.variance > gs.variance + 3 * st.variance_se
st, gs = error["straight-through, t = 1.0"], error["Gumbel-softmax, t = 1.0"]
assert st.bias > gs.bias + 3 * math.hypot(st.bias_noise, gs.bias_noise)

# %% [markdown]
# **What the bench shows.** The score function is unbiased: its bias is within the noise that
# 2,000 estimates leave (the short line in the figure), as the leave-one-out baseline promises.
# Its price is the variance, among the largest here even at this tiny size; chapter 4 showed
# how it grows with the number of dimensions. The relaxation trades one for the other along a
# curve: from $t = 3$ down to $t = 0.1$ its bias falls and its variance rises, each step by more
# than three standard errors. No temperature gets both small; the best lies in the middle.
# Straight-through, whose forward pass sees the true discrete code, pays for the mismatch of its
# two passes: at the same temperature its variance is larger than the relaxation's, and at
# $t = 1$ its bias too (at $t = 0.3$ the two biases are within noise of each other); the asserts
# check each comparison. None of this ranking is a
# theorem: it is one small model, and the next section asks whether it survives on MNIST.

# %% [markdown]
# ## 2. A VAE with categorical codes
#
# On MNIST the bench's lesson meets a real model: $K = 20$ latents of $|\mathcal V| = 10$ values
# each (a code of $20 \log_2 10 \approx 66$ bits at most), an encoder and a decoder with one
# hidden layer of 256 units, a uniform prior, trained for 2 epochs with the Gumbel-softmax and,
# separately, with straight-through, both at $t = 1$ (fixed in advance, not tuned). The KL term
# to the uniform prior has a closed form, $\sum_j [\operatorname{softmax}(\lambda_j)^\top \log
# \operatorname{softmax}(\lambda_j) + \log |\mathcal V|]$, so only the reconstruction term needs an
# estimator. Both are scored the same way, by the ELBO with exact one-hot draws, on 1,000 test
# images.

# %%
x_train, _ = load_mnist("train")
x_test, _ = load_mnist("test")
scored = random_rows(binarize_static(x_test, seed=SEED), 1000, seed=SEED)
models = {}
for name in ("gumbel_softmax", "straight_through"):
    models[name], _ = pretrained.train_recipe(
        f"chapter11_categorical_{name}", x_train, device=device)
rng = torch.Generator().manual_seed(SEED)
with torch.no_grad():
    categorical = {name: categorical_elbo(model.cpu(), scored, 100, rng)
                   for name, model in models.items()}
gain = categorical["gumbel_softmax"] - categorical["straight_through"]
gain_se = gain.std().item() / math.sqrt(len(gain))
# tolerance: rtol=0.02 atol=0.5
for name, value in categorical.items():
    print(f"{name:17s} test -ELBO {-value.mean():7.2f} ± "
          f"{value.std() / math.sqrt(len(value)):.2f}")
print(f"Gumbel-softmax better by {gain.mean():.2f} ± {gain_se:.2f} (paired)")

# %% [markdown]
# ## 3. The VQ-VAE: a codebook instead of a distribution
#
# The encoder outputs 8 vectors $h_\phi(x)$ of 16 numbers each, and each is replaced by the
# nearest vector $\mathbf b$ of a codebook $\mathcal B$ of $|\mathcal V|$ learned vectors. The
# code is deterministic: the approximate posterior puts all its mass on one configuration. The
# decoder sees the rounded vectors, the gradient skips the rounding (straight-through), and two
# terms train what rounding leaves untrained: the *codebook loss* $\lVert \operatorname{sg}[h_\phi(x)]
# - \mathbf b \rVert^2$ moves each used $\mathbf b$ towards the outputs assigned to it, and the
# *commitment loss* $\lVert h_\phi(x) - \operatorname{sg}[\mathbf b] \rVert^2$, with a weight,
# keeps the outputs near their codes, so the codebook does not chase an encoder that drifts.

# %%
vq = {}
for name in ("vq_16", "vq_64", "vq_256", "vq_64_commitment_0.25",
             "vq_64_commitment_0.5"):
    vq[name], _ = pretrained.train_recipe(f"chapter11_{name}", x_train,
                                          device=device)
usage = {}
with torch.no_grad():
    for name, model in vq.items():
        model = model.cpu()
        _, indices, _, _ = model(scored)
        uniform, empirical, distortion = vq_rate_distortion(model, scored)
        usage[name] = {"perplexity": codebook_perplexity(indices, model.n_codes),
                       "dead": dead_codes(indices, model.n_codes),
                       "codes": model.n_codes,
                       "rate": uniform.mean().item(),
                       "distortion": distortion.mean().item()}
# tolerance: rtol=0.1 atol=1
for name, u in usage.items():
    print(f"{name:22s} codes {u['codes']:4d} perplexity {u['perplexity']:6.1f} "
          f"dead {int(u['dead']):4d}  rate {u['rate']:5.1f} bits, distortion "
          f"{u['distortion']:6.1f} bits")

# %% [markdown]
# ## 4. The rate–distortion plane

# %%
gaussian = {}
for name in [f"beta_{b:g}" for b in (0.25, 0.5, 1, 2, 4, 8, 16)] + [
        f"freebits_{a:g}" for a in (0.25, 0.5, 1)]:
    model, _ = pretrained.train_recipe(f"chapter11_{name}", x_train,
                                       device=device)
    with torch.no_grad():
        rate, distortion = rate_distortion(model.cpu(), scored, 10, rng)
    gaussian[name] = (rate, distortion)
with torch.no_grad():
    for name, model in models.items():
        gaussian[f"categorical_{name}"] = rate_distortion(model, scored, 10, rng)
# tolerance: rtol=0.05 atol=0.5
for name, (rate, distortion) in gaussian.items():
    print(f"{name:30s} rate {rate.mean():6.2f} ± {rate.std() / math.sqrt(len(rate)):.2f}"
          f" distortion {distortion.mean():6.1f} total {(rate + distortion).mean():6.1f}")
