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
# # 7. Black-box variational inference
#
# **What you will learn.** How to fit a variational approximation to *any* model whose log-joint
# you can evaluate, using only samples from $q$ and the score-function gradient; why that needs
# variance reduction (control variates, Rao-Blackwellization, adaptive steps), and when each of
# them helps; and how well it works, checked against exact answers on three models. At the end,
# the VAE's encoder is seen as amortized variational inference, and the price of amortization is
# measured in nats, with the biases of each measurement stated.

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
from torch.distributions import (
    Bernoulli,
    Beta,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from vaebook import plots, pretrained, vi
from vaebook.data import binarize_static, load_mnist, random_rows
from vaebook.exact import BayesianLinearRegression, SigmoidBeliefNet
from vaebook.likelihood import estimate_log_likelihood
from vaebook.losses import elbo
from vaebook.randomness import book_seed, seed_everything
from vaebook.training import pick_device

SEED = book_seed()  # $VAEBOOK_SEED, else 0
seed_everything(SEED)
device = pick_device()
F64 = torch.float64
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## The idea
#
# Chapter 3 maximized an ELBO in closed form; chapter 5 maximized a Monte Carlo ELBO with
# chapter 4's reparameterization trick, which needs a continuous $z$ and a $\log p(x, z)$ that
# autograd can differentiate in $z$. Ranganath, Gerrish & Blei
# (2014) asked for less, building on the score-function (REINFORCE) estimator of Williams (1992)
# and the stochastic-search VI of Paisley, Blei & Jordan (2012). Write the ELBO of an
# approximate posterior $q_\lambda(z)$ with parameters $\lambda$ (one $q$ fitted directly,
# without an encoder) as the expectation of one function,
#
# $$
# \mathcal L(\lambda) = \mathbb E_{q_\lambda(z)}[f(z)], \qquad
# f(z) = \log p(x, z) - \log q_\lambda(z).
# $$
#
# $f$ depends on $\lambda$ twice: through the distribution we average over, and through
# $\log q_\lambda$ inside it. Differentiate the integral $\int q_\lambda(z) f(z)\, dz$ under the
# integral sign with the **product rule**, $\nabla(q f) = f\, \nabla q + q\, \nabla f$:
#
# $$
# \begin{aligned}
# \nabla_\lambda \mathcal L
# &= \int f(z)\, \nabla_\lambda q_\lambda(z)\, dz + \int q_\lambda(z)\, \nabla_\lambda f(z)\, dz \\
# &= \mathbb E_{q_\lambda}\big[f(z)\, \nabla_\lambda \log q_\lambda(z)\big]
#   - \mathbb E_{q_\lambda}\big[\nabla_\lambda \log q_\lambda(z)\big].
# \end{aligned}
# $$
#
# The first term uses $\nabla q = q\, \nabla \log q$; the second uses
# $\nabla_\lambda f = -\nabla_\lambda \log q_\lambda$ ($\log p(x, z)$ does not depend on
# $\lambda$). That second term is zero: the score $\nabla_\lambda \log q_\lambda$ has mean zero,
# because $\mathbb E_q[\nabla_\lambda \log q_\lambda] = \int \nabla_\lambda q_\lambda(z)\, dz =
# \nabla_\lambda \int q_\lambda(z)\, dz = \nabla_\lambda 1 = 0$. What is left is chapter 4's
# score-function identity, estimated with $S$ samples $z_s \sim q_\lambda$:
#
# $$
# \begin{aligned}
# \nabla_\lambda \mathcal L &= \mathbb E_{q_\lambda}\big[\nabla_\lambda \log q_\lambda(z)\, f(z)\big] \\
# &\approx \frac1S \sum_{s=1}^S \nabla_\lambda \log q_\lambda(z_s)\, f(z_s).
# \end{aligned}
# $$
#
# Everything inside the sum is cheap: samples from $q$, the score of *our* distribution, and
# **evaluations** of $\log p(x, z)$, never its gradient. So the same few lines fit a model with
# discrete latent variables, a non-differentiable likelihood, or a simulator with a
# log-density: the model is a black box. The price is variance, and the paper's contribution is
# as much the variance reduction as the estimator. Three tools:
#
# - **Control variates.** Because the score has mean zero, subtracting $b\, \nabla_\lambda \log
#   q_\lambda(z)$ for any constant $b$ keeps the estimate unbiased:
#   $\mathbb E_q[(f(z) - b)\, \nabla_\lambda \log q_\lambda(z)] = \nabla_\lambda \mathcal L$. A
#   term with known mean zero, subtracted to lower the variance, is a *control variate*; the
#   constant $b$ is the simplest one, a *baseline*. Chapter 4's baseline is exactly this idea,
#   with $b$ the mean of $f$. Here each coordinate of $\lambda$ gets its own $b$, chosen to
#   minimize the variance: with the score $u = \partial \log q_\lambda / \partial \lambda$ of
#   that coordinate (chapter 4's $u$),
#   $\operatorname{Var}[(f - b) u] = \mathbb E[(f - b)^2 u^2] - (\mathbb E[f u])^2$ (the mean
#   $\mathbb E[(f - b) u]$ is $\mathbb E[f u]$, since $\mathbb E[u] = 0$) is a parabola in $b$;
#   setting its derivative $-2\,\mathbb E[(f - b) u^2]$ to zero gives the smallest at
#   $b^\star = \mathbb E[u^2 f] / \mathbb E[u^2]$. `vaebook.vi`
#   estimates $b^\star$ for each sample from the *other* $S - 1$ samples, so that $b$ does not
#   depend on $z_s$ and no bias creeps in.
# - **Rao-Blackwellization** (defined in the next section). With a mean-field
#   $q_\lambda(z) = \prod_j q_{\lambda_j}(z_j)$, the gradient for $\lambda_j$ needs only the terms
#   of $\log p(x, z)$ that involve $z_j$. Dropping the others keeps it unbiased; whether it
#   lowers the variance depends on *which* terms are dropped: below, it does not help in two
#   models where every latent shares a term with every other (an aside shows a model where it
#   does).
# - **Adaptive step sizes.** AdaGrad in the paper; Adam here (`vi.fit` offers both). AdaGrad
#   divides each coordinate's step by the square root of the sum of all its past squared
#   gradients; Adam divides a moving average of the recent gradients by the square root of a
#   moving average of their squares.
#
# ## Rao-Blackwellization and the Markov blanket
#
# The **Rao-Blackwell theorem** (Rao, 1945; Blackwell, 1947; for Monte Carlo, Casella & Robert,
# 1996) says that replacing an estimator
# $\hat g$ by its conditional expectation $\mathbb E[\hat g \mid T]$ given some of the random
# variables $T$ keeps the mean and never raises the variance:
# $\operatorname{Var} \hat g = \operatorname{Var} \mathbb E[\hat g \mid T] +
# \mathbb E[\operatorname{Var}(\hat g \mid T)]$ (the law of total variance), and the last term is
# at least zero. Averaging out part of the randomness *exactly* can only help.
#
# To apply it to the gradient for one factor $q_{\lambda_j}(z_j)$, look at how $\log p(x, z)$
# is built. A **factor graph** (Kschischang, Frey & Loeliger, 2001) draws a model as variables
# (circles) and factors (squares), each factor a term of $p(x, z)$ joined to the variables it
# depends on. Below is a small *sigmoid belief net* (model 3 fits a bigger one, 8 causes and 20
# pixels, and defines it fully): three binary latent causes $z_j$ and four binary pixels: a prior
# factor $p(z_j)$ for
# each cause, and a likelihood factor $p(x_d \mid z)$ for each pixel, a Bernoulli whose logit
# depends on *every* cause. Let $p_j(x, z)$ be the
# product of the factors that involve $z_j$ (orange for $j = 1$; not a distribution, and not
# the prior factor $p(z_j)$ alone), and
#
# $$
# f_j(z) = \log p_j(x, z) - \log q_{\lambda_j}(z_j), \qquad f(z) = f_j(z) + r_j(z),
# $$
#
# where the rest, $r_j$, collects the other factors and the $-\log q$ terms of the other
# coordinates, none of which involves $z_j$. The variables that share a factor with $z_j$ form
# its **Markov blanket** (blue): given them (and $x$), $z_j$ is independent of everything else in
# the model. What matters below is that the blanket's variables are the ones that appear both in
# $f_j$ and in the rest $r_j$; all the expectations below are under the mean-field $q$.

# %% tags=["hide-input"]
fig = Figure(figsize=(6.7, 3.1))
ax = fig.subplots()
causes = {j: (1.0 + 2.0 * j, 2.0) for j in (1, 2, 3)}
pixels = {d: (0.5 + 2.0 * d, 0.0) for d in (1, 2, 3, 4)}
# likelihood factor p(x_d | z): every cause
for d, (px, py) in pixels.items():
    for a, b in causes.values():
        ax.plot([a, px], [b, 1.0], color="tab:orange", lw=1, zorder=1)
    ax.plot([px, px], [1.0, py], color="tab:orange", lw=1, zorder=1)
    ax.plot(px, 1.0, "s", color="tab:orange", ms=10, zorder=2)
    ax.text(px + 0.15, 1.0, f"$p(x_{d} \\mid z)$", fontsize=9, va="center",
            bbox=dict(fc="white", ec="none", pad=0.3), zorder=2)
for j, (a, b) in causes.items():  # prior factor p(z_j)
    color = "tab:orange" if j == 1 else "grey"
    ax.plot([a, a], [b, b + 0.8], color=color, lw=1, zorder=1)
    ax.plot(a, b + 0.8, "s", color=color, ms=10, zorder=2)
    ax.text(a + 0.15, b + 0.8, f"$p(z_{j})$", fontsize=8, va="center")
    fill = "white" if j == 1 else "lightblue"
    ax.scatter(a, b, s=600, c=fill, edgecolors="black", zorder=3)
    ax.text(a, b, f"$z_{j}$", ha="center", va="center", zorder=4)
for d, (px, py) in pixels.items():
    ax.scatter(px, py, s=600, c="lightgrey", edgecolors="black", zorder=3)
    ax.text(px, py, f"$x_{d}$", ha="center", va="center", zorder=4)
ax.set_xlim(1.5, 9.5)
ax.set_ylim(-0.5, 3.2)
ax.axis("off")
ax.set_title("orange: the factors of $p_1$; grey squares: other factors;\n"
             "blue: the Markov blanket of $z_1$; grey circles: observed",
             fontsize=9)
fig.tight_layout()
fig

# %% [markdown]
# Under a mean-field $q$, $r_j$ is independent of $z_j$, so $\mathbb E_q[u\, r_j] =
# \mathbb E_q[u]\, \mathbb E_q[r_j] = 0$ for every score $u$ of a coordinate of $\lambda_j$:
# **dropping $r_j$ keeps the gradient unbiased**, and Ranganath et al. use $f_j$ in place of $f$
# for $\lambda_j$'s gradient, and call it Rao-Blackwellization, as this book does after them.
# It is the theorem's step only under a condition: with $T$ the variable $z_j$ and its blanket,
# $\mathbb E[u\,(f - b) \mid T] = u\,(f_j + \mathbb E[r_j \mid T] - b)$, which is the
# estimator with $r_j$ dropped exactly when $\mathbb E[r_j \mid T]$ is a constant that the
# baseline absorbs. Otherwise dropping $r_j$ is not a conditional expectation, and the theorem
# promises nothing. In the belief net above, and in model 2 below, every other latent is in
# $z_j$'s blanket, so $T$ is all of $z$ and $\mathbb E[r_j \mid T] = r_j$: conditioning averages
# nothing out, "Rao-Blackwellization" there just means dropping terms, and only a measurement
# can say whether that helps. Does it lower the variance? Expand the square (with
# $\mathbb E[u r_j] = 0$, and $\mathbb E[u^2 r_j^2] = \mathbb E[u^2]\, \mathbb E[r_j^2]$ because
# $u$ depends on $z_j$ only):
#
# $$
# \operatorname{Var}[u\, (f_j + r_j)] - \operatorname{Var}[u\, f_j]
# = \mathbb E[u^2]\, \mathbb E[r_j^2] + 2\, \mathbb E[u^2 f_j r_j]
# $$
#
# (with a baseline, read $f_j - b$ for $f_j$, the same $b$ in both; each estimator's *best* $b$
# may differ, which the first bullet below takes into account). Its sign depends on the blanket.
#
# - **An empty blanket: dropping $r_j$ never hurts.** Then $T$ is $z_j$ alone, and $r_j$, which
#   does not involve $z_j$, is independent of it under $q$, so its mean given $T$ is the
#   constant $\bar r_j = \mathbb E[r_j]$. Write
#   $r_j = \bar r_j + \tilde r_j$ and $b' = b - \bar r_j$, so that
#   $u\,(f_j + r_j - b) = u\,(f_j - b') + u\, \tilde r_j$. The two parts are uncorrelated
#   ($\tilde r_j$ has mean zero given $T$, which fixes $u$ and $f_j$), and the second adds
#   $\mathbb E[u^2] \operatorname{Var}[r_j]$. Since each estimator picks its own best baseline, the
#   shift from $b$ to $b'$ costs nothing, and dropping $r_j$ saves exactly
#   $\mathbb E[u^2] \operatorname{Var}[r_j] \ge 0$ (exercise 4 writes it out). The saving is large
#   when $r_j$ gathers many terms that fluctuate on their own.
# - **A non-empty blanket: dropping $r_j$ can hurt.** Then $r_j$ holds the prior and $-\log q$
#   terms of the blanket's variables, on which $f_j$ depends too, and the cross term
#   $2\, \mathbb E[u^2 f_j r_j]$ can have either sign. When $f_j$ and $r_j$ move against each
#   other, keeping $r_j$ cancels noise and dropping it *raises* the variance. (Where $q$ equals
#   the prior the dropped terms are zero and nothing changes; model 2 starts there.)
#
# In the belief net above, the terms dropped for $z_1$ are $\log p(z_2) - \log
# q_{\lambda_2}(z_2)$ and the same for $z_3$ (the grey factors and the other $q$'s): they involve
# exactly the blanket, so nothing guarantees a gain. Bayesian linear regression (model 2) has
# the same shape: every likelihood factor involves every weight. `vi.elbo_gradient` and `vi.fit`
# take the $\log p_j$ as `local_log_joint`; we measure what they do.
#
# `vi.elbo_gradient` returns one gradient estimate per sample, so their spread can be measured;
# `vi.fit` runs the optimization with a seeded generator.

# %% [markdown]
# ## Model 1: a coin, where the answer is known
#
# A coin lands heads with probability $\rho$. A $\operatorname{Beta}(a_1, a_0)$ distribution has
# density $\propto \rho^{a_1 - 1}(1 - \rho)^{a_0 - 1}$, with pseudo-counts $a_1$ of heads and
# $a_0$ of tails (in this convention the uniform $\operatorname{Beta}(1, 1)$ counts one of each;
# the exponents are $a - 1$). The prior is $\operatorname{Beta}(10, 10)$: ten pseudo-counts of heads, ten of
# tails; the coin shows 6 heads in 10 flips (the data $x$; the latent $z$ is $\rho$). The likelihood
# $\rho^6 (1 - \rho)^4$ has the same form, so the posterior adds the counts:
# $\operatorname{Beta}(10 + 6, 10 + 4) = \operatorname{Beta}(16, 14)$. We fit
# $q_\lambda(\rho) = \operatorname{Beta}(a_1, a_0)$ with $\lambda = (\log a_1, \log a_0)$ by BBVI from
# $\operatorname{Beta}(1, 1)$ (uniform), with Adam (step $0.05$ on $\lambda$, the logarithms of
# the two pseudo-counts) and $S = 10$ samples per step, once without and once with the control
# variate. *Converged* means that from that step on, both pseudo-counts stay within 5% of
# $(16, 14)$.

# %%
# tolerance: rtol=0.01 atol=0.01
HEADS, TAILS = 6, 4
PRIOR = Beta(torch.tensor(10.0, dtype=F64), torch.tensor(10.0, dtype=F64))
EXACT = torch.tensor([10.0 + HEADS, 10.0 + TAILS], dtype=F64)


def coin_log_joint(rho):
    """log p(ρ) + log p(6 heads, 4 tails | ρ), ρ: (S, 1). Returns (S,)."""
    r = rho[:, 0]
    return PRIOR.log_prob(r) + HEADS * r.log() + TAILS * torch.log1p(-r)


COIN_STEPS = 3000
coin = {}
for label, control in (("plain score function", False),
                       ("with control variate", True)):
    family = vi.BetaMeanField(torch.ones(1, dtype=F64),
                              torch.ones(1, dtype=F64))
    result = vi.fit(family, coin_log_joint, steps=COIN_STEPS, n_samples=10,
                    lr=0.05, control_variate=control, seed=SEED)
    trace = torch.cat([result.trace["a1"], result.trace["a0"]], 1)
    coin[label] = trace, vi.steps_to_reach(trace, EXACT, rtol=0.05)
    a1, a0 = trace[-1].tolist()
    reached = coin[label][1]
    when = ("never stays within 5%" if reached is None
            else f"within 5% from step {reached} on")
    print(f"{label:22s}: final Beta({a1:.2f}, {a0:.2f}), {when}")

fig = Figure(figsize=(6.7, 3))
axes = fig.subplots(1, 2, sharey=True)
for ax, (label, (trace, _)) in zip(axes, coin.items(), strict=True):
    ax.plot(trace[:, 0], label="$a_1$ (heads)")
    ax.plot(trace[:, 1], label="$a_0$ (tails)")
    for i, (value, name) in enumerate(zip(EXACT, ("$a_1$", "$a_0$"),
                                          strict=True)):
        ax.axhspan(0.95 * value, 1.05 * value, color=f"C{i}", alpha=0.2,
                   label=f"{name} within 5% of {value:g}")
    ax.set_title(label)
    ax.set_xlabel("step")
axes[0].set_ylabel("pseudo-count of $q$")
axes[0].legend()
fig.tight_layout()
fig

# %% [markdown]
# Without a control variate the iterates wander around the answer: every step follows a noisy
# gradient, and Adam's normalized steps never shrink. With it they settle *exactly*. That is no
# accident: at $q = p(\rho \mid x)$, $f(\rho) = \log p(x, \rho) - \log p(\rho \mid x) = \log
# p(x)$ is the same for every sample, so the optimal baseline $b^\star = \log p(x)$ removes it
# entirely and the gradient estimate is exactly zero, with zero variance. Far from the optimum
# the baseline helps less. The next cell, after asserting the checks below, measures the variance of one sample's
# gradient (summed over the two coordinates of $\lambda$, from 10,000 samples) at the start
# $\operatorname{Beta}(1, 1)$, at $\operatorname{Beta}(8, 7)$ (roughly half-way) and at the
# posterior.
#
# **Check.** With the control variate BBVI converges within the first half of the 3,000 steps
# and ends on $\operatorname{Beta}(16, 14)$ to three digits; without it, it takes at least three
# times as many steps, or does not stay within 5% at all. The control variate divides the
# variance by more than 2 at the start and by more than 10 half-way, at $\operatorname{Beta}(8, 7)$; at the posterior the
# controlled gradient has zero variance (up to rounding errors, below $10^{-20}$).

# %%
steps_plain = coin["plain score function"][1]
steps_cv = coin["with control variate"][1]
assert steps_cv is not None and steps_cv < COIN_STEPS / 2
assert steps_plain is None or steps_plain > 3 * steps_cv
assert torch.allclose(coin["with control variate"][0][-1], EXACT, rtol=1e-3)


def coin_variance(a1, a0, control):
    torch.manual_seed(SEED)
    family = vi.BetaMeanField(torch.tensor([a1], dtype=F64),
                              torch.tensor([a0], dtype=F64))
    grads, _ = vi.elbo_gradient(family, coin_log_joint, 10_000,
                                control_variate=control)
    return vi.gradient_variance(grads).item()


for a1, a0, least in ((1.0, 1.0, 2), (8.0, 7.0, 10)):
    plain, controlled = (coin_variance(a1, a0, c) for c in (False, True))
    print(f"q = Beta({a1:4.1f}, {a0:4.1f}): variance plain {plain:9.3g}, "
          f"with control variate {controlled:9.3g} "
          f"({plain / controlled:.1f} times smaller)")
    assert controlled < plain / least
at_posterior = coin_variance(16.0, 14.0, True)
print(f"q = Beta(16.0, 14.0): variance plain "
      f"{coin_variance(16.0, 14.0, False):9.3g}, with control variate "
      f"{'below 1e-20' if at_posterior < 1e-20 else at_posterior}")
assert at_posterior < 1e-20

# %% [markdown]
# ## Model 2: Bayesian linear regression, against the best mean-field answer
#
# Thirty inputs $o_n \in \mathbb R^2$, whose two features have correlation 0.9, and targets
# $y_n \sim \mathcal N(\omega^\top o_n, \tau^2)$ with noise $\tau = 1$; the latent variable is
# the weight vector $\omega \in \mathbb R^2$, with prior $\mathcal N(0, I)$. Stack the $o_n^\top$
# as the rows of a matrix $O$. The posterior is Gaussian, $\mathcal N(\mu_{\text{post}},
# \Sigma_{\text{post}})$ with
#
# $$
# \Lambda = \Sigma_{\text{post}}^{-1} = I + O^\top O / \tau^2, \qquad
# \mu_{\text{post}} = \Sigma_{\text{post}}\, O^\top y / \tau^2,
# $$
#
# and strongly *negatively* correlated, though the inputs are positively correlated: the two
# weights explain each other away (chapter 3), since a positive $(O^\top O)_{12}$ makes the
# precision's off-diagonal positive and so the covariance's negative. This is chapter 3's
# completing the square, with $O$ for its loadings, no offset, $\omega$ for $z$ and $y$ for $x$. ($\Lambda$, the inverse of a covariance, is called the
# **precision** matrix, as in chapter 3.) A mean-field Gaussian
# $q = \mathcal N(\mu_q, \operatorname{diag} \sigma^2)$ cannot show that correlation, but its
# *best* member is known in closed form. For any $q$, the ELBO is
# $\log p(y) - \mathrm{KL}(q \,\Vert\, p(\omega \mid y))$ (chapter 3), and for this Gaussian
# posterior over $K = 2$ weights the KL is
#
# $$
# \begin{aligned}
# \mathrm{KL} = \tfrac12 \Big[&\textstyle\sum_j \Lambda_{jj} \sigma_j^2 +
# (\mu_q - \mu_{\text{post}})^\top \Lambda (\mu_q - \mu_{\text{post}}) \\
# &- K - \textstyle\sum_j \log \sigma_j^2 + \log \det \Sigma_{\text{post}}\Big].
# \end{aligned}
# $$
#
# The quadratic term vanishes at $\mu_q = \mu_{\text{post}}$, and
# $\partial \mathrm{KL} / \partial \sigma_j^2 = \tfrac12 [\Lambda_{jj} - 1 / \sigma_j^2] = 0$
# gives $\sigma_j^2 = 1 / \Lambda_{jj}$: the best mean-field variances are the inverse diagonal
# of the *precision*, not the diagonal of the covariance, so they are too narrow (chapter 3 saw
# the same). Both BBVI (score function with Rao-Blackwellization and control variate, $S = 20$)
# and reparameterized VI ($S = 5$) must get there; both fit $\lambda = (\mu_q, \log \sigma^2)$, two
# means and two log-variances, with Adam with a step of 0.05 decaying along a cosine over 2,000
# steps. The cell also prints $\eta$, the posterior correlation of the two weights.
#
# The figure after the printed numbers draws each Gaussian by its ellipses of 1 and 2 standard
# deviations (solid and dotted, as the legend says): the exact posterior wide and pale blue,
# tilted by the correlation; the best mean-field $q$ in orange, and the two fits in green and
# red. A mean-field $q$ has no correlation, so its ellipses are upright, and the three of them
# lie nearly on top of one another, centred on the posterior's mean: narrower than the
# posterior along the axes, but wider than it along its narrow diagonal.

# %%
# tolerance: rtol=0.01 atol=0.003
regression = BayesianLinearRegression.random(
    30, torch.tensor([1.0, -0.5], dtype=F64), correlation=0.9, seed=SEED)
best_mean, best_std = regression.mean_field_optimum()
posterior = regression.posterior()
correlation = posterior.covariance_matrix[0, 1] / posterior.stddev.prod()
print(f"exact posterior: mean {posterior.mean.numpy().round(3)}, std "
      f"{posterior.stddev.numpy().round(3)}, correlation "
      f"{correlation.item():.3f}")
print(f"best mean-field: mean {best_mean.numpy().round(3)}, "
      f"std {best_std.numpy().round(3)}")
# a demonstration of an identity (both sides come from the same precision)
widening = posterior.stddev / best_std
print(f"posterior std / best mean-field std: {widening.numpy().round(2)}, "
      f"1 / sqrt(1 - η²) = {(1 - correlation**2).rsqrt().item():.2f}")


def elbo_below_best(mean, std):
    """How far the ELBO of N(mean, diag std²) lies below the best
    mean-field ELBO, in nats: the difference of their KLs to the posterior
    (log p(y) cancels), in closed form by torch.distributions."""
    def kl(mu_q, sigma):
        return kl_divergence(
            MultivariateNormal(mu_q, torch.diag(sigma**2)), posterior)
    return (kl(mean, std) - kl(best_mean, best_std)).item()


routes = {"BBVI (score function)": dict(
              method="score", n_samples=20,
              local_log_joint=regression.local_log_joint),
          "reparameterized": dict(method="pathwise", n_samples=5)}
fitted, below_best = {}, {}
for label, options in routes.items():
    family = vi.GaussianMeanField(torch.zeros(2, dtype=F64),
                                  torch.zeros(2, dtype=F64))
    vi.fit(family, regression.log_joint, steps=2000, lr=0.05,
           cosine_schedule=True, seed=SEED, **options)
    fitted[label] = family.readable()
    mean, std = fitted[label]["mean"], fitted[label]["std"]
    below_best[label] = elbo_below_best(mean, std)
    print(f"{label:22s}: mean {mean.numpy().round(3)}, "
          f"std {std.numpy().round(3)}, "
          f"ELBO {below_best[label]:.4f} nats below the best")

plots.plot_gaussian_contours(
    {"exact posterior": (posterior.mean, posterior.covariance_matrix),
     "best mean-field": (best_mean, torch.diag(best_std**2)),
     **{label: (q["mean"], torch.diag(q["std"] ** 2))
        for label, q in fitted.items()}},
    title=r"posterior of the two weights $\omega$",
    labels=(r"$\omega_1$", r"$\omega_2$"))

# %% [markdown]
# The best mean-field standard deviations are narrower than the posterior's by the printed
# factor, which for two weights is $1/\sqrt{1 - \eta^2}$ (the aside derives it): the stronger the
# posterior correlation, the narrower the mean-field $q$.
#
# :::{admonition} Going further: by how much mean-field $q$ is narrower
# :class: dropdown
# The best mean-field standard deviations are narrower than the posterior's by exactly the
# factor $\sqrt{1 - \eta^2}$:
# inverting the $2 \times 2$ covariance by hand gives $\Lambda_{11}$, and then
# $1 / \Lambda_{11} = (\Sigma_{\text{post}})_{11} - (\Sigma_{\text{post}})_{12}^2 /
# (\Sigma_{\text{post}})_{22} = (\Sigma_{\text{post}})_{11} (1 - \eta^2)$, and likewise for the
# second weight. The printed ratio of the standard deviations shows the identity at work (1.73
# for both weights here): a demonstration, not evidence, since both sides come from the same
# precision matrix.
# :::
#
# **Check.** The posterior correlation $\eta$ is strongly negative (below $-0.5$; $-0.817$
# here). Both routes reach the best mean-field Gaussian: their ELBOs end within 0.02 nats of
# its ELBO and not above it, up to rounding, since it is the optimum (each difference is
# computed as the difference of the two KLs to the posterior, in closed form), and their
# standard deviations within 10% of its.

# %%
assert correlation < -0.5
for label, q in fitted.items():
    assert -1e-9 < below_best[label] < 0.02
    assert (q["std"] / best_std - 1).abs().max() < 0.1

# %% [markdown]
# Both get there; at what price in noise? The variance of one sample's gradient (summed over the
# four coordinates of $\lambda$, from 10,000 samples), at the starting point $q = \mathcal N(0,
# I)$ and at the best mean-field $q$:

# %%
def regression_gradients(**options):
    """Per-sample gradients at a given q, by the options of elbo_gradient."""
    return lambda q: vi.elbo_gradient(q, regression.log_joint, 10_000,
                                      **options)


estimators = {
    "score, plain": regression_gradients(control_variate=False),
    "score + control variate": regression_gradients(),
    "score + Rao-Blackwell + c.v.": regression_gradients(
        local_log_joint=regression.local_log_joint),
    "reparameterized": regression_gradients(method="pathwise"),
}
points = {"start": (torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64)),
          "optimum": (best_mean, 2 * best_std.log())}
