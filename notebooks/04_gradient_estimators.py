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
# # 4. Gradients through samples
#
# **What you will learn.** How to differentiate an expectation whose sampling distribution
# depends on the parameters: the score-function estimator, which works for any integrand, and the
# reparameterization (pathwise) estimator, which the VAE uses. Both are checked for
# unbiasedness against exact gradients, their variances are measured side by side and explained
# by a closed form, and the chapter shows why networks output $\log \sigma^2$.

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

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from torch.distributions import Normal

from vaebook.estimators import (
    diagonal_gaussian,
    pathwise_gradient,
    score_function_gradient,
)
from vaebook.randomness import book_seed, seed_everything
from vaebook.training import pick_device

SEED = book_seed()  # $VAEBOOK_SEED, else 0
seed_everything(SEED)
device = pick_device()
torch.set_default_dtype(torch.float64)
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## The problem
#
# Training a VAE means following the gradient of the ELBO, and the ELBO is an expectation under
# $q$. Strip the problem to its core: a Gaussian
# $q_\lambda = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ on $\mathbb R^K$ with parameters
# $\lambda = (\mu, \log\sigma^2)$, a function $f(z)$, and the objective
#
# $$ F(\lambda) = \mathbb E_{q_\lambda}[f(z)], \qquad \text{whose gradient } \nabla_\lambda F(\lambda) \text{ we need.} $$
#
# In a VAE, $\lambda$ is what the encoder outputs for one image, $\mu_\phi(x)$ and
# $\log\sigma^2_\phi(x)$, and $f$ is the integrand of the ELBO; once $\nabla_\lambda F$ is known,
# backpropagation through the encoder carries it on to the weights $\phi$ (chain rule). So it is
# enough to study $\lambda$. Here $f$ does not depend on $\lambda$.
#
# :::{admonition} Going further: when $f$ depends on $\lambda$ too
# :class: dropdown
# The ELBO's integrand also depends on $\lambda$, through $-\log q_\lambda(z)$. That adds the
# term $\mathbb E_q[\nabla_\lambda f]$, which for the ELBO is
# $-\mathbb E_q[\nabla_\lambda \log q_\lambda(z)] = 0$: the score has mean zero, as shown in
# the next section.
# :::
#
# We cannot simply average $\nabla_\lambda f(z_s)$ over samples $z_s \sim q_\lambda$: $f$ does not
# depend on $\lambda$ at all; the *distribution* of $z$ does. Two identities turn the gradient
# back into an expectation that samples can estimate.
#
# (Why $\log\sigma^2$ rather than $\sigma$ is a question of its own; the section "Going
# further" at the end of the chapter answers it.)

# %% [markdown]
# ## The score-function estimator
#
# Move the gradient inside the integral and use
# $\nabla_\lambda q_\lambda = q_\lambda \nabla_\lambda \log q_\lambda$:
#
# $$
# \begin{aligned}
# \nabla_\lambda \int q_\lambda(z) f(z)\, dz &= \int q_\lambda(z)\, f(z)\, \nabla_\lambda \log q_\lambda(z)\, dz \\
#   &= \mathbb E_{q_\lambda}\big[f(z)\, \nabla_\lambda \log q_\lambda(z)\big].
# \end{aligned}
# $$
#
# $\nabla_\lambda \log q_\lambda(z)$ is the **score** of $q$. Averaging
# $f(z_s) \nabla_\lambda \log q_\lambda(z_s)$ over $S$ samples $z_s \sim q_\lambda$ is unbiased and needs $f$ only as a
# black box: no derivative of $f$, no continuity (Williams, 1992, called it REINFORCE; it is also
# the likelihood-ratio estimator). For the Gaussian, differentiate
# $\log q_\lambda(z) = \sum_j -\tfrac12\big[\log 2\pi + \log\sigma_j^2 + (z_j - \mu_j)^2 e^{-\log\sigma_j^2}\big]$:
#
# $$
# \begin{aligned}
# \frac{\partial \log q_\lambda}{\partial \mu_j} &= \frac{z_j - \mu_j}{\sigma_j^2}, \\
# \frac{\partial \log q_\lambda}{\partial \log\sigma_j^2} &= \frac12\Big(\frac{(z_j - \mu_j)^2}{\sigma_j^2} - 1\Big).
# \end{aligned}
# $$
#
# Its weakness is variance: $f(z)$ multiplies the score, a zero-mean noise term, so a large $f$,
# even a large *constant*, makes every estimate large while their average stays put. Because
# $\mathbb E_q[\nabla_\lambda \log q_\lambda] = \int \nabla_\lambda q_\lambda = \nabla_\lambda 1 = 0$,
# any **baseline** $b$ that does not depend on $z$ can be subtracted,
# $\mathbb E_q[(f(z) - b) \nabla_\lambda \log q_\lambda]$, without bias. The baseline is the
# simplest **control variate**: a term with known mean zero, here $b\, \nabla_\lambda \log q_\lambda(z)$,
# subtracted from an estimator to lower its variance. Chapter 7's control variate is the same
# idea, with one $b$ per parameter component chosen to minimize the variance (exercise 2 derives
# that choice). `vaebook` offers the leave-one-out baseline: for sample $s$, the mean of $f$ over
# the other $S - 1$ samples (independent of $z_s$, hence unbiased).
#
# ## The pathwise (reparameterization) estimator
#
# Write the sample as a differentiable function of parameter-free noise,
# $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$, where $\odot$ multiplies
# coordinate by coordinate ($z_j = \mu_j + \sigma_j \varepsilon_j$). Now the
# distribution of $\varepsilon$ no longer depends on $\lambda$, and the gradient goes inside:
#
# $$
# \begin{gathered}
# \nabla_\lambda\, \mathbb E_{\varepsilon}\big[f(\mu + \sigma \odot \varepsilon)\big]
# = \mathbb E_{\varepsilon}\Big[\sum_j \frac{\partial f}{\partial z_j}\, \nabla_\lambda z_j\Big],
# \\ \frac{\partial z_j}{\partial \mu_j} = 1,\qquad
# \frac{\partial z_j}{\partial \log \sigma_j^2} = \frac{\partial \sigma_j}{\partial \log \sigma_j^2}\,\varepsilon_j = \tfrac12 \sigma_j \varepsilon_j,
# \end{gathered}
# $$
#
# where $\partial\sigma_j / \partial\log\sigma_j^2 = \tfrac12\sigma_j$ because
# $\sigma_j = \exp(\tfrac12\log\sigma_j^2)$. It uses the *slope* of $f$, not just its value, and
# is usually far less noisy. It needs $f$ to be differentiable and $z$ to be a differentiable
# function of noise: it does not apply to discrete latent variables (chapter 7 handles those
# with the score function).
#
# ## Two computation graphs
#
# PyTorch builds both estimators into its distributions. `q.rsample()` draws
# $z = \mu + \sigma \odot \varepsilon$ as a computation on $\mu$ and $\log\sigma^2$, so
# `backward()` walks back from $f(z)$ through $z$ to the parameters: the pathwise gradient.
# `q.sample()` returns $z$ *detached*: the graph is cut between the parameters and $z$, and no
# gradient reaches $\mu$ or $\log\sigma^2$ through $z$. The score function needs no path through
# $z$: it differentiates the *surrogate* $f(z) \log q_\lambda(z)$, in which $z$ and $f(z)$ are
# constants and only $\log q_\lambda(z)$ depends on $\lambda$; its gradient is
# $f(z)\nabla_\lambda\log q_\lambda(z)$, one term of the score-function estimator. The section
# "The same in `torch.distributions`" runs both next to `vaebook`'s estimators, as a demonstration.

