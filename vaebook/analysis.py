"""Measurements of representations, as thin wrappers over scikit-learn (and openTSNE for t-SNE).

Inputs are tensors or arrays of N points with finite values, shape (N, D): codes (D = K) or
pixels, as the function allows; results are NumPy arrays or floats.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma

import numpy as np
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from vaebook.checks import check_positive_int, check_real, check_same_length


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _as_2d_array(x, name: str) -> np.ndarray:
    """x (a tensor, array or nested list) as a finite real (N, D) array with N, D >= 1."""
    array = _numpy(x)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must have shape (N, D) with N, D >= 1, got shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has {int((~np.isfinite(array)).sum())} non-finite values (nan or inf).")
    return array


def _as_labels(y, name: str) -> np.ndarray:
    labels = _numpy(y)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a vector of labels, got shape {labels.shape}.")
    return labels


def nearest_distance(queries, reference) -> np.ndarray:
    """Euclidean distance from each query (M, K) to its nearest reference point (N, K): (M,)."""
    queries, reference = _as_2d_array(queries, "queries"), _as_2d_array(reference, "reference")
    if queries.shape[1] != reference.shape[1]:
        raise ValueError(f"queries and reference must have the same width, got {queries.shape[1]} "
                         f"and {reference.shape[1]}.")
    distances, _ = NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(queries)
    return distances[:, 0]


def empty_draws(codes_train, codes_test, draws, level: float = 0.99) -> np.ndarray:
    """Which ``draws`` (M, K) lie farther from every training code (N, K) than the share ``level``
    of the held-out ``codes_test`` do: a boolean array (M,). A two-sample check of whether the
    draws follow the codes' distribution: if they do, each draw is just another held-out code
    and about 1 − level of them are empty; distances are measured against the codes' own spacing,
    so the check does not depend on the scale of the code space."""
    check_real(level, "level", 0.0, 1.0)
    gap_test = nearest_distance(codes_test, codes_train)
    return nearest_distance(draws, codes_train) > np.quantile(gap_test, level)


def standard_error(values) -> float:
    """The standard error of the mean of ``values`` (a vector of N >= 2 finite numbers), from
    their sample standard deviation: std / sqrt(N). For a paired comparison pass the per-item
    differences, so that what the items share cancels."""
    array = _numpy(values)
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(f"values must be a vector of at least 2 numbers, got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"values has {int((~np.isfinite(array)).sum())} non-finite entries (nan or "
                         "inf); drop or fix them first.")
    return float(array.std(ddof=1) / np.sqrt(len(array)))


def empty_share_limit(n_draws: int, n_test: int, level: float = 0.99, n_se: float = 5.0) -> float:
    """The pass/fail line for the share of ``empty_draws``: 1 − level plus ``n_se`` standard errors.
    If the draws follow the codes' distribution, each is empty with probability about 1 − level
    (a little more, by about 1 / n_test, from where the empirical quantile falls); the
    share's standard error combines the binomial noise of ``n_draws`` draws with that of the
    quantile estimated on ``n_test`` held-out codes. A larger share fails: the draws land where
    the codes are not."""
    check_positive_int(n_draws, "n_draws")
    check_positive_int(n_test, "n_test")
    check_real(level, "level", 0.0, 1.0)
    check_real(n_se, "n_se", 0.0, float("inf"))
    rate = 1.0 - level
    return rate + n_se * float(np.sqrt(rate * level * (1 / n_draws + 1 / n_test)))


def knn_predict(z_train, y_train, z_query, m: int = 5) -> np.ndarray:
    """Labels that an m-nearest-neighbour classifier fitted on (z_train, y_train) gives z_query.
    The points may be codes or pixels: z_train (N, D) and z_query (M, D), with the same D."""
    z_query = _as_2d_array(z_query, "z_query")
    return _knn(z_train, y_train, z_query.shape[1], m).predict(z_query)


def _knn(z_train, y_train, width: int, m: int) -> KNeighborsClassifier:
    """An m-nearest-neighbour classifier fitted on (z_train, y_train), for queries of ``width``."""
    z_train, y_train = _as_2d_array(z_train, "z_train"), _as_labels(y_train, "y_train")
    check_same_length((z_train, y_train), "z_train and y_train")
    check_positive_int(m, "m")
    if m > len(z_train):
        raise ValueError(f"m = {m} neighbours exceeds the {len(z_train)} training points; use a smaller m.")
    if width != z_train.shape[1]:
        raise ValueError(f"the queries (z_query, z_test) have {width} features but z_train has "
                         f"{z_train.shape[1]}.")
    return KNeighborsClassifier(n_neighbors=m).fit(z_train, y_train)


def knn_accuracy(z_train, y_train, z_test, y_test, m: int = 5) -> float:
    """Accuracy of an m-nearest-neighbour classifier fitted on (z_train, y_train), scored on the
    held-out (z_test, y_test) (``KNeighborsClassifier.score``): how well the points separate the
    classes. The points may be codes or pixels: z_train (N, D) and z_test (M, D), with the same D."""
    z_test, y_test = _as_2d_array(z_test, "z_test"), _as_labels(y_test, "y_test")
    check_same_length((z_test, y_test), "z_test and y_test")
    return float(_knn(z_train, y_train, z_test.shape[1], m).score(z_test, y_test))


def pca_reconstruction(x_train, x_test, latent_dim: int, seed: int = 0) -> np.ndarray:
    """Project x_test (M, D) onto the top-latent_dim principal subspace of x_train (N, D) and map back:
    the best linear latent_dim-dimensional autoencoder, for comparison. Returns (M, D)."""
    x_train, x_test = _as_2d_array(x_train, "x_train"), _as_2d_array(x_test, "x_test")
    _check_same_width(x_train, "x_train", x_test, "x_test")
    check_positive_int(latent_dim, "latent_dim")
    pca = PCA(n_components=latent_dim, random_state=seed).fit(x_train)
    return pca.inverse_transform(pca.transform(x_test))


def pca_codes(x_train, x, latent_dim: int, seed: int = 0) -> np.ndarray:
    """Coordinates of x (M, D) in the top-latent_dim principal subspace of x_train (N, D): (M, latent_dim)."""
    x_train, x = _as_2d_array(x_train, "x_train"), _as_2d_array(x, "x")
    _check_same_width(x_train, "x_train", x, "x")
    check_positive_int(latent_dim, "latent_dim")
    return PCA(n_components=latent_dim, random_state=seed).fit(x_train).transform(x)


def _check_same_width(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{b_name} must have as many columns as {a_name} ({a.shape[1]}), got "
                         f"{b.shape[1]}.")


def tsne(x, perplexity: float = 30.0, seed: int = 0, initialization: str = "pca", n_iter: int = 250,
         n_jobs: int = 2) -> np.ndarray:
    """2-D t-SNE embedding of x, (N, D) points (codes or pixels): (N, 2).

    openTSNE (Poličar et al., 2024) with the FFT-accelerated gradient (Linderman et al., 2019),
    which openTSNE would switch to only above 10,000 points: on 5,000 VAE codes it was both
    faster and more trustworthy than its Barnes-Hut default (``benchmarks/tsne_speed.py`` compares
    with scikit-learn). Otherwise openTSNE's defaults: approximate nearest neighbours (Annoy),
    ``initialization`` "pca" (or "random"), 250 steps of early exaggeration (12), then ``n_iter``
    steps (openTSNE's default is 500; 250 keep nearly all of its trustworthiness, faster), the
    learning rate N / 12 and then N. ``seed`` fixes the result for a given machine and ``n_jobs``
    (another thread count gives another embedding).
    """
    x = _as_2d_array(x, "x").astype(np.float64)
    check_real(perplexity, "perplexity")
    if len(x) - 1 < 3 * perplexity:
        raise ValueError(f"t-SNE with perplexity {perplexity} needs at least {int(3 * perplexity) + 1} "
                         f"points (each point's 3·perplexity nearest neighbours), got {len(x)}; "
                         f"embed more points or lower the perplexity.")
    check_positive_int(n_iter, "n_iter")
    if initialization not in ("pca", "random"):
        raise ValueError(f'initialization must be "pca" or "random", got {initialization!r}.')
    import openTSNE  # imported here: it takes seconds, and only chapter 6 embeds

    model = openTSNE.TSNE(perplexity=perplexity, initialization=initialization, n_iter=n_iter,
                          negative_gradient_method="fft", n_jobs=n_jobs, random_state=seed)
    return np.asarray(model.fit(x))


def trustworthiness(x_high, x_low, m: int = 10) -> float:
    """How well x_low (N, 2) keeps the neighbourhoods of x_high, (N, D) points (codes or pixels),
    in [0, 1]: 1 when no point's m nearest neighbours in x_low are strangers in x_high (Venna &
    Kaski, 2001; ``sklearn.manifold.trustworthiness``)."""
    x_high, x_low = _as_2d_array(x_high, "x_high"), _as_2d_array(x_low, "x_low")
    check_same_length((x_high, x_low), "x_high and x_low")
    check_positive_int(m, "m")
    if m >= len(x_high) / 2:
        raise ValueError(f"m (neighbours) must be below half the number of points ({len(x_high)}), got {m}.")
    from sklearn import manifold  # imported here: slow to import, and rarely needed

    return float(manifold.trustworthiness(x_high, x_low, n_neighbors=m))


def neighbour_overlap(a, b, m: int = 10) -> float:
    """Mean fraction of each point's m nearest neighbours in a (N, D) that are also among its m
    nearest neighbours in b (N, D'), for points that may be codes or pixels: 1 when two
    embeddings agree on every neighbourhood."""
    a, b = _as_2d_array(a, "a"), _as_2d_array(b, "b")
    check_same_length((a, b), "a and b")
    check_positive_int(m, "m")
    if m >= len(a):
        raise ValueError(f"m = {m} neighbours must be below the number of points, {len(a)}.")
    # m + 1 neighbours, because each point is its own nearest one
    near_a, near_b = (NearestNeighbors(n_neighbors=m + 1).fit(z).kneighbors(z)[1][:, 1:] for z in (a, b))
    return float(np.mean([len(np.intersect1d(i, j)) / m for i, j in zip(near_a, near_b, strict=True)]))


def active_units(mu, threshold: float = 0.01) -> int:
    """Number of latent coordinates j with Var_x μ_φ(x)_j > threshold (Burda et al., 2016), the
    variance over the N inputs: the coordinates whose posterior mean moves with the input.
    mu: the encoder means μ_φ(x) of N inputs, (N, K)."""
    mu = _as_2d_array(mu, "mu")
    check_real(threshold, "threshold", include_low=True)
    if len(mu) < 2:
        raise ValueError("active_units needs the posterior means of at least 2 inputs.")
    return int(np.sum(mu.var(axis=0, ddof=1) > threshold))


def interpolate(start, end, steps: int) -> np.ndarray:
    """``steps`` points evenly spaced on the segment from ``start`` to ``end`` (both (K,)), ends
    included: (steps, K)."""
    start, end = (_as_2d_array(_numpy(v).reshape(1, -1), name)[0]
                  for v, name in ((start, "start"), (end, "end")))
    if start.shape != end.shape:
        raise ValueError(f"start and end must be vectors of one length, got {start.shape} and {end.shape}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer of at least 2 (the two ends), got {steps!r}.")
    return np.linspace(start.astype(np.float64), end.astype(np.float64), steps)


def classical_code_lengths(images) -> dict[str, float]:
    """Bits per image that general-purpose lossless coders need for binary images (N, 784), all
    sent as one file (their best case: they adapt to the whole file): packed eight pixels to a byte
    and compressed by the standard library's gzip, bz2 and lzma at their strongest settings, and as
    one 1-bit PNG (Pillow) of a grid of the 28 × 28 digits, 100 to a row (N a multiple of 100).
    Returns {coder: bits per image} with "uncompressed" (784) last."""
    binary = _as_2d_array(images, "images")
    if binary.shape[1] != 784 or len(binary) % 100:
        raise ValueError(f"images must be N 28 x 28 images as (N, 784) with N a multiple of 100 (the "
                         f"PNG's rows), got shape {binary.shape}.")
    if not np.isin(binary, (0, 1)).all():
        raise ValueError("images must be binary (every pixel 0 or 1); binarize them first, e.g. with "
                         "vaebook.data.binarize_static.")
    binary = binary.astype(bool)
    packed = np.packbits(binary, axis=1).tobytes()
    sizes = {"gzip": len(gzip.compress(packed, compresslevel=9)),
             "bz2": len(bz2.compress(packed, compresslevel=9)),
             "lzma": len(lzma.compress(packed, preset=9 | lzma.PRESET_EXTREME))}
    png = io.BytesIO()
    tiles = binary.reshape(-1, 100, 28, 28).transpose(0, 2, 1, 3)  # rows of 100 digits
    Image.fromarray(tiles.reshape(-1, 2800)).save(png, format="PNG", optimize=True)
    sizes["PNG, 1 bit per pixel"] = png.tell()
    bits = {name: 8 * size / len(binary) for name, size in sizes.items()}
    return bits | {"uncompressed": 784.0}