variances = {}
print(f"{'estimator':30s}" + "".join(f"{name:>12s}" for name in points))
for label, estimate in estimators.items():
    row = []
    for mean, logvar in points.values():
        torch.manual_seed(SEED)
        grads, _ = estimate(vi.GaussianMeanField(mean, logvar))
        row.append(vi.gradient_variance(grads).item())
    variances[label] = row
    print(f"{label:30s}" + "".join(f"{v:12.4g}" for v in row))
plain, controlled = (variances[label] for label in
                     ("score, plain", "score + control variate"))
print("the control variate cuts the variance by " + ", ".join(
    f"{p / c:.3g}x at the {name}"
    for p, c, name in zip(plain, controlled, points, strict=True)))

# %% [markdown]
# **Check.** The control variate cuts the score-function variance by more than 2× at the start
# (the printed factor) and more than 100× at the optimum, where $f = \log p - \log q$ varies little (it would be
# constant if $q$ could equal the posterior, as for the coin). The reparameterized gradient is
# quieter still at the start, by more than 2×; at the optimum the two are close (the
# controlled one within a factor 2 of the reparameterized one). These controlled variances use
# a baseline estimated from the other 9,999 samples, so nearly the best $b^\star$; with the
# $S = 10$ or 20 samples of a real step, the estimated baseline adds noise of its own. In two
# dimensions the gap is modest; chapter 4 showed how it grows with the dimension and with
# narrow $q$. The plain estimator is noisier at the optimum than at the start: $q$ is narrower
# there, so the score $(\omega_j - \mu_j)/\sigma_j^2$ is larger, and it multiplies the large mean of $f$,
# which only a baseline removes.
#
# Rao-Blackwellization does not help in this model. At the start it changes nothing (to
# rounding): $q$ equals the prior there, so the terms it drops, $\log p(\omega_2) - \log
# q_{\lambda_2}(\omega_2)$ for $\omega_1$ and the other way round, are exactly zero. At the
# optimum it *raises* the variance: those terms involve the other weight, which sits in the
# Markov blanket of this one, and they cancel part of the noise of the likelihood term that
# both share.

