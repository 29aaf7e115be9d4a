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
# variance reduction (Rao-Blackwellization, control variates, adaptive steps); and how well it
# works, checked against exact answers on three models. At the end, the VAE's encoder is seen as
# amortized variational inference, and the price of amortization is measured in nats.

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
from torch.distributions import Beta

from vaebook import plots, pretrained, vi
from vaebook.data import binarize_static, load_mnist
from vaebook.exact import BayesianLinearRegression, SigmoidBeliefNet
from vaebook.likelihood import estimate_log_likelihood
from vaebook.losses import elbo
from vaebook.randomness import seed_everything
from vaebook.training import pick_device

SEED = 0
seed_everything(SEED)
device = pick_device()
F64 = torch.float64
print(f"vaebook {vaebook.__version__}, running on {device.type}")

# %% [markdown]
# ## The idea
#
# Chapters 3–5 maximized the ELBO
# $\mathcal L(\lambda) = \mathbb E_{q_\lambda(z)}[\log p(x, z) - \log q_\lambda(z)]$ with the
# reparameterization trick, which needs a continuous $z$ and a $\log p(x, z)$ that autograd can
# differentiate in $z$. Ranganath, Gerrish & Blei (2014) asked for less. The score-function
# identity of chapter 4 gives
#
# $$
# \nabla_\lambda \mathcal L = \mathbb E_{q_\lambda}\big[\nabla_\lambda \log q_\lambda(z)\,
# \big(\log p(x, z) - \log q_\lambda(z)\big)\big]
# $$
#
# (the extra term $\mathbb E_q[\nabla_\lambda \log q_\lambda] = 0$ drops out). Everything inside
# the expectation is cheap: samples from $q$, the score $\nabla_\lambda \log q_\lambda$ of *our*
# distribution, and **evaluations** of $\log p(x, z)$, never its gradient. So the same few lines
# fit a model with discrete latent variables, a non-differentiable likelihood, or a simulator
# with a log-density: the model is a black box. The price is variance, and the paper's
# contribution is as much the variance reduction as the estimator:
#
# - **Rao-Blackwellization.** With a mean-field $q = \prod_i q_{\lambda_i}(z_i)$, the gradient for
#   $\lambda_i$ only needs the terms of $\log p(x, z)$ that involve $z_i$ (its Markov blanket),
#   $w_i = \log p_i(x, z) - \log q_i(z_i)$; the other terms do not depend on $z_i$, so they
#   average to zero against its score, and dropping them usually lowers the variance (not
#   always: model 3 shows an exception).
# - **Control variates.** For each parameter component $j$ with score $h_j$, subtracting a
#   constant $b_j$ from the weight keeps the estimate unbiased (again because $\mathbb E[h_j] = 0$);
#   the variance is smallest at $b_j^\star = \mathbb E[h_j^2 w] / \mathbb E[h_j^2]$. `vaebook.vi`
#   estimates $b_j^\star$ for each sample from the *other* samples, so no bias creeps in.
# - **Adaptive step sizes.** AdaGrad in the paper; Adam here (`vi.fit` offers both). Both scale
#   each coordinate's step by its gradient's recent size.
#
# `vi.elbo_gradient` returns one gradient estimate per sample, so their spread can be measured;
# `vi.fit` runs the optimization with a seeded generator.

# %% [markdown]
# ## Model 1: a coin, where the answer is known
#
# A coin with bias $\theta$, prior $\operatorname{Beta}(10, 10)$, shows 6 heads in 10 flips. The
# posterior is $\operatorname{Beta}(10 + 6, 10 + 4) = \operatorname{Beta}(16, 14)$. We fit
# $q = \operatorname{Beta}(\alpha, \beta)$ by BBVI from $\operatorname{Beta}(1, 1)$, with Adam
# (step $0.05$ on $\log\alpha, \log\beta$) and $S = 10$ samples per step, once without and once
# with the control variate. *Converged* means that from that step on, both $\alpha$ and $\beta$
# stay within 5% of $(16, 14)$.

