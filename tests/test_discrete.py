"""Discrete codes against independent answers: Gumbel-softmax draws and the concrete density
against torch.distributions and quadrature, the vector quantizer against brute-force search and
gradients worked out by hand, code usage against hand counts, and the enumerated ELBO
against closed-form KLs, brute-force sums and the score-function estimator."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

import pytest
import torch
from torch.distributions import Categorical, OneHotCategorical, RelaxedOneHotCategorical, kl_divergence

from vaebook.discrete import (
    MAX_CONFIGURATIONS,
    VectorQuantizer,
    bias_and_variance,
    categorical_kl_uniform,
    codebook_perplexity,
    concrete_log_prob,
    dead_codes,
    enumerated_elbo,
    exact_gradient,
    gumbel_softmax_estimate,
    gumbel_softmax_sample,
    one_hot_configurations,
    quantize,
    score_function_estimate,
    straight_through_estimate,
)
from vaebook.estimators import score_function_gradient
from vaebook.randomness import drawing_from

F64 = torch.float64
LOGITS = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=F64)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def raises_clearly(call, name: str, errors=(TypeError, ValueError)) -> None:
    """``call()`` raises one of ``errors`` whose message names ``name`` as a whole word (as
    tests/test_properties.py's helper)."""
    with pytest.raises(errors) as error:
        call()
    assert re.search(rf"(?<!\w){re.escape(name)}(?!\w)", str(error.value)), (name, error.value)


def _torch_draws(temperature: float, logits: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    with drawing_from(_gen(seed)):
        return RelaxedOneHotCategorical(torch.tensor(temperature, dtype=F64), logits=logits).sample((n,))


# --- Gumbel-softmax draws and the concrete density ---------------------------------------------

@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_draws_have_the_moments_of_torchs_relaxed_one_hot_categorical(temperature):
    # Two independent samples of 40,000 draws, ours and torch's: for each category, the means of y,
    # y² and log y agree within 4 standard errors of their difference.
    n = 40_000
    ours = gumbel_softmax_sample(LOGITS, temperature, n, generator=_gen(0))
    theirs = _torch_draws(temperature, LOGITS, n, seed=1)
    assert ours.shape == (n, 4) and ours.dtype == F64
    torch.testing.assert_close(ours.sum(-1), torch.ones(n, dtype=F64))
    assert (ours > 0).all()
    for statistic in (lambda y: y, lambda y: y**2, torch.log):
        a, b = statistic(ours), statistic(theirs)
        standard_error = (a.var(0) / n + b.var(0) / n).sqrt()
        z = (a.mean(0) - b.mean(0)) / standard_error
        assert z.abs().max() < 4, z


def test_concrete_log_prob_matches_torch_at_its_draws():
    logits = torch.randn(3, 5, generator=_gen(2), dtype=F64)
    for temperature in (0.3, 1.0, 2.5):
        y = _torch_draws(temperature, logits, 50, seed=3)  # (50, 3, 5)
        expected = RelaxedOneHotCategorical(torch.tensor(temperature, dtype=F64), logits=logits).log_prob(y)
        got = concrete_log_prob(y, logits + 7.0, temperature)  # a constant per row changes nothing
        assert got.shape == (50, 3)
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_two_category_density_integrates_to_one_and_gives_the_draws_probabilities(temperature):
    # With C = 2, y = (v, 1 − v) and the density is one in v. Integrate over t = log(v / (1 − v)),
    # dv = v (1 − v) dt, on a fine grid (the integrand decays like e^(−temperature·|t|)).
    logits = torch.tensor([0.7, -0.4], dtype=F64)
    t = torch.linspace(-120, 120, 200_001, dtype=F64)
    v, rest = torch.sigmoid(t), torch.sigmoid(-t)  # v and 1 − v, neither rounded to 0
    integrand = concrete_log_prob(torch.stack([v, rest], -1), logits, temperature).exp() * v * rest
    assert torch.trapezoid(integrand, t).item() == pytest.approx(1.0, abs=1e-6)
    below = torch.trapezoid(integrand * (v < 0.3), t).item()  # P(v < 0.3) under the density
    draws = gumbel_softmax_sample(logits, temperature, 100_000, generator=_gen(4))[:, 0]
    frequency = (draws < 0.3).double().mean().item()
    assert abs(frequency - below) < 4 * math.sqrt(below * (1 - below) / 100_000), (frequency, below)


def test_argmax_at_a_low_temperature_is_distributed_as_the_categorical():
    # Chi-square goodness of fit of 100,000 argmaxes to softmax(logits), and the draws are close
    # to one-hot at temperature 0.01.
    logits = torch.tensor([1.0, 0.0, -0.5, 2.0, 0.3])
    draws = gumbel_softmax_sample(logits, 0.01, 100_000, generator=_gen(5))
    counts = torch.bincount(draws.argmax(-1), minlength=5).double()
    expected = 100_000 * torch.softmax(logits.double(), 0)
    statistic = ((counts - expected) ** 2 / expected).sum()
    p_value = torch.special.gammaincc(torch.tensor(2.0, dtype=F64), statistic / 2)  # χ² with 4 d.o.f.
    assert p_value > 1e-3, (counts, expected)
    assert draws.max(-1).values.mean() > 0.99


def test_straight_through_draw_is_one_hot_with_the_relaxed_gradient():
    logits = torch.randn(2, 3, generator=_gen(6), dtype=F64)
    w = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    temperature = 0.7
    soft_logits, hard_logits = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    soft = gumbel_softmax_sample(soft_logits, temperature, 5, generator=_gen(7))
    hard = gumbel_softmax_sample(hard_logits, temperature, 5, generator=_gen(7), hard=True)
    # Forward: exactly 0s and a 1, at the relaxed draw's argmax.
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(hard.detach().sum(-1), torch.ones(5, 2, dtype=F64))
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    # Backward: for f = Σ w·y, ∂y_c/∂logits_k = y_c (δ_ck − y_k) / temperature, so
    # ∂f/∂logits_k = Σ_s y_sk (w_k − w·y_s) / temperature, from the relaxed draws' values.
    (soft @ w).sum().backward()
    (hard @ w).sum().backward()
    y = soft.detach()
    by_hand = (y * (w - (y @ w).unsqueeze(-1))).sum(0) / temperature
    torch.testing.assert_close(soft_logits.grad, by_hand)
    torch.testing.assert_close(hard_logits.grad, by_hand)


def test_draws_come_from_the_generator_only():
    state = torch.get_rng_state()
    a = gumbel_softmax_sample(LOGITS, 1.0, 3, generator=_gen(8))
    b = gumbel_softmax_sample(LOGITS, 1.0, 3, generator=_gen(8))
    assert torch.equal(a, b) and not torch.equal(a, gumbel_softmax_sample(LOGITS, 1.0, 3, generator=_gen(9)))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not touched
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        assert torch.equal(gumbel_softmax_sample(LOGITS, 1.0, 3), a)  # None: the global generator


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_draws_follow_the_generators_device():
    on_gpu = gumbel_softmax_sample(LOGITS.cuda(), 1.0, 3, generator=_gen(8))  # CPU noise, moved
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), gumbel_softmax_sample(LOGITS, 1.0, 3, generator=_gen(8)))
    gpu_generator = torch.Generator(device="cuda").manual_seed(8)
    on_cpu = gumbel_softmax_sample(LOGITS, 1.0, 3, generator=gpu_generator)  # CUDA noise, moved
    assert on_cpu.device.type == "cpu" and on_cpu.shape == (3, 4)