# %%
plain, controlled, rao_blackwell, reparam = (
    variances[k] for k in ("score, plain", "score + control variate",
                           "score + Rao-Blackwell + c.v.", "reparameterized"))
assert controlled[0] < plain[0] / 2 and controlled[1] < plain[1] / 100
assert reparam[0] < controlled[0] / 2
assert reparam[1] / 2 < controlled[1] < 2 * reparam[1]  # within a factor 2
assert abs(rao_blackwell[0] / controlled[0] - 1) < 1e-9
assert rao_blackwell[1] > controlled[1]

# %% [markdown]
# ### Going further: where Rao-Blackwellization helps, one latent variable per data point
#
# The two models so far have non-empty blankets. Here is one whose latent variables share no
# factor. Each of $N = 20$ data points has its own
# latent mean: $z_n \sim \mathcal N(0, 1)$ and $x_n \mid z_n \sim \mathcal N(z_n, 1)$, with the
# $x_n$ drawn from the model. Here the latent coordinate is the data point, so the index $j$ of
# the sections above is written $n$: $z_n$, $\lambda_n$, $q_{\lambda_n}$ and $r_n$ are $z_j$,
# $\lambda_j$, $q_{\lambda_j}$ and $r_j$ with $j = n$. The terms of $\log p(x, z)$ that involve $z_n$ are
# $\log p(z_n) + \log p(x_n \mid z_n)$ alone, so $z_n$'s Markov blanket is empty, and the terms
# that Rao-Blackwellization drops for $\lambda_n$, those of the other 19 points, are independent
# of $z_n$ with a constant mean: a true Rao-Blackwell step, which cannot raise the variance. Each
# dropped term fluctuates on its own: once the baseline has absorbed their constant mean, the
# saving of the expansion above is $\mathbb E[u^2] \operatorname{Var}[r_n]$, and
# $\operatorname{Var}[r_n]$ is a sum of $N - 1$ variances, one per other point, so the saving
# grows with $N$. The posterior is $\mathcal N(x_n/2, 1/2)$ for each point, and
# the ELBO of a mean-field Gaussian is a closed form, whose gradient autograd gives: the value
# both estimators must average to. We measure at the start, $q = \mathcal N(0, I)$, and halfway
# to the posterior, $q_{\lambda_n} = \mathcal N(x_n/4, 3/4)$, with 10,000 samples each; each
# variance is summed over the $2N = 40$ coordinates of $\lambda$.