# %% tags=["hide-input"]
def draw_graph(ax, title, nodes, forward, backward, cut=()):
    """Boxes at nodes {name: (x, y, label)}; black arrows for the forward
    computation, red dashed ones where the gradient flows back, and a
    cross on each cut edge."""
    boxes = {name: ax.text(x, y, label, ha="center", va="center",
                           fontsize=10, bbox=dict(boxstyle="round,pad=0.4",
                                                  fc="white", ec="0.3"))
             for name, (x, y, label) in nodes.items()}

    def arrow(a, b, **style):
        ax.add_patch(FancyArrowPatch(
            nodes[a][:2], nodes[b][:2], patchA=boxes[a].get_bbox_patch(),
            patchB=boxes[b].get_bbox_patch(), arrowstyle="-|>",
            mutation_scale=12, **style))

    for a, b in forward:
        arrow(a, b, color="0.4" if (a, b) in cut else "k",
              ls=":" if (a, b) in cut else "-")
        if (a, b) in cut:
            middle = np.mean([nodes[a][:2], nodes[b][:2]], axis=0)
            ax.text(*middle, "✕", color="C3", fontsize=14, ha="center",
                    va="center")
    for a, b in backward:
        arrow(a, b, color="C3", ls="--", connectionstyle="arc3,rad=0.3")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-0.6, 5.2)
    ax.set_ylim(-1.4, 2.5)
    ax.axis("off")


fig = Figure(figsize=(6.7, 7))  # stacked: the page is 6.7 inches wide
left, right = fig.subplots(2, 1)
draw_graph(left, "z = q.rsample(): the pathwise gradient", {
    "mu": (0, 2, r"$\mu$"),
    "logvar": (0, 0.4, r"$\log\sigma^2$"),
    "sigma": (1.6, 0.4, r"$\sigma = \exp(\log\sigma^2 / 2)$"),
    "eps": (1.6, -1.0, r"$\varepsilon \sim \mathcal{N}(0, I)$"),
    "z": (3.3, 1.2, r"$z = \mu + \sigma \odot \varepsilon$"),
    "f": (4.8, 1.2, r"$f(z)$"),
}, forward=[("mu", "z"), ("logvar", "sigma"), ("sigma", "z"),
            ("eps", "z"), ("z", "f")],
   backward=[("f", "z"), ("z", "mu"), ("z", "sigma"),
             ("sigma", "logvar")])
draw_graph(right, "z = q.sample(): the score function, via a surrogate", {
    "mu": (0, 2, r"$\mu$"),
    "logvar": (0, 0.4, r"$\log\sigma^2$"),
    "z": (1.8, -1.0, r"$z$ (detached)"),
    "logq": (2.4, 1.2, r"$\log q_\lambda(z)$"),
    "f": (4.2, -1.0, r"$f(z)$ (a constant)"),
    "surrogate": (4.4, 1.2, r"$f(z)\,\log q_\lambda(z)$"),
}, forward=[("mu", "z"), ("logvar", "z"), ("mu", "logq"),
            ("logvar", "logq"), ("z", "logq"), ("z", "f"),
            ("f", "surrogate"), ("logq", "surrogate")],
   backward=[("surrogate", "logq"), ("logq", "mu"), ("logq", "logvar")],
   cut=[("mu", "z"), ("logvar", "z")])
handles = [Line2D([], [], color="k", label="forward computation"),
           Line2D([], [], color="C3", ls="--", label="gradient flows back"),
           Line2D([], [], color="0.4", ls=":",
                  label="sample() cuts the graph: no gradient")]
fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=9)
fig.tight_layout(rect=(0, 0.07, 1, 1))
fig

# %% [markdown]
# Forward arrows compute, red arrows carry the gradient back. On the left the path from
# $f(z)$ back to $\mu$ and $\log\sigma^2$ runs through $z$; on the right `sample()` cuts it
# (✕), and the gradient reaches the parameters only through $\log q_\lambda(z)$.
#
# ## Unbiasedness against exact gradients
#
# Take $f(z) = \sum_j z_j^2$. Then $F(\lambda) = \mathbb E_q[f] = \sum_j (\mu_j^2 + \sigma_j^2)$, so
# exactly $\nabla_\mu F = 2\mu$ and, since $\partial \sigma^2 / \partial \log\sigma^2 = \sigma^2$,
# $\nabla_{\log\sigma^2} F = \sigma^2$ (the section "Going further: why $\log \sigma^2$" checks this
# one with autograd). Draw $M = 100{,}000$ per-sample estimates from each estimator and compare their
# means with the truth. They are independent, except with the leave-one-out baseline, where each
# term's baseline is made of the other samples; that correlation changes the variance of their
# mean only by a term of order $1/M^2$ (derived in the section "Going further: more samples" below), so the standard
# error is computed as for independent terms.

# %%
def square(z, q=None):
    return (z**2).sum(-1)


def make_estimator(gradient, **options):
    """(f, mu, logvar, S, generator) -> S single-sample gradients."""
    def estimate(f, mu, logvar, S, generator):
        params = {"mu": mu, "logvar": logvar}
        return gradient(f, diagonal_gaussian, params, S,
                        generator=generator, **options)[0]
    return estimate


estimators = {
    "score function": make_estimator(score_function_gradient),
    "score + baseline": make_estimator(score_function_gradient,
                                       baseline="mean"),
    "pathwise": make_estimator(pathwise_gradient),
}
mu = torch.tensor([1.5, -0.5])
logvar = 2 * torch.log(torch.tensor([0.7, 1.2]))
exact = torch.cat([2 * mu, logvar.exp()])
M = 100_000  # per-sample estimates
z_scores = {}
print(f"exact: grad mu {exact[:2].numpy().round(3)}, "
      f"grad log sigma^2 {exact[2:].numpy().round(3)}")
for name, estimate in estimators.items():
    rng = torch.Generator().manual_seed(SEED)
    grads = estimate(square, mu, logvar, M, rng)
    both = torch.cat([grads["mu"], grads["logvar"]], dim=1)
    standard_error = both.std(0) / math.sqrt(M)
    z_scores[name] = ((both.mean(0) - exact) / standard_error).abs()
    means = both.mean(0).numpy().round(3)
    print(f"{name:17s} grad mu {means[:2]}, grad log sigma^2 {means[2:]}")

# %% [markdown]
# **Check.** Every estimator's mean is within four standard errors of the exact gradient, for
# both parameters and both coordinates.

# %%
assert all(torch.all(z < 4) for z in z_scores.values())

# %% [markdown]
# ## How noisy is each estimator?
#
# Unbiased is not enough: an estimator with a huge variance needs a huge number of samples. We
# measure the variance of single-sample estimates of $\partial F / \partial \mu_1$ (20,000
# samples per setting; the checks below use the standard error of each measured variance) as
# we move the mean
# $\mu$ (with $\sigma = 1$), shrink the scale $\sigma$ (with $\mu = 1$), both with $K = 1$, and add
# dimensions $K$ (with every $\mu_j = 1$, $\sigma_j = 1$): one panel each.

# %%
def variance_of_grad_mu(name, mu, logvar, S=20_000):
    """Variance of one estimate of dF/dmu_1, and its standard error."""
    rng = torch.Generator().manual_seed(SEED)
    grad = estimators[name](square, mu, logvar, S, rng)["mu"][:, 0]
    squared = (grad - grad.mean()) ** 2
    return squared.mean().item(), squared.std().item() / math.sqrt(S)


def one_dim(mu, sigma):
    return torch.tensor([float(mu)]), torch.tensor([2 * math.log(sigma)])


settings = {
    "mean mu": ([0.0, 1.0, 2.0, 4.0], lambda v: one_dim(v, 1.0)),
    "scale sigma": ([0.1, 0.3, 1.0, 3.0], lambda v: one_dim(1.0, v)),
    "dimension K": ([1, 10, 100], lambda v: (torch.ones(v), torch.zeros(v))),
}
measured = {
    setting: {name: [variance_of_grad_mu(name, *make(v)) for v in values]
              for name in estimators}
    for setting, (values, make) in settings.items()
}
variances = {setting: {name: [v for v, _ in results]
                       for name, results in by_name.items()}
             for setting, by_name in measured.items()}