# --- the vector quantizer ----------------------------------------------------------------------

def _brute_force_nearest(z_e: torch.Tensor, codebook: torch.Tensor) -> list[int]:
    """For each row, the index of the nearest code by a loop over codes in float64 (first on a tie)."""
    rows, codes = z_e.double().reshape(-1, codebook.shape[1]).tolist(), codebook.double().tolist()
    def distance(row, m):
        return sum((a - b) ** 2 for a, b in zip(row, codes[m], strict=True))

    return [min(range(len(codes)), key=lambda m: distance(row, m)) for row in rows]


def test_nearest_code_matches_brute_force_search():
    g = _gen(10)
    codebook = torch.randn(10, 3, generator=g, dtype=F64)
    z_e = torch.randn(4, 16, 3, generator=g, dtype=F64)
    z_q, indices, codebook_loss, commitment_loss = quantize(z_e, codebook)
    assert indices.shape == (4, 16) and indices.dtype == torch.long
    assert indices.flatten().tolist() == _brute_force_nearest(z_e, codebook)
    assert torch.equal(z_q, codebook[indices])  # exactly the code vectors
    squared = ((z_e - codebook[indices]) ** 2).sum(-1)
    torch.testing.assert_close(codebook_loss, squared)
    torch.testing.assert_close(commitment_loss, squared)


