from __future__ import annotations

import numpy as np
import pytest
import torch

from vaebook import analysis
from vaebook.analysis import (
    active_units,
    empty_draws,
    interpolate,
    knn_accuracy,
    knn_predict,
    nearest_distance,
    pca_reconstruction,
)


def test_nearest_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    queries, reference = rng.normal(size=(20, 3)), rng.normal(size=(50, 3))
    brute = np.linalg.norm(queries[:, None] - reference[None], axis=-1).min(1)
    np.testing.assert_allclose(nearest_distance(torch.tensor(queries), reference), brute)
    with pytest.raises(ValueError, match="same width"):
        nearest_distance(queries, reference[:, :2])


def test_knn_accuracy_separates_clusters_and_checks_input():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    z = rng.normal(size=(100, 2)) * 0.1 + y[:, None] * 5
    assert knn_accuracy(z[::2], y[::2], z[1::2], y[1::2], m=3) == 1.0
    with pytest.raises(ValueError, match="same number of rows"):
        knn_accuracy(z, y[:10], z, y)
    with pytest.raises(ValueError, match="exceeds"):
        knn_accuracy(z[:2], y[:2], z, y, m=5)
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        knn_accuracy(z[:, 0], y, z, y)


def test_pca_reconstruction_matches_a_truncated_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10))
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    expected = (x[:20] - mean) @ vt[:3].T @ vt[:3] + mean
    np.testing.assert_allclose(pca_reconstruction(x, x[:20], latent_dim=3), expected, atol=1e-8)


def _majority_of_nearest(z_train, y_train, z_query, k):
    """By enumeration: sort the distances, count the labels of the k nearest; a tie goes to the
    smallest label."""
    nearest = np.argsort(np.linalg.norm(z_query[:, None] - z_train[None], axis=-1), axis=1)[:, :k]
    return np.array([np.bincount(y_train[row], minlength=y_train.max() + 1).argmax() for row in nearest])


def test_knn_predict_is_the_majority_of_the_nearest_labels():
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(60, 2)), rng.integers(0, 3, 60)
    expected = _majority_of_nearest(z[:40], y[:40], z[40:], 3)
    np.testing.assert_array_equal(knn_predict(z[:40], y[:40], z[40:], m=3), expected)


def test_knn_accuracy_is_the_fraction_of_held_out_labels_predicted():
    # The reference predictions come from enumeration, not from knn_predict (which shares
    # knn_accuracy's fitted classifier).
    # 200 held-out points: here every other k, or distance weights, gives another accuracy.
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(300, 2)), rng.integers(0, 3, 300)
    expected = np.mean(_majority_of_nearest(z[:100], y[:100], z[100:], 3) == y[100:])
    assert 0.2 < expected < 0.8  # neither all right nor all wrong: a miscount shows
    assert knn_accuracy(z[:100], y[:100], z[100:], y[100:], m=3) == pytest.approx(expected)
    with pytest.raises(ValueError, match="have 3 features but z_train has 2"):
        knn_predict(z, y, np.zeros((4, 3)))


def test_active_units_counts_dimensions_whose_mean_moves():
    rng = np.random.default_rng(0)
    mu = np.column_stack([rng.normal(size=500), 0.001 * rng.normal(size=500), np.zeros(500)])
    assert active_units(mu) == 1
    assert active_units(torch.tensor(mu), threshold=1e-8) == 2
    with pytest.raises(ValueError, match="at least 2"):
        active_units(mu[:1])
    mu[3, 2] = np.nan  # a nan column used to count as inactive
    with pytest.raises(ValueError, match="mu has 1 non-finite"):
        active_units(mu)


def test_interpolate_includes_both_ends():
    path = interpolate([0.0, 0.0], [1.0, 2.0], 5)
    np.testing.assert_allclose(path, [[0, 0], [0.25, 0.5], [0.5, 1], [0.75, 1.5], [1, 2]])
    torch_path = interpolate(torch.tensor([1.0, -1.0]), torch.tensor([3.0, 1.0]), 3)
    np.testing.assert_allclose(torch_path, [[1, -1], [2, 0], [3, 1]])
    with pytest.raises(ValueError, match="at least 2"):
        interpolate([0.0], [1.0], 1)
    with pytest.raises(ValueError, match="one length"):
        interpolate([0.0], [1.0, 2.0], 3)


def _blobs(n=300, seed=0):
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n, n_features=10, centers=4, random_state=seed)