fig = Figure(figsize=(6.7, 3))  # the page is 6.7 inches wide
axes = fig.subplots(1, 3)
axis_names = {"mean mu": r"mean $\mu$", "scale sigma": r"scale $\sigma$",
              "dimension K": r"dimension $K$"}
for ax, (setting, (values, _)) in zip(axes, settings.items(), strict=True):
    for name in estimators:
        ax.loglog(values, variances[setting][name], "o-", ms=4, label=name)
    ax.set_xlabel(axis_names[setting])
axes[0].set_ylabel(r"variance of one estimate of $\partial F/\partial\mu_1$",
                   fontsize=9)
axes[0].set_xscale("linear")  # mu = 0 is among the values
fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=3,
           fontsize=9)
fig.tight_layout(rect=(0, 0, 1, 0.9))
fig

# %%
def short(v):
    return f"{v:,.0f}" if v >= 1000 else f"{v:.4g}"


print(f"{'setting':12s} {'value':>6s} {'score':>9s} {'score+baseline':>15s}"
      f" {'pathwise':>9s}")
for setting, (values, _) in settings.items():
    for i, v in enumerate(values):
        row = " ".join(f"{short(variances[setting][name][i]):>{width}s}"
                       for name, width in zip(estimators, (9, 15, 9),
                                              strict=True))
        print(f"{setting:12s} {v:6g} {row}")
one, hundred = variances["scale sigma"], variances["dimension K"]
print("score / pathwise at mu = sigma = 1, K = 1: "
      f"{one['score function'][2] / one['pathwise'][2]:.1f} "
      f"({one['score + baseline'][2] / one['pathwise'][2]:.1f} with the "
      f"baseline); at K = 100: "
      f"{hundred['score function'][2] / hundred['pathwise'][2]:,.0f} "
      f"({hundred['score + baseline'][2] / hundred['pathwise'][2]:.0f})")
ratio = (np.array(variances["scale sigma"]["score function"])
         / variances["scale sigma"]["pathwise"])
growth = ratio[0] / ratio[2]  # sigma = 0.1 against sigma = 1
print(f"score / pathwise grows {growth:.0f}-fold from sigma = 1 to "
      f"sigma = 0.1")

# %% [markdown]
# The pathwise variance does not depend on $\mu$ or $K$ at all: here
# $\partial f / \partial z_1 \cdot \partial z_1/\partial\mu_1 = 2 z_1$, with variance $4\sigma_1^2$.
# The score function's variance grows with $\mu$; it falls behind the pathwise estimator ever
# faster as $\sigma \to 0$ (their ratio grows 385-fold from $\sigma = 1$ to
# $\sigma = 0.1$), although its own variance is U-shaped in $\sigma$: it is larger at
# $\sigma = 0.1$ and at $\sigma = 3$ than at 0.3 (the middle panel); and it grows
# with $K$ much faster than the number of coordinates. The baseline
# removes much of it. Averaging $S$ independent estimates divides each variance by $S$, so the
# ratio of two variances is also the ratio of the samples each estimator needs for the same
# accuracy. The next section explains all three with one formula.
#
# ## Why the score function's variance grows
#
# Write $u = \partial \log q_\lambda / \partial\mu_1 = (z_1 - \mu_1)/\sigma_1^2$ for the score of
# $\mu_1$, so that one estimate is $\hat g = (f(z) - b)\, u$ (with $b = 0$ for no baseline). Split
# $f - b = (f - \mathbb E f) + (\mathbb E f - b)$: a fluctuation and a constant. The variance of a
# sum of two terms is the sum of their variances plus twice their covariance, and since
# $\mathbb E[u] = 0$, $\operatorname{Var}[(\mathbb E f - b)u] = (\mathbb E f - b)^2\, \mathbb E[u^2]$
# and $\operatorname{Cov}\big((f - \mathbb E f)u,\ u\big) = \mathbb E[(f - \mathbb E f)u^2]$:
#
# $$
# \begin{aligned}
# \operatorname{Var}[\hat g] &= \underbrace{\operatorname{Var}\big[(f - \mathbb E f)\, u\big]}_{\text{fluctuation of } f} \\
# &\quad + \underbrace{(\mathbb E f - b)^2\, \mathbb E[u^2] + 2(\mathbb E f - b)\, \mathbb E\big[(f - \mathbb E f)u^2\big]}_{\text{mean of } f \text{ (minus the baseline)}}.
# \end{aligned}
# $$
#
# This holds for any $f$. The second part vanishes when $b = \mathbb E f$: that is what a
# baseline is for. For $f = \sum_j z_j^2$, write $z_j = \mu_j + \sigma_j\varepsilon_j$ with
# $\varepsilon_j \sim \mathcal N(0, 1)$, whose moments are $\mathbb E[\varepsilon^2] = 1$,
# $\mathbb E[\varepsilon^4] = 3$, $\mathbb E[\varepsilon^6] = 15$ (odd moments are 0). Then
# $u = \varepsilon_1/\sigma_1$, $\mathbb E[u^2] = 1/\sigma_1^2$,
# $\mathbb E f = \sum_j (\mu_j^2 + \sigma_j^2)$, and the fluctuation of coordinate $j$ is
# $z_j^2 - \mathbb E[z_j^2] = 2\mu_j\sigma_j\varepsilon_j + \sigma_j^2(\varepsilon_j^2 - 1)$, with
# variance $4\mu_j^2\sigma_j^2 + 2\sigma_j^4$. Coordinates $j \ne 1$ are independent of $u$, so in
# each expectation they contribute either their variance times $\mathbb E[u^2]$ or zero:
#
# - the covariance term, in which only coordinate 1 is left:
#
#   $$
#   \begin{aligned}
#   \mathbb E[(f - \mathbb E f)u^2]
#   &= \mathbb E\big[\big(2\mu_1\sigma_1\varepsilon_1 + \sigma_1^2(\varepsilon_1^2 - 1)\big)
#      \,\varepsilon_1^2\big] / \sigma_1^2 \\
#   &= \frac{2\mu_1}{\sigma_1}\, \mathbb E[\varepsilon^3]
#      + \mathbb E[\varepsilon^4] - \mathbb E[\varepsilon^2]
#   = 0 + 3 - 1 = 2;
#   \end{aligned}
#   $$
#
# - the fluctuation term,
#   $\operatorname{Var}[(f - \mathbb E f)u] = \mathbb E[(f - \mathbb E f)^2 u^2] - (\mathbb E[f u])^2$,
#   with $\mathbb E[fu] = \partial F/\partial\mu_1 = 2\mu_1$ and, expanding the square of
#   coordinate 1's fluctuation,
#
#   $$
#   \begin{aligned}
#   \mathbb E[(f - \mathbb E f)^2 u^2]
#   &= \mathbb E\big[\big(2\mu_1\varepsilon_1 + \sigma_1(\varepsilon_1^2 - 1)\big)^2
#      \varepsilon_1^2\big] \\
#   &\quad + \sum_{j \ne 1} \frac{4\mu_j^2\sigma_j^2 + 2\sigma_j^4}{\sigma_1^2} \\
#   &= 4\mu_1^2\, \mathbb E[\varepsilon^4]
#      + 4\mu_1\sigma_1\, \mathbb E[\varepsilon^3(\varepsilon^2 - 1)] \\
#   &\quad + \sigma_1^2\, \mathbb E[(\varepsilon^2 - 1)^2\varepsilon^2]
#      + \sum_{j \ne 1} \frac{4\mu_j^2\sigma_j^2 + 2\sigma_j^4}{\sigma_1^2} \\
#   &= 12\mu_1^2 + 0 + 10\sigma_1^2
#      + \sum_{j \ne 1} \frac{4\mu_j^2\sigma_j^2 + 2\sigma_j^4}{\sigma_1^2},
#   \end{aligned}
#   $$
#
#   since the middle term has odd powers of $\varepsilon$ only, and
#   $\mathbb E[(\varepsilon^2 - 1)^2\varepsilon^2] = \mathbb E[\varepsilon^6]
#   - 2\,\mathbb E[\varepsilon^4] + \mathbb E[\varepsilon^2] = 15 - 6 + 1 = 10$.
#
# Put the pieces into the split above: the fluctuation term loses
# $(\mathbb E[fu])^2 = 4\mu_1^2$, and the mean-of-$f$ part is
# $(\mathbb E f - b)^2 / \sigma_1^2 + 2(\mathbb E f - b) \cdot 2$. Altogether,
#
# $$
# \begin{aligned}
# \operatorname{Var}[\hat g]
# &= \Big(12\mu_1^2 + 10\sigma_1^2
#    + \sum_{j \ne 1} \frac{4\mu_j^2\sigma_j^2 + 2\sigma_j^4}{\sigma_1^2} - 4\mu_1^2\Big)
#    + \frac{(\mathbb E f - b)^2}{\sigma_1^2} + 4(\mathbb E f - b) \\
# &= \underbrace{8\mu_1^2 + 10\sigma_1^2}_{\text{own coordinate}}
# + \underbrace{\sum_{j \ne 1} \frac{4\mu_j^2\sigma_j^2 + 2\sigma_j^4}{\sigma_1^2}}_{\text{other coordinates}}
# + \underbrace{\frac{(\mathbb E f - b)^2}{\sigma_1^2} + 4(\mathbb E f - b)}_{\text{mean of } f}.
# \end{aligned}
# $$
#
# With every $\mu_j = \sigma_j = 1$ and no baseline this is $18 + 6(K - 1) + 4K^2 + 8K$, since
# $\mathbb E f = 2K$. The other $K - 1$ coordinates do add noise, but only *linearly* in $K$; the
# growth is *quadratic*, and it comes from the mean of $f$, which grows with $K$ and multiplies
# the score. The same term explains the other two panels: $\mathbb E f$ grows with $\mu$, and
# $\mathbb E[u^2] = 1/\sigma_1^2$ explodes as $\sigma_1 \to 0$. With $\mu = 1$ and $K = 1$ the
# formula reads $14 + 15\sigma^2 + 1/\sigma^2$ (114 at $\sigma = 0.1$, 26.5 at 0.3): the $1/\sigma^2$
# of the mean of $f$ dominates small $\sigma$, the $15\sigma^2$ of the fluctuation of $f$ (and of
# $\mathbb E f = 1 + \sigma^2$) dominates large $\sigma$, and between them lies the bottom of the U,
# at $\sigma = 15^{-1/4} \approx 0.51$. The leave-one-out baseline of
# 20,000 samples is $\mathbb E f$ up to a tiny error, so it leaves only the first two parts.
# The cell compares the formula with every measured variance.

