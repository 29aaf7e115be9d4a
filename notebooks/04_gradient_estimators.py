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
# unbiasedness against exact gradients, and their variances are measured side by side.

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
import math

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.distributions import Normal

from vaebook.estimators import diagonal_gaussian, pathwise_gradient, score_function_gradient
from vaebook.randomness import seed_everything
from vaebook.training import pick_device

SEED = 0
seed_everything(SEED)
device = pick_device()
torch.set_default_dtype(torch.float64)
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## The problem
#
# Training a VAE means following $\nabla_\phi \mathcal L$, and the ELBO is an expectation under
# $q_\phi$: we need
#
# $$ \nabla_\phi\, \mathbb E_{q_\phi(z)}[f(z)]. $$
#
# We cannot simply average $\nabla_\phi f(z_s)$ over samples: $f$ does not depend on $\phi$ at all;
# the *distribution* of $z$ does. Two identities turn the gradient back into an expectation that
# samples can estimate. Throughout, $q_\phi = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ with
# $\phi = (\mu, \log \sigma^2)$.
#
# ## The score-function estimator
#
# Move the gradient inside the integral and use $\nabla_\phi q_\phi = q_\phi \nabla_\phi \log q_\phi$:
#
# $$
# \nabla_\phi \int q_\phi(z) f(z)\, dz = \int q_\phi(z)\, f(z)\, \nabla_\phi \log q_\phi(z)\, dz
# = \mathbb E_{q_\phi}\big[f(z)\, \nabla_\phi \log q_\phi(z)\big].
# $$
#
# Averaging $f(z_s) \nabla_\phi \log q_\phi(z_s)$ over samples is unbiased and needs $f$ only as a
# black box: no derivative of $f$, no continuity (Williams, 1992, called it REINFORCE; it is also
# the likelihood-ratio estimator). For a Gaussian,
# $\nabla_\mu \log q = (z - \mu)/\sigma^2$ and $\nabla_{\log\sigma^2} \log q = \tfrac12\big((z - \mu)^2/\sigma^2 - 1\big)$.
#
# Its weakness is variance: $f(z)$ multiplies a zero-mean noise term, so a large $f$, even a large
# *constant*, makes every estimate large while their average stays put. Because
# $\mathbb E_q[\nabla_\phi \log q_\phi] = \int \nabla_\phi q_\phi = \nabla_\phi 1 = 0$, any **baseline**
# $b$ that does not depend on $z$ can be subtracted, $\mathbb E_q[(f(z) - b) \nabla_\phi \log q_\phi]$,
# without bias. `vaebook` offers the leave-one-out baseline: for sample $s$, the mean of $f$ over
# the other $S - 1$ samples (independent of $z_s$, hence unbiased).
#
# ## The pathwise (reparameterization) estimator
#
# Write the sample as a differentiable function of parameter-free noise,
# $z = \mu + \sigma \odot \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$. Now the
# distribution no longer depends on $\phi$, and the gradient goes inside:
#
# $$
# \nabla_\phi\, \mathbb E_{\varepsilon}\big[f(\mu + \sigma \odot \varepsilon)\big]
# = \mathbb E_{\varepsilon}\big[\nabla_z f(z)\, \tfrac{\partial z}{\partial \phi}\big],
# \qquad \tfrac{\partial z}{\partial \mu} = 1,\quad \tfrac{\partial z}{\partial \log \sigma^2} = \tfrac12 \sigma \varepsilon.
# $$
#
# It uses the *slope* of $f$, not just its value, and is usually far less noisy. It needs $f$ to be
# differentiable and $z$ to be a differentiable function of noise: it does not apply to discrete
# latent variables (chapter 7 handles those with the score function).
#
# ## Unbiasedness against exact gradients
#
# Take $f(z) = \sum_k z_k^2$. Then $\mathbb E_q[f] = \sum_k \mu_k^2 + \sigma_k^2$, so exactly
# $\nabla_\mu = 2\mu$ and $\nabla_{\log \sigma^2} = \sigma^2$. Draw 100,000 single-sample estimates
# from each estimator and compare their means with the truth.

# %%
def square(z, q=None):
    return (z**2).sum(-1)