# %%
PRIOR = Beta(torch.tensor(10.0, dtype=F64), torch.tensor(10.0, dtype=F64))
EXACT = torch.tensor([16.0, 14.0], dtype=F64)


def coin_log_joint(theta):
    """log p(θ) + log p(6 heads, 4 tails | θ) for θ: (S, 1). Returns (S,)."""
    t = theta[:, 0]
    return PRIOR.log_prob(t) + 6 * t.log() + 4 * torch.log1p(-t)


COIN_STEPS = 3000
coin = {}
for label, control in (("plain score function", False), ("with control variate", True)):
    family = vi.BetaMeanField(torch.ones(1, dtype=F64), torch.ones(1, dtype=F64))
    result = vi.fit(family, coin_log_joint, steps=COIN_STEPS, n_samples=10, lr=0.05,
                    control_variate=control, seed=SEED)
    trace = torch.cat([result.trace["alpha"], result.trace["beta"]], 1)
    coin[label] = trace, vi.steps_to_reach(trace, EXACT, rtol=0.05)
    alpha, beta = trace[-1].tolist()
    print(f"{label:22s}: final Beta({alpha:.2f}, {beta:.2f}); converged after {coin[label][1]} steps")

fig = Figure(figsize=(8, 3))
axes = fig.subplots(1, 2, sharey=True)
for ax, (label, (trace, _)) in zip(axes, coin.items(), strict=True):
    ax.plot(trace[:, 0], label=r"$\alpha$")
    ax.plot(trace[:, 1], label=r"$\beta$")
    for value in EXACT:
        ax.axhspan(0.95 * value, 1.05 * value, color="grey", alpha=0.25)
    ax.set_title(label)
    ax.set_xlabel("step")
axes[0].legend()
fig.tight_layout()
fig

# %% [markdown]
# Without a control variate the iterates wander around the answer: every step follows a noisy
# gradient, and Adam's normalized steps never shrink. With it they settle *exactly*. That is no
# accident: at $q = p(\theta \mid x)$ the weight $\log p(x, \theta) - \log q(\theta) = \log p(x)$ is
# the same for every sample, so the optimal baseline removes it entirely and the gradient
# estimate is exactly zero, with zero variance. Far from the optimum the baseline helps less;
# here is the variance of the per-sample gradient at the starting point and half-way.
#
# **Check.** With the control variate BBVI converges in fewer than 1,900 steps (a published
# tutorial needed about 1,900 with a decaying baseline, and 4,900 without); without it, it takes
# at least three times as many or does not stay within 5% at all in 3,000 steps. At the exact
# posterior the controlled gradient has zero variance.

# %%
steps_plain, steps_cv = coin["plain score function"][1], coin["with control variate"][1]
assert steps_cv is not None and steps_cv < 1900
assert steps_plain is None or steps_plain > 3 * steps_cv


def coin_variance(alpha, beta, control):
    torch.manual_seed(SEED)
    family = vi.BetaMeanField(torch.tensor([alpha], dtype=F64), torch.tensor([beta], dtype=F64))
    grads, _ = vi.elbo_gradient(family, coin_log_joint, 10_000, control_variate=control)
    return vi.gradient_variance(grads).item()


for alpha, beta in ((1.0, 1.0), (8.0, 7.0), (16.0, 14.0)):
    plain, controlled = coin_variance(alpha, beta, False), coin_variance(alpha, beta, True)
    ratio = f"{plain / controlled:6.1f}" if controlled > 1e-20 else "   inf"
    print(f"q = Beta({alpha:4.1f}, {beta:4.1f}): variance plain {plain:9.3g}, with control variate "
          f"{controlled:9.3g}, ratio {ratio}")
    if alpha == 1.0:
        assert controlled < plain / 2

assert coin_variance(16.0, 14.0, True) < 1e-20