def test_nearest_code_is_exact_in_float32_far_from_the_origin():
    # Codes 0.25 apart near (1000, 1000): ||a||² − 2a·b + ||b||² in float32 rounds away distances
    # that differ by less than ~0.1, a direct difference does not.
    g = _gen(11)
    codebook = 1000 + torch.stack([torch.linspace(0, 1, 5), torch.zeros(5)], -1)
    z_e = 1000 + torch.rand(300, 2, generator=g) * torch.tensor([1.0, 0.1])
    _, indices, _, _ = quantize(z_e, codebook)
    assert indices.tolist() == _brute_force_nearest(z_e, codebook)


HAND_CODEBOOK = [[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]]
HAND_Z_E = [[0.9, 0.8], [-0.2, 0.1], [-1.1, 1.7]]  # nearest codes 1, 0, 2


def _hand_case():
    codebook = torch.tensor(HAND_CODEBOOK, dtype=F64, requires_grad=True)
    z_e = torch.tensor(HAND_Z_E, dtype=F64, requires_grad=True)
    return codebook, z_e, quantize(z_e, codebook)


def test_straight_through_gradient_reaches_z_e_as_the_gradient_at_z_q():
    codebook, z_e, (z_q, indices, codebook_loss, commitment_loss) = _hand_case()
    assert indices.tolist() == [1, 0, 2]
    torch.testing.assert_close(codebook_loss.detach(), torch.tensor([0.05, 0.05, 0.10], dtype=F64))
    torch.testing.assert_close(commitment_loss.detach(), torch.tensor([0.05, 0.05, 0.10], dtype=F64))
    # loss = Σ a ⊙ z_q² at z_q = [[1, 1], [0, 0], [−1, 2]]: ∂loss/∂z_q = 2 a ⊙ z_q.
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=F64)
    (a * z_q**2).sum().backward()
    torch.testing.assert_close(z_e.grad, torch.tensor([[2.0, 4.0], [0.0, 0.0], [-10.0, 24.0]], dtype=F64))
    assert codebook.grad is None  # the decoder's gradient does not move the codebook


def test_codebook_loss_moves_only_the_codebook_and_commitment_only_z_e():
    codebook, z_e, (_, _, codebook_loss, _) = _hand_case()
    codebook_loss.sum().backward()
    # ∂/∂e_m Σ ||z_e − e_m||² = 2 (e_m − z_e) for the one row assigned to each code.
    torch.testing.assert_close(codebook.grad, torch.tensor([[0.4, -0.2], [0.2, 0.4], [0.2, 0.6]], dtype=F64))
    assert z_e.grad is None
    codebook, z_e, (_, _, _, commitment_loss) = _hand_case()
    commitment_loss.sum().backward()
    torch.testing.assert_close(z_e.grad, torch.tensor([[-0.2, -0.4], [-0.4, 0.2], [-0.2, -0.6]], dtype=F64))
    assert codebook.grad is None


def test_vector_quantizer_module():
    vq = VectorQuantizer(8, 3, generator=_gen(12))
    assert [name for name, _ in vq.named_parameters()] == ["codebook"] and vq.codebook.shape == (8, 3)
    assert vq.codebook.abs().max() <= 1 / 8
    assert torch.equal(vq.codebook, VectorQuantizer(8, 3, generator=_gen(12)).codebook)
    z_e = torch.randn(5, 3, generator=_gen(13))
    for got, expected in zip(vq(z_e), quantize(z_e, vq.codebook), strict=True):
        assert torch.equal(got, expected)


# --- code usage --------------------------------------------------------------------------------