# %%
def score_variance(mu, sigma, baseline=0.0):
    """Var[(f - b) u] for f = sum_j z_j^2, u the score of mu_1:
    own coordinate, other coordinates and mean-of-f parts."""
    mean_f = (mu**2 + sigma**2).sum().item()
    own = (8 * mu[0] ** 2 + 10 * sigma[0] ** 2).item()
    others = ((4 * mu**2 * sigma**2 + 2 * sigma**4)[1:].sum()
              / sigma[0] ** 2).item()
    shift = mean_f - baseline
    return own, others, (shift**2 / sigma[0] ** 2 + 4 * shift).item()


worst = 0.0  # largest |measured - closed form| in standard errors
for setting, (values, make) in settings.items():
    for i, v in enumerate(values):
        mu_v, logvar_v = make(v)
        sigma_v = (0.5 * logvar_v).exp()
        mean_f = (mu_v**2 + sigma_v**2).sum().item()
        for name, b in (("score function", 0.0),
                        ("score + baseline", mean_f)):
            closed = sum(score_variance(mu_v, sigma_v, b))
            value, se = measured[setting][name][i]
            worst = max(worst, abs(value - closed) / se)

own, others, mean_part = score_variance(torch.ones(100), torch.ones(100))
total = own + others + mean_part
with_baseline = own + others
print(f"K = 100, no baseline: closed form {total:,.0f} "
      f"(measured {variances['dimension K']['score function'][-1]:,.0f})")
print(f"  own coordinate {own:.0f}, other coordinates {others:.0f} "
      f"({others / total:.1%}), mean of f {mean_part:,.0f} "
      f"({mean_part / total:.1%})")
print(f"  with the baseline b = E f: {with_baseline:.0f} "
      f"(measured {variances['dimension K']['score + baseline'][-1]:.0f})")
print(f"largest deviation of a measured variance from the formula: "
      f"{worst:.1f} standard errors")
plain, plain_se = measured["dimension K"]["score function"][-1]
based, based_se = measured["dimension K"]["score + baseline"][-1]
# both variances come from the same draws, so their errors are not
# independent: adding the relative errors bounds the ratio's (to first order)
share_se = based / plain * (based_se / based + plain_se / plain)
print(f"share the baseline removes at K = 100: measured 1 - {based:.0f} / "
      f"{plain:,.0f} = {1 - based / plain:.2%} ± {share_se:.2%}, "
      f"formula {mean_part / total:.2%}")


def closed_ratio(s):
    """Score / pathwise variance (4 sigma^2) at mu = 1, sigma = s, K = 1."""
    return sum(score_variance(torch.ones(1), torch.tensor([s]))) / (4 * s**2)


closed_growth = closed_ratio(0.1) / closed_ratio(1.0)
by_sigma = [measured["scale sigma"][name][i]  # sigma = 0.1 and sigma = 1
            for name in ("score function", "pathwise") for i in (0, 2)]
growth_se = growth * sum(se / v for v, se in by_sigma)  # same draws: summed
print(f"growth of score / pathwise from sigma = 1 to 0.1: measured "
      f"{growth:.0f} ± {growth_se:.0f}, formula {closed_growth:.0f}")

# %% [markdown]
# **Check.** Every measured variance, with and without the baseline, lies within four standard
# errors of the formula; at $K = 100$ the formula gives 41,412, of which 98.5% is the mean of $f$
# and 1.4% comes from the other 99 coordinates, and 612 with the baseline $b = \mathbb E f$ (the
# formula's terms, printed above). The share that the baseline removes can also be measured:
# $1 - 606 / 41{,}099$, that is 98.53% ± 0.05%, agrees with the formula's 98.52% within four
# standard errors. The pathwise variance stays within 5% of $4\sigma_1^2$ everywhere, the score
# function is noisier in every setting, its variance is larger at $\sigma = 0.1$ and at 3 than
# at 0.3 (the U shape), the formula at $\mu = 1$, $K = 1$ equals $14 + 15\sigma^2 + 1/\sigma^2$
# at the four scales, and the growth of its ratio to the pathwise variance
# from $\sigma = 1$ to $\sigma = 0.1$, 385 ± 31 measured, agrees with the formula's 380 (with the
# pathwise $4\sigma_1^2$) within four standard errors.

# %%
assert worst < 4
assert abs((1 - based / plain) - mean_part / total) < 4 * share_se
assert abs(growth - closed_growth) < 4 * growth_se
sigmas = {"mean mu": [1.0] * 4, "scale sigma": settings["scale sigma"][0],
          "dimension K": [1.0] * 3}
for setting in settings:
    pathwise = np.array(variances[setting]["pathwise"])
    four_sigma2 = 4 * np.array(sigmas[setting]) ** 2
    assert np.allclose(pathwise, four_sigma2, rtol=0.05)
    assert np.all(np.array(variances[setting]["score function"]) > pathwise)
by_scale = variances["scale sigma"]["score function"]  # sigma 0.1 ... 3
assert by_scale[1] < min(by_scale[0], by_scale[3])  # the U shape
for s in settings["scale sigma"][0]:  # the formula at mu = 1, K = 1
    simplified = 14 + 15 * s**2 + 1 / s**2
    full = sum(score_variance(torch.ones(1), torch.tensor([s])))
    assert abs(full / simplified - 1) < 1e-5

