"""Measurements of representations, as thin wrappers over scikit-learn.

Inputs are tensors or arrays of shape (N, K); results are NumPy arrays or floats.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from vaebook.checks import check_positive_int


def _as_2d_array(x, name: str) -> np.ndarray:
    array = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, K), got shape {array.shape}.")
    return array


def _check_lengths(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{names} must have the same length, got {len(a)} and {len(b)}.")


def nearest_distance(queries, reference) -> np.ndarray:
    """Euclidean distance from each query (M, K) to its nearest reference point (N, K): (M,)."""
    queries, reference = _as_2d_array(queries, "queries"), _as_2d_array(reference, "reference")
    if queries.shape[1] != reference.shape[1]:
        raise ValueError(f"queries and reference must have the same width, got {queries.shape[1]} "
                         f"and {reference.shape[1]}.")
    distances, _ = NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(queries)
    return distances[:, 0]


def knn_predict(z_train, y_train, z_query, k: int = 5) -> np.ndarray:
    """Labels that a k-nearest-neighbour classifier fitted on (z_train, y_train) gives z_query."""
    z_train, z_query = _as_2d_array(z_train, "z_train"), _as_2d_array(z_query, "z_query")
    y_train = np.asarray(y_train)
    _check_lengths(z_train, y_train, "z_train and y_train")
    check_positive_int(k, "k")
    if k > len(z_train):
        raise ValueError(f"k = {k} exceeds the {len(z_train)} training points; use a smaller k.")
    return KNeighborsClassifier(n_neighbors=k).fit(z_train, y_train).predict(z_query)


def knn_accuracy(z_train, y_train, z_test, y_test, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier fitted on (z_train, y_train), scored on the
    held-out (z_test, y_test): how well the codes separate the classes."""
    y_test = np.asarray(y_test)
    _check_lengths(_as_2d_array(z_test, "z_test"), y_test, "z_test and y_test")
    return float(np.mean(knn_predict(z_train, y_train, z_test, k) == y_test))


def pca_reconstruction(x_train, x_test, k: int, seed: int = 0) -> np.ndarray:
    """Project x_test (M, D) onto the top-k principal subspace of x_train (N, D) and map back:
    the best linear k-dimensional autoencoder, for comparison. Returns (M, D)."""
    x_train, x_test = _as_2d_array(x_train, "x_train"), _as_2d_array(x_test, "x_test")
    check_positive_int(k, "k")
    pca = PCA(n_components=k, random_state=seed).fit(x_train)
    return pca.inverse_transform(pca.transform(x_test))


def active_units(mu, threshold: float = 0.01) -> int:
    """Number of latent dimensions u with Cov_x(E_q[z_u | x]) > threshold (Burda et al., 2016):
    the dimensions whose posterior mean moves with the input. mu: encoder means (N, K)."""
    mu = _as_2d_array(mu, "mu")
    if len(mu) < 2:
        raise ValueError("active_units needs the posterior means of at least 2 inputs.")
    return int(np.sum(mu.var(axis=0, ddof=1) > threshold))


def interpolate(start, end, steps: int) -> np.ndarray:
    """``steps`` points evenly spaced on the segment from ``start`` to ``end`` (both (K,)), ends
    included: (steps, K)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"start and end must be vectors of one shape, got {start.shape} and {end.shape}.")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends), got {steps}.")
    weights = np.linspace(0, 1, steps)[:, None]
    return (1 - weights) * start + weights * end