def test_perplexity_of_uniform_single_and_hand_usage():
    assert codebook_perplexity(torch.arange(5).repeat(3), 5).item() == pytest.approx(5.0)
    assert codebook_perplexity(torch.full((7,), 2), 5).item() == pytest.approx(1.0)
    # Frequencies ½, ¼, ¼, 0: H = 1.5 log 2, so exp(H) = 2^1.5.
    assert codebook_perplexity(torch.tensor([[0, 0], [1, 2]]), 4).item() == pytest.approx(2**1.5)
    indices = torch.randint(6, (200,), generator=_gen(14))
    entropy = -sum(k / 200 * math.log(k / 200) for k in Counter(indices.tolist()).values())
    assert codebook_perplexity(indices, 6).item() == pytest.approx(math.exp(entropy))


def test_dead_codes_counts_unused_codes():
    assert dead_codes(torch.tensor([[0, 3], [3, 5]]), 7).item() == 4  # 0, 3, 5 used; 1, 2, 4, 6 not
    assert dead_codes(torch.arange(4), 4).item() == 0
    assert dead_codes(torch.tensor([2], dtype=torch.int32), 3).item() == 2


# --- exact enumeration -------------------------------------------------------------------------

def test_one_hot_configurations_are_every_configuration_once():
    z = one_hot_configurations(3, 4, dtype=F64)
    assert z.shape == (64, 3, 4) and z.dtype == F64
    expected = [list(values) for values in itertools.product(range(4), repeat=3)]
    assert z.argmax(-1).tolist() == expected and torch.equal(z.sum(-1), torch.ones(64, 3, dtype=F64))


def test_enumerated_elbo_is_minus_the_kl_when_the_joint_is_the_prior():
    # log p(x, z) = log p(z) + 0: the ELBO is −Σ_j KL(q_j || p_j).
    g = _gen(15)
    prior_logits, logits = (torch.randn(3, 4, generator=g, dtype=F64) for _ in range(2))
    prior = torch.log_softmax(prior_logits, -1)
    elbo = enumerated_elbo(lambda z: (z * prior).sum((-1, -2)), logits)
    expected = -kl_divergence(Categorical(logits=logits), Categorical(logits=prior_logits)).sum()
    torch.testing.assert_close(elbo, expected)


def test_enumerated_elbo_reaches_the_evidence_at_the_exact_posterior():
    # A joint that factorizes over latents, log p(x, z) = Σ_j table[j, z_j]: the posterior is
    # q_j = softmax(table_j), where the ELBO equals log p(x); any other q gives less.
    table = torch.randn(2, 3, generator=_gen(16), dtype=F64)

    def log_joint(z):
        return (z * table).sum((-1, -2))

    log_evidence = math.log(sum(math.exp(sum(table[j, c].item() for j, c in enumerate(config)))
                                for config in itertools.product(range(3), repeat=2)))
    assert enumerated_elbo(log_joint, table).item() == pytest.approx(log_evidence, abs=1e-12)
    assert enumerated_elbo(log_joint, torch.zeros(2, 3, dtype=F64)).item() < log_evidence - 1e-3


def _coupled_joint(z: torch.Tensor) -> torch.Tensor:
    """A joint with an interaction between two three-valued latents: (S, 2, 3) -> (S,)."""
    unary = torch.tensor([[0.3, -1.0, 0.8], [0.0, 1.2, -0.5]], dtype=z.dtype)
    pair = torch.tensor([[1.5, -0.5, 0.0], [-1.0, 0.5, 2.0], [0.2, 0.0, -1.5]], dtype=z.dtype)
    return (z * unary).sum((-1, -2)) + torch.einsum("sa,ab,sb->s", z[:, 0], pair, z[:, 1])


def test_enumerated_elbo_gradient_is_the_mean_of_score_function_estimates():
    logits = torch.tensor([[0.2, -0.3, 0.5], [1.0, 0.0, -1.0]], dtype=F64, requires_grad=True)
    (exact,) = torch.autograd.grad(enumerated_elbo(_coupled_joint, logits), logits)

    def f(z, q):
        return _coupled_joint(z) - q.log_prob(z).sum(-1)

    estimates, _ = score_function_gradient(f, lambda p: OneHotCategorical(logits=p["logits"]),
                                           {"logits": logits.detach()}, 100_000, generator=_gen(17))
    samples = estimates["logits"]
    standard_error = samples.std(0) / len(samples) ** 0.5
    assert ((samples.mean(0) - exact).abs() < 4 * standard_error).all(), (samples.mean(0), exact)


