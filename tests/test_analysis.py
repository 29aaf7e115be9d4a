from __future__ import annotations

import numpy as np
import pytest
import torch

from vaebook.analysis import (
    active_units,
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
    assert knn_accuracy(z[::2], y[::2], z[1::2], y[1::2], k=3) == 1.0
    with pytest.raises(ValueError, match="same length"):
        knn_accuracy(z, y[:10], z, y)
    with pytest.raises(ValueError, match="exceeds"):
        knn_accuracy(z[:2], y[:2], z, y, k=5)
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        knn_accuracy(z[:, 0], y, z, y)


def test_pca_reconstruction_matches_a_truncated_svd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10))
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    expected = (x[:20] - mean) @ vt[:3].T @ vt[:3] + mean
    np.testing.assert_allclose(pca_reconstruction(x, x[:20], k=3), expected, atol=1e-8)


def test_knn_predict_agrees_with_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(60, 2)), rng.integers(0, 3, 60)
    expected = KNeighborsClassifier(n_neighbors=3).fit(z[:40], y[:40]).predict(z[40:])
    np.testing.assert_array_equal(knn_predict(z[:40], y[:40], z[40:], k=3), expected)


def test_active_units_counts_dimensions_whose_mean_moves():
    rng = np.random.default_rng(0)
    mu = np.column_stack([rng.normal(size=500), 0.001 * rng.normal(size=500), np.zeros(500)])
    assert active_units(mu) == 1
    assert active_units(torch.tensor(mu), threshold=1e-8) == 2
    with pytest.raises(ValueError, match="at least 2"):
        active_units(mu[:1])


def test_interpolate_includes_both_ends():
    path = interpolate([0.0, 0.0], [1.0, 2.0], 5)
    np.testing.assert_allclose(path[[0, 2, 4]], [[0, 0], [0.5, 1], [1, 2]])
    with pytest.raises(ValueError, match="at least 2"):
        interpolate([0.0], [1.0], 1)
    with pytest.raises(ValueError, match="one shape"):
        interpolate([0.0], [1.0, 2.0], 3)