# %% [markdown]
# ## Going further: more samples, and the leave-one-out baseline's correction
#
# (On a first reading, the first two sentences are what the rest of the chapter uses.)
#
# Averaging $S$ independent estimates divides the variance by $S$, so the ratio between two
# estimators is also the ratio of samples each needs for the same accuracy. The plain score
# function and the pathwise estimator average $S$ independent terms. The leave-one-out baseline
# does not: the baseline of term $s$ is made of the other $S - 1$ samples, so the terms are
# correlated. Write $\tilde f_s = f(z_s) - \mathbb E f$ and $u_s$ for the score at $z_s$. The baseline
# of term $s$ is $b_s = \mathbb E f + \tfrac{1}{S-1}\sum_{s' \ne s} \tilde f_{s'}$, and the average of the
# $S$ terms $\hat g_s = (f(z_s) - b_s)\, u_s$ is
#
# $$
# \frac1S \sum_s \tilde f_s u_s \;-\; \frac{1}{S(S-1)} \sum_s \sum_{s' \ne s} \tilde f_{s'} u_s .
# $$
#
# The first sum averages $S$ independent terms, with variance $V/S$, where
# $V = \operatorname{Var}[(f - \mathbb E f)u]$ is the variance with the exact baseline
# $b = \mathbb E f$ (the first two parts of the formula above). The two sums are uncorrelated:
# each product in their covariance contains a factor $u_s$ or $\tilde f_{s'}$ with mean zero,
# independent of the rest. In the square of the second sum only the pairs $(s, s')$ with themselves and with
# $(s', s)$ survive, which give $\mathbb E[\tilde f^2]\,\mathbb E[u^2] = \operatorname{Var}[f]\, \mathbb E[u^2]$ and $(\mathbb E[\tilde f u])^2 = (\mathbb E[f u])^2$,
# $S(S - 1)$ times each:
#
# $$
# \operatorname{Var}\Big[\frac1S \sum_s \hat g_s\Big]
# = \frac VS + \frac{\operatorname{Var}[f]\, \mathbb E[u^2] + (\mathbb E[f u])^2}{S(S - 1)}.
# $$
#
# The extra term falls like $1/S^2$: the baseline's variance is above $V/S$ for small
# $S$, and the $1/S$ law holds for it only as $S$ grows. Here at $\mu = 2$, $\sigma = 1$ ($K = 1$),
# where $V = 8\mu^2 + 10\sigma^2 = 42$, $\operatorname{Var}[f] = 4\mu^2\sigma^2 + 2\sigma^4 = 18$,
# $\mathbb E[f u] = 2\mu = 4$ and $\mathbb E[u^2] = 1$: 20,000 repetitions of the $S$-sample
# average. At $S = 10$ and $S = 100$ the extra term adds only 9% and 1% to $V/S$; the case that
# resolves it is $S = 2$, where it adds 81% (38 against $V/S = 21$). To repeat the baseline's
# average 20,000 times in one call, the cell treats 20,000 copies of the problem as the
# coordinates $z_j$ of one $q$ and gives `score_function_gradient` each coordinate's own
# integrand $z_j^2$ (its `local` argument, through which chapter 7 passes per-factor
# integrands): the baseline of copy $j$ then uses only the $S$ samples of $z_j$.
#
# The printed table has one row per estimator and one column per $S$. The baseline's entry at
# $S = 1$ reads `nan` (not a number) on purpose: a leave-one-out baseline needs at least one
# other sample, so with $S = 1$ there is no such estimator to measure.

# %%
sample_sizes = [1, 2, 10, 100]
R = 20_000  # repetitions of each S-sample average
averaged = {name: [] for name in estimators}
errors = {name: [] for name in estimators}
mu_2, logvar_0 = torch.tensor([2.0]), torch.tensor([0.0])
copies = {"mu": mu_2.expand(R), "logvar": logvar_0.expand(R)}
for S in sample_sizes:
    for name, estimate in estimators.items():
        rng = torch.Generator().manual_seed(SEED)
        if name != "score + baseline":
            # independent per-sample estimates: R groups of S
            grads = estimate(square, mu_2, logvar_0, R * S, rng)["mu"]
            means = grads.reshape(R, S).mean(1)
        elif S == 1:  # the leave-one-out baseline needs S >= 2
            means = torch.full((R,), float("nan"))
        else:  # copy r's baseline uses only the S samples of z_r
            grads = score_function_gradient(
                square, diagonal_gaussian, copies, S, baseline="mean",
                local=lambda z, q: z**2, generator=rng)[0]["mu"]
            means = grads.mean(0)  # (R,): one S-sample average per copy
        averaged[name].append(means.var().item())
        squares = (means - means.mean()) ** 2  # standard error of the var
        errors[name].append(squares.std().item() / math.sqrt(R))
for name, values in averaged.items():
    print(f"{name:17s} " + "  ".join(
        f"S={S}: {v:7.3f}" for S, v in zip(sample_sizes, values,
                                           strict=True)))
sigma_2 = (0.5 * logvar_0).exp()
mean_f_2 = (mu_2**2 + sigma_2**2).sum().item()
V = sum(score_variance(mu_2, sigma_2, mean_f_2)[:2])  # exact baseline
var_f = (4 * mu_2**2 * sigma_2**2 + 2 * sigma_2**4).sum().item()
mean_fu, mean_u2 = 2 * mu_2.item(), 1 / sigma_2.item() ** 2
leave_one_out = {S: V / S + (var_f * mean_u2 + mean_fu**2) / (S * (S - 1))
                 for S in sample_sizes[1:]}
print("score + baseline, closed form: " + "  ".join(
    f"S={S}: {v:.3f} (V/S = {V / S:.3f}, +{v / (V / S) - 1:.0%})"
    for S, v in leave_one_out.items()))
two, two_se = averaged["score + baseline"][1], errors["score + baseline"][1]
print(f"S=2, score + baseline: measured {two:.2f} ± {two_se:.2f}; "
      f"{(two - leave_one_out[2]) / two_se:+.1f} standard errors from the "
      f"formula, {(two - V / 2) / two_se:+.1f} from V/S")

# %% [markdown]
# **Check.** From $S = 10$ to $S = 100$ every estimator's variance falls by a factor between
# 7 and 13 (the $1/S$ law gives 10 for the plain score function and the pathwise estimator;
# the baseline's falls a little faster, as its extra term falls like $1/S^2$); with the
# leave-one-out baseline the measured variance at $S = 2$, 10 and 100 lies within four standard
# errors of the formula, and at $S = 2$ it is more than four standard errors away from plain
# $V/S$ (37.61 ± 1.45, 11.5 standard errors above 21), so the extra term is really there; the
# pathwise estimator with ten samples is less noisy than the plain score function with a
# hundred.

# %%
for name in estimators:
    assert 7 < averaged[name][2] / averaged[name][3] < 13
for i, S in enumerate(sample_sizes[1:], start=1):
    measured_loo = averaged["score + baseline"][i]
    se_loo = errors["score + baseline"][i]
    assert abs(measured_loo - leave_one_out[S]) < 4 * se_loo
assert abs(two - V / 2) > 4 * two_se  # control: plain V/S fails at S = 2
assert averaged["pathwise"][2] < averaged["score function"][3]