# %% tags=["hide-input"]
N_POINTS = 20
x_points = math.sqrt(2) * torch.randn(  # x_n ~ N(0, 2), drawn from the model
    N_POINTS, dtype=F64, generator=torch.Generator().manual_seed(SEED))


def point_terms(z):
    """log p(z_n) + log p(x_n | z_n) for every n: the terms that involve
    z_n, and only those. z: (S, N). Returns (S, N)."""
    return Normal(0.0, 1.0).log_prob(z) + Normal(z, 1.0).log_prob(x_points)


def points_log_joint(z):
    """log p(x, z) for z: (S, N). Returns (S,)."""
    return point_terms(z).sum(-1)


def points_elbo(mu, logvar):
    """The ELBO of q = N(mu, diag exp(logvar)), in closed form: the
    expected log prior and likelihood under q, plus q's entropy."""
    var = logvar.exp()
    return (-math.log(2 * math.pi) - 0.5 * (mu**2 + var)
            - 0.5 * ((x_points - mu) ** 2 + var)
            + 0.5 * (1 + math.log(2 * math.pi) + logvar)).sum()


where = {"start": (torch.zeros(N_POINTS, dtype=F64),
                   torch.zeros(N_POINTS, dtype=F64)),
         "midpoint": (x_points / 4,
                     torch.full((N_POINTS,), math.log(0.75), dtype=F64))}
points_variance, worst_z, n_compared = {}, 0.0, 0
print(f"{'estimator':30s}" + "".join(f"{name:>12s}" for name in where))
for label, local in (("score + control variate", None),
                     ("score + Rao-Blackwell + c.v.", point_terms)):
    row = []
    for mean, logvar in where.values():
        family = vi.GaussianMeanField(mean, logvar)
        params = [family.params["mu"], family.params["logvar"]]
        exact = torch.autograd.grad(points_elbo(*params), params)
        grads, _ = vi.elbo_gradient(
            family, points_log_joint, 10_000, local_log_joint=local,
            generator=torch.Generator().manual_seed(SEED))
        row.append(vi.gradient_variance(grads).item())
        for name, truth in zip(("mu", "logvar"), exact, strict=True):
            se = grads[name].std(0) / math.sqrt(len(grads[name]))
            off = ((grads[name].mean(0) - truth).abs() / se).max().item()
            worst_z = max(worst_z, off)
            n_compared += truth.numel()
    points_variance[label] = row
    print(f"{label:30s}" + "".join(f"{v:12.4g}" for v in row))