def test_enumerated_elbo_of_a_batch_is_each_rows():
    logits = torch.randn(4, 2, 3, generator=_gen(18), dtype=F64)
    shift = torch.arange(4, dtype=F64)

    def batch_joint(z):
        return _coupled_joint(z).unsqueeze(-1) + shift  # (C^J, B)

    rows = torch.stack([enumerated_elbo(_coupled_joint, row) for row in logits]) + shift
    torch.testing.assert_close(enumerated_elbo(batch_joint, logits), rows)


def test_categorical_kl_to_the_uniform_prior_matches_torch():
    logits = torch.randn(4, 3, 5, generator=_gen(19), dtype=F64)
    uniform = Categorical(logits=torch.zeros(5, dtype=F64))
    expected = kl_divergence(Categorical(logits=logits), uniform).sum(-1)
    torch.testing.assert_close(categorical_kl_uniform(logits), expected)
    assert categorical_kl_uniform(torch.zeros(2, 5)).abs().max() < 1e-6  # q uniform: no rate


# --- gradient estimates against the enumerated ELBO ---------------------------------------------

COUPLED_LOGITS = torch.tensor([[0.2, -0.3, 0.5], [1.0, 0.0, -1.0]], dtype=F64)


def test_exact_gradient_matches_central_finite_differences():
    # A random joint with an interaction term, J = 2, C = 3, in float64: each component of the
    # autograd gradient against (L(ℓ + h e_i) − L(ℓ − h e_i)) / 2h, whose error is O(h²).
    g = _gen(20)
    unary, pair = torch.randn(2, 3, generator=g, dtype=F64), torch.randn(3, 3, generator=g, dtype=F64)

    def log_joint(z):
        return (z * unary).sum((-1, -2)) + torch.einsum("sa,ab,sb->s", z[:, 0], pair, z[:, 1])

    logits = torch.randn(2, 3, generator=g, dtype=F64)
    h = 1e-5
    differences = torch.zeros(2, 3, dtype=F64)
    for i in range(2):
        for c in range(3):
            step = torch.zeros(2, 3, dtype=F64)
            step[i, c] = h
            differences[i, c] = (enumerated_elbo(log_joint, logits + step)
                                 - enumerated_elbo(log_joint, logits - step)) / (2 * h)
    gradient = exact_gradient(log_joint, logits)
    assert gradient.shape == (2, 3) and not gradient.requires_grad
    torch.testing.assert_close(gradient, differences, atol=1e-8, rtol=0)
    assert gradient.abs().max() > 0.05  # a gradient with something to get wrong


def test_score_function_estimate_is_unbiased():
    # The mean of 2,000 independent estimates (S = 5 each) is within 4 standard errors of the
    # exact gradient in every component.
    exact = exact_gradient(_coupled_joint, COUPLED_LOGITS)
    g = _gen(21)
    estimates = torch.stack([score_function_estimate(_coupled_joint, COUPLED_LOGITS, 5, g)
                             for _ in range(2000)])
    standard_error = estimates.std(0) / math.sqrt(len(estimates))
    assert ((estimates.mean(0) - exact).abs() < 4 * standard_error).all(), (estimates.mean(0), exact)


def test_the_leave_one_out_baseline_removes_any_constant_offset_of_the_joint():
    # (f_s + k) − (b_s + k) = f_s − b_s: a constant added to log p(x, z) changes no estimate.
    plain = score_function_estimate(_coupled_joint, COUPLED_LOGITS, 6, _gen(22))
    shifted = score_function_estimate(lambda z: _coupled_joint(z) + 100.0, COUPLED_LOGITS, 6, _gen(22))
    torch.testing.assert_close(shifted, plain, atol=1e-11, rtol=0)