def test_tsne_is_seeded_and_keeps_neighbourhoods():
    # One thread and few steps: a small FFT-gradient t-SNE costs about 4 s whatever its size.
    x, _ = _blobs()
    options = dict(perplexity=10, n_iter=50, seed=0, n_jobs=1)
    one = analysis.tsne(x, **options)
    assert one.shape == (300, 2)
    assert np.array_equal(one, analysis.tsne(torch.as_tensor(x), **options))
    assert analysis.trustworthiness(x, one) > 0.9
    scrambled = np.random.default_rng(0).normal(size=(300, 2))
    assert analysis.trustworthiness(x, scrambled) < 0.6
    random_start = analysis.tsne(x, **options, initialization="random")
    assert not np.allclose(random_start, one) and analysis.trustworthiness(x, random_start) > 0.9


def _trustworthiness_by_enumeration(high, low, m):
    """Venna & Kaski's definition, one point at a time: 1 − 2 / (N m (2N − 3m − 1)) times the sum,
    over each point's m nearest neighbours in ``low`` that are not among its m nearest in ``high``,
    of their rank in ``high`` minus m."""
    n = len(high)
    penalty = 0
    for i in range(n):
        by_high = [j for j in np.argsort(np.linalg.norm(high - high[i], axis=1), kind="stable") if j != i]
        by_low = [j for j in np.argsort(np.linalg.norm(low - low[i], axis=1), kind="stable") if j != i]
        rank = {j: r + 1 for r, j in enumerate(by_high)}
        penalty += sum(rank[j] - m for j in by_low[:m] if rank[j] > m)
    return 1 - 2 * penalty / (n * m * (2 * n - 3 * m - 1))


def test_trustworthiness_follows_its_definition_and_is_one_for_an_isometry():
    x, _ = _blobs(100)
    low = x[:, :2]
    expected = _trustworthiness_by_enumeration(x, low, 7)
    assert expected < 0.99  # two of the ten coordinates lose neighbours: the sum is not empty
    assert analysis.trustworthiness(x, low, m=7) == pytest.approx(expected)
    assert analysis.trustworthiness(low, 3 * low + 1) == pytest.approx(1.0)


def test_pca_codes_are_the_principal_coordinates():
    # The reference is a truncated SVD of the centred training data, not scikit-learn's PCA that
    # pca_codes (and pca_reconstruction) call; each direction's sign is arbitrary.
    x, _ = _blobs(200)
    codes = analysis.pca_codes(x, x[:20], latent_dim=3)
    assert codes.shape == (20, 3)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    expected = (x[:20] - mean) @ vt[:3].T
    signs = np.sign((codes * expected).sum(0))
    np.testing.assert_allclose(codes * signs, expected, atol=1e-8)


def test_tsne_and_trustworthiness_bad_input():
    x, _ = _blobs(40)
    with pytest.raises(ValueError, match="needs at least 91 points"):
        analysis.tsne(x, perplexity=30)
    with pytest.raises(ValueError, match=r"perplexity must be a finite real number in \(0, inf\)"):
        analysis.tsne(x, perplexity=0)
    with pytest.raises(ValueError, match="initialization"):
        analysis.tsne(x, perplexity=5, initialization="spectral")
    with pytest.raises(ValueError, match="same number of rows"):
        analysis.trustworthiness(x, x[:30, :2])
    with pytest.raises(ValueError, match="half the number"):
        analysis.trustworthiness(x, x[:, :2], m=20)
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        analysis.tsne(x[0])


def test_neighbour_overlap():
    x, _ = _blobs(100)
    assert analysis.neighbour_overlap(x, 2 * x + 3) == 1.0
    scrambled = np.random.default_rng(0).normal(size=(100, 2))
    assert analysis.neighbour_overlap(x, scrambled, m=5) < 0.3
    with pytest.raises(ValueError, match="below the number of points"):
        analysis.neighbour_overlap(x, x, m=100)
    with pytest.raises(ValueError, match="same number of rows"):
        analysis.neighbour_overlap(x, x[:50])