cut = [c / r for c, r in zip(*points_variance.values(), strict=True)]
print("Rao-Blackwellization cuts the variance by " + ", ".join(
    f"{f:.1f}x at the {name}" for f, name in zip(cut, where, strict=True)))
print(f"largest gap between a mean gradient and the closed form: "
      f"{worst_z:.1f} standard errors (of {n_compared} coordinates: "
      f"2 estimators x 2 points x 2N)")

# %% [markdown]
# **Check.** Both estimators are unbiased: every coordinate of their mean gradient lies within
# five standard errors of the closed form's gradient. Rao-Blackwellization cuts the variance by
# more than 4× at both points (about 7× here): with an empty blanket, dropping the other points'
# terms removes noise that no constant baseline can remove: a baseline removes only their mean.

# %%
assert worst_z < 5
assert all(factor > 4 for factor in cut)

# %% [markdown]
# ## Model 3: discrete latent variables, where only the score function applies
#
# A small sigmoid belief net (Neal, 1992), like the one in the factor graph above but with $K = 8$ binary
# causes $z_j \sim \operatorname{Bernoulli}(1/2)$ and $D = 20$ binary pixels
# $x_d \sim \operatorname{Bernoulli}(\operatorname{sigmoid}(\ell_d))$, whose logits
# $\ell = g_\theta(z)$ are an affine function of $z$ whose weights are drawn with standard
# deviation 2 and whose offset centres the logits, and one $x$ drawn from the model. There is no reparameterization of a Bernoulli
# sample, so the pathwise gradient does not apply (a Bernoulli draw is a step function of its
# probability, whose derivative is zero almost everywhere). With $2^8 = 256$ configurations, though,
# everything is exact by enumeration: $\log p(x)$, the posterior marginals $p(z_j = 1 \mid x)$,
# and the ELBO of any factorized $q_\lambda(z) = \prod_j \operatorname{Bernoulli}(z_j;
# \operatorname{sigmoid}(\lambda_j))$. Gradient ascent on that exact ELBO, from the uniform
# start, gives a mean-field optimum (a local one: this ELBO is not concave in $\lambda$), which
# we still call the best mean-field $q$ (here: the best that gradient ascent from this start
# finds, not a proven global optimum); BBVI, which sees only samples and evaluations, should reach
# the same ELBO. (In the code each cause has two logits, $\lambda_{j1}$ and $\lambda_{j0}$ with
# $\lambda_j = \lambda_{j1} - \lambda_{j0}$, one of them redundant, because `vaebook` writes every
# factor as a categorical over $\{0, 1\}$; the aside below says what that costs, and the
# gradient variances printed below sum over these 16 parameters.)
#
# :::{admonition} Going further: two logits per cause
# :class: dropdown
# `vaebook` writes each factor as a categorical over $\{0, 1\}$ with two free logits,
# $q(z_j = 1) = \operatorname{sigmoid}(\lambda_{j1} - \lambda_{j0})$: the same family with one
# redundant parameter per factor. The gradient variances below sum over all 16 parameters.
# :::

# %%
# tolerance: rtol=0.001 atol=0.003
sbn = SigmoidBeliefNet.random(data_dim=20, latent_dim=8, seed=SEED)
log_px = sbn.log_evidence().item()


def best_mean_field(model, steps=2000):
    """The best factorized q: Adam on its exact ELBO. Returns (K,) probs."""
    logits = torch.zeros(model.latent_dim, dtype=F64, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        (-model.mean_field_elbo(logits.sigmoid())).backward()
        optimizer.step()
    return logits.detach().sigmoid()


best_probs = best_mean_field(sbn)
best_elbo = sbn.mean_field_elbo(best_probs).item()

SBN_VARIANTS = {"plain": dict(control_variate=False), "control variate": {},
                "Rao-Blackwell + c.v.": dict(
                    local_log_joint=sbn.local_log_joint)}
sbn_fits = {}
for label, options in SBN_VARIANTS.items():
    family = vi.CategoricalMeanField(torch.zeros(8, 2, dtype=F64))
    vi.fit(family, sbn.log_joint, steps=2000, n_samples=10, lr=0.05,
           cosine_schedule=True, seed=SEED, **options)
    probs = family.readable()["probs"][:, 1]
    sbn_fits[label] = probs, sbn.mean_field_elbo(probs).item()

# The gradient's variance at the best mean-field q (at the uniform start q
# equals the prior, and the terms that Rao-Blackwellization drops are zero).
best_logits = torch.stack(
    [torch.zeros(8, dtype=F64), torch.logit(best_probs)], 1)
sbn_variance = {}
for label, options in SBN_VARIANTS.items():
    torch.manual_seed(SEED)
    grads, _ = vi.elbo_gradient(vi.CategoricalMeanField(best_logits),
                                sbn.log_joint, 10_000, **options)
    sbn_variance[label] = vi.gradient_variance(grads).item()
print("gradient variance at the optimum: " + ", ".join(
    f"{label} {value:.3g}" for label, value in sbn_variance.items()))
print(f"the control variate cuts it by "
      f"{sbn_variance['plain'] / sbn_variance['control variate']:.3g}x")
print(f"log p(x) by enumeration: {log_px:.3f}")
print(f"best mean-field ELBO   : {best_elbo:.3f} "
      f"(KL to the posterior {log_px - best_elbo:.3f} nats)")

fig = Figure(figsize=(6.7, 3.3))
ax = fig.subplots()
j = np.arange(8)  # positions; the causes are numbered 1 to 8
marginals = sbn.posterior_marginals()
ax.bar(j - 0.3, marginals, 0.3, label="exact $p(z_j = 1 \\mid x)$")
ax.bar(j, best_probs, 0.3, label="best mean-field $q$")
ax.bar(j + 0.3, sbn_fits["control variate"][0], 0.3,
       label="BBVI $q$ (control variate)")
ax.set_xticks(j, [str(cause) for cause in j + 1])
ax.set_xlabel("latent cause $j$")
ax.set_ylabel("probability that $z_j = 1$")
ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1), ncol=3)
fig.tight_layout()
fig

# %%
# tolerance: rtol=0.001 atol=0.01
# Where BBVI ends is noisy (the plain estimator most), and so are these
# numbers: another CPU moves them in the second decimal.
for label, (_, value) in sbn_fits.items():
    print(f"BBVI, {label:21s}: ELBO {value:.3f} "
          f"({best_elbo - value:.3f} below the best)")

# %% [markdown]
# In the figure, the bars of the BBVI fit with the control variate are close to those of the
# best mean-field $q$ (its ELBO ends within 0.01 nats of the best, as checked below); the aside
# after the check reads what the bars say about the posterior.
#
# **Check.** The control variate cuts the variance at the optimum by more than 20× (the printed
# factor is far larger, but it depends on the network, so the check asks only for 20×), and both
# fits
# that use it end within 0.01 nats of the best mean-field ELBO. Where the plain estimator ends
# after the same 2,000 steps is printed but not checked: with a far noisier gradient, where it
# stops depends on its last steps, and one run cannot say how far below the others it ends on
# average. Every ELBO lies below $\log p(x)$, as a lower bound must: with both sides computed
# by enumeration, that last line checks the arithmetic, not a finding.
#
# Rao-Blackwellization, though, *raises* the variance here, as the factor graph warned: the
# terms it drops for $z_j$ (the other causes' prior and $-\log q$ terms) involve the other
# causes, which all sit in $z_j$'s Markov blanket, and near the optimum they cancel much of the
# noise of the likelihood term.

# %%
assert sbn_variance["control variate"] < sbn_variance["plain"] / 20
assert sbn_variance["Rao-Blackwell + c.v."] > sbn_variance["control variate"]
for label in ("control variate", "Rao-Blackwell + c.v."):
    assert abs(sbn_fits[label][1] - best_elbo) < 0.01
assert all(value < log_px for value in
           (best_elbo, *(value for _, value in sbn_fits.values())))

# %% [markdown]
# ### Going further: is mean-field $q$ more certain than the posterior?
#
# Look at the bars. Mean-field $q$ agrees with the exact marginals where the posterior is sure,
# and is mostly *more* certain than the posterior where causes compete to explain the same
# pixels. Two causes that explain each other away (chapter 3) make the posterior correlated,
# which a product of independent factors cannot represent, and $\mathrm{KL}(q \,\Vert\, p)$,
# which punishes $q$ for putting mass where $p$ has little, prefers to commit to one
# explanation. Nothing forces *every* cause to move away from ½, though, so we measure
# certainty over all causes at once, by entropy (in nats; 0 for a sure cause, $\log 2$ for a
# coin flip).
#
# **Check.** Summed over the causes, the entropy of the best mean-field $q$ is below that of the
# exact marginals: on this network, $q$ is more certain than the posterior. That is the usual
# direction for $\mathrm{KL}(q \,\Vert\, p)$, not a theorem: the check holds for this network, and
# another network could have a cause whose factor lands nearer ½ than its marginal. The count of causes on which $q$ is
# further from ½ than the exact marginal is printed, not checked (all 8 here).