def test_straight_through_estimate_is_its_definition():
    # Forward: log_joint sees exactly the one-hot argmaxes of the relaxed draws with the same noise.
    # Backward: ĝ = 1/S Σ_s [Jᵀ ∇_z f(z_s) − (z_s − softmax(ℓ))], J the softmax Jacobian at the
    # relaxed draw, y_c (δ_ck − y_k) / τ, and ∇_z f by autograd at the one-hot z_s.
    temperature, n = 0.6, 7
    seen = []

    def recording_joint(z):
        seen.append(z.detach().clone())
        return _coupled_joint(z)

    estimate = straight_through_estimate(recording_joint, COUPLED_LOGITS, n, temperature, _gen(23))
    y = gumbel_softmax_sample(COUPLED_LOGITS, temperature, n, generator=_gen(23))  # (S, J, C)
    z = torch.nn.functional.one_hot(y.argmax(-1), 3).to(F64)
    assert len(seen) == 1 and torch.equal(seen[0], z)
    log_q = torch.log_softmax(COUPLED_LOGITS, -1)
    corner = z.clone().requires_grad_()
    (grad_z,) = torch.autograd.grad((_coupled_joint(corner) - (corner * log_q).sum((-1, -2))).sum(), corner)
    through_y = y * (grad_z - (grad_z * y).sum(-1, keepdim=True)) / temperature
    by_hand = (through_y - (z - log_q.exp())).mean(0)
    torch.testing.assert_close(estimate, by_hand)


def test_gumbel_softmax_estimate_has_the_mean_of_torchs_relaxed_one_hot_gradient():
    # The same objective, 1/S Σ_s [log p(x, y_s) − Σ y_s log softmax(ℓ)], differentiated through
    # torch's RelaxedOneHotCategorical.rsample: 400 estimates (S = 50) each way, means within 4
    # standard errors of their difference, at the moderate temperature 0.5.
    temperature, n, repeats = 0.5, 50, 400
    g = _gen(24)
    ours = torch.stack([gumbel_softmax_estimate(_coupled_joint, COUPLED_LOGITS, n, temperature, g)
                        for _ in range(repeats)])

    def torch_estimate(generator):
        leaf = COUPLED_LOGITS.clone().requires_grad_()
        with drawing_from(generator):
            y = RelaxedOneHotCategorical(torch.tensor(temperature, dtype=F64), logits=leaf).rsample((n,))
        objective = (_coupled_joint(y) - (y * torch.log_softmax(leaf, -1)).sum((-1, -2))).mean()
        return torch.autograd.grad(objective, leaf)[0]

    g = _gen(25)
    theirs = torch.stack([torch_estimate(g) for _ in range(repeats)])
    standard_error = (ours.var(0) / repeats + theirs.var(0) / repeats).sqrt()
    z = (ours.mean(0) - theirs.mean(0)) / standard_error
    assert z.abs().max() < 4, z


def test_bias_and_variance_of_hand_made_and_normal_estimates():
    # By hand: estimates 1 and 3 of g = 0: mean 2, bias 2, sample variance 2, noise sqrt(2 / 2).
    hand = bias_and_variance(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0]))
    assert (hand.bias, hand.variance, hand.bias_noise) == pytest.approx((2.0, 2.0, 1.0))
    # Normal estimates with mean g + 0.3 e_0 and variance 4 in every one of 6 components.
    n, exact = 5000, torch.randn(2, 3, generator=_gen(26), dtype=F64)
    offset = torch.zeros(2, 3, dtype=F64)
    offset[0, 0] = 0.3
    estimates = exact + offset + 2 * torch.randn(n, 2, 3, generator=_gen(27), dtype=F64)
    result = bias_and_variance(estimates, exact)
    assert abs(result.variance - 4) < 4 * result.variance_se
    # Var of the mean of 6 sample variances: 2σ⁴ / (N − 1) / 6; the reported SE is close to it.
    assert result.variance_se == pytest.approx(math.sqrt(2 * 16 / (n - 1) / 6), rel=0.1)
    assert result.bias_noise == pytest.approx(math.sqrt(6 * 4 / n), rel=0.05)
    assert abs(result.bias - 0.3) < 4 * result.bias_noise


# --- input checks ------------------------------------------------------------------------------