# %% [markdown]
# ## When the pathwise estimator does not apply
#
# The pathwise estimator differentiates $f$. If $f$ is a step, $f(z) = \mathbb 1[z > 0]$ (one
# dimension; $\mathbb 1[\cdot]$ is 1 when its condition holds and 0 otherwise), its derivative is zero wherever it exists, yet
# $F(\lambda) = \mathbb E_q[f] = P(z > 0)$ clearly moves with $\mu$. With $z = \mu + \sigma\varepsilon$,
# $P(z > 0) = P(\varepsilon > -\mu/\sigma) = \int_{-\mu/\sigma}^{\infty} \mathcal N(\varepsilon; 0, 1)\, d\varepsilon$, and
# differentiating the lower limit gives
#
# $$ \frac{\partial F}{\partial \mu} = \frac1\sigma\, \mathcal N(-\mu/\sigma; 0, 1) = \mathcal N(0; \mu, \sigma^2) = q_\lambda(0), $$
#
# the density of $q$ at the threshold: moving $\mu$ pushes that much probability across it.
# Autograd reports zero, a *biased* answer, while the score function (the cell runs it with the
# leave-one-out baseline), which never differentiates $f$, stays correct. (Written with a comparison such as `z > 0`, $f$ would have
# no gradient at all, and `pathwise_gradient` refuses it with an error that points to the score
# function.)

# %%
def step(z, q=None):
    # 1 where z > 0, else 0; autograd's slope of sign is 0
    return ((torch.sign(z) + 1) / 2).sum(-1)


mu_step, logvar_step = torch.tensor([0.5]), torch.tensor([0.0])  # sigma = 1
q_step = Normal(mu_step, (0.5 * logvar_step).exp())
exact_step = q_step.log_prob(torch.zeros(1)).exp()  # q(0)
rng = torch.Generator().manual_seed(SEED)
score_step = estimators["score + baseline"](
    step, mu_step, logvar_step, 100_000, rng)["mu"][:, 0]
path_step = estimators["pathwise"](
    step, mu_step, logvar_step, 100_000, rng)["mu"][:, 0]
step_error = score_step.std() / math.sqrt(100_000)
print(f"exact q(0) = {exact_step.item():.4f} | score function "
      f"{score_step.mean():.4f} ± {step_error:.4f} | "
      f"pathwise {path_step.mean():.4f}")

# %% [markdown]
# **Check.** The score function is within four standard errors of the exact gradient. The
# pathwise estimate is exactly zero, but that is autograd's definition of the slope of `sign`,
# not something a test could find otherwise: the printed zero illustrates the bias.

# %%
assert abs(score_step.mean() - exact_step) < 4 * step_error

# %% [markdown]
# ## The same in `torch.distributions`
#
# The two graphs drawn above, run: `rsample()` plus `backward()` gives `vaebook`'s pathwise
# estimate, and the surrogate $f(z)\log q_\lambda(z)$ on `sample()` plus `backward()` its
# score-function estimate, on the same noise. This is a demonstration, not a check: `vaebook`'s
# estimators are built from these same calls, so the agreement shows what they compute rather
# than testing it. The tests were the comparisons with exact gradients and variances above.

# %%
mu_t = torch.tensor([1.5, -0.5], requires_grad=True)
logvar_t = (2 * torch.log(torch.tensor([0.7, 1.2]))).requires_grad_()
params = {"mu": mu_t, "logvar": logvar_t}
q = Normal(mu_t, (0.5 * logvar_t).exp())
print("sample() keeps a graph:", q.sample().requires_grad,
      "| rsample() keeps a graph:", q.rsample().requires_grad)

torch.manual_seed(SEED)
square(q.rsample((1000,))).mean().backward()
torch.manual_seed(SEED)
reference = pathwise_gradient(square, diagonal_gaussian, params, 1000)[0]
pathwise_agrees = (
    torch.allclose(mu_t.grad, reference["mu"].mean(0))
    and torch.allclose(logvar_t.grad, reference["logvar"].mean(0)))

mu_t.grad = logvar_t.grad = None
q = Normal(mu_t, (0.5 * logvar_t).exp())  # backward() freed the last graph
torch.manual_seed(SEED)
z = q.sample((1000,))
(square(z) * q.log_prob(z).sum(-1)).mean().backward()  # the surrogate
torch.manual_seed(SEED)
reference = score_function_gradient(square, diagonal_gaussian, params,
                                    1000)[0]
score_agrees = (
    torch.allclose(mu_t.grad, reference["mu"].mean(0))
    and torch.allclose(logvar_t.grad, reference["logvar"].mean(0)))
print(f"rsample + backward == pathwise: {pathwise_agrees}; "
      f"surrogate + backward == score function: {score_agrees}")

# %% [markdown]
# ## Going further: why $\log \sigma^2$
#
# The encoder of chapter 5, like most VAE code, outputs $\log\sigma^2$, not $\sigma$. Three
# reasons. A network's output can be any real number, while a variance must be positive:
# $\sigma^2 = \exp(\log\sigma^2)$ is positive for every output, with no constraint to enforce.
# The log-density and the KL of chapter 3 contain $\log\sigma^2$ itself,
# $\log \mathcal N(z; \mu, \sigma^2) = -\tfrac12\big[\log 2\pi + \log\sigma^2 + (z - \mu)^2 e^{-\log\sigma^2}\big]$,
# so no logarithm of a possibly tiny number is ever taken. And a step in $\log\sigma^2$ changes the
# variance by a *factor*, which suits a quantity that ranges over orders of magnitude.
#
# The standard deviation follows from $\log\sigma^2 = 2\log\sigma$:
#
# $$ \sigma = \exp\big(\tfrac12 \log\sigma^2\big), $$
#
# which is where the $\tfrac12$ in `torch.exp(0.5 * logvar)` comes from. Some texts parameterize by
# $\log\sigma$ instead; the two differ only by that factor. By the chain rule, with
# $\log\sigma = \tfrac12 \log\sigma^2$,
#
# $$
# \begin{aligned}
# \frac{\partial}{\partial \log\sigma^2} &= \frac{\partial \log\sigma}{\partial\log\sigma^2}\,\frac{\partial}{\partial\log\sigma} \\
#   &= \frac12\,\frac{\partial}{\partial \log\sigma},
# \end{aligned}
# $$
#
# so every gradient with respect to $\log\sigma^2$ is half the gradient with respect to
# $\log\sigma$. Check it with autograd on $F(\lambda) = \sum_j (\mu_j^2 + \sigma_j^2)$, the exact
# expectation of $f(z) = \sum_j z_j^2$ used above: $\partial F/\partial\log\sigma^2_j = \sigma_j^2$
# and $\partial F/\partial\log\sigma_j = 2\sigma_j^2$.

# %%
sigma = torch.tensor([0.7, 1.2])
log_sigma = sigma.log().requires_grad_()
logvar = (2 * sigma.log()).requires_grad_()
mu = torch.tensor([1.5, -0.5])
# F(lambda) = sum_j mu_j^2 + sigma_j^2, with sigma^2 from each parameter
(mu**2 + (2 * log_sigma).exp()).sum().backward()  # sigma^2 = e^(2 log sigma)
(mu**2 + logvar.exp()).sum().backward()  # sigma^2 = e^(log sigma^2)
print(f"dF/dlog sigma^2 = {logvar.grad.numpy().round(4)}, "
      f"dF/dlog sigma = {log_sigma.grad.numpy().round(4)}")

# %% [markdown]
# **Check.** The gradient in $\log\sigma^2$ is exactly $\sigma^2$, and exactly half the gradient
# in $\log\sigma$ (to 1e-12). Autograd is the independent party here: it differentiates the two
# formulas for $\sigma^2$ one at a time and knows nothing of the chain-rule argument above, so a
# wrong factor in that argument (a 2 for a ½) would fail the second assert.

# %%
assert torch.allclose(logvar.grad, sigma**2, rtol=0, atol=1e-12)
assert torch.allclose(logvar.grad, 0.5 * log_sigma.grad, rtol=0, atol=1e-12)