# %%
# tolerance: rtol=0.001 atol=0.003
entropy_q = Bernoulli(probs=best_probs).entropy().sum().item()
entropy_p = Bernoulli(probs=marginals).entropy().sum().item()
surer = ((best_probs - 0.5).abs() > (marginals - 0.5).abs()).sum().item()
print(f"entropy summed over the causes: best mean-field q {entropy_q:.3f}, "
      f"exact marginals {entropy_p:.3f} nats")
print(f"q further from 1/2 than the exact marginal: {surer} of 8 causes")
assert entropy_q < entropy_p

# %% [markdown]
# ## Amortized inference: the price of the encoder
#
# A VAE (Kingma & Welling, 2014) does not fit a separate $q$ for each image. Its encoder maps
# any $x$ to $(\mu_\phi(x), \log\sigma^2_\phi(x))$ in one pass: **amortized** inference, whose
# weights $\phi$ are shared by all images. Write $\mathcal L[q]$ for the ELBO of one image $x$
# computed with a given $q$, and $q_\phi$ for the encoder's. Cremer, Li & Duvenaud (2018) split
# the gap $\log p(x) - \mathcal L[q_\phi]$ of chapter 5 in two, with $q^\star$ the best Gaussian
# for this one image (the largest ELBO among all $\mathcal N(\mu, \operatorname{diag}
# \sigma^2)$):
#
# - the **approximation gap** $\log p(x) - \mathcal L[q^\star]$: the price of the diagonal
#   Gaussian family;
# - the **amortization gap** $\mathcal L[q^\star] - \mathcal L[q_\phi]$: the price of one network
#   guessing $q$ for every image.
#
# Neither $q^\star$ nor $\log p(x)$ is known, so we estimate both. We take chapter 5's trained
# VAE (loaded from the cache, or trained again by `pretrained.load_or_train` when it is
# missing), fix its decoder, and for 300 binarized test images optimize each image's own
# $\lambda = (\mu_q, \log\sigma^2)$ by reparameterized gradients (they apply here and are quieter,
# as the models above showed; 300 Adam steps, starting from
# the encoder's output: `vi.refine_posterior`); call the result the refined $q_\lambda$. Each
# ELBO is estimated with 1,000 samples per image, $\hat{\mathcal L}[q]$ (the average over the
# draws of $\log p_\theta(x \mid z_s)$, minus the closed-form KL), and $\log p(x)$ by the
# importance-weighted bound $\mathcal L_{1000}$ of chapter 5: $k = 1000$ weights $w_s$ averaged
# *inside* one logarithm, not an ELBO estimated from 1,000 samples, which averages outside it.
# The refined $q_\lambda$ is at best $q^\star$, so the measured amortization gap
# $\hat{\mathcal L}[q_\lambda] - \hat{\mathcal L}[q_\phi]$ is a **lower bound** on the true one
# (up to Monte Carlo noise). The measured approximation gap, $\mathcal L_{1000} -
# \hat{\mathcal L}[q_\lambda]$, can err either way (the aside says why).
#
# :::{admonition} Going further: which way each estimate errs
# :class: dropdown
# - The refined $q_\lambda$ is at best $q^\star$, so $\mathcal L[q_\lambda] \le
#   \mathcal L[q^\star]$: the measured amortization gap errs only low.
# - The measured approximation gap errs low because $\mathbb E[\mathcal L_{1000}] \le
#   \log p(x)$, and errs high because $\mathcal L[q_\lambda]$ is too small: it can be off either
#   way.
# - Their sum, $\mathcal L_{1000} - \hat{\mathcal L}[q_\phi]$, errs only low: a lower bound on
#   the whole gap (up to Monte Carlo noise).
#
# So "the encoder costs more than the Gaussian family" would need a better $q^\star$ and a
# tighter bound on $\log p(x)$ than we have here. Cremer et al. (2018), who also tried more
# flexible families than the Gaussian, concluded that on MNIST most of the gap comes from the
# imperfect encoder rather than from the family.
# :::

# %%
vae = pretrained.load_or_train("chapter5_vae", device=device)
print(f"chapter 5's VAE: {vae.config}")

# %%
# Means over 300 images of a retrained model: they move by a few tenths.
# tolerance: rtol=0.005 atol=0.1
x_test, _ = load_mnist("test")
x_test_bin = binarize_static(x_test, seed=SEED)
images = random_rows(x_test_bin, 300, seed=SEED).to(device)
vae = vae.to(device)
mu, logvar = vi.refine_posterior(vae, images, steps=300, n_samples=10,
                                 lr=0.02, seed=SEED)


def elbo_of(x, posterior):
    """Each image's ELBO from 1,000 samples, (B,), on the CPU; the draws are
    independent of those the refinement was fitted with."""
    generator = torch.Generator(device).manual_seed(SEED + 1)
    with torch.no_grad():
        return elbo(vae, x, 1000, generator, posterior=posterior).cpu()


with torch.no_grad():
    encoder_elbo = elbo_of(images, vae.encode(images))
refined_elbo = elbo_of(images, (mu, logvar))
log_px_vae = estimate_log_likelihood(vae, images, k=1000, seed=SEED).cpu()
print(f"encoder's q, ELBO     : {encoder_elbo.mean():8.2f} nats")
print(f"refined q, ELBO       : {refined_elbo.mean():8.2f} nats")
print(f"L_1000 (log p(x) est.): {log_px_vae.mean():8.2f} nats")

# %%
# tolerance: rtol=0.03 atol=0.2
amortization = refined_elbo - encoder_elbo
approximation = log_px_vae - refined_elbo
total = log_px_vae - encoder_elbo
se = amortization.std().item() / np.sqrt(len(images))
share = amortization.mean().item() / total.mean().item()
# the share's standard error, by the delta method for a ratio of means
share_se = ((amortization - share * total).std().item()
            / np.sqrt(len(images)) / total.mean().item())
print(f"amortization gap  >= {amortization.mean():5.2f} ± {se:.2f} nats "
      f"(improved for {(amortization > 0).float().mean():.0%} of images)")
print(f"approximation gap ~  {approximation.mean():5.2f} nats")
print(f"whole gap         >= {total.mean():5.2f} nats")

fig = Figure(figsize=(6.7, 5.4))  # stacked: the page is 6.7 inches wide
hist, bar = fig.subplots(2, 1)
hist.hist(amortization.numpy(), bins=30)
hist.set_xlabel("amortization gap per image (nats)")
hist.set_ylabel("images")
levels = [encoder_elbo.mean().item(), refined_elbo.mean().item(),
          log_px_vae.mean().item()]
left = levels[0] - 0.5 * (levels[2] - levels[0])
parts = [("ELBO of $q_\\phi$", left, levels[0], "tab:blue"),
         ("amortization", levels[0], levels[1], "tab:orange"),
         ("approximation", levels[1], levels[2], "tab:green")]
for name, start, end, color in parts:
    bar.barh(0, end - start, left=start, color=color, edgecolor="black")
    bar.text((start + end) / 2, 0.45, f"{name}\n{end - start:.2f}"
             if start > left else f"{name}\n{end:.2f}",
             ha="center", fontsize=9)
bar.axvline(levels[2], color="black", ls="--")
bar.text(levels[2], -0.6, "$\\mathcal{L}_{1000}$  ", ha="right", fontsize=9)
bar.set_xlim(left, levels[2] + 0.3 * (levels[2] - levels[0]))
bar.set_ylim(-0.8, 1.0)
bar.set_yticks([])
bar.set_xlabel("nats, mean over 300 images (the axis does not start at 0)")
fig.tight_layout()
fig

# %%
# tolerance: rtol=0 atol=3
# (in points: the share moves by a point or two between trainings)
print(f"amortization's share of the whole gap: {share:.0%} ± {share_se:.0%}")

# %% [markdown]
# The figure shows both measurements. At the top, the amortization gap of each of the 300
# images (the share that refining improved is printed above). Below, the means as
# one bar read from left to right: the encoder's ELBO (its value printed in the bar), then
# what refining each image's $q$ added (the amortization gap), then what is left up to
# $\mathcal L_{1000}$, the dashed line (the approximation gap, as estimated). The blue
# segment's left end is only where the cut axis begins; its right end, the encoder's ELBO, is
# what counts.
#
# **Check.** Refining raises the estimated ELBO $\hat{\mathcal L}$ of more than 90% of the
# images, and its mean by more than ten standard errors; the mean of
# $\hat{\mathcal L}[q_\lambda]$ stays below that of $\mathcal L_{1000}$ (which was not guaranteed:
# $\mathcal L_{1000}$ uses the encoder's $q$ as its proposal, not the refined one).
# The measured amortization gap is most of the measured gap: more than half of it, by more than
# three standard errors (the share and its standard error are printed above; the standard error
# is the delta method's for a ratio of two means: the standard deviation over the images of
# (amortization gap − share × whole gap), divided by $\sqrt{300}$ and by the mean whole gap). Since the
# measured amortization gap errs only low, at least that many nats of the encoder's gap are the
# price of amortization; how the rest splits, these estimates cannot say (the aside above).

