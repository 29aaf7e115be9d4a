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
# # 3. The evidence lower bound
#
# **What you will learn.** Why the likelihood of a latent-variable model is out of reach, how
# the evidence lower bound (ELBO) replaces it, two derivations and two forms of the bound, and
# the closed-form KL term of the VAE. Every step is derived in full and checked numerically on a
# model whose exact answers are known.

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
    Independent,
    MultivariateNormal,
    Normal,
    StudentT,
    kl_divergence,
)

from vaebook import plots
from vaebook.densities import kl_standard_normal
from vaebook.estimators import elbo_estimate, elbo_estimate_kl
from vaebook.exact import LinearGaussian
from vaebook.randomness import book_seed, seed_everything
from vaebook.training import pick_device

SEED = book_seed()  # $VAEBOOK_SEED, else 0
seed_everything(SEED)
device = pick_device()
# the exact checks below hold to 1e-10, which needs double precision
torch.set_default_dtype(torch.float64)
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## Latent-variable models and what is intractable
#
# A latent-variable model explains an observation $x$ through an unobserved cause $z$:
#
# $$ p_\theta(x, z) = p_\theta(x \mid z)\, p(z). $$
#
# Two quantities matter. The **evidence** $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$
# measures how well the model explains $x$; we want to maximize it over the model's parameters
# $\theta$ (in a VAE, the decoder's weights). The
# **posterior** $p_\theta(z \mid x) = p_\theta(x, z) / p_\theta(x)$ says which causes explain
# $x$. When $p_\theta(x \mid z)$ is a neural network the integral has no closed form, and in $K$
# dimensions a grid needs exponentially many points; without $p_\theta(x)$ there is no posterior
# either.
#
# We work with logarithms of densities throughout. They are natural logarithms, and their unit
# is the **nat** (one nat is $1/\log 2 \approx 1.44$ bits): two log-densities one nat apart
# belong to densities that differ by a factor $e \approx 2.72$.
#
# **Variational inference** turns the problem into optimization: pick a family of simple
# distributions $q_\phi(z \mid x)$, e.g. Gaussians, with variational parameters $\phi$ (in a VAE,
# the weights of an encoder network that outputs $q$ for each $x$), and make $q$ as close to the
# posterior as the family allows.
#
# ## Two derivations of the bound
#
# **By Jensen's inequality.** Multiply and divide by $q$ inside the integral:
#
# $$
# \begin{aligned}
# p_\theta(x) &= \int q_\phi(z \mid x)\, \frac{p_\theta(x, z)}{q_\phi(z \mid x)}\, dz \\
#   &= \mathbb E_{q_\phi(z \mid x)}\!\left[\frac{p_\theta(x, z)}{q_\phi(z \mid x)}\right].
# \end{aligned}
# $$
#
# The ratio inside, $w = p_\theta(x, z) / q_\phi(z \mid x)$, is called an **importance weight**:
# its mean under $q$ is $p_\theta(x)$, for any $q$ positive wherever $p_\theta(x, z)$ is (this
# is importance sampling, with $q$ as the **proposal**,
# the distribution we draw from; chapter 5 builds on it).
# Now take logarithms. The logarithm is concave, so $\log \mathbb E[Y] \ge \mathbb E[\log Y]$
# for any positive random variable $Y$ (Jensen's inequality):
#
# $$
# \begin{aligned}
# \log p_\theta(x) &= \log \mathbb E_{q_\phi(z \mid x)}\!\left[\frac{p_\theta(x, z)}{q_\phi(z \mid x)}\right] \\
#   &\ \ge\ \mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x, z) - \log q_\phi(z \mid x)\big] \\
#   &=: \mathcal L(\theta, \phi; x).
# \end{aligned}
# $$
#
# $\mathcal L$ is the ELBO: the expected log importance weight. (Chapter 5 averages $k$ weights
# *inside* the logarithm, which tightens the bound; exercise 4 previews it.)
#
# **By an exact decomposition.** Jensen says *that* there is a gap, not *what* it is. The
# **Kullback–Leibler (KL) divergence** from a density $q$ to another density $p$ over
# the same $z$ is
# $\mathrm{KL}(q \,\|\, p) = \mathbb E_q[\log q - \log p]$ (below, $p$ is the posterior; later
# also the prior). It is never negative, by Jensen
# again: $-\mathrm{KL}(q \,\|\, p) = \mathbb E_q[\log (p/q)] \le \log \mathbb E_q[p/q] = \log \int_{q > 0} p \le 0$,
# and it is zero only when $q = p$. It is not symmetric: $\mathrm{KL}(q \,\|\, p)$ averages under $q$.
# Write the KL divergence from $q$ to the posterior and substitute
# $\log p_\theta(z \mid x) = \log p_\theta(x, z) - \log p_\theta(x)$ ($\log p_\theta(x)$ has no $z$,
# so its expectation under $q$ is itself):
#
# $$
# \begin{aligned}
# \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big)
# &= \mathbb E_q\big[\log q_\phi(z \mid x) - \log p_\theta(x, z)\big] + \log p_\theta(x) \\
# &= -\mathcal L(\theta, \phi; x) + \log p_\theta(x).
# \end{aligned}
# $$
#
# So $\log p_\theta(x) = \mathcal L(\theta, \phi; x) + \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x))$:
# the gap *is* the KL divergence to the true posterior. Because $\log p_\theta(x)$ does not depend
# on $\phi$, maximizing $\mathcal L$ over $\phi$ is the same as minimizing that KL, and the bound
# is tight exactly when $q$ equals the posterior.
#
# ## Two forms of the bound, and their estimators
#
# Split $\log p_\theta(x, z) = \log p_\theta(x \mid z) + \log p(z)$:
#
# $$
# \begin{aligned}
# \mathcal L &= \mathbb E_q\big[\log p_\theta(x, z) - \log q_\phi(z \mid x)\big] \\
#   &= \underbrace{\mathbb E_q\big[\log p_\theta(x \mid z)\big]}_{\text{reconstruction}} \\
#   &\quad - \underbrace{\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\text{regularization}}.
# \end{aligned}
# $$
#
# The first form needs only the joint density, the log-density $\log q$ and samples from $q$
# (chapter 7 builds black-box inference on it); the second isolates a KL term that is often available in closed form.
#
# $\mathcal L$ is an expectation: one number for each $q$, the **objective**. A computer
# usually cannot evaluate it and instead averages over $S$ samples $z_s \sim q$, $s = 1, \dots, S$,
# which gives the Monte Carlo **estimator**
#
# $$
# \begin{aligned}
# \hat{\mathcal L} &= \frac1S \sum_{s=1}^{S} \big[\log p_\theta(x, z_s)
#   - \log q_\phi(z_s \mid x)\big] \qquad\text{or} \\
# \hat{\mathcal L} &= \frac1S \sum_{s=1}^{S} \log p_\theta(x \mid z_s)
#   - \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big),
# \end{aligned}
# $$
#
# two random variables, both with mean $\mathcal L$ (both *unbiased*), but with different
# variances; a section below plots both, and exercise 3 asks which is smaller. The book keeps
# objective and estimator apart:
# $\mathcal L$ for the objective, $\hat{\mathcal L}$ for what a sample gives.
#
# ## The closed-form KL of the VAE
#
# For $q = \mathcal N(\mu, \operatorname{diag} \sigma^2)$ and $p(z) = \mathcal N(0, I)$ both
# factorize over the $K$ coordinates, and the KL of independent factors is the sum of their KLs.
# The terms of $\log q - \log p$ that involve coordinate $j$ are
# $-\tfrac12 \log \sigma_j^2 - \tfrac{(z_j - \mu_j)^2}{2\sigma_j^2} + \tfrac{z_j^2}{2}$
# (the $\log 2\pi$ terms cancel). Taking the expectation under $q$, with
# $\mathbb E[(z_j-\mu_j)^2] = \sigma_j^2$ and $\mathbb E[z_j^2] = \mu_j^2 + \sigma_j^2$:
#
# $$
# \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\, \mathcal N(0, I)\big)
# = \frac12 \sum_{j=1}^{K} \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big).
# $$
#
# `vaebook.densities.kl_standard_normal` implements it from $\mu$ and $\log \sigma^2$ (what a
# VAE's encoder outputs, chapter 5). Check it against `torch.distributions` and against a Monte
# Carlo average of $\log q - \log p$ over $S = 10^6$ samples.