# %% [markdown]
# ## Summary
#
# - The score-function estimator $\mathbb E_q[f(z)\nabla_\lambda \log q_\lambda(z)]$ is unbiased for
#   any $f$, even a discontinuous one, but its variance carries a term $(\mathbb E f - b)^2\,
#   \mathbb E[u^2]$, with $u$ the score: it grows with the *mean* of $f$ (hence quadratically
#   with the dimension here) and with $\mathbb E[u^2] = 1/\sigma^2$ as $q$ sharpens. The variance
#   itself is U-shaped in $\sigma$, since the fluctuation of $f$ grows with $\sigma$, but the score function falls behind
#   the pathwise estimator ever faster as $\sigma \to 0$. A baseline $b$, the simplest control
#   variate, removes the mean-of-$f$ term at no bias; chapter 7's control variates are the same
#   idea.
# - The pathwise estimator $\mathbb E_\varepsilon[\nabla_z f \cdot \nabla_\lambda z]$ needs a
#   differentiable $f$ and a reparameterizable $q$. Where $f$ is smooth on the scale of $q$ it is
#   the less noisy one: here 7 times at $\mu = \sigma = 1$ in one dimension (4 times against the
#   score function with a baseline), and about 10,000 times at $K = 100$ (about 150 with the
#   baseline). Where $f$ wiggles faster than $q$ is wide, the score function can win
#   (exercise 1). The VAE uses the pathwise estimator (chapter 5); black-box inference
#   (chapter 7) uses the score function where it cannot.
# - Networks output $\log\sigma^2$: unconstrained, and already the quantity in the log-density;
#   $\sigma = \exp(\tfrac12\log\sigma^2)$ and $\partial/\partial\log\sigma^2 = \tfrac12\,\partial/\partial\log\sigma$.
# - In PyTorch: `rsample()` keeps the path from the parameters to $z$ and gives pathwise
#   gradients; `sample()` cuts it, and the score function comes from the surrogate
#   $f(z)\log q_\lambda(z)$.

# %% [markdown]
# ## Exercises
#
# 1. Find an $f$ for which the score function beats the pathwise estimator. *Hint:* try a rapidly
#    oscillating $f(z) = \sin(\kappa z)$ in one dimension with a large $\kappa$; for the exact
#    variances use $\mathbb E[e^{\mathrm i \vartheta z}] = e^{\mathrm i \vartheta \mu - \vartheta^2\sigma^2/2}$ for $z \sim \mathcal N(\mu, \sigma^2)$.
# 2. Derive the optimal constant baseline $b^\star = \mathbb E[f u^2] / \mathbb E[u^2]$ for a score
#    $u$, evaluate it for $f(z) = \sum_j z_j^2$ with the moments above, and compare it with the
#    mean baseline $b = \mathbb E f$ at $K = 100$, in closed form and with `vaebook`'s
#    `baseline="optimal"` (chapter 7's control variate). *Hint:* minimize
#    $\operatorname{Var}[(f - b)u]$ over $b$, using $\mathbb E[(f - b)u] = \mathbb E[fu]$.
# 3. Repeat the $K$ experiment for $\partial F/\partial \log \sigma^2_1$. Does the same pattern hold?
#    *Hint:* the score is now that of $\log\sigma_1^2$, $u = \tfrac12(\varepsilon_1^2 - 1)$, and the
#    pathwise estimate $2z_1 \cdot \tfrac12\sigma_1\varepsilon_1$; the decomposition above holds for
#    this $u$ too, and $\mathbb E[(\varepsilon^2 - 1)^3] = 8$.

# %% [markdown]
# ## Solutions
#
# ### Solution 1
#
# :::{dropdown} Solution
# Take $K = 1$, $q = \mathcal N(\mu, \sigma^2)$ and $f(z) = \sin(\kappa z)$. With the characteristic
# function, $F = \mathbb E[\sin \kappa z] = \operatorname{Im} \mathbb E[e^{\mathrm i\kappa z}] = \sin(\kappa\mu)\, e^{-\kappa^2\sigma^2/2}$,
# so the exact gradient is $\partial F/\partial\mu = \kappa\cos(\kappa\mu)\, e^{-\kappa^2\sigma^2/2}$,
# which is tiny for large $\kappa\sigma$: the oscillations average out.
#
# *Pathwise:* one estimate is $f'(z) = \kappa\cos(\kappa z)$. Since
# $\cos^2 = \tfrac12(1 + \cos 2\kappa z)$ and $\mathbb E[\cos 2\kappa z] = \cos(2\kappa\mu)\, e^{-2\kappa^2\sigma^2}$,
#
# $$ \begin{aligned}
# \operatorname{Var}_{\text{path}} &= \frac{\kappa^2}{2}\big(1 + \cos(2\kappa\mu)\, e^{-2\kappa^2\sigma^2}\big) - \Big(\frac{\partial F}{\partial\mu}\Big)^2 \\
# &\approx \frac{\kappa^2}{2}.
# \end{aligned} $$
#
# *Score function:* one estimate is $\sin(\kappa z)(z - \mu)/\sigma^2$. With $z = \mu + \sigma\varepsilon$,
# $\sin^2 = \tfrac12(1 - \cos 2\kappa z)$, and
# $\mathbb E[\varepsilon^2 e^{\mathrm i \vartheta\varepsilon}] = -\tfrac{d^2}{d\vartheta^2} e^{-\vartheta^2/2} = (1 - \vartheta^2)\, e^{-\vartheta^2/2}$ at $\vartheta = 2\kappa\sigma$:
#
# $$ \begin{aligned}
# \operatorname{Var}_{\text{score}} &= \frac{1 - \cos(2\kappa\mu)(1 - 4\kappa^2\sigma^2)\, e^{-2\kappa^2\sigma^2}}{2\sigma^2} - \Big(\frac{\partial F}{\partial\mu}\Big)^2 \\
# &\approx \frac{1}{2\sigma^2}.
# \end{aligned} $$
#
# The pathwise variance grows like $\kappa^2$, because the slope of $f$ is large and changes sign
# rapidly; the score function only sees the values of $f$, which stay in $[-1, 1]$. At
# $\kappa = 10$, $\sigma = 1$ the score function is about $\kappa^2 = 100$ times less noisy. The
# general lesson: the pathwise estimator wins when $f$ is smooth on the scale of $q$, and loses
# when $f$ wiggles faster than $q$ is wide.
# :::

# %% tags=["hide-cell"]
kappa, mu_1, logvar_1 = 10.0, torch.tensor([0.5]), torch.tensor([0.0])


def wiggle(z, q=None):
    return torch.sin(kappa * z).sum(-1)


exact_grad = kappa * math.cos(kappa * 0.5) * math.exp(-kappa**2 / 2)
damp = math.cos(2 * kappa * 0.5) * math.exp(-2 * kappa**2)
closed = {"pathwise": kappa**2 / 2 * (1 + damp) - exact_grad**2,
          "score function": (1 - (1 - 4 * kappa**2) * damp) / 2
          - exact_grad**2}
wiggly = {}  # measured variance and its standard error
for name, variance in closed.items():
    rng = torch.Generator().manual_seed(SEED)
    grad = estimators[name](wiggle, mu_1, logvar_1, 100_000, rng)["mu"][:, 0]
    squared = (grad - grad.mean()) ** 2
    se = squared.std().item() / math.sqrt(100_000)
    wiggly[name] = (squared.mean().item(), se)
    print(f"{name:15s} variance {squared.mean():8.3f} ± {se:.3f} "
          f"(closed form {variance:.3f})")
    assert abs(squared.mean().item() - variance) < 4 * se
(path, path_se), (score, score_se) = (wiggly["pathwise"],
                                      wiggly["score function"])
# same noise for both estimators: sum the relative errors (conservative)
ratio_se = path / score * (path_se / path + score_se / score)
print(f"pathwise / score function: {path / score:.1f} ± {ratio_se:.1f} "
      f"(kappa^2 = {kappa**2:.0f})")
assert abs(path / score - kappa**2) < 4 * ratio_se