# %%
assert (amortization > 0).float().mean() > 0.9
assert amortization.mean().item() > 10 * se
assert refined_elbo.mean() < log_px_vae.mean()
assert share - 3 * share_se > 1 / 2

# %% [markdown]
# ## Summary
#
# - BBVI needs only $\log p(x, z)$ evaluations and samples from $q$; the product rule and the
#   zero mean of the score turn $\nabla_\lambda \mathbb E_q[f]$ into $\mathbb E_q[f\,
#   \nabla_\lambda \log q_\lambda]$. That is what makes it apply to discrete latents and
#   non-differentiable models.
# - It lives or dies by variance reduction. A baseline, the simplest control variate (chapter
#   4's), chosen per coordinate to minimize the variance, made the coin converge and end
#   exactly on the posterior, where its gradient has zero variance.
# - Dropping the terms of $\log p$ that do not involve $z_j$ keeps the gradient unbiased, but it
#   is a Rao-Blackwell step only when their mean given $z_j$ and its Markov blanket is constant.
#   With one latent per data point (an empty blanket, in the aside) it cut the variance about
#   sevenfold; in the regression and the belief net, where every latent's blanket is all the
#   others, it raised the variance at the optimum: measure before trusting it.
# - When the reparameterization trick applies, use it: its gradient was quieter at the start
#   even in two dimensions, and chapter 4 showed the gap growing with the dimension.
# - The VAE encoder is amortized VI. Refining each image's Gaussian raised the estimated ELBO
#   of chapter 5's model by a lower bound on the amortization gap that is more than half of the
#   measured gap to $\mathcal L_{1000}$; how the rest splits between the Gaussian family and the
#   bound's own slack, these estimates cannot say.

# %% [markdown]
# ## Exercises
#
# 1. **AdaGrad.** Fit the coin with `optimizer="adagrad"` (the paper's choice) and the step
#    sizes 0.3 and 1, for 1,500 steps, with and without the control variate. Which converges
#    fastest, and why is the smaller step size so much slower? *Hint:*
#    `vi.fit(..., optimizer="adagrad", lr=...)` and `vi.steps_to_reach`; AdaGrad divides each
#    step by the square root of the sum of all squared gradients so far.
# 2. **Stronger weights.** Make the sigmoid belief net's weights larger: `weight_std=4` in
#    `SigmoidBeliefNet.random(20, 8, weight_std=4, seed=...)`, against model 3's 2. One network
#    is one draw, so compare the two sizes on ten networks (seeds `SEED + 1000 * n`,
#    `n = 0, ..., 9`; the first is model 3's). What happens to the KL between the best
#    mean-field $q$ and the posterior, and why? *Hint:* `best_mean_field` above (with large
#    weights it needs many more steps), and how sure the posterior is of one configuration:
#    `torch.softmax(sbn.log_joint(sbn.configurations()), 0).max()`.
# 3. **Refining from the prior.** Refine the posteriors of the first 50 images from the prior
#    $\mathcal N(0, I)$ instead of from the encoder, with the same 300 steps. Does the refined
#    ELBO change? *Hint:* `vi.refine_posterior(vae, x, init=(mu0, logvar0), ...)` with
#    `torch.zeros(50, vae.latent_dim, device=device)` for both; compare with the encoder-started refinement of the same images.
# 4. **When dropping terms cannot hurt.** For one coordinate of $\lambda_j$ with score $u$,
#    suppose the mean of $r_j$ given $z_j$ and its Markov blanket is a constant $\bar r_j$. Show
#    that, with the best baseline in each case, keeping $r_j$ adds exactly $\mathbb E[u^2]
#    \operatorname{Var}[r_j]$ to the variance of $u\, (f - b)$. *Hint:* write
#    $r_j = \bar r_j + \tilde r_j$ and condition on $z_j$ and the blanket.

# %% [markdown]
# ## Solutions
#
# ### Solution 1
#
# :::{dropdown} Solution
# AdaGrad's step for one coordinate is the step size divided by the square root of the sum of
# the squares of all its gradient estimates so far (each the mean of the $S$ per-sample
# estimates), this step's included: a
# built-in decay, since the sum only grows. With the control variate, step size 1 converges
# fastest (within 5% from step 179 on here) and then stays: at the posterior the controlled
# gradient is zero, so nothing pushes $q$ away. Step size 0.3 is far slower: it takes more than
# twice as many steps to settle within 5%, or never does (from step 1,165 on here, late in the
# 1,500 steps), and it ends 2.1% from the answer here, against 0.0% for step size 1. The
# denominator is dominated by the large, noisy gradients of the first steps, far from the
# posterior, so the later, smaller gradients move $q$ only a little, and a smaller step
# size makes every one of those moves smaller still. Without the control variate neither step
# size settles within 5% in the 1,500 steps: over the last 500 of them the iterates still stray
# from the answer by more than 5% (by up to 56% and 34% here). The noisy gradients make the sum
# grow fast, and the iterates keep being pushed around the answer by a gradient whose noise
# does not vanish there (its variance at the posterior was in the hundreds, above). The steps
# do shrink, so the wandering slows down; given thousands more steps, AdaGrad's decay acts like
# a decaying step-size schedule.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.02 atol=0.01
reach, late_stray = {}, {}
for lr in (0.3, 1.0):
    for control in (False, True):
        family = vi.BetaMeanField(torch.ones(1, dtype=F64),
                                  torch.ones(1, dtype=F64))
        result = vi.fit(family, coin_log_joint, steps=1500, n_samples=10,
                        lr=lr, optimizer="adagrad", control_variate=control,
                        seed=SEED)
        trace = torch.cat([result.trace["a1"], result.trace["a0"]], 1)
        reached = vi.steps_to_reach(trace, EXACT, 0.05)
        # each iterate's relative distance from (16, 14), worse coordinate
        off = ((trace - EXACT).abs() / EXACT).max(1).values
        reach[lr, control] = reached
        late_stray[lr, control] = off[-500:].max().item()
        print(f"AdaGrad, step size {lr}, control variate {control!s:5s}: "
              + ("not within 5% at the end" if reached is None
                 else f"within 5% from step {reached} on")
              + f"; ends {off[-1]:.1%} away, up to "
              f"{off[-500:].max():.0%} in the last 500 steps")
slow, fast = reach[0.3, True], reach[1.0, True]
assert fast is not None and (slow is None or slow > 2 * fast)
for lr in (0.3, 1.0):
    assert late_stray[lr, False] > 0.05

# %% [markdown]
# ### Solution 2
#
# :::{dropdown} Solution
# The KL usually *shrinks*: in 9 of the 10 networks below, its lower median (the fifth
# smallest of the ten values) falling from 0.103 to 0.002 nats. With weights twice as large
# (the same weights doubled, and $x$ drawn again from the sharper model), each pixel is a much
# sharper function of the causes, so the 20 pixels usually pin the causes down: the
# largest posterior probability of a single configuration rises in 9 of the 10 networks. A
# posterior concentrated on one configuration is
# nearly a product of independent factors, and a bound says how nearly: the point mass on
# $z^\star$ is a limit of factorized $q$'s, and its ELBO is $\log p(x, z^\star) = \log p(x) +
# \log p(z^\star \mid x)$, so the best mean-field KL is at most $-\log p(z^\star \mid x)$, 0.01
# nats when $z^\star$ has probability 0.99. Explaining away costs the mean-field family only
# when the posterior hesitates between explanations that differ in several causes at once,
# which weak weights (noisy pixels) cause; a split between two configurations that differ in a
# single cause costs nothing, since that cause's own factor can hold it. Strong weights do not
# always prevent the costly kind: the posterior can stay split between explanations that
# differ in several causes, and then the KL can stay large, or even grow. So the KL is a
# property of the posterior's shape, not of the model's size; a sharper model is usually
# *easier* for mean-field VI.
#
# With large weights a confident $q$ needs large logits, which Adam reaches only slowly, about
# one step of 0.05 at a time; the cell finds the best mean-field $q$ by **coordinate ascent**
# instead (CAVI; Blei, Kucukelbir & McAuliffe, 2017), which sets each factor in turn to its
# optimum given the others: $\log q_{\lambda_j}(z_j) = \mathbb E[\log p(x, z)] +
# \text{const}$, the expectation over the other factors $\prod_{k \ne j} q_{\lambda_k}$. The exact ELBO never decreases, and the
# cell checks that each end point is a stationary point: for every factor strictly inside
# $(10^{-12}, 1 - 10^{-12})$ the gradient of the exact ELBO in its logit, by autograd through the
# enumeration, is below $10^{-6}$; a factor pinned at that bound (its logit would be infinite)
# must have the ELBO still rising towards it. Like Adam's, that
# end point need not be the global optimum. On model 3's network (network 0 in the table) the
# two agree to within 0.01 nats here.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.01 atol=0.003
def coordinate_ascent(model, sweeps=100):
    """The best factorized q by CAVI: each q(z_j = 1) in turn set to
    sigmoid(E[log p(x, z) | z_j = 1] - E[log p(x, z) | z_j = 0]), the
    expectations under the other factors. Returns (K,) probs."""
    z = model.configurations().to(F64)
    log_joint = model.log_joint(z)
    probs = torch.full((model.latent_dim,), 0.5, dtype=F64)
    for _ in range(sweeps):
        for j in range(model.latent_dim):
            log_q = Bernoulli(probs=probs).log_prob(z)  # (2^K, K)
            others = (log_q.sum(1) - log_q[:, j]).exp()
            on = z[:, j] == 1
            gain = others[on] @ log_joint[on] - others[~on] @ log_joint[~on]
            probs[j] = gain.sigmoid().clamp(1e-12, 1 - 1e-12)
    return probs