NAN_LOGITS = torch.tensor([0.0, float("nan")])
Y = torch.tensor([[0.2, 0.8]])
CODEBOOK = torch.zeros(4, 2)
BAD_INPUT = [
    (lambda: gumbel_softmax_sample([0.0, 1.0], 1.0), "logits"),
    (lambda: gumbel_softmax_sample(torch.tensor([0, 1]), 1.0), "logits"),
    (lambda: gumbel_softmax_sample(torch.tensor(1.0), 1.0), "logits"),
    (lambda: gumbel_softmax_sample(torch.zeros(3, 0), 1.0), "logits"),
    (lambda: gumbel_softmax_sample(NAN_LOGITS, 1.0), "logits"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), 0.0), "temperature"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), -1.0), "temperature"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), math.nan), "temperature"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), math.inf), "temperature"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), 1.0, n_samples=0), "n_samples"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), 1.0, generator=0), "generator"),
    (lambda: gumbel_softmax_sample(torch.zeros(2), 1.0, hard="yes"), "hard"),
    (lambda: concrete_log_prob(torch.tensor([[0.0, 1.0]]), torch.zeros(2), 1.0), "y"),
    (lambda: concrete_log_prob(torch.tensor([[0.3, 0.8]]), torch.zeros(2), 1.0), "y"),
    (lambda: concrete_log_prob(torch.tensor([[0.2, 0.3, 0.5]]), torch.zeros(2), 1.0), "y"),
    (lambda: concrete_log_prob(torch.full((3, 2), 0.5), torch.zeros(2, 2), 1.0), "y"),
    (lambda: concrete_log_prob(Y.tolist(), torch.zeros(2), 1.0), "y"),
    (lambda: concrete_log_prob(Y, NAN_LOGITS, 1.0), "logits"),
    (lambda: concrete_log_prob(Y, torch.zeros(2), 0.0), "temperature"),
    (lambda: quantize(torch.zeros(3, 3), CODEBOOK), "z_e"),
    (lambda: quantize(torch.zeros(3, 2, dtype=F64), CODEBOOK), "z_e"),
    (lambda: quantize(torch.tensor([[0.0, math.inf]]), CODEBOOK), "z_e"),
    (lambda: quantize(torch.zeros(0, 2), CODEBOOK), "z_e"),
    (lambda: quantize(torch.zeros(3, 2, dtype=torch.long), CODEBOOK), "z_e"),
    (lambda: quantize(torch.zeros(3, 2), torch.zeros(2)), "codebook"),
    (lambda: quantize(torch.zeros(3, 2), torch.full((4, 2), math.nan)), "codebook"),
    (lambda: VectorQuantizer(4, 2)(torch.zeros(3, 5)), "z_e"),
    (lambda: VectorQuantizer(4, 2)(torch.zeros(3, 2, device="meta")), "z_e"),
    (lambda: VectorQuantizer(0, 2), "n_codes"),
    (lambda: VectorQuantizer(2.5, 2), "n_codes"),
    (lambda: VectorQuantizer(4, 0), "latent_dim"),
    (lambda: codebook_perplexity(torch.tensor([0, 4]), 4), "indices"),
    (lambda: codebook_perplexity(torch.tensor([-1, 0]), 4), "indices"),
    (lambda: codebook_perplexity(torch.tensor([0.0, 1.0]), 4), "indices"),
    (lambda: codebook_perplexity(torch.tensor([True]), 4), "indices"),
    (lambda: codebook_perplexity(torch.zeros(0, dtype=torch.long), 4), "indices"),
    (lambda: codebook_perplexity([0, 1], 4), "indices"),
    (lambda: codebook_perplexity(torch.tensor([0]), 0), "n_codes"),
    (lambda: dead_codes(torch.tensor([0, 9]), 4), "indices"),
    (lambda: dead_codes(torch.tensor([0]), -2), "n_codes"),
    (lambda: one_hot_configurations(0, 3), "n_latents"),
    (lambda: one_hot_configurations(2, True), "n_categories"),
    (lambda: one_hot_configurations(17, 2), "n_latents"),
    (lambda: enumerated_elbo("log p", torch.zeros(2, 3)), "log_joint"),
    (lambda: enumerated_elbo(_coupled_joint, torch.zeros(3)), "logits"),
    (lambda: enumerated_elbo(_coupled_joint, torch.zeros(0, 3)), "logits"),
    (lambda: enumerated_elbo(_coupled_joint, torch.zeros(17, 2)), "logits"),
    (lambda: enumerated_elbo(lambda z: z.sum(-1), torch.zeros(2, 3)), "log_joint"),
    (lambda: categorical_kl_uniform(torch.zeros(3)), "logits"),
    (lambda: categorical_kl_uniform(torch.zeros(2, 3, dtype=torch.long)), "logits"),
    (lambda: score_function_estimate("log p", COUPLED_LOGITS, 4), "log_joint"),
    (lambda: score_function_estimate(_coupled_joint, COUPLED_LOGITS[0], 4), "logits"),
    (lambda: score_function_estimate(_coupled_joint, COUPLED_LOGITS.unsqueeze(0), 4), "logits"),
    (lambda: score_function_estimate(_coupled_joint, COUPLED_LOGITS.tolist(), 4), "logits"),
    (lambda: score_function_estimate(_coupled_joint, COUPLED_LOGITS, 1), "n_samples"),
    (lambda: score_function_estimate(_coupled_joint, COUPLED_LOGITS, 2.0), "n_samples"),
    (lambda: score_function_estimate(_coupled_joint, COUPLED_LOGITS, 4, generator=1), "generator"),
    (lambda: score_function_estimate(lambda z: z.sum(-1), COUPLED_LOGITS, 4), "log_joint"),
    (lambda: gumbel_softmax_estimate(_coupled_joint, COUPLED_LOGITS, 4, 0.0), "temperature"),
    (lambda: gumbel_softmax_estimate(_coupled_joint, COUPLED_LOGITS, 4, -0.5), "temperature"),
    (lambda: gumbel_softmax_estimate(_coupled_joint, COUPLED_LOGITS, 0, 0.5), "n_samples"),
    (lambda: gumbel_softmax_estimate(None, COUPLED_LOGITS, 4, 0.5), "log_joint"),
    (lambda: straight_through_estimate(_coupled_joint, COUPLED_LOGITS, 4, math.inf), "temperature"),
    (lambda: straight_through_estimate(_coupled_joint, torch.zeros(2, 0), 4, 0.5), "logits"),
    (lambda: exact_gradient(_coupled_joint, torch.zeros(17, 2)), "logits"),
    (lambda: exact_gradient(3, COUPLED_LOGITS), "log_joint"),
    (lambda: bias_and_variance(torch.zeros(1, 2, 3), torch.zeros(2, 3)), "estimates"),
    (lambda: bias_and_variance(torch.zeros(5, 3, 2), torch.zeros(2, 3)), "estimates"),
    (lambda: bias_and_variance(torch.zeros(5, 2, 3), [0.0]), "exact"),
]


