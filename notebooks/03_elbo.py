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
# the closed-form KL term of the VAE. Every step is checked numerically on a model whose exact
# answers are known.

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
from matplotlib.figure import Figure
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vaebook import plots
from vaebook.densities import kl_standard_normal
from vaebook.estimators import elbo_estimate, elbo_estimate_kl
from vaebook.exact import LinearGaussian
from vaebook.randomness import seed_everything
from vaebook.training import pick_device

SEED = 0
seed_everything(SEED)
device = pick_device()
torch.set_default_dtype(torch.float64)  # exact checks to 1e-5 and beyond need double precision
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## Latent-variable models and what is intractable
#
# A latent-variable model explains an observation $x$ through an unobserved cause $z$:
#
# $$ p_\theta(x, z) = p_\theta(x \mid z)\, p(z). $$
#
# Two quantities matter. The **evidence** $p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz$
# measures how well the model explains $x$; we want to maximize it over $\theta$. The
# **posterior** $p_\theta(z \mid x) = p_\theta(x, z) / p_\theta(x)$ says which causes explain
# $x$. When $p_\theta(x \mid z)$ is a neural network the integral has no closed form, and in $K$
# dimensions a grid needs exponentially many points; without $p_\theta(x)$ there is no posterior
# either.
#
# **Variational inference** turns the problem into optimization: pick a family of simple
# distributions $q_\phi(z \mid x)$, e.g. Gaussians, and make $q$ as close to the posterior as the
# family allows.
#
# ## Two derivations of the bound
#
# **By Jensen's inequality.** Multiply and divide by $q$ inside the integral, and use that the
# logarithm is concave, $\log \mathbb E[Y] \ge \mathbb E[\log Y]$:
#
# $$
# \log p_\theta(x) = \log \mathbb E_{q_\phi(z \mid x)}\!\left[\frac{p_\theta(x, z)}{q_\phi(z \mid x)}\right]
# \ \ge\ \mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x, z) - \log q_\phi(z \mid x)\big]
# =: \mathcal L(\theta, \phi; x).
# $$
#
# **By an exact decomposition.** Jensen says *that* there is a gap, not *what* it is. Write
# the KL divergence from $q$ to the posterior and substitute
# $\log p_\theta(z \mid x) = \log p_\theta(x, z) - \log p_\theta(x)$:
#
# $$
# \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)\big)
# = \mathbb E_q\big[\log q_\phi(z \mid x) - \log p_\theta(x, z)\big] + \log p_\theta(x)
# = -\mathcal L(\theta, \phi; x) + \log p_\theta(x).
# $$
#
# So $\log p_\theta(x) = \mathcal L(\theta, \phi; x) + \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x))$:
# the gap *is* the KL divergence to the true posterior. Because $\log p_\theta(x)$ does not depend
# on $\phi$, maximizing $\mathcal L$ over $\phi$ is the same as minimizing that KL, and the bound
# is tight exactly when $q$ equals the posterior.
#
# ## Two forms of the bound
#
# Split $\log p_\theta(x, z) = \log p_\theta(x \mid z) + \log p(z)$:
#
# $$
# \mathcal L = \mathbb E_q\big[\log p_\theta(x, z) - \log q_\phi(z \mid x)\big]
# = \underbrace{\mathbb E_q\big[\log p_\theta(x \mid z)\big]}_{\text{reconstruction}}
# - \underbrace{\mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big)}_{\text{regularization}}.
# $$
#
# The first form needs only the joint density and samples from $q$ (chapter 7 builds black-box
# inference on it); the second isolates a KL term that is often available in closed form.
#
# ## The closed-form KL of the VAE
#
# For $q = \mathcal N(\mu, \operatorname{diag} \sigma^2)$ and $p(z) = \mathcal N(0, I)$ both
# factorize over the $K$ coordinates, and for one coordinate
# $\log q - \log p = -\tfrac12 \log \sigma^2 - \tfrac{(z - \mu)^2}{2\sigma^2} + \tfrac{z^2}{2}$.
# Taking the expectation under $q$, with $\mathbb E[(z-\mu)^2] = \sigma^2$ and
# $\mathbb E[z^2] = \mu^2 + \sigma^2$:
#
# $$
# \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2) \,\|\, \mathcal N(0, I)\big)
# = \frac12 \sum_{k=1}^{K} \big(\mu_k^2 + \sigma_k^2 - 1 - \log \sigma_k^2\big).
# $$
#
# `vaebook.densities.kl_standard_normal` implements it from $\mu$ and $\log \sigma^2$. Check it
# against `torch.distributions` and against a Monte Carlo average of $\log q - \log p$.