def kl_and_top(model):
    """KL(best factorized q || p(z | x)) and max_z p(z | x), enumerated;
    checks that CAVI ends at a stationary point of the exact ELBO."""
    probs = coordinate_ascent(model).requires_grad_()
    best = model.mean_field_elbo(probs)
    best.backward()
    p, grad = probs.detach(), probs.grad
    pinned = (p <= 1e-12) | (p >= 1 - 1e-12)  # held by the clamp
    logit_grad = grad * p * (1 - p)  # the gradient in the logits
    assert torch.all(logit_grad[~pinned].abs() < 1e-6)  # stationary
    # a pinned factor's ELBO still rises towards the bound it sits at
    assert torch.all((grad[pinned] > 0) == (p[pinned] > 0.5))
    top = torch.softmax(model.log_joint(model.configurations()), 0).max()
    return (model.log_evidence() - best.detach()).item(), top.item()


NETWORKS = 10
rows = []
print("network  KL std 2 -> 4 (nats)  top p(z | x) std 2 -> 4")
for n in range(NETWORKS):
    row = [kl_and_top(SigmoidBeliefNet.random(20, 8, weight_std=std,
                                              seed=SEED + 1000 * n))
           for std in (2, 4)]
    rows.append([row[0][0], row[1][0], row[0][1], row[1][1]])
    print(f"{n:7d}  {row[0][0]:6.3f} -> {row[1][0]:6.3f}"
          f"        {row[0][1]:5.2f} -> {row[1][1]:5.2f}")
kl2, kl4, top2, top4 = torch.tensor(rows, dtype=F64).T
shrinks, sharper = (kl4 < kl2).sum().item(), (top4 > top2).sum().item()
print(f"the KL shrinks in {shrinks} of {NETWORKS} networks, lower median "
      f"{kl2.median():.3f} -> {kl4.median():.3f} nats; the top "
      f"configuration gains probability in {sharper}")
assert shrinks > NETWORKS / 2 and sharper > NETWORKS / 2

# %% [markdown]
# ### Solution 3
#
# :::{dropdown} Solution
# It changes: after the same 300 steps, the refinement started from the prior ends well below
# the one started from the encoder, and even below the encoder's own ELBO (both by more than
# three standard errors of the paired, image-by-image differences). The encoder's guess is a
# warm start worth hundreds of steps: from $\mathcal N(0, I)$, each $\log \sigma_j^2$ must
# travel from 0 to the small values of a confident posterior, and Adam moves each parameter by
# about one step size (0.02) per step. With many more steps the two get closer, but they need
# not meet: each image's ELBO is not concave in $(\mu, \log \sigma^2)$, since the decoder is a
# neural network, and two starts can end in different local optima. This is also why the
# amortization gap measured above is only a lower bound.
# :::

# %% tags=["hide-cell"]
# tolerance: rtol=0.005 atol=0.2
few = images[:50]
zeros = torch.zeros(50, vae.latent_dim, device=device)
from_prior = vi.refine_posterior(vae, few, init=(zeros, zeros), steps=300,
                                 n_samples=10, lr=0.02, seed=SEED,
                                 progress=False)
with torch.no_grad():
    encoder_few = elbo_of(few, vae.encode(few))
from_encoder = elbo_of(few, (mu[:50], logvar[:50]))
prior_refined = elbo_of(few, from_prior)
print(f"50 images: encoder's q {encoder_few.mean():.2f}, refined from the "
      f"encoder {from_encoder.mean():.2f}, refined from the prior "
      f"{prior_refined.mean():.2f} nats")
for name, other in (("refined from the encoder", from_encoder),
                    ("encoder's q", encoder_few)):
    lead = other - prior_refined  # paired, image by image
    lead_se = lead.std().item() / np.sqrt(len(few))
    print(f"{name} above refined from the prior: {lead.mean():.2f} "
          f"± {lead_se:.2f} nats")
    assert lead.mean().item() > 3 * lead_se

# %% [markdown]
# ### Solution 4
#
# :::{dropdown} Solution
# Write $T$ for $z_j$ together with its blanket (the $T$ of the Rao-Blackwell theorem), so that
# $u$ (a function of $z_j$) and $f_j$ are functions of $T$, and
# $\mathbb E[r_j \mid T] = \bar r_j$. Put $\tilde r_j = r_j - \bar r_j$, so
# $\mathbb E[\tilde r_j \mid T] = 0$, and for any baseline $b$ let $b' = b - \bar r_j$. Then
#
# $$
# u\, (f_j + r_j - b) = u\, (f_j - b') + u\, \tilde r_j .
# $$
#
# The cross term vanishes: $\mathbb E[u^2 (f_j - b')\, \tilde r_j] = \mathbb E\big[u^2 (f_j -
# b')\, \mathbb E[\tilde r_j \mid T]\big] = 0$, and likewise $\mathbb E[u\, \tilde r_j] = 0$, so
# the covariance of the two parts is zero and
#
# $$
# \operatorname{Var}[u\, (f_j + r_j - b)] = \operatorname{Var}[u\, (f_j - b')] +
# \mathbb E[u^2 \tilde r_j^2].
# $$
#
# $\tilde r_j$ does not involve $z_j$, and under a mean-field $q$ it is independent of $z_j$, so
# $\mathbb E[u^2 \tilde r_j^2] = \mathbb E[u^2]\, \mathbb E[\tilde r_j^2] = \mathbb E[u^2]
# \operatorname{Var}[r_j]$ (the mean of $r_j$ is $\bar r_j$). As $b$ runs over all constants
# so does $b'$, so the smallest variance with $r_j$ kept is the smallest variance with $r_j$
# dropped plus $\mathbb E[u^2] \operatorname{Var}[r_j] \ge 0$. When $r_j$ involves variables of
# the blanket, $\mathbb E[r_j \mid T]$ is not constant, the cross term $2\, \mathbb E[u^2
# (f_j - b)\, r_j]$ of the expansion in the main text survives, and it can be negative enough to make dropping $r_j$ a
# loss, as in models 2 and 3.
# :::

# %% [markdown]
# ## References
#
# - Ranganath, R., Gerrish, S., & Blei, D. M. (2014). Black box variational inference. *AISTATS*. {cite}`ranganath2014black`
# - Paisley, J., Blei, D. M., & Jordan, M. I. (2012). Variational Bayesian inference with
#   stochastic search. *ICML*. {cite}`paisley2012variational`
# - Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
#   reinforcement learning. *Machine Learning*. {cite}`williams1992simple`
# - Rao, C. R. (1945). Information and the accuracy attainable in the estimation of statistical
#   parameters. *Bulletin of the Calcutta Mathematical Society*. {cite}`rao1945information`
# - Blackwell, D. (1947). Conditional expectation and unbiased sequential estimation. *Annals of
#   Mathematical Statistics*. {cite}`blackwell1947conditional`
# - Casella, G., & Robert, C. P. (1996). Rao-Blackwellisation of sampling schemes. *Biometrika*. {cite}`casella1996rao`
# - Blei, D. M., Kucukelbir, A., & McAuliffe, J. D. (2017). Variational inference: a review for
#   statisticians. *Journal of the American Statistical Association*. {cite}`blei2017variational`
# - Kschischang, F. R., Frey, B. J., & Loeliger, H.-A. (2001). Factor graphs and the sum-product
#   algorithm. *IEEE Transactions on Information Theory*. {cite}`kschischang2001factor`
# - Neal, R. M. (1992). Connectionist learning of belief networks. *Artificial Intelligence*. {cite}`neal1992connectionist`
# - Cremer, C., Li, X., & Duvenaud, D. (2018). Inference suboptimality in variational
#   autoencoders. *ICML*. {cite}`cremer2018inference`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