@pytest.mark.parametrize("call, name", BAD_INPUT,
                         ids=[f"{i}-{name}" for i, (_, name) in enumerate(BAD_INPUT)])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, name):
    raises_clearly(call, name)


def test_errors_are_of_the_right_kind():
    with pytest.raises(TypeError, match=r"logits must be a floating-point tensor"):
        gumbel_softmax_sample(torch.tensor([0, 1]), 1.0)
    with pytest.raises(ValueError, match=r"temperature must be a finite real number in \(0, inf\)"):
        gumbel_softmax_sample(torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match=r"y must lie on the simplex.*off by 0.1"):
        concrete_log_prob(torch.tensor([[0.3, 0.8]]), torch.zeros(2), 1.0)
    with pytest.raises(TypeError, match=r"z_e has dtype torch.float64 but the codebook is torch.float32"):
        quantize(torch.zeros(3, 2, dtype=F64), CODEBOOK)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, n_codes\) = \[0, 4\), got .* 0 to 4"):
        codebook_perplexity(torch.tensor([0, 4]), 4)
    with pytest.raises(TypeError, match=r"indices must hold integer code indices"):
        dead_codes(torch.tensor([0.0]), 4)
    with pytest.raises(ValueError, match=rf"more than the {MAX_CONFIGURATIONS}"):
        one_hot_configurations(17, 2)
    with pytest.raises(ValueError, match=r"log_joint must return one value per sample"):
        enumerated_elbo(lambda z: z.sum(-1), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"leave-one-out baseline.*n_samples >= 2, got 1"):
        score_function_estimate(_coupled_joint, COUPLED_LOGITS, 1)
    with pytest.raises(TypeError, match=r"log_joint must be a function"):
        straight_through_estimate("log p", COUPLED_LOGITS, 4, 0.5)