mu, logvar = torch.tensor([1.5, -0.5]), 2 * torch.log(torch.tensor([0.7, 1.2]))
exact_mu, exact_logvar = 2 * mu, torch.exp(logvar)
estimators = {
    "score function": lambda f, m, v, n, g: score_function_gradient(
        f, diagonal_gaussian, {"mu": m, "logvar": v}, n, generator=g)[0],
    "score + baseline": lambda f, m, v, n, g: score_function_gradient(
        f, diagonal_gaussian, {"mu": m, "logvar": v}, n, baseline="mean", generator=g)[0],
    "pathwise": lambda f, m, v, n, g: pathwise_gradient(
        f, diagonal_gaussian, {"mu": m, "logvar": v}, n, generator=g)[0],
}
N = 100_000
z_scores = {}
print(f"{'':18s} {'grad mu (exact ' + str(exact_mu.numpy().round(3)) + ')':>34s}  "
      f"{'grad log sigma^2 (exact ' + str(exact_logvar.numpy().round(3)) + ')':>40s}")
for name, estimate in estimators.items():
    grads = estimate(square, mu, logvar, N, torch.Generator().manual_seed(SEED))
    grad_mu, grad_logvar = grads["mu"], grads["logvar"]
    both = torch.cat([grad_mu, grad_logvar], dim=1)
    standard_error = both.std(0) / math.sqrt(N)
    z_scores[name] = ((both.mean(0) - torch.cat([exact_mu, exact_logvar])) / standard_error).abs()
    print(f"{name:18s} {str(grad_mu.mean(0).numpy().round(3)):>34s}  "
          f"{str(grad_logvar.mean(0).numpy().round(3)):>40s}")

# %% [markdown]
# **Check.** Every estimator's mean is within four standard errors of the exact gradient, for
# both parameters and both coordinates.

# %%
assert all(torch.all(z < 4) for z in z_scores.values())

# %% [markdown]
# ## How noisy is each estimator?
#
# Unbiased is not enough: an estimator with a huge variance needs a huge number of samples. We
# measure the variance of single-sample estimates of $\partial / \partial \mu_1$ (20,000 samples
# per setting) as we move the mean $\mu$, shrink the scale $\sigma$, and add dimensions $K$.

# %%
def variance_of_grad_mu(name, mu, logvar, n=20_000):
    grad_mu = estimators[name](square, mu, logvar, n, torch.Generator().manual_seed(SEED))["mu"]
    return grad_mu[:, 0].var().item()


settings = {
    "mean mu": ([0.0, 1.0, 2.0, 4.0], lambda v: (torch.tensor([v]), torch.tensor([0.0]))),
    "scale sigma": ([0.1, 0.3, 1.0, 3.0], lambda v: (torch.tensor([1.0]), torch.tensor([2 * math.log(v)]))),
    "dimension K": ([1, 10, 100], lambda v: (torch.ones(v), torch.zeros(v))),
}
variances = {
    setting: {name: [variance_of_grad_mu(name, *make(v)) for v in values] for name in estimators}
    for setting, (values, make) in settings.items()
}

fig = Figure(figsize=(11, 3.3))
for ax, (setting, (values, _)) in zip(fig.subplots(1, 3), settings.items(), strict=True):
    for name in estimators:
        ax.loglog(values, variances[setting][name], "o-", label=name)
    ax.set_xlabel(setting)
    ax.set_ylabel(r"variance of one estimate of $\partial/\partial\mu_1$")
axes = fig.axes
axes[0].set_xscale("linear")  # mu = 0 is among the values
axes[0].legend(fontsize=8)
fig.tight_layout()
fig

# %%
print(f"{'setting':14s} {'value':>6s} {'score/pathwise':>15s} {'score+baseline/pathwise':>24s}")
for setting, (values, _) in settings.items():
    for i, v in enumerate(values):
        v_score, v_base, v_path = (variances[setting][name][i] for name in estimators)
        print(f"{setting:14s} {v:6g} {v_score / v_path:15.1f} {v_base / v_path:24.1f}")

# %% [markdown]
# The pathwise variance does not depend on $\mu$ or $K$ at all: here $\nabla_{\mu_1} f = 2 z_1$,
# with variance $4\sigma^2$. The score function's grows with $\mu$ (larger $f$), falls behind the
# pathwise estimator ever faster as $\sigma \to 0$ (the score $(z - \mu)/\sigma^2$ grows like
# $1/\sigma$ while the pathwise noise shrinks like $\sigma$), and grows with $K$ because
# the other $K - 1$ coordinates add noise to $f$ without carrying information about $\mu_1$. The
# baseline removes the part of $f$ shared by all samples and helps most when $f$ is large.
#
# **Check.** The pathwise variance stays within 5% of $4\sigma^2$ everywhere; the score function
# is noisier in every setting; its variance grows at least tenfold from $K = 1$ to $K = 100$; its
# ratio to the pathwise variance grows at least tenfold as $\sigma$ goes from 1 to 0.1; and the
# baseline lowers it whenever $\mu \neq 0$.