# %%
mu = torch.tensor([[0.5, -1.0, 2.0]])
logvar = torch.tensor([[0.0, -1.5, 0.7]])
q_diag = Normal(mu, torch.exp(0.5 * logvar))
closed_form = kl_standard_normal(mu, logvar).item()
library = kl_divergence(q_diag, Normal(0.0, 1.0)).sum().item()
z = q_diag.sample((1_000_000,))
log_ratio = (q_diag.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
monte_carlo = log_ratio.mean().item()
standard_error = log_ratio.std().item() / math.sqrt(len(log_ratio))
print(f"closed form {closed_form:.6f} | torch.distributions {library:.6f}"
      f" | Monte Carlo {monte_carlo:.3f} ± {standard_error:.3f}")

# %% [markdown]
# **Check.** The closed form equals the library's to 1e-10 and lies within four standard errors
# of the Monte Carlo average over a million samples.

# %%
assert abs(closed_form - library) < 1e-10
assert abs(closed_form - monte_carlo) < 4 * standard_error

# %% [markdown]
# ## A model where everything is exact
#
# Probabilistic PCA (Tipping & Bishop, 1999) is the linear-Gaussian latent-variable model
#
# $$ z \sim \mathcal N(0, I_K), \qquad x \mid z \sim \mathcal N(W z + c, \tau^2 I_D), $$
#
# with a $D \times K$ matrix of loadings $W$, an offset $c \in \mathbb R^D$ and a noise variance
# $\tau^2$. Everything in it is Gaussian, so every quantity of this chapter has a closed form. We
# derive each one, then check it.
#
# The model's parameters are $\theta = (W, c, \tau^2)$, fixed here, so we drop the subscript
# $\theta$ from its densities.
#
# **The evidence.** Write the model as $x = W z + c + \tau \xi$ with $\xi \sim \mathcal N(0, I_D)$
# independent of $z$. A linear function of independent Gaussians is Gaussian, with mean
# $\mathbb E[x] = W \cdot 0 + c = c$ and covariance
# $W \operatorname{Cov}(z) W^\top + \tau^2 \operatorname{Cov}(\xi) = W W^\top + \tau^2 I$:
#
# $$ p(x) = \mathcal N(x;\ c,\ W W^\top + \tau^2 I). $$
#
# **The posterior, by completing the square.** As a function of $z$,
# $\log p(z \mid x) = \log p(x \mid z) + \log p(z) - \log p(x)$, and the last term is a constant.
# Dropping every term without $z$ (written "$+\,\text{const}$"):
#
# $$
# \log p(z \mid x) = -\frac{1}{2\tau^2}(x - c - W z)^\top (x - c - W z) - \frac12 z^\top z + \text{const}.
# $$
#
# Expand the square, $(x - c - Wz)^\top (x - c - Wz) = (x - c)^\top (x - c) - 2 z^\top W^\top (x - c) + z^\top W^\top W z$
# (the two cross terms $(x - c)^\top W z$ and $z^\top W^\top (x - c)$ are the same number, since a
# number is its own transpose), and drop its first term, which has no $z$:
#
# $$
# \log p(z \mid x) = -\frac12\, z^\top \Big(I + \frac{W^\top W}{\tau^2}\Big) z + z^\top \frac{W^\top (x - c)}{\tau^2} + \text{const}.
# $$
#
# Compare with the Gaussian $\mathcal N(\mu_{\text{post}}, \Sigma_{\text{post}})$ we are looking for.
# Expanding its exponent the same way,
#
# $$
# \begin{aligned}
# \log \mathcal N(z; \mu_{\text{post}}, \Sigma_{\text{post}})
#   &= -\frac12 (z - \mu_{\text{post}})^\top \Sigma_{\text{post}}^{-1} (z - \mu_{\text{post}}) + \text{const} \\
#   &= -\frac12\, z^\top \Sigma_{\text{post}}^{-1} z + z^\top \Sigma_{\text{post}}^{-1} \mu_{\text{post}} + \text{const}.
# \end{aligned}
# $$
#
# The inverse covariance $\Sigma_{\text{post}}^{-1}$ is called the **precision**: a large precision is a small
# spread. A log-density that is a quadratic in $z$ (with a negative-definite quadratic part) is
# therefore a Gaussian, and matching the quadratic and the linear terms ("completing the square")
# gives its precision and mean:
#
# $$
# \begin{gathered}
# \Sigma_{\text{post}}^{-1} = I + \frac{W^\top W}{\tau^2}, \qquad
# \Sigma_{\text{post}}^{-1} \mu_{\text{post}} = \frac{W^\top (x - c)}{\tau^2}
# \quad\Longrightarrow \\
# p(z \mid x) = \mathcal N\Big(z;\ \Sigma_{\text{post}} \frac{W^\top (x - c)}{\tau^2},\ \Sigma_{\text{post}}\Big).
# \end{gathered}
# $$
#
# Precisions add: the prior contributes $I$, the observation $W^\top W / \tau^2$. The posterior
# covariance does not depend on $x$ at all; only its mean does.
#
# We take $D = 5$, $K = 2$ and $\tau^2 = 0.5$, so that $q$ and the posterior can be drawn in the
# plane, and one observation $x$ drawn from the model. The two columns of $W$ are similar on
# purpose: two causes with similar effects *explain each other away* (if one is large, the other
# need not be), so the posterior of $z_1$ and $z_2$ is strongly negatively correlated; we write
# $\eta$ for that correlation, $(\Sigma_{\text{post}})_{12} / \sqrt{(\Sigma_{\text{post}})_{11} (\Sigma_{\text{post}})_{22}}$,
# which the cell prints. The cell computes the posterior by the formula above; the check is
# Bayes' rule, which needs only the joint density and the evidence.

# %%
W = torch.tensor([[1.0, 0.9], [0.8, 1.0], [0.5, 0.4], [0.0, 0.3],
                  [1.0, 0.8]])
c, tau2 = torch.zeros(5), 0.5
model = LinearGaussian(W, c=c, noise_var=tau2)
x = model.sample(1, seed=SEED + 1)[0]
log_evidence = model.evidence().log_prob(x)

precision_post = torch.eye(2) + W.T @ W / tau2  # completing the square
cov_post = torch.linalg.inv(precision_post)
mean_post = cov_post @ W.T @ (x - c) / tau2
posterior = model.posterior(x)
correlation = (cov_post[0, 1] / cov_post.diagonal().prod().sqrt()).item()
print(f"log p(x) = {log_evidence:.4f} nats; posterior mean "
      f"{mean_post.numpy().round(3)}, correlation {correlation:.2f}")

# Bayes' rule at 5 random points: log p(x, z) - log p(x) = log p(z | x)
z = torch.randn(5, 2, generator=torch.Generator().manual_seed(SEED))
bayes = model.log_joint(x, z) - log_evidence
completed = MultivariateNormal(mean_post, cov_post).log_prob(z)
packaged = posterior.log_prob(z)  # vaebook's posterior

# %% [markdown]
# **Check.** At five random $z$ the completed square's log-density, and that of `vaebook`'s
# posterior, equal $\log p(x, z) - \log p(x)$ (Bayes' rule, from the joint density and the
# evidence $\mathcal N(x; c, W W^\top + \tau^2 I)$) to 1e-10. The posterior correlation is below
# $-0.8$.

# %%
assert torch.allclose(bayes, completed, rtol=0, atol=1e-10)
assert torch.allclose(bayes, packaged, rtol=0, atol=1e-10)
assert correlation < -0.8

# %% [markdown]
# ## The ELBO of a Gaussian $q$, in closed form
#
# From here on $q$ is fitted directly to one $x$, without an encoder, so its parameters are no
# longer an encoder's weights $\phi$; we call them $\lambda$ instead. Take
# $q_\lambda(z) = \mathcal N(\mu_q, \Sigma_q)$, with parameters $\lambda = (\mu_q, \Sigma_q)$, and
# write $\mathcal L(\lambda)$ for its ELBO. Every expectation in the ELBO is then an expected
# quadratic form (the rest are constants and $\log\det$ terms), and one lemma computes them all.
#
# **Lemma (expected quadratic form).** If $z \sim q = \mathcal N(\mu_q, \Sigma_q)$, then for any fixed
# vector $\bar z$ and symmetric matrix $A$,
#
# $$ \mathbb E_q\big[(z - \bar z)^\top A (z - \bar z)\big] = (\mu_q - \bar z)^\top A (\mu_q - \bar z) + \operatorname{tr}(A \Sigma_q). $$
#
# The constant part is the quadratic form at $q$'s mean; the spread of $q$ adds
# $\operatorname{tr}(A \Sigma_q)$. The proof is in the box.
#
# :::{admonition} Proof of the lemma
# :class: dropdown
# Write $z - \bar z = (z - \mu_q) + (\mu_q - \bar z)$ and expand:
#
# $$
# \begin{aligned}
# (z - \bar z)^\top A (z - \bar z) = {} & (\mu_q - \bar z)^\top A (\mu_q - \bar z)
#   + 2 (\mu_q - \bar z)^\top A (z - \mu_q) \\
#   & + (z - \mu_q)^\top A (z - \mu_q).
# \end{aligned}
# $$
#
# (the two cross terms are equal because $A$ is symmetric). The first term is a constant. The
# second has mean zero, because $\mathbb E_q[z - \mu_q] = 0$. The
# third is a number, so it equals its own trace, and the trace is unchanged by cycling the
# factors of a product: $(z - \mu_q)^\top A (z - \mu_q) = \operatorname{tr}\big(A (z - \mu_q)(z - \mu_q)^\top\big)$.
# The trace and the expectation are both linear, so they can be swapped, and
# $\mathbb E_q[(z - \mu_q)(z - \mu_q)^\top] = \Sigma_q$ by the definition of the covariance: the third
# term has mean $\operatorname{tr}(A \Sigma_q)$. $\square$
# :::
#
# **The expected log-likelihood.** The log-density of $x \mid z \sim \mathcal N(W z + c, \tau^2 I_D)$ is
#
# $$ \log p(x \mid z) = -\frac D2 \log(2\pi\tau^2) - \frac{1}{2\tau^2} (x - W z - c)^\top (x - W z - c). $$
#
# Its only random part is the squared residual. Centre $z$ at $q$'s mean:
# $x - W z - c = (x - W \mu_q - c) - W (z - \mu_q)$. Then
#
# $$
# \begin{aligned}
# (x - Wz - c)^\top (x - Wz - c) &= (x - W\mu_q - c)^\top (x - W\mu_q - c) \\
#   &\quad - 2 (x - W\mu_q - c)^\top W (z - \mu_q) \\
#   &\quad + (z - \mu_q)^\top W^\top W (z - \mu_q).
# \end{aligned}
# $$
#
# Under $q$ the middle term has mean zero, and the lemma (with $\bar z = \mu_q$, $A = W^\top W$) gives
# the last one mean $\operatorname{tr}(W^\top W \Sigma_q)$:
#
# $$
# \begin{aligned}
# \mathbb E_q\big[(x - Wz - c)^\top (x - Wz - c)\big]
# &= (x - W\mu_q - c)^\top (x - W\mu_q - c) \\
# &\quad + \operatorname{tr}(W^\top W \Sigma_q).
# \end{aligned}
# $$
#
# Put back into the log-density:
#
# $$
# \mathbb E_q[\log p(x \mid z)] = \log \mathcal N(x;\ W \mu_q + c,\ \tau^2 I) - \frac{\operatorname{tr}(W^\top W \Sigma_q)}{2\tau^2}.
# $$
#
# Decode the mean of $q$, then pay for the spread of $q$ in the directions that $W$ can see: a
# wide $q$ reconstructs worse on average.
#
# **The KL between two Gaussians.** Take $q = \mathcal N(\mu_q, \Sigma_q)$ and $p = \mathcal N(\mu_p, \Sigma_p)$
# (below, $p$ is the prior or the posterior, whichever $q$ is compared with). In $K$ dimensions
# $\log p(z) = -\tfrac12 \big[K \log 2\pi + \log\det\Sigma_p + (z - \mu_p)^\top \Sigma_p^{-1} (z - \mu_p)\big]$,
# and $\log q(z)$ likewise with $\mu_q, \Sigma_q$. Subtract the two log-densities: the
# $K \log 2\pi$ terms cancel, and
#
# $$
# \begin{aligned}
# \mathrm{KL}(q \,\|\, p) &= \mathbb E_{q}[\log q(z) - \log p(z)]
#   = \frac12 \Big[\log\frac{\det\Sigma_p}{\det\Sigma_q} \\
#   &\quad + \mathbb E_{q}\big[(z - \mu_p)^\top \Sigma_p^{-1} (z - \mu_p)\big]
#   - \mathbb E_{q}\big[(z - \mu_q)^\top \Sigma_q^{-1} (z - \mu_q)\big]\Big].
# \end{aligned}
# $$
#
# The lemma gives both expectations: with $\bar z = \mu_p$, $A = \Sigma_p^{-1}$ the first is
# $(\mu_q - \mu_p)^\top \Sigma_p^{-1} (\mu_q - \mu_p) + \operatorname{tr}(\Sigma_p^{-1} \Sigma_q)$,
# and with $\bar z = \mu_q$, $A = \Sigma_q^{-1}$ the second is
# $\operatorname{tr}(\Sigma_q^{-1} \Sigma_q) = \operatorname{tr}(I_K) = K$. Together:
#
# $$
# \begin{aligned}
# &\mathrm{KL}\big(\mathcal N(\mu_q, \Sigma_q) \,\|\, \mathcal N(\mu_p, \Sigma_p)\big) \\
# &\quad = \frac12 \Big[\operatorname{tr}(\Sigma_p^{-1} \Sigma_q)
#   + (\mu_p - \mu_q)^\top \Sigma_p^{-1} (\mu_p - \mu_q) - K
#   + \log \frac{\det \Sigma_p}{\det \Sigma_q}\Big].
# \end{aligned}
# $$
#
# With the prior as $p$ ($\mu_p = 0$, $\Sigma_p = I$) and a diagonal $\Sigma_q = \operatorname{diag}\sigma^2$ it is the
# VAE's formula of the section "The closed-form KL of the VAE". The ELBO of a Gaussian $q$ is therefore available in
# closed form:
# $\mathcal L(\lambda) = \mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q_\lambda \,\|\, p(z))$.
# `LinearGaussian.elbo` computes it.
#
# The two functions below are the two formulas, written as they read. The check compares the
# trace formula with a Monte Carlo average of the squared residual over $10^6$ draws from a
# random $q$, and the KL formula with `torch.distributions`. The check after this cell, and later
# checks, also
# use `gauss_hermite`, which computes an expectation under $q$ *exactly* when the integrand is a
# polynomial of low degree in $z$ (such as a log-density that is quadratic in $z$), from nothing
# but the integrand itself: an independent route to the same expectations. The box says how it works.
#
# :::{admonition} Going further: how Gauss–Hermite quadrature is exact
# :class: dropdown
# An exact check needs no formula at all. **Gauss–Hermite quadrature** replaces an expectation
# under $\mathcal N(0, 1)$ by a weighted sum over a few fixed nodes, and the sum is *exact* for
# every polynomial of degree less than twice the number of nodes. Under
# $q = \mathcal N(\mu_q, R R^\top)$, with $R$ lower triangular (the Cholesky factor of
# $\Sigma_q$), write $z = \mu_q + R \varepsilon$ with $\varepsilon \sim \mathcal N(0, I)$ and take
# the nodes coordinate by coordinate.
# Since $\log p(x \mid z)$ is a quadratic in $z$, three nodes per coordinate, nine points in the
# plane, give $\mathbb E_q[\log p(x \mid z)]$ exactly, from nothing but the log-density
# (`torch.distributions.Normal.log_prob` inside `model.log_likelihood`). The same holds for any
# polynomial of degree up to 5 in $z$, e.g. the square of a quadratic, which gives a variance.
# The cells below and later checks in this chapter use it (`gauss_hermite`, in the hidden
# cell below).
# :::

# %% tags=["hide-input"]
def gauss_hermite(f, q, n=3):
    """E_q[f(z)] for q = N(mu_q, R R^T) on R^2 by Gauss-Hermite
    quadrature: exact when f is a polynomial of degree <= 2n - 1."""
    # hermegauss's weights integrate against exp(-eps^2 / 2), whose
    # integral is sqrt(2 pi) per coordinate: divide by 2 pi for two.
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    eps = torch.cartesian_prod(torch.tensor(nodes), torch.tensor(nodes))
    w = torch.cartesian_prod(torch.tensor(weights), torch.tensor(weights))
    z = q.mean + eps @ q.scale_tril.T  # (n^2, 2) nodes under q
    return (w.prod(-1) * f(z)).sum(-1) / (2 * math.pi)


# %%
def expected_log_likelihood(q):
    """E_q[log p(x | z)] = log N(x; W mu_q + c, tau^2 I)
    - tr(W^T W Sigma_q) / (2 tau^2)."""
    trace = torch.trace(W.T @ W @ q.covariance_matrix)
    return model.log_likelihood(x, q.mean) - trace / (2 * tau2)


def gaussian_kl(q, p):
    """KL(N(mu_q, Sigma_q) || N(mu_p, Sigma_p)) by the formula above."""
    precision_p = torch.linalg.inv(p.covariance_matrix)
    diff = p.mean - q.mean
    log_det_ratio = (torch.logdet(p.covariance_matrix)
                     - torch.logdet(q.covariance_matrix))
    return 0.5 * (torch.trace(precision_p @ q.covariance_matrix)
                  + diff @ precision_p @ diff - len(diff) + log_det_ratio)


def random_gaussian(generator):
    """q = N(mu_q, Sigma_q) on R^2, random mean and random covariance."""
    root = torch.randn(2, 2, generator=generator)
    mean = torch.randn(2, generator=generator)
    return MultivariateNormal(mean, root @ root.T + 0.05 * torch.eye(2))


generator = torch.Generator().manual_seed(SEED)
qs = [random_gaussian(generator) for _ in range(6)]
q = qs[1]
residual = x - q.mean @ W.T - c
trace = torch.trace(W.T @ W @ q.covariance_matrix)
closed_residual = residual @ residual + trace
z = q.sample((1_000_000,))
squares = ((x - z @ W.T - c) ** 2).sum(-1)
mc_residual = squares.mean().item()
residual_error = squares.std().item() / math.sqrt(len(squares))
print(f"E_q[|x - Wz - c|^2]: closed form {closed_residual:.4f}, "
      f"Monte Carlo {mc_residual:.4f} ± {residual_error:.4f}")

# %% [markdown]
# **Check.** The trace formula lies within four standard errors of the Monte Carlo average. On all
# six random $q$, the KL formula equals `torch.distributions.kl_divergence` to 1e-10, both to the
# prior and to the posterior; the formula for $\mathbb E_q[\log p(x \mid z)]$ equals the
# quadrature to 1e-10; and `model.elbo` equals the quadrature of $\log p(x \mid z)$ minus that of
# $\log q(z) - \log p(z)$ to 1e-10. The quadrature computes the KL from its definition, from the
# two log-densities alone (the integrand is a quadratic in $z$), not from the library's KL, so this
# checks both terms of `model.elbo`.

# %%
assert abs(closed_residual - mc_residual) < 4 * residual_error
for q in qs:
    for target in (model.prior(), posterior):
        assert abs(gaussian_kl(q, target) - kl_divergence(q, target)) < 1e-10
    quadrature = gauss_hermite(lambda z: model.log_likelihood(x, z), q)
    assert abs(expected_log_likelihood(q) - quadrature) < 1e-10
    kl_by_quadrature = gauss_hermite(
        lambda z, q=q: q.log_prob(z) - model.prior().log_prob(z), q)
    reference = quadrature - kl_by_quadrature
    assert abs(model.elbo(x, q) - reference) < 1e-10

# %% [markdown]
# ## The gap is the KL to the posterior
#
# Now test the decomposition $\log p(x) = \mathcal L(\lambda) + \mathrm{KL}(q_\lambda \,\|\, p(z \mid x))$
# on the six random Gaussians: the left column is the gap of the ELBO, the right one the KL
# divergence to the posterior, computed independently.

# %%
print(f"{'log p(x) - L(lambda)':>20s} {'KL(q || p(z|x))':>17s} "
      f"{'equal to 1e-10':>16s}")
differences = []
for q in qs:
    gap = (log_evidence - model.elbo(x, q)).item()
    kl = kl_divergence(q, posterior).item()
    differences.append(abs(gap - kl))
    print(f"{gap:20.6f} {kl:17.6f} {abs(gap - kl) < 1e-10!s:>16}")

# %% [markdown]
# **Check.** For six arbitrary Gaussians the gap $\log p(x) - \mathcal L(\lambda)$ equals
# $\mathrm{KL}(q_\lambda \,\|\, p(z \mid x))$ to 1e-10, as the decomposition says; and every gap is
# positive, as Jensen says.

# %%
assert max(differences) < 1e-10
assert all((log_evidence - model.elbo(x, q)).item() > 0 for q in qs)

# %% [markdown]
# The first form, $\mathbb E_q[\log p(x, z) - \log q(z)]$, splits into
# $\mathbb E_q[\log p(x \mid z)] + \mathbb E_q[\log p(z)] + \mathbb H[q]$, with the entropy
# $\mathbb H[q] = -\mathbb E_q[\log q] = \tfrac12[K(1 + \log 2\pi) + \log\det\Sigma_q]$ for a
# Gaussian (the dropdown derives it and $\mathbb E_q[\log p(z)]$ from the lemma). Both forms share
# $\mathbb E_q[\log p(x \mid z)]$, so the cell after it checks the rest:
# $\mathbb E_q[\log p(z)] + \mathbb H[q] = -\mathrm{KL}(q \,\|\, p(z))$, on all six $q$.
#
# :::{admonition} Going further: the two forms agree
# :class: dropdown
# `model.elbo` computes the second form. The first needs
# $\mathbb E_q[\log p(x, z)] - \mathbb E_q[\log q(z)]$, and the lemma gives both pieces. With
# $\bar z = 0$ and $A = I$ it gives the expected log-prior,
# $\mathbb E_q[\log p(z)] = -\tfrac12\big(K \log 2\pi + \mu_q^\top \mu_q + \operatorname{tr} \Sigma_q\big)$.
# The other piece is the **entropy** of $q$, $\mathbb H[q] = -\mathbb E_q[\log q(z)]$, the
# average surprise of a draw from $q$; for a Gaussian the lemma with $A = \Sigma_q^{-1}$ gives
# $\mathbb E_q[(z - \mu_q)^\top \Sigma_q^{-1} (z - \mu_q)] = K$, so
#
# $$
# \mathbb H\big[\mathcal N(\mu_q, \Sigma_q)\big] = \frac12 \big[K (1 + \log 2\pi) + \log\det\Sigma_q\big],
# $$
#
# which grows with the spread of $q$ and does not depend on its mean. The first form is then
# $\mathcal L(\lambda) = \mathbb E_q[\log p(x \mid z)] + \mathbb E_q[\log p(z)] + \mathbb H[q]$.
#
# Both forms take $\mathbb E_q[\log p(x \mid z)]$ from the same trace formula, so what the cell
# below compares is the rest: $\mathbb E_q[\log p(z)] + \mathbb H[q] = -\mathrm{KL}(q \,\|\, p(z))$,
# the lemma's two pieces against the library's KL (and the entropy formula against
# `torch.distributions`' entropy). The first form as a whole is checked independently below,
# by quadrature of $\log p(x, z) - \log q(z)$ at the fitted $q$.
# :::

# %%
# The first form, term by term: E_q[log p(x|z)] + E_q[log p(z)] + H[q].
def elbo_first_form(q):
    mean, cov = q.mean, q.covariance_matrix
    K = len(mean)
    expected_prior = -0.5 * (K * math.log(2 * math.pi) + mean @ mean
                             + torch.trace(cov))
    entropy = 0.5 * (K * (1 + math.log(2 * math.pi)) + torch.logdet(cov))
    assert abs(entropy - q.entropy()) < 1e-10  # torch agrees with H[q]
    return expected_log_likelihood(q) + expected_prior + entropy


form_differences = [abs(elbo_first_form(q) - model.elbo(x, q)).item()
                    for q in qs]
print("E_q[log p(z)] + H[q] = -KL(q || p(z)) to 1e-10 on all six q:",
      max(form_differences) < 1e-10)
assert max(form_differences) < 1e-10

# %% [markdown]
# ## Monte Carlo estimates converge at the $1/\sqrt S$ rate
#
# A neural decoder has no closed-form expectation, so in practice the ELBO $\mathcal L$ is
# replaced by its estimator $\hat{\mathcal L}$ from $S$ samples $z_s \sim q$. Each term of the
# average is an unbiased estimate of $\mathcal L$, and the $S$ terms are independent, so the
# variance of $\hat{\mathcal L}$ is that of one term divided by $S$: its standard deviation
# falls like $1/\sqrt S$. For the first of the six random Gaussians (a poor $q$: its gap in the
# table above is large, so one-sample errors are large too) we draw 500 independent estimates
# $\hat{\mathcal L}$ at each $S$, for both forms, measure their root mean squared error around the exact $\mathcal L$, and fit the
# slope on a log-log scale.

# %%
q = qs[0]
exact_elbo = model.elbo(x, q).item()
sample_sizes = [1, 4, 16, 64, 256, 1024, 4096]
FIRST = "first form: E[log p(x,z) - log q]"
SECOND = "second form: E[log p(x|z)] - KL"
rmse = {FIRST: [], SECOND: []}
bias_in_se = {FIRST: [], SECOND: []}  # (mean - L) / standard error
draws = {FIRST: [], SECOND: []}  # the 500 estimates at each S
rng = torch.Generator().manual_seed(SEED)
for S in sample_sizes:
    first = elbo_estimate(lambda z: model.log_joint(x, z), q, S,
                          n_estimates=500, generator=rng)
    second = elbo_estimate_kl(lambda z: model.log_likelihood(x, z), q,
                              model.prior(), S, n_estimates=500,
                              generator=rng)
    for name, estimates in ((FIRST, first), (SECOND, second)):
        draws[name].append(estimates)
        error = ((estimates - exact_elbo) ** 2).mean().sqrt().item()
        rmse[name].append(error)
        standard_error = estimates.std() / math.sqrt(500)
        bias = (estimates.mean() - exact_elbo) / standard_error
        bias_in_se[name].append(bias.item())
slopes = {name: np.polyfit(np.log(sample_sizes), np.log(errors), 1)[0]
          for name, errors in rmse.items()}
for name, slope in slopes.items():
    print(f"{name}: log-log slope {slope:.3f}")

fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
for name, errors in rmse.items():
    ax.loglog(sample_sizes, errors, "o-", label=name)
start = rmse[FIRST][0]
ax.loglog(sample_sizes, start / np.sqrt(sample_sizes), "k:",
          label=r"$\propto 1/\sqrt{S}$")
ax.set_xlabel("samples per estimate $S$")
ax.set_ylabel(r"RMSE of $\hat{\mathcal{L}}$ (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# **Check.** Both slopes are within 0.05 of $-1/2$, and both estimators are unbiased: at every
# $S$, for each form, the mean of the 500 estimates $\hat{\mathcal L}$ is within four standard
# errors of the exact $\mathcal L$.

# %%
assert all(abs(slope + 0.5) < 0.05 for slope in slopes.values())
assert all(abs(t) < 4 for ts in bias_in_se.values() for t in ts)

# %% [markdown]
# ## Maximizing the bound finds the posterior
#
# Now optimize $q_\lambda = \mathcal N(\mu_q, \Sigma_q)$ over $\lambda$ by gradient ascent on the
# exact $\mathcal L(\lambda)$, with Adam (a gradient method that scales each parameter's step by
# the size of its recent gradients; `torch.optim` minimizes, so it is given $-\mathcal L$). To
# keep $\Sigma_q$ a covariance, we parameterize it by its Cholesky factor $R$, a lower-triangular
# matrix with $R R^\top = \Sigma_q$ whose diagonal is the exponential of free parameters, and start
# from the prior $\mathcal N(0, I)$. The objective is the closed form derived above, with
# $\log\det\Sigma_q = 2 \sum_j \log R_{jj}$ (the determinant of a triangular matrix is the product
# of its diagonal). The gap $\log p(x) - \mathcal L(\lambda)$ must fall to
# zero and $q$ must become the posterior. As a contrast we also fit a *mean-field* $q$, with a
# diagonal covariance: it cannot represent the correlation of the posterior, so its gap stays
# open. Write $\Lambda = \Sigma_{\text{post}}^{-1}$ for the posterior precision. Its optimum
# follows from the Gaussian KL with $(\mu_p, \Sigma_p) = (\mu_{\text{post}}, \Sigma_{\text{post}})$
# and $\Sigma_q = \operatorname{diag}\sigma^2$: since $\operatorname{tr}(\Lambda
# \operatorname{diag}\sigma^2) = \sum_j \Lambda_{jj} \sigma_j^2$ and $\log\det
# \operatorname{diag}\sigma^2 = \sum_j \log \sigma_j^2$,
#
# $$
# \begin{aligned}
# \mathrm{KL}\big(q \,\|\, p(z \mid x)\big) &= \tfrac12 (\mu_q - \mu_{\text{post}})^\top \Lambda
# (\mu_q - \mu_{\text{post}}) \\
# &\quad + \tfrac12 \textstyle\sum_j \big(\Lambda_{jj} \sigma_j^2 - \log \sigma_j^2\big)
# + \text{const},
# \end{aligned}
# $$
#
# smallest at $\mu_q = \mu_{\text{post}}$ and $\sigma_j^2 = 1 / \Lambda_{jj}$: the inverses of the
# diagonal of the precision, not the posterior's marginal variances $(\Sigma_{\text{post}})_{jj}$.
# When the posterior is correlated, $1/\Lambda_{jj} < (\Sigma_{\text{post}})_{jj}$ (in two
# dimensions by the factor $1 - \eta^2$, as the check below shows), so the mean-field $q$ is *too
# narrow* along each axis (exercise 1 writes it out, with the gap this leaves).
#
# The first figure follows the gap along the gradient steps, on a log scale, for both fits,
# with the gap of the mean-field optimum as a dotted black line. The full-covariance gap falls
# until it reaches the round-off of double precision, after the number of steps the cell
# prints; its line stops there: below that the gap is round-off, sometimes zero or negative,
# which a log axis cannot draw.
# The second figure draws each Gaussian by its ellipses of 1 and 2 standard deviations (solid
# and dotted, as the legend says). The exact posterior is drawn wide and pale blue, and the
# full-covariance $q$ in orange on top of it, so that the two coincide: where a dotted orange
# ellipse runs over the pale dotted one, the pair reads as dash-dotted. The mean-field $q$ (green)
# is upright: compare its horizontal and vertical extent with the posterior's, which is what
# *too narrow* means below (smaller marginal variances); across the posterior's narrow
# diagonal it is wider.

# %%
def elbo_closed_form(mean, tril):
    """L(lambda) for q = N(mean, R R^T), R = tril: E_q[log p(x|z)]
    - KL(q || N(0, I)), both by the formulas above."""
    cov = tril @ tril.T
    log_det = 2 * tril.diagonal().log().sum()
    trace = torch.trace(W.T @ W @ cov)
    fit = model.log_likelihood(x, mean) - trace / (2 * tau2)
    kl = 0.5 * (torch.trace(cov) + mean @ mean - len(mean) - log_det)
    return fit - kl


def fit_gaussian(diagonal, steps=600):
    """Adam on the exact ELBO from q = N(0, I); returns q and the gaps."""
    mean = torch.zeros(2, requires_grad=True)
    log_diag = torch.zeros(2, requires_grad=True)
    below = torch.zeros((), requires_grad=not diagonal)  # entry (2, 1)
    params = [mean, log_diag] + ([] if diagonal else [below])
    optimizer = torch.optim.Adam(params, lr=0.05)
    corner = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    gaps = []
    for _ in range(steps):
        tril = torch.diag(log_diag.exp()) + below * corner
        loss = -elbo_closed_form(mean, tril)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        gaps.append((log_evidence + loss).item())
    tril = torch.diag(log_diag.exp()) + below * corner
    return MultivariateNormal(mean.detach(), scale_tril=tril.detach()), gaps


q_full, gaps_full = fit_gaussian(diagonal=False)
q_mean_field, gaps_mean_field = fit_gaussian(diagonal=True)

variances = 1 / torch.diagonal(precision_post)
q_mean_field_optimum = MultivariateNormal(mean_post, torch.diag(variances))
mean_field_gap = kl_divergence(q_mean_field_optimum, posterior).item()
fitted_variances = q_mean_field.covariance_matrix.diagonal()
shrink = fitted_variances / cov_post.diagonal()
print(f"final gap: full covariance {abs(gaps_full[-1]):.6f} nats, "
      f"mean field {gaps_mean_field[-1]:.4f} nats "
      f"(its known optimum: {mean_field_gap:.4f})")
print(f"mean-field variances {fitted_variances.numpy().round(3)}, "
      f"posterior marginals {cov_post.diagonal().numpy().round(3)}: "
      f"ratio {shrink.numpy().round(3)}, "
      f"1 - eta^2 = {1 - correlation**2:.3f}")

# %%
# tolerance: rtol=0.1 atol=0
# (the step at which round-off is reached moves with the CPU's rounding)
# the full fit's gap ends in round-off of either sign, which a log axis
# cannot draw: its line stops at the first step below 1e-14 nats
reached = next((i for i, gap in enumerate(gaps_full) if gap < 1e-14),
               len(gaps_full) - 1)
print(f"full-covariance gap below 1e-14 nats from step {reached}")
fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
ax.semilogy(gaps_full[:reached + 1], label="full-covariance q")
ax.semilogy(gaps_mean_field, label="mean-field q")
ax.axhline(mean_field_gap, color="k", ls=":", lw=1,
           label="mean-field optimum")
ax.set_xlabel("gradient step")
ax.set_ylabel(r"gap $\log p(x) - \mathcal{L}(\lambda)$ (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %%
plots.plot_gaussian_contours({
    "exact posterior": (mean_post, cov_post),
    "full-covariance q": (q_full.mean, q_full.covariance_matrix),
    "mean-field q": (q_mean_field.mean, q_mean_field.covariance_matrix),
}, title="fitted q against p(z | x)")

# %% [markdown]
# **Check.** The objective agrees at both fits to 1e-10 with the ELBO in its first form,
# $\mathbb E_q[\log p(x, z) - \log q(z)]$, computed by quadrature (its integrand is a quadratic in
# $z$). The full-covariance fit closes the gap to below 1e-6 nats and matches the
# posterior's mean and covariance to 1e-3; the mean-field fit stops at its known optimum (to
# 1e-4 nats), a gap of more than 0.5 nats that no amount of optimization can close. Its fitted
# variances are smaller than the posterior's marginal variances: mean-field $q$ is too narrow.
# In two dimensions they are smaller by the factor $1 - \eta^2$, with $\eta = -0.82$ the
# posterior correlation printed above: the optimum's variances are $1 / \Lambda_{jj}$, and for the
# inverse of a $2 \times 2$ matrix, $\Lambda_{11} = (\Sigma_{\text{post}})_{22} / \det\Sigma_{\text{post}}$,
# where $\det\Sigma_{\text{post}} = (\Sigma_{\text{post}})_{11}(\Sigma_{\text{post}})_{22}(1 - \eta^2)$, so
# $1/\Lambda_{11} = (1 - \eta^2)\, (\Sigma_{\text{post}})_{11}$: the posterior's marginal variance
# shrunk by $1 - \eta^2$. The fitted ratio agrees to 1e-3.

# %%
for q in (q_full, q_mean_field):  # the objective is the ELBO
    ours = elbo_closed_form(q.mean, q.scale_tril)
    first_form = gauss_hermite(
        lambda z, q=q: model.log_joint(x, z) - q.log_prob(z), q)
    assert abs(ours - first_form) < 1e-10
assert abs(gaps_full[-1]) < 1e-6
assert torch.allclose(q_full.mean, mean_post, atol=1e-3)
assert torch.allclose(q_full.covariance_matrix, cov_post, atol=1e-3)
assert abs(gaps_mean_field[-1] - mean_field_gap) < 1e-4
assert mean_field_gap > 0.5
assert torch.all(fitted_variances < cov_post.diagonal())
assert torch.allclose(shrink, torch.full((2,), 1 - correlation**2),
                      rtol=0, atol=1e-3)

# %% [markdown]
# ## One picture: $\log p(x) = \mathcal L + \mathrm{KL}$
#
# The decomposition says that $\log p(x)$, one number fixed by the model and $x$, is split by
# every $q$ into two parts: the ELBO, and the KL to the posterior. The bars below draw it for
# four choices of $q$: the exact posterior, the best mean-field $q$, a random Gaussian (the
# second of the six above), and the prior $p(z)$ used as $q$ (what $q$ would be if it ignored
# $x$). Each bar reaches down to $\mathcal L(\lambda)$; its grey part ends at $\log p(x)$, the
# same level for every $q$, and the coloured part below it is $\mathrm{KL}(q \,\|\, p(z \mid x))$.
# A lower bound is literally lower.

# %%
choices = {
    "exact posterior": posterior,
    "best mean-field q": q_mean_field_optimum,
    "random Gaussian q": qs[1],
    "prior p(z) as q": model.prior(),
}
elbos = {name: model.elbo(x, q).item() for name, q in choices.items()}
kls = {name: kl_divergence(q, posterior).item()
       for name, q in choices.items()}
print(f"{'q':20s} {'L':>9s} {'KL':>8s} {'L + KL':>9s}")
for name in choices:
    print(f"{name:20s} {elbos[name]:9.4f} {abs(kls[name]):8.4f} "
          f"{elbos[name] + kls[name]:9.4f}")
mean_field_formula = -0.5 * math.log(1 - correlation**2)
prior_floor = 0.5 * (torch.trace(precision_post) - 2
                     - torch.logdet(precision_post)).item()
prior_mean_part = 0.5 * (mean_post @ precision_post @ mean_post).item()
print(f"-log(1 - eta^2) / 2 = {mean_field_formula:.4f}; prior: "
      f"{prior_floor:.4f} for every x + {prior_mean_part:.4f} for this x")

fig = Figure(figsize=(6.5, 3.8))
ax = fig.subplots()
positions = np.arange(len(choices))
evidence = log_evidence.item()
ax.bar(positions, evidence, color="0.75", label=r"$\log p(x)$")
ax.bar(positions, -np.array(list(kls.values())), bottom=evidence,
       color="C3", label=r"$\mathrm{KL}(q \,\|\, p(z \mid x))$")
for i, name in enumerate(choices):
    label = rf"$\mathcal{{L}}$ = {elbos[name]:.2f}, KL = {abs(kls[name]):.2f}"
    ax.annotate(label, (i, elbos[name]), xytext=(0, -12),
                textcoords="offset points", ha="center", fontsize=8)
ax.axhline(evidence, color="k", lw=0.8, ls=":",
           label=r"level of $\log p(x)$, the same for every $q$")
ax.set_xticks(positions, list(choices), fontsize=8)
ax.set_ylabel("nats")
ax.set_title(r"$\log p(x) = \mathcal{L} + \mathrm{KL}(q \,\|\, p(z \mid x))$")
ax.set_ylim(min(elbos.values()) - 1.5, 0)
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
fig

# %% [markdown]
# Two of these KLs have short formulas. Put the mean-field optimum, $\mu_q = \mu_{\text{post}}$ and
# $\Sigma_q = \operatorname{diag}(1/\Lambda_{jj})$, into the Gaussian KL with $p = p(z \mid x)$: the
# mean term vanishes, $\operatorname{tr}(\Lambda \Sigma_q) = \sum_j \Lambda_{jj}/\Lambda_{jj} = K$
# cancels $-K$, and $\log(\det\Sigma_{\text{post}} / \det\Sigma_q) = \sum_j \log\Lambda_{jj} -
# \log\det\Lambda$, leaving $\tfrac12\big(\sum_j \log\Lambda_{jj} - \log\det \Lambda\big)$. In two dimensions, inverting the symmetric
# $\Sigma_{\text{post}}$ swaps its diagonal entries, flips the sign of the off-diagonal one and
# divides all three by the determinant, so the precision's correlation is $-\eta$,
# $\det \Lambda = \Lambda_{11} \Lambda_{22} (1 - \eta^2)$, and the loss is
# $-\tfrac12 \log(1 - \eta^2)$, whatever $x$ is. The prior as $q$, $(\mu_q, \Sigma_q) = (0, I)$,
# loses $\tfrac12\big(\operatorname{tr} \Lambda - K - \log\det \Lambda\big)$ for every $x$, plus
# $\tfrac12 \mu_{\text{post}}^\top \Lambda \mu_{\text{post}}$ for this $x$ (Solution 1 adds why the
# first loss is never negative).
#
# **Check.** For every $q$ the two parts add up to $\log p(x)$ to 1e-10; for the exact posterior,
# whose KL to itself is zero by definition, this says that its ELBO is $\log p(x)$. The best
# mean-field $q$ loses 0.56 nats, which is $-\tfrac12 \log(1 - \eta^2)$; the prior, which ignores
# $x$, loses 5.48 nats here, of which 4.26 are lost whatever $x$ is. Both formulas agree with
# the library's KL to 1e-10.

# %%
for name in choices:
    assert abs(elbos[name] + kls[name] - evidence) < 1e-10
assert abs(kls["best mean-field q"] - mean_field_formula) < 1e-10
prior_kl = prior_floor + prior_mean_part
assert abs(kls["prior p(z) as q"] - prior_kl) < 1e-10

# %% [markdown]
# ### Going further: why not average $p(x \mid z)$ over draws from the prior?
#
# The evidence is an expectation
# under the prior, $p(x) = \mathbb E_{p(z)}[p(x \mid z)]$, so the mean of $p(x \mid z_s)$ over
# $k$ draws $z_s \sim p(z)$ is an unbiased estimate of it: importance sampling with the prior
# as proposal, whose weights are $w_s = p(x \mid z_s)$. Measure the estimate relative to the
# truth, $\bar w_k = \tfrac1k \sum_s w_s / p(x)$, which has mean 1. How good it is depends on
# the second moment of the estimate from a single draw ($\bar w_k$ with $k = 1$),
# $\bar w_1 = w_s / p(x) = p(z_s \mid x) / p(z_s)$: $\operatorname{Var}[\bar w_k] = (\mathbb E[\bar w_1^2] - 1) / k$, with
# $\mathbb E[\bar w_1^2] = \int p(z \mid x)^2 / p(z)\, dz$. Most prior draws land where
# $p(x \mid z)$ is small, and the few that land near the posterior carry the estimate. The
# cell computes this second moment for our $x$ by quadrature on a grid, and measures the
# spread of 2,000 estimates with $k = 100$.

# %%
# E_p(z)[w_1^2] / p(x)^2 = int p(z | x)^2 / p(z) dz, by quadrature on a grid
grid = torch.linspace(-8, 8, 801)
step = (grid[1] - grid[0]).item()
plane = torch.cartesian_prod(grid, grid)
second_moment = (torch.exp(2 * posterior.log_prob(plane)
                           - model.prior().log_prob(plane)).sum()
                 * step**2).item()
# 2,000 estimates of p(x), each the mean of p(x | z_s) over k prior draws
k = 100
z = torch.randn(2000, k, 2, generator=torch.Generator().manual_seed(SEED))
ratio = (model.log_likelihood(x, z) - log_evidence).exp().mean(1)
predicted_sd = math.sqrt((second_moment - 1) / k)
measured_sd = ratio.std().item()
print(f"E[w_1^2] / p(x)^2 = {second_moment:.2f}; relative SD of the "
      f"estimate from k = {k} prior draws: {predicted_sd:.1%} predicted, "
      f"{measured_sd:.1%} measured")

# %% [markdown]
# **Check.** The 2,000 estimates average to $p(x)$ within four standard errors, and their
# relative standard deviation is within 4 × 1.6% of $\sqrt{(\mathbb E[\bar w_1^2] - 1) / k}$ from
# the quadrature, by four times the standard error of a measured standard deviation. (Each
# estimate averages 100 weights, so it is nearly Gaussian, and a standard deviation measured on
# 2,000 of them has a relative standard error of $1/\sqrt{2 \cdot 1999} \approx 1.6\%$.
# Forgetting the $-1$ in the formula would be about 20% off.)

# %%
n_estimates = len(ratio)
mean_error = predicted_sd / math.sqrt(n_estimates)
assert abs(ratio.mean().item() - 1) < 4 * mean_error
sd_error = 1 / math.sqrt(2 * (n_estimates - 1))  # of a Gaussian sample's SD
assert abs(measured_sd / predicted_sd - 1) < 4 * sd_error

# %% [markdown]
# Here the second moment is 3, and 100 prior draws give $p(x)$ to about 14%: in two
# dimensions the prior is a workable proposal. The trouble is dimension. The second moment of
# a product of independent coordinates' weights is the product of their second moments, so a
# posterior that is as much narrower than the prior (and as far off its centre) in each of
# $K = 32$ coordinates as this one is, on average, in each of its two (a factor $\sqrt 3$ per coordinate, as the two
# together give 3) would give $\sqrt 3^{\,32} = 3^{16} \approx 4 \times 10^7$, and it
# would take billions of prior draws for the same 14%. This is why the ELBO draws from a $q$
# placed where the posterior is, and why a VAE's encoder computes that place for each $x$
# (chapter 5).

# %% [markdown]
# ### Going further: reconstruction against regularization
#
# Read the second form as a tug of war. The reconstruction term
# $\mathbb E_q[\log p(x \mid z)]$ wants $q$ concentrated on the codes that explain $x$ best; the
# KL term wants $q$ spread out like the prior. Scale the posterior's covariance by a factor
# $\gamma > 0$, $q_\gamma = \mathcal N(\mu_{\text{post}}, \gamma\, \Sigma_{\text{post}})$, and follow
# both terms. The formulas above say what must happen:
#
# - reconstruction: $\mathbb E_{q_\gamma}[\log p(x \mid z)] = \log \mathcal N(x; W\mu_{\text{post}} + c, \tau^2 I) - \gamma\, \operatorname{tr}(W^\top W \Sigma_{\text{post}}) / (2\tau^2)$
#   falls along a straight line in $\gamma$ (bent in the plot by its logarithmic axis);
# - regularization: $\mathrm{KL}(q_\gamma \,\|\, p(z)) = \tfrac12\big[\gamma \operatorname{tr}\Sigma_{\text{post}} + \mu_{\text{post}}^\top \mu_{\text{post}} - K - K \log\gamma - \log\det\Sigma_{\text{post}}\big]$;
#   setting its derivative $\tfrac12(\operatorname{tr}\Sigma_{\text{post}} - K/\gamma)$ to zero, it
#   is smallest at $\gamma = K / \operatorname{tr}\Sigma_{\text{post}}$, which is above 1 whenever the
#   posterior is narrower than the prior;
# - the ELBO, their difference, has derivative
#   $-\tfrac12 \operatorname{tr}\big((W^\top W/\tau^2 + I)\Sigma_{\text{post}}\big) + \tfrac{K}{2\gamma}
#   = -\tfrac12 \operatorname{tr}(\Sigma_{\text{post}}^{-1}\Sigma_{\text{post}}) + \tfrac{K}{2\gamma}
#   = \tfrac K2 \big(\tfrac1\gamma - 1\big)$,
#   zero exactly at $\gamma = 1$: the true posterior, as it must be.

# %%
scales = np.logspace(-2, 1, 13)
terms = {"reconstruction": [], "-KL(q || p(z))": [], "ELBO": []}
for gamma in scales:
    q_gamma = MultivariateNormal(mean_post, gamma * cov_post)
    kl = kl_divergence(q_gamma, model.prior()).item()
    fit = gauss_hermite(lambda z: model.log_likelihood(x, z), q_gamma).item()
    terms["reconstruction"].append(fit)  # by quadrature
    terms["-KL(q || p(z))"].append(-kl)
    terms["ELBO"].append(fit - kl)
# the predicted line: log N(x; W mu_post + c, tau^2 I) + slope * gamma
intercept = model.log_likelihood(x, mean_post).item()
slope = -torch.trace(W.T @ W @ cov_post).item() / (2 * tau2)
gamma_least_kl = 2 / torch.trace(cov_post).item()
print(f"reconstruction: intercept {intercept:.4f}, slope in gamma "
      f"{slope:.4f}; KL smallest at gamma = K / tr(Sigma_post) = "
      f"{gamma_least_kl:.2f}")

fig = Figure(figsize=(6.5, 3.5))
ax = fig.subplots()
for name, values in terms.items():
    ax.semilogx(scales, values, "o-", label=name)
ax.axvline(1, color="grey", ls=":", label=r"$\gamma = 1$: the posterior")
ax.axvline(gamma_least_kl, color="C1", ls=":", label="least KL")
ax.set_xlabel(r"covariance scale $\gamma$")
ax.set_ylabel("nats")
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
fig.tight_layout()
fig

# %% [markdown]
# **Check.** The reconstruction term, computed by quadrature, falls on the predicted straight
# line, intercept $\log \mathcal N(x; W\mu_{\text{post}} + c, \tau^2 I)$ and slope
# $-\operatorname{tr}(W^\top W \Sigma_{\text{post}}) / (2\tau^2)$, to 1e-10. The KL term prefers a $q$ *wider* than the posterior, closer to the prior: on
# the grid the KL is smallest next to $\gamma = K / \operatorname{tr}\Sigma_{\text{post}} > 1$. The
# ELBO balances the two and is largest at $\gamma = 1$, the true posterior.

# %%
line = intercept + slope * scales
assert np.allclose(terms["reconstruction"], line, rtol=0, atol=1e-10)
neg_kl = np.array(terms["-KL(q || p(z))"])
best = scales[np.argmax(neg_kl)]
assert gamma_least_kl > 1
assert best / 10**0.25 < gamma_least_kl < best * 10**0.25  # grid neighbours
assert scales[np.argmax(terms["ELBO"])] == 1.0

# %% [markdown]
# In a VAE the same tug of war acts on every training image at once. The reconstruction term
# pushes the codes of different images apart so that each can be decoded; the KL term pulls
# every $q_\phi(z \mid x)$ toward $\mathcal N(0, I)$, packing the codes into the region the prior
# samples from, which is what chapter 1's autoencoder lacked. Chapter 5 shows what each term
# does to the latent space when the other is switched off.

# %% [markdown]
# ## Summary
#
# - $\log p(x) = \mathcal L + \mathrm{KL}(q \,\|\, p(z \mid x))$: the ELBO is a lower bound whose
#   gap is exactly the KL to the posterior (checked to 1e-10 on six random Gaussian $q$, and on
#   the four $q$ of the bar chart: the exact posterior, the best mean-field $q$, one of the random
#   Gaussians and the prior).
# - Two forms, $\mathbb E_q[\log p(x, z) - \log q]$ and
#   $\mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q \,\|\, p(z))$, are equal; the KL between a diagonal
#   Gaussian and $\mathcal N(0, I)$ is $\tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2)$.
# - In the linear-Gaussian model the posterior follows by completing the square, and every
#   expectation of the ELBO by one lemma, $\mathbb E_q[(z - \bar z)^\top A (z - \bar z)] = (\mu_q - \bar z)^\top A (\mu_q - \bar z) + \operatorname{tr}(A\Sigma_q)$.
# - The objective $\mathcal L$ is estimated by $\hat{\mathcal L}$, unbiased with error
#   $\propto 1/\sqrt S$; maximizing $\mathcal L$ over a rich enough family recovers the posterior,
#   a mean-field family leaves a gap.
# - (From the two asides.) Why a VAE has an encoder: averaging $p(x \mid z)$ over draws from
#   the prior needs a number of draws that grows exponentially with the dimension when each
#   coordinate adds a similar factor (the first aside measures the factor in two dimensions and
#   extrapolates to 32 under that assumption), so the
#   ELBO draws from a $q$ placed near the posterior, and a VAE's encoder computes that $q$ for
#   each $x$. Its KL term pulls every $q_\phi(z \mid x)$ toward $\mathcal N(0, I)$, packing the
#   codes where the prior samples from, which chapter 1's autoencoder lacked (the second aside).

# %% [markdown]
# ## Exercises
#
# 1. Show that among Gaussians with a diagonal covariance, $\mathrm{KL}(q \,\|\, p(z \mid x))$ is
#    smallest for the mean $\mu_{\text{post}}$ and the variances $1/\Lambda_{jj}$,
#    and that the smallest gap is
#    $\tfrac12 \big(\sum_j \log \Lambda_{jj} - \log \det \Lambda\big)$.
#    Check it against the mean-field gap above. *Hint:* write the KL between two Gaussians with
#    $p = p(z \mid x)$, and set its derivatives in $\mu_q$ and in each variance
#    $\sigma_j^2$ of $q$ to zero.
# 2. Replace $q$ by a Student-t distribution with the posterior's mean and covariance and
#    $\nu = 3, 10, 30$ degrees of freedom, and estimate its ELBO with `elbo_estimate`. Can it
#    beat the best Gaussian? *Hint:* the posterior is Gaussian. To give the t the posterior's
#    correlation, draw $\zeta$ from independent Student-t's in `torch.distributions`
#    (`Independent(StudentT(nu, 0, scale), 1)`, with the scale that gives variance 1) and set
#    $z = \mu_{\text{post}} + R \zeta$, with $R$ the Cholesky factor of $\Sigma_{\text{post}}$ (lower
#    triangular, $R R^\top = \Sigma_{\text{post}}$); then $\log q(z) = \log q(\zeta) - \log\det R$, so
#    $\mathcal L$ is the ELBO of $\zeta$ under the log-joint
#    $\zeta \mapsto \log p(x, \mu_{\text{post}} + R \zeta) + \log\det R$.
# 3. Which form of the Monte Carlo ELBO had the smaller error above, and is that always so?
#    *Hint:* which terms does each form compute exactly? Then compute the variance of each
#    form's $\hat{\mathcal L}$ at $q = p(z \mid x)$.
# 4. Use $q$ as an importance-sampling proposal with $k$ draws $z_s$, $s = 1, \dots, k$, and weights
#    $w_s = p(x, z_s) / q(z_s)$. Show that $\tfrac1k \sum_{s=1}^k w_s$ is an unbiased estimate of
#    $p(x)$, and that $\mathcal L_k = \log \tfrac1k \sum_{s=1}^k w_s$, the importance-weighted bound of
#    chapter 5, has $\mathbb E[\mathcal L_k] \le \log p(x)$ and $\mathbb E[\mathcal L_1] = \mathcal L$. Measure how
#    $\mathbb E[\mathcal L_k]$ approaches $\log p(x)$ for $k = 1, 10, 100, 1000$ with the best mean-field
#    $q$ as the proposal. Does the gap fall like $1/k$? *Hint:* Jensen's inequality, as in the
#    first derivation; compute $\mathcal L_k$ from the log-weights with `torch.logsumexp` (the
#    weights themselves may underflow). For the rate, ask when the weights have a finite
#    variance: for which Gaussian $q$ is $\int p(z \mid x)^2 / q(z)\, dz$ finite?

# %% [markdown]
# ## Solutions
#
# ### Solution 1
#
# :::{dropdown} Solution
# Let $q = \mathcal N(\mu_q, \operatorname{diag}\sigma^2)$, and write
# $\Lambda_{jj}$ for the diagonal entries of the posterior precision $\Lambda = \Sigma_{\text{post}}^{-1}$. The KL between two
# Gaussians, with $p = p(z \mid x)$, is
#
# $$
# \begin{aligned}
# \mathrm{KL}(q \,\|\, p(z \mid x)) &= \frac12 \Big[\operatorname{tr}\big(\Sigma_{\text{post}}^{-1} \operatorname{diag}\sigma^2\big) \\
#   &\quad + (\mu_{\text{post}} - \mu_q)^\top \Sigma_{\text{post}}^{-1} (\mu_{\text{post}} - \mu_q) - K \\
#   &\quad + \log\det\Sigma_{\text{post}} - \sum_j \log\sigma_j^2\Big].
# \end{aligned}
# $$
#
# The trace of a matrix times a diagonal matrix only sees the diagonal:
# $\operatorname{tr}(\Lambda \operatorname{diag}\sigma^2) = \sum_j \Lambda_{jj} \sigma_j^2$.
# The mean appears only in the quadratic form, which is $\ge 0$ because a precision is positive
# definite, and is $0$ exactly at $\mu_q = \mu_{\text{post}}$. Each variance appears in
# $\tfrac12\big(\Lambda_{jj}\sigma_j^2 - \log\sigma_j^2\big)$, whose derivative in $\sigma_j^2$,
# $\tfrac12\big(\Lambda_{jj} - 1/\sigma_j^2\big)$, vanishes at $\sigma_j^2 = 1/\Lambda_{jj}$ (a minimum: the
# function is convex in $\sigma_j^2$). At the optimum $\sum_j \Lambda_{jj}\sigma_j^2 = K$ cancels
# the $-K$, the quadratic form is 0, and
#
# $$
# \begin{aligned}
# \min \mathrm{KL} &= \frac12\Big[\log\det\Sigma_{\text{post}} + \sum_j \log \Lambda_{jj}\Big] \\
#   &= \frac12\Big[\sum_j \log \Lambda_{jj} - \log\det\Lambda\Big],
# \end{aligned}
# $$
#
# using $\log\det\Sigma_{\text{post}} = -\log\det\Lambda$. Since
# $\log p(x) - \mathcal L = \mathrm{KL}$, this is the smallest gap. It is never negative, and
# zero exactly when the precision is diagonal: by Hadamard's inequality, a positive definite
# matrix $A$ has $\det A \le \prod_j A_{jj}$, with equality exactly when $A$ is diagonal. A
# mean-field $q$ is exact only when the posterior has no correlations.
#
# In two dimensions the gap depends on the correlation alone. Inverting a symmetric $2 \times 2$
# matrix swaps its two diagonal entries, flips the sign of the off-diagonal one and divides all
# by the determinant, so the precision's correlation is that of the covariance with its sign
# flipped, $-\eta$, and its determinant is
# $\Lambda_{11} \Lambda_{22} (1 - \eta^2)$. The smallest gap is therefore
# $-\tfrac12 \log(1 - \eta^2)$, 0.56 nats here, for every $x$ (the posterior's covariance does not
# depend on $x$).
#
# The prior as $q$ is the Gaussian KL formula with $(\mu_q, \Sigma_q) = (0, I)$ and
# $(\mu_p, \Sigma_p) = (\mu_{\text{post}}, \Sigma_{\text{post}})$:
# $\mathrm{KL}(p(z) \,\|\, p(z \mid x)) = \tfrac12\big(\operatorname{tr}\Sigma_{\text{post}}^{-1} - K
# - \log\det\Lambda\big) + \tfrac12 \mu_{\text{post}}^\top \Sigma_{\text{post}}^{-1}
# \mu_{\text{post}}$. The first term does not involve $x$, so at least 4.26 nats are lost
# whatever $x$ is; the second adds 1.22 nats for this $x$, 5.48 in all.
# :::

# %% tags=["hide-cell"]
log_diag = torch.log(torch.diagonal(precision_post)).sum()
formula_gap = 0.5 * (log_diag - torch.logdet(precision_post)).item()
print(f"formula {formula_gap:.6f} | KL of the mean-field optimum "
      f"{mean_field_gap:.6f} | fitted {gaps_mean_field[-1]:.4f}")
assert abs(formula_gap - mean_field_gap) < 1e-10
assert abs(formula_gap - gaps_mean_field[-1]) < 1e-4

# %% [markdown]
# ### Solution 2
#
# :::{dropdown} Solution
# No. The Gaussian posterior is itself in the Gaussian family, so the best Gaussian reaches
# $\mathcal L = \log p(x)$ (the full-covariance fit above closed the gap). For any other $q$, with
# $\mathcal L[q]$ its ELBO (a functional of $q$, which need not be Gaussian),
# $\log p(x) - \mathcal L[q] = \mathrm{KL}(q \,\|\, p(z \mid x)) > 0$, a Student-t included.
#
# Here the gap has a closed form. The change of variables $z = \mu_{\text{post}} + R \zeta$ maps
# the posterior to $\mathcal N(0, I)$ and $q$ to the density of $\zeta$, written $q_\zeta$ (the
# subscript names the variable here, not parameters), the product of the two t's, and a KL
# divergence is unchanged by an invertible change of variables (the Jacobian cancels in the
# ratio). With $\mathbb E_{q_\zeta}[\zeta^\top \zeta] = K = 2$,
#
# $$
# \begin{aligned}
# \log p(x) - \mathcal L &= \mathrm{KL}\big(q_\zeta \,\|\, \mathcal N(0, I)\big) \\
#   &= -\mathbb H[q_\zeta] + \log 2\pi + \tfrac12 \mathbb E_{q_\zeta}[\zeta^\top \zeta] \\
#   &= \log(2\pi e) - \mathbb H[q_\zeta],
# \end{aligned}
# $$
#
# and `torch.distributions` gives the entropy of the t. The exact gaps are 0.3895, 0.0185 and
# 0.0018 nats for $\nu = 3, 10, 30$: all positive, and shrinking as $\nu$ grows and the t
# approaches the Gaussian. For $\nu = 10$ and $30$ the Monte Carlo estimates agree with them
# within four standard errors. For $\nu = 3$ the estimate comes without a standard error. Each
# term of the estimator contains $-\tfrac12 \zeta^\top \zeta$, whose variance needs
# $\mathbb E[\zeta_j^4]$, and a t with $\nu \le 4$ has no fourth moment: the terms have an infinite
# variance, and a standard error computed from their sample spread estimates it, which means
# nothing (Solution 4 meets the same trap with importance weights). The average still
# converges to the gap, but slowly, and with no error bar to say how far off it is.
#
# A heavier-tailed $q$ cannot pay here, where the posterior is Gaussian; it can pay when the
# posterior has heavier tails than a Gaussian. (The Student-t with $\nu$ degrees of freedom has variance
# $\nu/(\nu - 2)$, hence the scale $\sqrt{(\nu - 2)/\nu}$ for variance 1; the change of
# variables $z = \mu_{\text{post}} + R \zeta$ has Jacobian determinant $\det R$, hence the
# $\log\det R$.)
# :::

# %% tags=["hide-cell"]
cholesky = torch.linalg.cholesky(cov_post)
log_det = torch.logdet(cholesky)


def log_joint_of_zeta(zeta):
    return model.log_joint(x, mean_post + zeta @ cholesky.T) + log_det


rng = torch.Generator().manual_seed(SEED)
t_gaps, t_exact = {}, {}
for nu in (3.0, 10.0, 30.0):
    scale = torch.full((2,), math.sqrt((nu - 2) / nu))
    q_t = Independent(StudentT(nu, torch.zeros(2), scale), 1)
    # KL(q_zeta || N(0, I)) = log(2 pi e) - H[q_zeta], with torch's entropy
    t_exact[nu] = math.log(2 * math.pi * math.e) - q_t.entropy().item()
    estimates = elbo_estimate(log_joint_of_zeta, q_t, 1000, n_estimates=100,
                              generator=rng)
    gap = evidence - estimates.mean().item()
    t_gaps[nu] = (gap, estimates.std().item() / math.sqrt(100))
    error_bar = (f"± {t_gaps[nu][1]:.4f}" if nu > 4  # finite variance
                 else "(no standard error: E[zeta^4] is infinite)")
    print(f"nu = {nu:2.0f}: exact gap {t_exact[nu]:.4f} | Monte Carlo "
          f"{gap:.4f} {error_bar}")
assert all(gap > 0 for gap in t_exact.values())
assert t_exact[3.0] > t_exact[10.0] > t_exact[30.0]
for nu in (10.0, 30.0):  # the terms have a finite variance only for nu > 4
    gap, se = t_gaps[nu]
    assert abs(gap - t_exact[nu]) < 4 * se

# %% [markdown]
# ### Solution 3
#
# :::{dropdown} Solution
# Both estimators average $S$ independent terms, so their errors are the standard deviation of
# one term divided by $\sqrt S$; they differ in what that term is. The second form computes
# the KL exactly and samples only $\log p(x \mid z_s)$; the first samples
# $\log p(x, z_s) - \log q(z_s)$. Both terms are quadratics in $z$, so their squares are
# polynomials of degree 4 and the quadrature gives each term's variance exactly. For the random
# $q$ above (its gap is 33.0 nats) one term of the first form has standard deviation 16.29,
# one of the second 13.41, and the measured mean squared errors agree with these variances
# divided by $S$, at every $S$, within four standard errors. Here the second form is less noisy:
# the exact KL removes the noise of $\log p(z) - \log q(z)$. But most of the noise is in
# $\log p(x \mid z)$, which the two forms share, and $\log p(z) - \log q(z)$ can as well cancel
# part of it as add to it; which form wins depends on $q$.
#
# It cannot always be the second. Substitute $\log p(x, z) = \log p(x) + \log p(z \mid x)$ into
# the first form's term: it is $\log p(x) + \log p(z \mid x) - \log q(z)$. At $q = p(z \mid x)$
# this is the constant $\log p(x)$ for *every* $z$, so the first form's estimate has variance
# zero, whatever $S$: a perfect $q$ makes the first form exact from a single sample, while the
# second form still averages the noisy $\log p(x \mid z_s)$ (its standard deviation is 0.72 by
# quadrature, 0.70 in 1,000 draws). Near the optimum, which is where training spends its time, the
# first form can be the less noisy one.
# :::

# %% tags=["hide-cell"]
def exact_sd(f, q):
    """Standard deviation of f(z), z ~ q, by quadrature (f quadratic)."""
    mean = gauss_hermite(f, q)
    return (gauss_hermite(lambda z: f(z) ** 2, q) - mean**2).sqrt().item()


def within_se(estimates, center, variance):
    """|mean of (estimates - center)^2 - variance| in standard errors."""
    squared = (estimates - center) ** 2
    se = squared.std().item() / math.sqrt(len(squared))
    return abs(squared.mean().item() - variance) / se


q = qs[0]
sd_one = {
    FIRST: exact_sd(lambda z: model.log_joint(x, z) - q.log_prob(z), q),
    SECOND: exact_sd(lambda z: model.log_likelihood(x, z), q),
}
worst_mse = max(within_se(estimates, exact_elbo, sd_one[name] ** 2 / S)
                for name in draws
                for S, estimates in zip(sample_sizes, draws[name],
                                        strict=True))
print(f"q above: gap {(log_evidence - model.elbo(x, q)).item():.1f} nats;"
      f" sd of one term: first form {sd_one[FIRST]:.2f}, second "
      f"{sd_one[SECOND]:.2f}; every MSE within {worst_mse:.1f} standard "
      f"errors of sd^2 / S")

rng = torch.Generator().manual_seed(SEED)
at_posterior = {
    "first": elbo_estimate(lambda z: model.log_joint(x, z), posterior, 1,
                           n_estimates=1000, generator=rng),
    "second": elbo_estimate_kl(lambda z: model.log_likelihood(x, z),
                               posterior, model.prior(), 1,
                               n_estimates=1000, generator=rng),
}
spread = {name: e.std().item() for name, e in at_posterior.items()}
sd_second = exact_sd(lambda z: model.log_likelihood(x, z), posterior)
print(f"at q = p(z|x), S = 1: sd of the first form below 1e-10: "
      f"{spread['first'] < 1e-10}; sd of the second {spread['second']:.2f}"
      f" (quadrature {sd_second:.2f})")
assert worst_mse < 4
assert spread["first"] < 1e-10
assert within_se(at_posterior["second"], at_posterior["second"].mean(),
                 sd_second**2) < 4

# %% [markdown]
# ### Solution 4
#
# :::{dropdown} Solution
# *Unbiased:* each weight has mean
# $\mathbb E_q[w] = \int q(z)\, \frac{p(x, z)}{q(z)}\, dz = \int p(x, z)\, dz = p(x)$, and the mean of an
# average is the average of the means. *A lower bound:* $\log$ is concave, so by Jensen
# $\mathbb E[\mathcal L_k] = \mathbb E\big[\log \tfrac1k \sum_s w_s\big] \le \log \mathbb E\big[\tfrac1k \sum_s w_s\big] = \log p(x)$.
# For $k = 1$, $\mathbb E[\mathcal L_1] = \mathbb E_q[\log p(x, z) - \log q(z)] = \mathcal L$. As $k$
# grows, the average of the weights concentrates around $p(x)$, Jensen's gap closes, and
# $\mathbb E[\mathcal L_k]$ rises towards $\log p(x)$; chapter 5 uses $\mathcal L_k$ to estimate
# the log-likelihood of a VAE. In the log domain,
# $\mathcal L_k = \operatorname{logsumexp}_s(\log w_s) - \log k$, which never forms the weights
# themselves.
#
# *How fast?* Write $\bar w_k = \tfrac1k \sum_s w_s / p(x)$, which has mean 1. *If* the weights have
# a finite variance, then $\operatorname{Var}[\bar w_k] = \operatorname{Var}_q[w / p(x)] / k$, and a
# second-order Taylor expansion, $\log \bar w_k \approx (\bar w_k - 1) - \tfrac12 (\bar w_k - 1)^2$,
# gives $\log p(x) - \mathbb E[\mathcal L_k] \approx \operatorname{Var}_q[w / p(x)] / (2k)$ for large
# $k$: ten times smaller per decade of $k$. The table below does not show that: with the best mean-field $q$ the gap
# falls only about twofold per decade.
#
# The variance is finite only if $\mathbb E_q[w^2] = p(x)^2 \int p(z \mid x)^2 / q(z)\, dz$ is. For
# $q = \mathcal N(\mu_q, \Sigma_q)$ and $p(z \mid x) = \mathcal N(\mu_{\text{post}}, \Sigma_{\text{post}})$ the
# integrand is the exponential of
# $-\tfrac12 z^\top \big(2\Sigma_{\text{post}}^{-1} - \Sigma_q^{-1}\big) z$ plus terms linear in $z$
# (twice the exponent of $p(z \mid x)$ minus that of $q$), and such an integral is finite exactly
# when the matrix is positive definite (otherwise the integrand does not decay along an
# eigenvector with a negative or zero eigenvalue):
#
# $$
# \begin{aligned}
# \mathbb E_q[w^2] < \infty &\iff 2\Sigma_{\text{post}}^{-1} - \Sigma_q^{-1} \text{ is positive definite} \\
#   &\iff \Sigma_q - \tfrac12 \Sigma_{\text{post}} \text{ is positive definite}
# \end{aligned}
# $$
#
# (inversion reverses the order of positive definite matrices): in every direction the
# proposal's variance must exceed half the target's. The best mean-field $q$ has precision
# $\operatorname{diag}\big((\Sigma_{\text{post}}^{-1})_{jj}\big)$, so with $\Lambda = \Sigma_{\text{post}}^{-1}$ the
# matrix is $\begin{pmatrix} \Lambda_{11} & 2\Lambda_{12} \\ 2\Lambda_{12} & \Lambda_{22} \end{pmatrix}$,
# with determinant $\Lambda_{11}\Lambda_{22}(1 - 4\eta^2)$ (the correlation of a $2 \times 2$
# precision is minus that of its covariance): it fails as soon as the posterior correlation has
# $|\eta| > 1/2$. Here $\eta = -0.82$, and the eigenvalues are $-4.21$ and $17.39$. The weights
# have a mean but no variance. (The same argument for a power $w^\alpha$, with the matrix
# $\alpha \Sigma_{\text{post}}^{-1} - (\alpha - 1) \Sigma_q^{-1}$, shows that $\mathbb E_q[w^\alpha]$ is finite only
# for $\alpha < 1/|\eta| = 1.22$.) So $\bar w_k$ still converges to 1, but the $1/k$ law does not apply,
# and neither does a standard error computed from the weights' sample spread: it estimates a
# variance that is infinite.
#
# The cure is a wider proposal. The mean-field $q$ with the posterior's *marginal* variances
# $(\Sigma_{\text{post}})_{jj}$, the mean-field Gaussian that matches the posterior's means and
# variances (it minimizes the divergence the other way round, $\mathrm{KL}(p(z \mid x) \,\|\, q)$), is
# wider: its variance is $1 / (1 - \eta^2) = 3.05$ times larger in each coordinate (its standard
# deviation 1.75 times), and it passes the test: its eigenvalues are positive. As an ELBO it is worse (gap 1.49 nats against 0.56), as a proposal far better: from
# $k = 10$ on its gap is the smaller one, by more than four standard errors of each, e.g. 0.009
# nats at $k = 100$ against 0.123. The ELBO penalizes $q$ for mass where the posterior has
# little, and so prefers $q$ too narrow; an importance sampler penalizes the opposite mistake, a
# $q$ that misses mass the posterior has.
# :::

# %% tags=["hide-cell"]
# two proposals: variances 1 / (Sigma_post^-1)_jj (the ELBO's best) and
# (Sigma_post)_jj (the posterior's marginal variances)
proposals = {"best mean-field q": variances,
             "marginal-variance q": cov_post.diagonal()}
rng = torch.Generator().manual_seed(SEED)
repeats = 2000
gaps, exact_gaps, smallest = {}, {}, {}
for name, var in proposals.items():
    proposal = MultivariateNormal(mean_post, torch.diag(var))
    eigenvalues = torch.linalg.eigvalsh(2 * precision_post
                                        - torch.diag(1 / var))
    print(f"{name}: eigenvalues of 2 Sigma_post^-1 - Sigma_q^-1 "
          f"{eigenvalues.numpy().round(2)}")
    smallest[name] = eigenvalues.min().item()
    exact_gaps[name] = kl_divergence(proposal, posterior).item()  # k = 1
    gaps[name] = {}
    for k in (1, 10, 100, 1000):
        eps = torch.randn(repeats, k, 2, generator=rng)
        z = mean_post + var.sqrt() * eps  # draws from the proposal
        log_w = model.log_joint(x, z) - proposal.log_prob(z)
        bound_k = torch.logsumexp(log_w, dim=1) - math.log(k)  # L_k
        gaps[name][k] = (evidence - bound_k.mean().item(),
                         bound_k.std().item() / math.sqrt(repeats))
order = 1 / abs(correlation)  # E[w^alpha] is finite only below it
edge = order * precision_post - (order - 1) * torch.diag(1 / variances)
print(f"log p(x) - E[L_k] ({repeats} repeats; exact at k = 1: "
      + ", ".join(f"{v:.4f}" for v in exact_gaps.values()) + ")")
for k in (1, 10, 100, 1000):
    print(f"k = {k:4d}: " + " | ".join(
        f"{name} {gaps[name][k][0]:.4f} ± {gaps[name][k][1]:.4f}"
        for name in proposals))
widening = 1 / (1 - correlation**2)  # ratio of the two proposals' variances
print(f"1 / |eta| = {order:.2f}; 1 / (1 - eta^2) = {widening:.2f} "
      f"(square root {math.sqrt(widening):.2f})")
narrow, wide = gaps["best mean-field q"], gaps["marginal-variance q"]
fall = exact_gaps["best mean-field q"] / narrow[1000][0]
print(f"best mean-field q: the gap falls {fall:.1f}-fold from k = 1 to "
      f"1000, {fall ** (1 / 3):.1f}-fold per decade (1/k: 10-fold)")
# the finite-variance condition: the narrow proposal fails it, the wide
# one passes it, and E[w^alpha] is finite exactly below alpha = 1/|eta|
assert smallest["best mean-field q"] < 0 < smallest["marginal-variance q"]
assert abs(torch.linalg.eigvalsh(edge).min()) < 1e-10
for name in proposals:  # E[L_1] = L, and E[L_k] <= log p(x)
    gap_1, se_1 = gaps[name][1]
    assert abs(gap_1 - exact_gaps[name]) < 4 * se_1
    assert all(gap > -4 * se for gap, se in gaps[name].values())
assert np.all(np.diff([gap for gap, _ in narrow.values()]) < 0)
# heavy tails: three decades of k shrink the gap less than 100-fold
gap_1000, se_1000 = narrow[1000]
assert gap_1000 - 4 * se_1000 > exact_gaps["best mean-field q"] / 100
for k in (10, 100, 1000):  # the wider proposal is the better sampler
    assert wide[k][0] + 4 * wide[k][1] < narrow[k][0] - 4 * narrow[k][1]

# %% [markdown]
# ## References
#
# - Jordan, M. I., Ghahramani, Z., Jaakkola, T. S., & Saul, L. K. (1999). An introduction to
#   variational methods for graphical models. *Machine Learning*, 37, 183–233. {cite}`jordan1999introduction`
# - Tipping, M. E., & Bishop, C. M. (1999). Probabilistic principal component analysis.
#   *Journal of the Royal Statistical Society B*, 61(3), 611–622. {cite}`tipping1999probabilistic`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
# - Blei, D. M., Kucukelbir, A., & McAuliffe, J. D. (2017). Variational inference: a review for
#   statisticians. *Journal of the American Statistical Association*, 112(518), 859–877. {cite}`blei2017variational`
# - Burda, Y., Grosse, R., & Salakhutdinov, R. (2016). Importance weighted autoencoders. *ICLR*.
#   {cite}`burda2016importance`