# %%
mu = torch.tensor([[0.5, -1.0, 2.0]])
logvar = torch.tensor([[0.0, -1.5, 0.7]])
q_diag = Normal(mu, torch.exp(0.5 * logvar))
closed_form = kl_standard_normal(mu, logvar).item()
library = kl_divergence(q_diag, Normal(0.0, 1.0)).sum().item()
z = q_diag.sample((1_000_000,))
log_ratio = (q_diag.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
monte_carlo, standard_error = log_ratio.mean().item(), log_ratio.std().item() / 1000
print(f"closed form {closed_form:.6f} | torch.distributions {library:.6f} | "
      f"Monte Carlo {monte_carlo:.3f} ± {standard_error:.3f}")

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
# $$ z \sim \mathcal N(0, I_K), \qquad x \mid z \sim \mathcal N(W z + b, \sigma^2 I_D). $$
#
# Everything is Gaussian, so $p(x) = \mathcal N(b, W W^\top + \sigma^2 I)$ and
# $p(z \mid x) = \mathcal N\big(\Sigma W^\top (x - b)/\sigma^2, \Sigma\big)$ with
# $\Sigma = (I + W^\top W / \sigma^2)^{-1}$. For a Gaussian $q = \mathcal N(m, S)$ the ELBO is
# also exact:
# $\mathbb E_q[\log p(x \mid z)] = \log \mathcal N(x; W m + b, \sigma^2 I) - \operatorname{tr}(W^\top W S)/(2\sigma^2)$.
# We take $D = 5$ and $K = 2$, so that $q$ and the posterior can be drawn in the plane, and one
# observation $x$ drawn from the model. The two columns of $W$ are similar on purpose: two causes
# with similar effects *explain each other away* (if one is large, the other need not be), so the
# posterior of $z_1$ and $z_2$ is strongly negatively correlated.

# %%
W = torch.tensor([[1.0, 0.9], [0.8, 1.0], [0.5, 0.4], [0.0, 0.3], [1.0, 0.8]])
model = LinearGaussian(W, b=torch.zeros(5), noise_var=0.5)
x = model.sample(1, seed=SEED + 1)[0]
log_evidence = model.evidence().log_prob(x)
posterior = model.posterior(x)
cov = posterior.covariance_matrix
correlation = (cov[0, 1] / cov.diagonal().prod().sqrt()).item()
print(f"log p(x) = {log_evidence:.4f}; posterior mean {posterior.mean.numpy().round(3)}, "
      f"correlation {correlation:.2f}")


def random_gaussian(generator):
    """A Gaussian q = N(m, S) on R^2 with a random mean and a random covariance."""
    A = torch.randn(2, 2, generator=generator)
    return MultivariateNormal(torch.randn(2, generator=generator), A @ A.T + 0.05 * torch.eye(2))


generator = torch.Generator().manual_seed(SEED)
qs = [random_gaussian(generator) for _ in range(6)]
print(" log p(x) - L(q)    KL(q || p(z|x))   equal to 1e-10")
differences = []
for q in qs:
    gap, kl = (log_evidence - model.elbo(x, q)).item(), kl_divergence(q, posterior).item()
    differences.append(abs(gap - kl))
    print(f"{gap:16.6f} {kl:18.6f} {abs(gap - kl) < 1e-10!s:>16}")

# %% [markdown]
# **Check.** For six arbitrary Gaussians the gap $\log p(x) - \mathcal L(q)$ equals
# $\mathrm{KL}(q \,\|\, p(z \mid x))$ to better than 1e-5, as the decomposition says; and every gap
# is positive, as Jensen says.

# %%
assert max(differences) < 1e-5
assert all((log_evidence - model.elbo(x, q)).item() > 0 for q in qs)

# %% [markdown]
# **The two forms agree.** `model.elbo` computes the second form. The first needs
# $\mathbb E_q[\log p(x, z)] - \mathbb E_q[\log q(z)]$; with
# $\mathbb E_q[\log p(z)] = -\tfrac12\big(K \log 2\pi + m^\top m + \operatorname{tr} S\big)$ and
# $-\mathbb E_q[\log q] = H[q]$, the Gaussian entropy, it is also exact.

# %%
def elbo_first_form(q):
    m, S = q.mean, q.covariance_matrix
    trace_term = torch.trace(model.W.T @ model.W @ S) / (2 * model.noise_var)
    expected_likelihood = model.log_likelihood(x, m) - trace_term
    expected_prior = -0.5 * (2 * np.log(2 * np.pi) + m @ m + torch.trace(S))
    return expected_likelihood + expected_prior + q.entropy()


form_differences = [abs(elbo_first_form(q) - model.elbo(x, q)).item() for q in qs]
print(f"the two forms agree to 1e-10 on all six q: {max(form_differences) < 1e-10}")
assert max(form_differences) < 1e-10

# %% [markdown]
# ## Monte Carlo estimates converge at the $1/\sqrt S$ rate
#
# A neural decoder has no closed-form expectation, so in practice the ELBO is estimated from
# $S$ samples $z_s \sim q$. Each sample gives an unbiased estimate; their average has standard
# deviation proportional to $1/\sqrt S$. We measure the root mean squared error of 500
# independent estimates at each $S$, for both forms, and fit the slope on a log-log scale.

# %%
q = qs[0]
exact_elbo = model.elbo(x, q).item()
sample_sizes = [1, 4, 16, 64, 256, 1024, 4096]
rmse = {"first form: E[log p(x,z) - log q]": [], "second form: E[log p(x|z)] - KL": []}
bias = []
for S in sample_sizes:
    joint = elbo_estimate(lambda z: model.log_joint(x, z), q, S, n_estimates=500)
    second = elbo_estimate_kl(lambda z: model.log_likelihood(x, z), q, model.prior(), S, n_estimates=500)
    for name, estimates in zip(rmse, (joint, second), strict=True):
        rmse[name].append(((estimates - exact_elbo) ** 2).mean().sqrt().item())
    bias.append(((joint.mean() - exact_elbo) / (joint.std() / np.sqrt(500))).item())
slopes = {name: np.polyfit(np.log(sample_sizes), np.log(errors), 1)[0] for name, errors in rmse.items()}
for name, slope in slopes.items():
    print(f"{name}: log-log slope {slope:.3f}")

fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
for name, errors in rmse.items():
    ax.loglog(sample_sizes, errors, "o-", label=name)
first = rmse["first form: E[log p(x,z) - log q]"][0]
ax.loglog(sample_sizes, first / np.sqrt(sample_sizes), "k:", label=r"$\propto 1/\sqrt{S}$")
ax.set_xlabel("samples per estimate $S$")
ax.set_ylabel("RMSE of the ELBO estimate (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# **Check.** Both slopes are within 0.05 of $-1/2$, and the estimates are unbiased: at every $S$
# the mean of the 500 estimates is within four standard errors of the exact ELBO.

# %%
assert all(abs(slope + 0.5) < 0.05 for slope in slopes.values())
assert all(abs(b) < 4 for b in bias)

# %% [markdown]
# ## Maximizing the bound finds the posterior
#
# Now optimize $q = \mathcal N(m, L L^\top)$ over its mean $m$ and a lower-triangular factor $L$
# (positive diagonal through an exponential), by gradient ascent on the exact ELBO. The gap
# $\log p(x) - \mathcal L(q)$ must fall to zero and $q$ must become the posterior. As a contrast
# we also fit a *mean-field* $q$ with a diagonal covariance: it cannot represent the correlation
# of the posterior, so its gap stays open. Its optimum is known (chapter 7 uses it): the mean of
# the posterior, and precisions equal to the diagonal of the posterior precision.

# %%
def fit_gaussian(diagonal, steps=600):
    """Gradient ascent on the exact ELBO from q = N(0, I); returns q and the gap per step."""
    mean = torch.zeros(2, requires_grad=True)
    log_diag = torch.zeros(2, requires_grad=True)
    off_diag = torch.zeros(1, requires_grad=True)
    params = [mean, log_diag] + ([] if diagonal else [off_diag])
    optimizer = torch.optim.Adam(params, lr=0.05)
    gaps = []
    for _ in range(steps):
        L = torch.diag(log_diag.exp())
        if not diagonal:
            L = L + torch.zeros(2, 2).index_put((torch.tensor([1]), torch.tensor([0])), off_diag)
        q = MultivariateNormal(mean, scale_tril=L)
        loss = -model.elbo(x, q)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        gaps.append((log_evidence + loss).item())
    return q, gaps


q_full, gaps_full = fit_gaussian(diagonal=False)
q_mean_field, gaps_mean_field = fit_gaussian(diagonal=True)

precision = torch.linalg.inv(posterior.covariance_matrix)
q_mean_field_optimum = MultivariateNormal(posterior.mean, torch.diag(1 / torch.diagonal(precision)))
mean_field_gap = kl_divergence(q_mean_field_optimum, posterior).item()
print(f"final gap: full covariance {abs(gaps_full[-1]):.6f} nats, mean field {gaps_mean_field[-1]:.4f} "
      f"nats (its known optimum: {mean_field_gap:.4f})")

fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
ax.semilogy(gaps_full, label="full-covariance q")
ax.semilogy(gaps_mean_field, label="mean-field q")
ax.axhline(mean_field_gap, color="C1", ls=":", label="mean-field optimum")
ax.set_xlabel("gradient step")
ax.set_ylabel(r"gap $\log p(x) - \mathcal{L}(q)$ (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %%
plots.plot_gaussian_contours({
    "exact posterior": (posterior.mean, posterior.covariance_matrix),
    "full-covariance q": (q_full.mean, q_full.covariance_matrix),
    "mean-field q": (q_mean_field.mean, q_mean_field.covariance_matrix),
}, title="fitted q against p(z | x)")

# %% [markdown]
# **Check.** The full-covariance fit closes the gap to below 1e-6 nats and matches the
# posterior's mean and covariance to 1e-3; the mean-field fit stops at its known optimum (to
# 1e-4 nats), a gap that no amount of optimization can close.

# %%
assert gaps_full[-1] < 1e-6
assert torch.allclose(q_full.mean, posterior.mean, atol=1e-3)
assert torch.allclose(q_full.covariance_matrix, posterior.covariance_matrix, atol=1e-3)
assert abs(gaps_mean_field[-1] - mean_field_gap) < 1e-4 and mean_field_gap > 0.1

# %% [markdown]
# ## Reconstruction against regularization
#
# Read the second form as a tug of war. The reconstruction term
# $\mathbb E_q[\log p(x \mid z)]$ wants $q$ concentrated on the codes that explain $x$ best; the
# KL term wants $q$ spread out like the prior. Scale the posterior's covariance by a factor $c$,
# $q_c = \mathcal N(\mu_{\text{post}}, c\, \Sigma)$, and watch both terms.

# %%
scales = np.logspace(-2, 1, 13)
terms = {"reconstruction": [], "-KL(q || p(z))": [], "ELBO": []}
for c in scales:
    q_c = MultivariateNormal(posterior.mean, c * posterior.covariance_matrix)
    kl = kl_divergence(q_c, model.prior()).item()
    elbo = model.elbo(x, q_c).item()
    terms["reconstruction"].append(elbo + kl)
    terms["-KL(q || p(z))"].append(-kl)
    terms["ELBO"].append(elbo)

fig = Figure(figsize=(5, 3.5))
ax = fig.subplots()
for name, values in terms.items():
    ax.semilogx(scales, values, "o-", label=name)
ax.axvline(1, color="grey", ls=":")
ax.set_xlabel("covariance scale $c$")
ax.set_ylabel("nats")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# **Check.** Shrinking $q$ always improves the reconstruction term. The KL term prefers a $q$
# *wider* than the posterior (closer to the prior, whose variance is 1), so it pulls the other
# way; the ELBO balances the two exactly at $c = 1$, the true posterior.

# %%
c_least_kl = scales[np.argmax(terms["-KL(q || p(z))"])]
c_best_elbo = scales[np.argmax(terms["ELBO"])]
print(f"KL is smallest at c = {c_least_kl:.2f}; the ELBO is largest at c = {c_best_elbo:.2f}")
assert np.all(np.diff(terms["reconstruction"]) < 0)
assert c_least_kl > 1
assert c_best_elbo == 1.0

# %% [markdown]
# In a VAE the same tug of war acts on every training image at once. The reconstruction term
# pushes the codes of different images apart so that each can be decoded; the KL term pulls
# every $q_\phi(z \mid x)$ toward $\mathcal N(0, I)$, packing the codes into the region the prior
# samples from, which is what chapter 1's autoencoder lacked. Chapter 5 shows what each term
# does to the latent space when the other is switched off.
#
# ## Summary
#
# - $\log p(x) = \mathcal L(q) + \mathrm{KL}(q \,\|\, p(z \mid x))$: the ELBO is a lower bound whose
#   gap is exactly the KL to the posterior (checked to 1e-5 on six arbitrary $q$).
# - Two forms, $\mathbb E_q[\log p(x, z) - \log q]$ and
#   $\mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q \,\|\, p(z))$, are equal; the KL between a diagonal
#   Gaussian and $\mathcal N(0, I)$ is $\tfrac12 \sum_k (\mu_k^2 + \sigma_k^2 - 1 - \log \sigma_k^2)$.
# - Monte Carlo estimates are unbiased with error $\propto 1/\sqrt S$; maximizing the bound over a
#   rich enough family recovers the posterior, a mean-field family leaves a gap.
#
# ## Exercises
#
# 1. Show that the gap of the mean-field optimum is
#    $\tfrac12 \big(\sum_k \log \Lambda_{kk} - \log \det \Lambda\big)$, where $\Lambda = \Sigma^{-1}$
#    is the posterior precision, and check it against the number above. *Hint:* write the KL
#    between two Gaussians with the same mean.
# 2. Replace $q$ by a Student-t distribution (in `torch.distributions`) and estimate its ELBO with
#    `elbo_estimate`. Can it beat the best Gaussian? *Hint:* the posterior is Gaussian.
# 3. Which form of the Monte Carlo ELBO had the smaller error above, and why? *Hint:* which terms
#    are computed exactly in each?
#
# ## References
#
# - Jordan, M. I., Ghahramani, Z., Jaakkola, T. S., & Saul, L. K. (1999). An introduction to
#   variational methods for graphical models. *Machine Learning*, 37, 183–233. {cite}`jordan1999introduction`
# - Tipping, M. E., & Bishop, C. M. (1999). Probabilistic principal component analysis.
#   *Journal of the Royal Statistical Society B*, 61(3), 611–622. {cite}`tipping1999probabilistic`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
# - Blei, D. M., Kucukelbir, A., & McAuliffe, J. D. (2017). Variational inference: a review for
#   statisticians. *Journal of the American Statistical Association*, 112(518), 859–877. {cite}`blei2017variational`