# %%
sigmas = {"mean mu": [1.0] * 4, "scale sigma": settings["scale sigma"][0], "dimension K": [1.0] * 3}
for setting in settings:
    pathwise = np.array(variances[setting]["pathwise"])
    assert np.allclose(pathwise, 4 * np.array(sigmas[setting]) ** 2, rtol=0.05)
    assert np.all(np.array(variances[setting]["score function"]) > pathwise)
K_variances = variances["dimension K"]["score function"]
assert K_variances[-1] > 10 * K_variances[0]
ratio = np.array(variances["scale sigma"]["score function"]) / variances["scale sigma"]["pathwise"]
assert ratio[0] > 10 * ratio[2]
assert all(b < s for b, s, m in zip(variances["mean mu"]["score + baseline"],
                                    variances["mean mu"]["score function"], settings["mean mu"][0],
                                    strict=True) if m != 0)

# %% [markdown]
# ## More samples: the variance falls as $1/S$
#
# Averaging $S$ independent estimates divides the variance by $S$, for every estimator, so the
# ratio between two estimators is also the ratio of samples each needs for the same accuracy.
# Here at $\mu = 2$, $\sigma = 1$: 2,000 repetitions of the $S$-sample average.

# %%
sample_sizes = [1, 10, 100]
averaged = {name: [] for name in estimators}
for S in sample_sizes:
    for name, estimate in estimators.items():
        if name == "score + baseline" and S == 1:
            averaged[name].append(float("nan"))  # the leave-one-out baseline needs S >= 2
            continue
        g = torch.Generator().manual_seed(SEED)
        means = torch.stack([estimate(square, torch.tensor([2.0]), torch.tensor([0.0]), S, g)["mu"].mean(0)
                             for _ in range(2_000)])
        averaged[name].append(means.var().item())
for name, values in averaged.items():
    print(f"{name:18s} " + "  ".join(f"S={S}: {v:8.3f}" for S, v in zip(sample_sizes, values, strict=True)))

# %% [markdown]
# **Check.** From $S = 10$ to $S = 100$ every estimator's variance falls by a factor between
# 7 and 13 (the ideal 10, within the noise of 2,000 repetitions); the pathwise estimator with ten
# samples is less noisy than the plain score function with a hundred.

# %%
for name in estimators:
    assert 7 < averaged[name][1] / averaged[name][2] < 13
assert averaged["pathwise"][1] < averaged["score function"][2]

# %% [markdown]
# ## When the pathwise estimator does not apply
#
# The pathwise estimator differentiates $f$. If $f$ is a step, $f(z) = \mathbb 1[z > 0]$, its
# derivative is zero wherever it exists, yet $\mathbb E_q[f] = P(z > 0) = \Phi(\mu/\sigma)$ clearly
# moves with $\mu$: $\nabla_\mu = \varphi(\mu/\sigma)/\sigma$. Autograd reports zero, a *biased*
# answer, while the score function, which never differentiates $f$, stays correct. (Written with
# a comparison such as `z > 0`, $f$ would have no gradient at all, and `pathwise_gradient`
# refuses it with an error that points to the score function.)

# %%
def step(z, q=None):
    return ((torch.sign(z) + 1) / 2).sum(-1)  # 1 where z > 0, else 0; autograd's slope of sign is 0


m, v = torch.tensor([0.5]), torch.tensor([0.0])  # mean and log-variance: sigma = 1
sigma = (0.5 * v).exp()
exact_step = torch.exp(Normal(0.0, 1.0).log_prob(m / sigma)) / sigma
g = torch.Generator().manual_seed(SEED)
score_step = estimators["score + baseline"](step, m, v, 100_000, g)["mu"][:, 0]
path_step = estimators["pathwise"](step, m, v, 100_000, g)["mu"][:, 0]
print(f"exact {exact_step.item():.4f} | score function {score_step.mean():.4f} ± "
      f"{score_step.std() / math.sqrt(1e5):.4f} | pathwise {path_step.mean():.4f}")

# %% [markdown]
# **Check.** The score function is within four standard errors of the exact gradient; the pathwise
# estimate is exactly zero.