# %% [markdown]
# ### Solution 2
#
# :::{dropdown} Solution
# Because $\mathbb E[u] = 0$, the mean $\mathbb E[(f - b)u] = \mathbb E[fu]$ does not depend on $b$, so
#
# $$ \operatorname{Var}[(f - b)u] = \mathbb E[(f - b)^2 u^2] - (\mathbb E[fu])^2, $$
#
# a quadratic in $b$ with derivative $-2\,\mathbb E[(f - b)u^2]$. It vanishes at
# $b^\star = \mathbb E[f u^2] / \mathbb E[u^2]$, a minimum (the second derivative $2\,\mathbb E[u^2]$
# is positive). Unlike $\mathbb E f$, it weights each value of $f$ by $u^2$: samples with a large
# score count more, because they are the ones the baseline multiplies.
#
# For $f = \sum_j z_j^2$ and the score $u$ of $\mu_1$, split $f = \mathbb E f + (f - \mathbb E f)$:
# $\mathbb E[fu^2] = \mathbb E f\, \mathbb E[u^2] + \mathbb E[(f - \mathbb E f)u^2] = \mathbb E f/\sigma_1^2 + 2$,
# so $b^\star = \mathbb E f + 2\sigma_1^2$. In the decomposition, the mean-of-$f$ part
# $(\mathbb E f - b)^2/\sigma_1^2 + 4(\mathbb E f - b)$ is then $4\sigma_1^2 - 8\sigma_1^2 = -4\sigma_1^2$
# instead of 0: the best constant beats the mean by only $4\sigma_1^2$. At $K = 100$ with all
# $\mu_j = \sigma_j = 1$, $b^\star = 202$ against $\mathbb E f = 200$, and the variance is 608 against
# 612, below the resolution of 20,000 samples: the mean baseline is nearly optimal here.
# `vaebook`'s `baseline="optimal"` estimates $b^\star$ for each parameter component from the
# other samples, exactly as chapter 7 does; for $\mu_1$ it lands on the same variance.
# :::

# %% tags=["hide-cell"]
mean_f_100 = 200.0
b_star = mean_f_100 + 2.0
optimal_part = (mean_f_100 - b_star) ** 2 + 4 * (mean_f_100 - b_star)
closed_optimal = with_baseline + optimal_part
estimators["score + optimal b"] = make_estimator(score_function_gradient,
                                                 baseline="optimal")
value, se = variance_of_grad_mu("score + optimal b", torch.ones(100),
                                torch.zeros(100))
print(f"b* = {b_star:.0f}: closed form {closed_optimal:.0f} "
      f"(mean baseline {with_baseline:.0f}); measured with "
      f"baseline='optimal' {value:.0f} ± {se:.0f}")
assert abs(value - closed_optimal) < 4 * se

# %% [markdown]
# ### Solution 3
#
# :::{dropdown} Solution
# Yes. For $\log\sigma_1^2$ the score is $u = \tfrac12\big((z_1 - \mu_1)^2/\sigma_1^2 - 1\big) = \tfrac12(\varepsilon_1^2 - 1)$,
# with $\mathbb E[u^2] = \tfrac14\,\mathbb E[(\varepsilon^2 - 1)^2] = \tfrac14(3 - 2 + 1) = \tfrac12$.
# The decomposition holds for this score too. Its pieces, with the moments $\mathbb E[\varepsilon^8] = 105$ and
# $\mathbb E[(\varepsilon^2 - 1)^3] = 8$, $\mathbb E[\varepsilon^2(\varepsilon^2 - 1)^2] = 10$, $\mathbb E[(\varepsilon^2 - 1)^4] = 60$:
#
# - $\mathbb E[(f - \mathbb E f)u^2] = \tfrac14\sigma_1^2\,\mathbb E[(\varepsilon^2 - 1)^3] = 2\sigma_1^2$;
# - $\mathbb E[(f - \mathbb E f)^2 u^2] = \tfrac14\big[4\mu_1^2\sigma_1^2 \cdot 10 + \sigma_1^4 \cdot 60\big] + \tfrac12\sum_{j \ne 1}(4\mu_j^2\sigma_j^2 + 2\sigma_j^4)$,
#   and $\mathbb E[fu] = \partial F/\partial\log\sigma_1^2 = \sigma_1^2$.
#
# So
#
# $$
# \begin{aligned}
# \operatorname{Var}[(f - b)u] &= 10\mu_1^2\sigma_1^2 + 14\sigma_1^4 + \tfrac12\sum_{j \ne 1}(4\mu_j^2\sigma_j^2 + 2\sigma_j^4) \\
#   &\quad + \tfrac12(\mathbb E f - b)^2 + 4\sigma_1^2(\mathbb E f - b),
# \end{aligned}
# $$
#
# at $\mu_j = \sigma_j = 1$ and $b = 0$: $24 + 3(K - 1) + 2K^2 + 8K$, again quadratic in $K$ through the
# mean of $f$ (21,121 at $K = 100$, 98.5% of it from the mean of $f$), and $24 + 3(K - 1)$ with the
# baseline. The pathwise estimate is $2z_1 \cdot \tfrac12\sigma_1\varepsilon_1 = \sigma_1 z_1\varepsilon_1$, with
# variance $\sigma_1^2\big(\mathbb E[(\mu_1 + \sigma_1\varepsilon_1)^2\varepsilon_1^2] - \sigma_1^2\big) = \sigma_1^2(\mu_1^2 + 2\sigma_1^2) = 3$,
# whatever $K$. The measurements below agree with every one of these variances within four
# standard errors, and the share of the mean of $f$ measured with and without the baseline
# agrees with 98.5%.
# :::

# %% tags=["hide-cell"]
def logvar_variance(name, K, S=20_000):
    rng = torch.Generator().manual_seed(SEED)
    grad = estimators[name](square, torch.ones(K), torch.zeros(K), S,
                            rng)["logvar"][:, 0]
    squared = (grad - grad.mean()) ** 2
    return squared.mean().item(), squared.std().item() / math.sqrt(S)


def closed_logvar(K, baseline):
    shift = 2 * K - baseline
    return 24 + 3 * (K - 1) + shift**2 / 2 + 4 * shift


worst_logvar = 0.0
for K in (1, 10, 100):
    row = {}
    for name, b in (("score function", 0), ("score + baseline", 2 * K),
                    ("pathwise", None)):
        value, se = logvar_variance(name, K)
        closed = 3.0 if b is None else closed_logvar(K, b)
        worst_logvar = max(worst_logvar, abs(value - closed) / se)
        row[name] = (value, se)
    print(f"K = {K:3d}: " + ", ".join(f"{name} {v:,.1f}"
                                      for name, (v, _) in row.items()))
mean_share = 1 - closed_logvar(100, 200) / closed_logvar(100, 0)
(plain, plain_se), (based, based_se) = (row["score function"],
                                        row["score + baseline"])
# same draws for both: a conservative (summed) relative error
share_se = based / plain * (based_se / based + plain_se / plain)
print(f"at K = 100 the mean of f is {mean_share:.1%} of "
      f"{closed_logvar(100, 0):,.0f} (measured {1 - based / plain:.1%} ± "
      f"{share_se:.1%}); largest deviation from the closed forms "
      f"{worst_logvar:.1f} standard errors")
assert worst_logvar < 4
assert abs((1 - based / plain) - mean_share) < 4 * share_se

# %% [markdown]
# ## References
#
# - Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
#   reinforcement learning. *Machine Learning*, 8, 229–256. {cite}`williams1992simple`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
# - Rezende, D. J., Mohamed, S., & Wierstra, D. (2014). Stochastic backpropagation and approximate
#   inference in deep generative models. *ICML*. {cite}`rezende2014stochastic`
# - Mohamed, S., Rosca, M., Figurnov, M., & Mnih, A. (2020). Monte Carlo gradient estimation in
#   machine learning. *Journal of Machine Learning Research*, 21(132), 1–62. {cite}`mohamed2020monte`
# - Ranganath, R., Gerrish, S., & Blei, D. M. (2014). Black box variational inference. *AISTATS*.
#   {cite}`ranganath2014black`