def test_empty_draws_passes_draws_from_the_codes_distribution_and_fails_others():
    rng = np.random.default_rng(0)
    train, test, same = (rng.normal(size=(n, 2)) for n in (20_000, 5_000, 4_000))
    share = empty_draws(train, test, same).mean()
    se = np.sqrt(0.01 * 0.99 / 4_000 + 0.01 * 0.99 / 5_000)
    assert abs(share - 0.01) < 4 * se  # draws from the codes' own distribution: about 1 % empty
    wide = 3 * rng.normal(size=(4_000, 2))
    assert empty_draws(train, test, wide).mean() > 0.2  # a wider distribution is caught
    # the threshold comes from the codes' own spacing: rescaling everything changes nothing
    np.testing.assert_array_equal(empty_draws(10 * train, 10 * test, 10 * wide),
                                  empty_draws(train, test, wide))
    with pytest.raises(ValueError, match=r"\blevel\b"):
        empty_draws(train, test, same, level=1.5)


def test_standard_error_matches_scipy_and_checks_input():
    from scipy.stats import sem

    values = torch.randn(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert analysis.standard_error(values) == pytest.approx(sem(values.numpy()), rel=1e-12)
    assert analysis.standard_error([1.0, 3.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        analysis.standard_error([1.0])
    with pytest.raises(ValueError, match="non-finite"):
        analysis.standard_error([1.0, float("nan")])


def test_empty_share_limit_matches_the_spread_of_simulated_shares():
    # draws from the codes' own distribution: the share of empty ones scatters around 1 - level
    # with the standard error the limit is built from (quantile noise included)
    rng = np.random.default_rng(0)
    shares = [analysis.empty_draws(rng.normal(size=(2_000, 2)), rng.normal(size=(1_000, 2)),
                                   rng.normal(size=(500, 2))).mean() for _ in range(300)]
    one_se = analysis.empty_share_limit(500, 1_000, n_se=1.0) - 0.01
    # np.quantile's 99% point of 1,000 codes sits at order statistic 0.99 * 999 + 1 (1-based),
    # which a new point exceeds with probability 1 - 990.01 / 1001, a little above 1%
    expected = 1 - (0.99 * 999 + 1) / 1_001
    assert np.mean(shares) == pytest.approx(expected, abs=3 * one_se / np.sqrt(300))
    assert np.std(shares, ddof=1) == pytest.approx(one_se, rel=0.25)
    assert analysis.empty_share_limit(500, 1_000) == pytest.approx(0.01 + 5 * one_se)
    with pytest.raises(ValueError, match="n_draws"):
        analysis.empty_share_limit(0, 1_000)


def test_classical_code_lengths_are_the_sizes_of_files_that_decode_to_the_images():
    import bz2
    import gzip
    import io
    import lzma

    from PIL import Image

    rng = np.random.default_rng(0)
    images = (rng.random((200, 784)) < 0.1).astype(np.float32)
    bits = analysis.classical_code_lengths(images)
    assert list(bits) == ["gzip", "bz2", "lzma", "PNG, 1 bit per pixel", "uncompressed"]
    packed = np.packbits(images.astype(bool), axis=1).tobytes()
    for name, decompress, compress in (("gzip", gzip.decompress, lambda b: gzip.compress(b, 9)),
                                       ("bz2", bz2.decompress, bz2.compress),
                                       ("lzma", lzma.decompress, lzma.compress)):
        assert decompress(compress(packed)) == packed
        assert bits[name] <= 8 * len(compress(packed)) / 200 + 1e-9  # strongest settings: no larger
    # sparse random pixels: fewer bits than raw, more than their entropy (0.469 bits a pixel)
    for name in ("gzip", "bz2", "lzma", "PNG, 1 bit per pixel"):
        assert 0.469 * 784 < bits[name] < 784
    # the PNG holds the same pixels, 100 digits to a row
    png = io.BytesIO()
    tiles = images.astype(bool).reshape(2, 100, 28, 28).transpose(0, 2, 1, 3).reshape(56, 2800)
    Image.fromarray(tiles).save(png, format="PNG", optimize=True)
    back = np.asarray(Image.open(io.BytesIO(png.getvalue())))
    assert (back.reshape(2, 28, 100, 28).transpose(0, 2, 1, 3).reshape(200, 784) == images).all()
    assert bits["PNG, 1 bit per pixel"] == 8 * png.tell() / 200


def test_classical_code_lengths_reject_images_that_are_not_binary_or_not_a_grid():
    with pytest.raises(ValueError, match="binary"):
        analysis.classical_code_lengths(np.full((100, 784), 0.5))
    with pytest.raises(ValueError, match="multiple of 100"):
        analysis.classical_code_lengths(np.zeros((50, 784)))