# %%
assert abs(score_step.mean() - exact_step) < 4 * score_step.std() / math.sqrt(1e5)
assert path_step.abs().max() == 0

# %% [markdown]
# ## The same in `torch.distributions`
#
# PyTorch builds both estimators into its distributions. `q.rsample()` draws
# $z = \mu + \sigma \varepsilon$ with the graph attached, so `backward()` gives the pathwise
# gradient; `q.sample()` cuts the graph (no gradient flows to $\mu$, $\sigma$). For the score
# function one differentiates the *surrogate* $f(z)\log q_\phi(z)$ with $f(z)$ and $z$ held fixed:
# its gradient is $f(z)\nabla_\phi \log q_\phi(z)$. Both agree exactly with `vaebook`'s estimators
# on the same noise.

# %%
mu_t = torch.tensor([1.5, -0.5], requires_grad=True)
logvar_t = (2 * torch.log(torch.tensor([0.7, 1.2]))).requires_grad_()
q = Normal(mu_t, (0.5 * logvar_t).exp())
print("sample() keeps a graph:", q.sample().requires_grad, "| rsample() keeps a graph:", q.rsample().requires_grad)

torch.manual_seed(SEED)
square(q.rsample((1000,))).mean().backward()
torch.manual_seed(SEED)
reference = pathwise_gradient(square, diagonal_gaussian, {"mu": mu_t, "logvar": logvar_t}, 1000)[0]
pathwise_agrees = (torch.allclose(mu_t.grad, reference["mu"].mean(0))
                   and torch.allclose(logvar_t.grad, reference["logvar"].mean(0)))

mu_t.grad = logvar_t.grad = None
q = Normal(mu_t, (0.5 * logvar_t).exp())  # a fresh graph: backward() freed the last one
torch.manual_seed(SEED)
z = q.sample((1000,))
(square(z) * q.log_prob(z).sum(-1)).mean().backward()
torch.manual_seed(SEED)
reference = score_function_gradient(square, diagonal_gaussian, {"mu": mu_t, "logvar": logvar_t}, 1000)[0]
score_agrees = (torch.allclose(mu_t.grad, reference["mu"].mean(0))
                and torch.allclose(logvar_t.grad, reference["logvar"].mean(0)))
print(f"rsample + backward == pathwise: {pathwise_agrees}; surrogate + backward == score function: {score_agrees}")
assert pathwise_agrees and score_agrees

# %% [markdown]
# ## Summary
#
# - The score-function estimator $\mathbb E_q[f(z)\nabla_\phi \log q_\phi(z)]$ is unbiased for any
#   $f$, even a discontinuous one, but its variance grows with the size of $f$, with the
#   dimension, and as $q$ sharpens; a baseline removes part of it at no bias.
# - The pathwise estimator $\mathbb E_\varepsilon[\nabla_z f \cdot \partial z/\partial\phi]$ needs a
#   differentiable $f$ and a reparameterizable $q$; where it applies it is usually orders of
#   magnitude less noisy. The VAE uses it (chapter 5); black-box inference (chapter 7) uses the
#   score function where it cannot.
# - In PyTorch: `rsample()` for pathwise gradients, a surrogate with `log_prob` for the score function.
#
# ## Exercises
#
# 1. Find an $f$ for which the score function beats the pathwise estimator. *Hint:* try a rapidly
#    oscillating $f(z) = \sin(\omega z)$ with large $\omega$ and compare the variances.
# 2. Derive the optimal constant baseline $b^* = \mathbb E[f\, s^2] / \mathbb E[s^2]$ for a score
#    $s$, and compare it with the leave-one-out baseline. *Hint:* minimize
#    $\operatorname{Var}[(f - b)s]$ over $b$.
# 3. Repeat the $K$ experiment for $\partial/\partial \log \sigma^2_1$. Does the same pattern hold?
#
# ## References
#
# - Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
#   reinforcement learning. *Machine Learning*, 8, 229–256. {cite}`williams1992simple`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
# - Rezende, D. J., Mohamed, S., & Wierstra, D. (2014). Stochastic backpropagation and approximate
#   inference in deep generative models. *ICML*. {cite}`rezende2014stochastic`
# - Mohamed, S., Rosca, M., Figurnov, M., & Mnih, A. (2020). Monte Carlo gradient estimation in
#   machine learning. *Journal of Machine Learning Research*, 21(132), 1–62. {cite}`mohamed2020monte`