# %% [markdown]
# ## Model 2: Bayesian linear regression, against the best mean-field answer
#
# $y = Xw + \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$, prior $w \sim \mathcal N(0, I)$,
# 30 points and two features with correlation 0.9. The posterior is Gaussian,
# $\mathcal N(m, \Lambda^{-1})$ with $\Lambda = I + X^\top X$, and strongly correlated. A mean-field
# Gaussian cannot show that correlation, but its *best* member is known in closed form: means $m$,
# variances $1/\Lambda_{kk}$ (the diagonal of the precision, not of the covariance, so it is too
# narrow; chapter 3 saw the same). Both BBVI (score function with Rao-Blackwellization and control
# variate, $S = 20$) and reparameterized VI ($S = 5$) must get there; both use Adam with a step
# of 0.05 decaying along a cosine over 2,000 steps.

# %%
regression = BayesianLinearRegression.random(30, torch.tensor([1.0, -0.5], dtype=F64),
                                             correlation=0.9, seed=SEED)
best_mean, best_std = regression.mean_field_optimum()
posterior = regression.posterior()
print(f"exact posterior: mean {posterior.mean.numpy().round(3)}, std "
      f"{posterior.stddev.numpy().round(3)}, correlation "
      f"{(posterior.covariance_matrix[0, 1] / posterior.stddev.prod()).item():.3f}")
print(f"best mean-field: mean {best_mean.numpy().round(3)}, std {best_std.numpy().round(3)}")

routes = {"BBVI (score function)": dict(method="score", n_samples=20,
                                        local_log_joint=regression.local_log_joint),
          "reparameterized": dict(method="pathwise", n_samples=5)}
fitted, regression_steps = {}, {}
for label, options in routes.items():
    family = vi.GaussianMeanField(torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64))
    result = vi.fit(family, regression.log_joint, steps=2000, lr=0.05, cosine_schedule=True,
                    seed=SEED, **options)
    fitted[label] = family.readable()
    trace = torch.cat([result.trace["mean"], result.trace["std"]], 1)
    regression_steps[label] = vi.steps_to_reach(trace, torch.cat([best_mean, best_std]), rtol=0.1)
    mean, std = fitted[label]["mean"], fitted[label]["std"]
    print(f"{label:22s}: mean {mean.numpy().round(3)}, std {std.numpy().round(3)}, within 10% "
          f"after {regression_steps[label]} steps")

plots.plot_gaussian_contours(
    {"exact posterior": (posterior.mean, posterior.covariance_matrix),
     "best mean-field": (best_mean, torch.diag(best_std**2)),
     **{label: (q["mean"], torch.diag(q["std"] ** 2)) for label, q in fitted.items()}},
    title="posterior of the two weights")

# %% [markdown]
# **Check.** Both routes reach the best mean-field Gaussian: means within 0.1 of its standard
# deviations, standard deviations within 5%.

# %%
for q in fitted.values():
    assert ((q["mean"] - best_mean) / best_std).abs().max() < 0.1
    assert (q["std"] / best_std - 1).abs().max() < 0.05

# %% [markdown]
# Both get there; at what price in noise? The variance of one sample's gradient (summed over the
# four parameters), at the starting point and at the optimum:

# %%
estimators = {
    "score, plain": lambda f: vi.elbo_gradient(f, regression.log_joint, 10_000, control_variate=False),
    "score + control variate": lambda f: vi.elbo_gradient(f, regression.log_joint, 10_000),
    "score + Rao-Blackwell + c.v.": lambda f: vi.elbo_gradient(
        f, regression.log_joint, 10_000, local_log_joint=regression.local_log_joint),
    "reparameterized": lambda f: vi.elbo_gradient(f, regression.log_joint, 10_000, method="pathwise"),
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

# %% [markdown]
# **Check.** The control variate cuts the score-function variance by more than 3× at the start
# and more than 100× at the optimum, where $\log p - \log q$ varies little (it would be constant
# if $q$ could equal the posterior, as for the coin). The reparameterized gradient is quieter
# still at the start, by more than 2×; at the optimum the two are close. In two dimensions the
# gap is modest; chapter 4 showed how it grows with the dimension and with narrow $q$.
# Rao-Blackwellization does nothing useful in this model: at the start $q$ equals the prior, so
# the terms it drops are exactly zero, and every weight appears in the whole likelihood, so its
# Markov blanket is almost all of $\log p$. It pays off when each latent touches few terms, as in
# the next model's prior, or in a mixture with one assignment per data point.

# %%
plain, controlled, reparam = (variances[k] for k in ("score, plain", "score + control variate",
                                                     "reparameterized"))
assert controlled[0] < plain[0] / 3 and controlled[1] < plain[1] / 100
assert reparam[0] < controlled[0] / 2

# %% [markdown]
# ## Model 3: discrete latent variables, where only the score function applies
#
# A small sigmoid belief net: $K = 8$ binary causes $z_k \sim \operatorname{Bernoulli}(1/2)$ and
# $D = 20$ binary observations $x_d \sim \operatorname{Bernoulli}(\sigma((Wz + c)_d))$, with
# random weights and one $x$ drawn from the model. There is no reparameterization of a
# Bernoulli sample, so the pathwise gradient does not exist. With $2^8 = 256$ configurations,
# though, everything is exact by enumeration: $\log p(x)$, the posterior marginals
# $p(z_k = 1 \mid x)$, and the ELBO of any factorized $q(z) = \prod_k \operatorname{Bernoulli}(z_k; \pi_k)$.
# Gradient ascent on that exact ELBO gives the best mean-field $q$ (from the same start); BBVI,
# which sees only samples and evaluations, should reach the same ELBO.

# %%
sbn = SigmoidBeliefNet.random(data_dim=20, latent_dim=8, seed=SEED)
log_px = sbn.log_evidence().item()

logits = torch.zeros(8, dtype=F64, requires_grad=True)
optimizer = torch.optim.Adam([logits], lr=0.05)
for _ in range(2000):
    optimizer.zero_grad()
    (-sbn.mean_field_elbo(logits.sigmoid())).backward()
    optimizer.step()
best_probs = logits.detach().sigmoid()
best_elbo = sbn.mean_field_elbo(best_probs).item()

SBN_VARIANTS = {"plain": dict(control_variate=False), "control variate": {},
                "Rao-Blackwell + c.v.": dict(local_log_joint=sbn.local_log_joint)}
sbn_fits = {}
for label, options in SBN_VARIANTS.items():
    family = vi.CategoricalMeanField(torch.zeros(8, 2, dtype=F64))
    vi.fit(family, sbn.log_joint, steps=2000, n_samples=10, lr=0.05, cosine_schedule=True,
           seed=SEED, **options)
    probs = family.readable()["probs"][:, 1]
    sbn_fits[label] = probs, sbn.mean_field_elbo(probs).item()

# The gradient's variance at the best mean-field q (at the uniform start q equals the prior, and
# the terms that Rao-Blackwellization drops are exactly zero).
best_logits = torch.stack([torch.zeros(8, dtype=F64), torch.logit(best_probs)], 1)
sbn_variance = {}
for label, options in SBN_VARIANTS.items():
    torch.manual_seed(SEED)
    grads, _ = vi.elbo_gradient(vi.CategoricalMeanField(best_logits), sbn.log_joint, 10_000, **options)
    sbn_variance[label] = vi.gradient_variance(grads).item()
print("gradient variance at the optimum: " +
      ", ".join(f"{label} {value:.4g}" for label, value in sbn_variance.items()))
print(f"log p(x) by enumeration: {log_px:.4f}")
print(f"best mean-field ELBO   : {best_elbo:.4f} (KL to the posterior {log_px - best_elbo:.4f} nats)")
for label, (_, value) in sbn_fits.items():
    print(f"BBVI, {label:21s}: ELBO {value:.4f} ({best_elbo - value:.4f} below the best)")

fig = Figure(figsize=(7, 3))
ax = fig.subplots()
k = np.arange(8)
ax.bar(k - 0.3, sbn.posterior_marginals(), 0.3, label="exact $p(z_k = 1 \\mid x)$")
ax.bar(k, best_probs, 0.3, label="best mean-field $q$")
ax.bar(k + 0.3, sbn_fits["control variate"][0], 0.3, label="BBVI $q$ (control variate)")
ax.set_xlabel("latent cause $k$")
ax.set_ylabel("probability that $z_k = 1$")
ax.legend(fontsize=8)
fig.tight_layout()
fig

# %% [markdown]
# **Check.** The control variate cuts the variance at the optimum by more than 100×, and both
# fits that use it end within 0.01 nats of the best mean-field ELBO; the plain estimator ends
# further below after the same 2,000 steps. Every ELBO lies below $\log p(x)$.
#
# Rao-Blackwellization, though, *raises* the variance here. Dropping the terms outside $z_k$'s
# Markov blanket (the other causes' prior and entropy terms) keeps the estimate unbiased, because
# those terms do not depend on $z_k$; but they are not independent of the rest of the weight
# (the likelihood depends on the same $z_j$), and near the optimum they cancel much of its noise.
# Averaging them out exactly, the true Rao-Blackwell step, would help; dropping them is only
# guaranteed to help when they are independent of what stays, as in a mixture model where
# each data point's assignment touches only its own likelihood term.

# %%
assert sbn_variance["control variate"] < sbn_variance["plain"] / 100
assert sbn_variance["Rao-Blackwell + c.v."] > sbn_variance["control variate"]
for label in ("control variate", "Rao-Blackwell + c.v."):
    assert best_elbo - 0.01 < sbn_fits[label][1] <= best_elbo + 1e-9
assert sbn_fits["plain"][1] < min(sbn_fits[label][1] for label in ("control variate", "Rao-Blackwell + c.v."))
assert best_elbo < log_px

# %% [markdown]
# Mean-field $q$ agrees with the exact marginals where the posterior is sure, and is *more*
# certain than the posterior where causes compete to explain the same pixels: the
# explaining-away correlations that chapter 3 met in a Gaussian cannot be represented by a
# product of independent factors, and $\mathrm{KL}(q \,\|\, p)$ prefers to commit to one
# explanation.
#
# ## Amortized inference: the price of the encoder
#
# A VAE does not fit a separate $q$ for each image. Its encoder maps any $x$ to
# $(\mu_\phi(x), \log\sigma^2_\phi(x))$ in one pass: **amortized** inference. Cremer, Li &
# Duvenaud (2018) split the gap $\log p(x) - \mathcal L$ of chapter 5 in two:
#
# - the **approximation gap** $\log p(x) - \mathcal L[q^\star]$, where $q^\star$ is the best
#   Gaussian for this image: the price of the Gaussian family;
# - the **amortization gap** $\mathcal L[q^\star] - \mathcal L[q_\phi]$: the price of one network
#   guessing $q$ for every image.
#
# We take chapter 5's trained VAE (loaded from the cache, or trained again by
# `pretrained.load_or_train` when it is missing), fix its decoder, and for 300 binarized test
# images optimize each image's own $(\mu, \log\sigma^2)$ by reparameterized gradients, starting
# from the encoder's output (`vi.refine_posterior`). The ELBOs use 1,000 samples per image,
# $\log p(x)$ the importance-sampled $\mathcal L_{1000}$ of chapter 5.

# %%
vae = pretrained.load_or_train("chapter5_vae", device=device)
print(f"chapter 5's VAE: {vae.config}")

# %%
x_test, _ = load_mnist("test")
x_test_bin = binarize_static(x_test, seed=SEED)
images = x_test_bin[torch.randperm(len(x_test_bin), generator=torch.Generator().manual_seed(SEED))[:300]]
vae = vae.to(device)
images = images.to(device)
mu, logvar = vi.refine_posterior(vae, images, steps=300, n_samples=10, lr=0.02, seed=SEED)
with torch.no_grad():
    def elbo_of(mu, logvar):
        return elbo(vae, images, 1000, torch.Generator(device).manual_seed(SEED), posterior=(mu, logvar)).cpu()

    encoder_elbo = elbo_of(*vae.encode(images))
    refined_elbo = elbo_of(mu, logvar)
log_px_vae = estimate_log_likelihood(vae, images, k=1000, seed=SEED).cpu()
amortization = refined_elbo - encoder_elbo
approximation = log_px_vae - refined_elbo
se = amortization.std().item() / np.sqrt(len(images))
print(f"encoder ELBO      : {encoder_elbo.mean():8.2f} nats")
print(f"per-image best q  : {refined_elbo.mean():8.2f} nats")
print(f"log p(x) (L_1000) : {log_px_vae.mean():8.2f} nats")
print(f"amortization gap  : {amortization.mean():6.2f} ± {se:.2f} nats; approximation gap "
      f"{approximation.mean():.2f} nats")

fig = Figure(figsize=(5, 3))
ax = fig.subplots()
ax.hist(amortization.numpy(), bins=30)
ax.set_xlabel("amortization gap per image (nats)")
ax.set_ylabel("images")
fig.tight_layout()
fig

# %% [markdown]
# **Check.** Refining improves the ELBO of more than 90% of the images and of the mean by many
# standard errors, and the refined ELBO stays below the importance-sampled $\log p(x)$. The
# amortization gap is the *larger* part of the total gap here: the encoder, not the Gaussian
# family, is what keeps the ELBO below $\log p(x)$, as Cremer et al. (2018) found for MNIST.
# Since 300 steps may not reach each image's best Gaussian, the measured amortization gap is a
# lower bound.

# %%
assert (amortization > 0).float().mean() > 0.9
assert amortization.mean().item() > 10 * se
assert refined_elbo.mean() < log_px_vae.mean()
assert amortization.mean() > approximation.mean()

# %% [markdown]
# ## Summary
#
# - BBVI needs only $\log p(x, z)$ evaluations and samples from $q$; that is what makes it apply to
#   discrete latents and non-differentiable models.
# - It lives or dies by variance reduction: the optimal control variate made the coin converge
#   several times faster and exactly. Dropping the terms outside a Markov blanket keeps the
#   gradient unbiased but can raise its variance; measure before trusting it.
# - When the reparameterization trick applies, use it: its gradient was quieter even in two
#   dimensions, and chapter 4 showed the gap growing with the dimension.
# - The VAE encoder is amortized VI. Per-image optimization recovered most of
#   $\log p(x) - \mathcal L$ for chapter 5's model: the amortization gap was larger than the
#   part that belongs to the Gaussian family.
#
# ## Exercises
#
# 1. Fit the coin with `optimizer="adagrad"` (the paper's choice) and a few step sizes. Which
#    converges fastest, with and without the control variate? *Hint:* `vi.steps_to_reach`.
# 2. Make the sigmoid belief net's weights larger (`weight_std=4`). What happens to the KL between
#    the best mean-field $q$ and the posterior, and why? *Hint:* explaining away.
# 3. Refine the VAE posteriors from the prior $\mathcal N(0, I)$ instead of from the encoder. Does
#    the refined ELBO change? *Hint:* local optima.
#
# ## References
#
# - Ranganath, R., Gerrish, S., & Blei, D. M. (2014). Black box variational inference. *AISTATS*. {cite}`ranganath2014black`
# - Paisley, J., Blei, D. M., & Jordan, M. I. (2012). Variational Bayesian inference with
#   stochastic search. *ICML*. {cite}`paisley2012variational`
# - Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist
#   reinforcement learning. *Machine Learning*. {cite}`williams1992simple`
# - Neal, R. M. (1992). Connectionist learning of belief networks. *Artificial Intelligence*. {cite}`neal1992connectionist`
# - Cremer, C., Li, X., & Duvenaud, D. (2018). Inference suboptimality in variational
#   autoencoders. *ICML*. {cite}`cremer2018inference`
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*. {cite}`kingma2014auto`
