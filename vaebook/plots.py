"""Figures the chapters share. Each function returns a matplotlib Figure and draws nothing else.

Figures are made without pyplot, so nothing is shown twice or kept alive behind the reader's back:
a notebook shows a figure that ends a cell (or one passed to ``display``), a script saves it with
``fig.savefig``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from torch import Tensor

from vaebook.checks import check_batch, check_finite, check_positive_int, check_same_length, check_tensor

IMAGE_SIDE = 28


class LossCurves(Protocol):
    """What ``plot_losses`` reads, e.g. a ``training.History``: mean losses per epoch."""

    train: Sequence[float]
    test: Sequence[float]


def _as_images(x: Tensor, name: str) -> Tensor:
    """(N, 784) or (N, 28, 28) -> (N, 1, 28, 28) on the CPU, detached."""
    x = check_tensor(x, name).detach().cpu()
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{name} holds no images.")
    check_finite(x, name)
    if x.ndim == 2 and x.shape[1] == IMAGE_SIDE**2:
        return x.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
    if x.ndim == 3 and tuple(x.shape[1:]) == (IMAGE_SIDE, IMAGE_SIDE):
        return x.unsqueeze(1)
    raise ValueError(f"{name} must hold 28x28 images as (N, 784) or (N, 28, 28), "
                     f"got shape {tuple(x.shape)}.")


GRID_PADDING = 2  # pixels between image_grid's 28 x 28 tiles, and around them


COLUMN_WIDTH = 6.7  # inches: the book's text column at a 1280-px window is 676 px, 6.76 inches at
# 100 dpi; a wider figure is shrunk to fit, and its labels with it


def image_grid(x: Tensor, nrow: int = 10, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Draw images x: (N, 784) or (N, 28, 28), values in [0, 1], ``nrow`` per row, in grey."""
    check_positive_int(nrow, "nrow")
    from torchvision.utils import make_grid  # imported here: torchvision is slow to import

    grid = make_grid(_as_images(x, "x"), nrow=nrow, padding=GRID_PADDING, pad_value=0.0)[0]
    if ax is None:
        rows = math.ceil(len(x) / nrow)
        ax = Figure(figsize=(nrow * 0.6, rows * 0.6 + (0.4 if title else 0))).subplots()
    ax.imshow(grid.clamp(0, 1).numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def frame_tiles(ax: Axes, indices: Sequence[int], nrow: int = 10, color: str = "red") -> Figure:
    """Outline the tiles ``indices`` of a picture that ``image_grid(x, nrow)`` drew on ``ax``:
    to point at some images among many (the ones that failed a test, say)."""
    check_positive_int(nrow, "nrow")
    step = IMAGE_SIDE + GRID_PADDING  # from one tile's corner to the next
    for index in indices:
        if isinstance(index, bool) or int(index) != index or index < 0:
            raise ValueError(f"indices must be tile numbers 0, 1, 2, ..., got {index!r}.")
        row, column = divmod(int(index), nrow)
        # imshow puts pixel (i, j) on the square [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]
        corner = (GRID_PADDING + step * column - 1.0, GRID_PADDING + step * row - 1.0)
        ax.add_patch(Rectangle(corner, IMAGE_SIDE + 1, IMAGE_SIDE + 1, fill=False,
                               edgecolor=color, linewidth=1.5))
    return ax.figure


def plot_rows(rows: Sequence[Tensor], labels: Sequence[str]) -> Figure:
    """One row of images per tensor, e.g. inputs above reconstructions; ``labels`` name the rows."""
    if len(rows) != len(labels) or not rows:
        raise ValueError(f"give one label per row of images, got {len(rows)} rows and "
                         f"{len(labels)} labels.")
    n = check_same_length(tuple(rows), "every row of images")
    if n == 0:
        raise ValueError("each row needs at least one image, got rows of none.")
    fig = Figure(figsize=(n * 0.6, len(rows) * 0.85))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, row, label in zip(axes[:, 0], rows, labels, strict=True):
        image_grid(row, nrow=n, ax=ax)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def plot_losses(histories: dict[str, LossCurves], ylabel: str = "loss") -> Figure:
    """Loss per epoch for one or more training runs (train solid, test dashed)."""
    if not isinstance(histories, dict) or not histories:
        raise ValueError("histories must be a non-empty dict of name -> History.")
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    for i, (name, history) in enumerate(histories.items()):
        epochs = range(1, len(history.train) + 1)
        ax.plot(epochs, history.train, color=f"C{i}",
                label=f"{name} (train, mean over the epoch)")
        if history.test:
            ax.plot(epochs, history.test, color=f"C{i}", ls="--", label=f"{name} (test)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def _labels(labels: object, n: int, names: str = "z and labels") -> Tensor:
    """``labels`` as a CPU tensor of n integers, or a clear error."""
    labels = torch.as_tensor(labels).cpu()
    if labels.ndim != 1 or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be a vector of integer labels, got dtype {labels.dtype} and "
                         f"shape {tuple(labels.shape)}.")
    check_same_length((torch.empty(n), labels), names)
    return labels


def _scatter_by_label(ax: Axes, z: Tensor, labels: Tensor, size: float, alpha: float) -> None:
    """One scatter series per integer label, coloured from tab10, for a legend to name."""
    for digit in torch.unique(labels).tolist():
        points = z[labels == digit]
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=alpha, color=colormaps["tab10"](digit % 10),
                   label=str(digit), rasterized=True)


def plot_latent_scatter(z: Tensor, labels: Tensor, title: str | None = None,
                        ax: Axes | None = None, axis_labels: tuple[str, str] = ("$z_1$", "$z_2$")) -> Figure:
    """Scatter of 2-D codes z: (N, 2), coloured by integer labels: (N,), with a legend.
    ``axis_labels`` name the two coordinates (the encoder's means are ``("$\\mu_1$", "$\\mu_2$")``)."""
    if len(axis_labels) != 2:
        raise ValueError(f"axis_labels must name the two axes, got {axis_labels!r}.")
    z = check_finite(check_batch(check_tensor(z, "z").detach().cpu(), "z", 2), "z")
    labels = _labels(labels, len(z))
    if ax is None:
        ax = Figure(figsize=(5, 4.5)).subplots()
    _scatter_by_label(ax, z, labels.cpu(), size=2, alpha=0.5)
    ax.legend(markerscale=5, fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def shared_legend(fig: Figure, title: str = "digit") -> Figure:
    """Replace the label legends of a figure's panels (drawn by ``plot_latent_scatter``) by one
    legend in a row below them, large enough to read when the figure is shrunk to the page."""
    panels = [ax for ax in fig.axes if ax.get_legend() is not None]
    if not panels:
        raise ValueError("the figure has no panel with a legend to share.")
    handles, names = panels[0].get_legend_handles_labels()
    for ax in panels:
        ax.get_legend().remove()
    height = fig.get_figheight()
    fig.legend(handles, names, loc="lower center", ncol=len(names), markerscale=5, fontsize=9,
               title=title, title_fontsize=9, handletextpad=0.1, columnspacing=0.8)
    fig.tight_layout(rect=(0, 0.75 / height, 1, 1))  # 0.75 inch for the legend
    return fig


def plot_embeddings(embeddings: dict[str, Tensor], labels: Tensor, ncols: int = 3) -> Figure:
    """One square scatter per 2-D embedding (name -> (N, 2)), coloured by integer labels (N,),
    ``ncols`` to a row, no wider than the book's text column, with one legend: in the first
    spare panel if there is one, else below the panels. Axes carry no ticks because t-SNE
    coordinates mean nothing by themselves."""
    if not embeddings:
        raise ValueError("embeddings is empty; pass at least one name -> (N, 2) embedding.")
    check_positive_int(ncols, "ncols")
    nrows = math.ceil(len(embeddings) / ncols)
    side = min(3.2, COLUMN_WIDTH / ncols)
    spare = nrows * ncols > len(embeddings)
    below = 0.0 if spare else 0.4  # inches for a legend under the panels
    fig = Figure(figsize=(side * ncols, side * nrows + below))
    axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    labels = torch.as_tensor(labels).cpu()
    for ax, (name, z) in zip(axes, embeddings.items(), strict=False):  # spare panels stay empty
        z = check_finite(check_batch(torch.as_tensor(z, dtype=torch.float32).cpu(), name, 2), name)
        _labels(labels, len(z), f"{name} and labels")
        _scatter_by_label(ax, z, labels, size=1, alpha=0.6)
        ax.set(xticks=[], yticks=[])
        ax.set_title(name, fontsize=9)
    for ax in axes[len(embeddings):]:
        ax.set_axis_off()  # the unused panels of the last row
    handles, names = axes[0].get_legend_handles_labels()
    if spare:
        axes[len(embeddings)].legend(handles, names, loc="center", ncol=2, markerscale=8, fontsize=9)
        fig.tight_layout()
    else:
        fig.legend(handles, names, loc="lower center", ncol=len(names), markerscale=8, fontsize=9,
                   handletextpad=0.1, columnspacing=0.8)
        fig.tight_layout(rect=(0, below / (side * nrows + below), 1, 1))
    return fig


def _check_extent(extent: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    largest = torch.finfo(torch.float32).max
    if len(extent) != 4 or not all(isinstance(v, (int, float)) and abs(v) <= largest for v in extent):
        raise ValueError(f"extent must be four finite numbers (z1_min, z1_max, z2_min, z2_max), "
                         f"got {extent}.")
    z1_min, z1_max, z2_min, z2_max = extent
    if not (z1_min < z1_max and z2_min < z2_max):
        raise ValueError(f"extent must be (z1_min, z1_max, z2_min, z2_max) with min < max, got {extent}.")
    return extent


def latent_grid(extent: tuple[float, float, float, float], n: int = 15) -> Tensor:
    """An n x n grid of 2-D points over ``extent`` = (z1_min, z1_max, z2_min, z2_max), (n², 2),
    row by row from the top (largest z2) so that it prints like the scatter plot."""
    check_positive_int(n, "n")
    z1_min, z1_max, z2_min, z2_max = _check_extent(extent)
    z1 = torch.linspace(z1_min, z1_max, n)
    z2 = torch.linspace(z2_max, z2_min, n)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)


def latent_grid_pixels(z: Tensor, extent: tuple[float, float, float, float], n: int = 15
                       ) -> tuple[Tensor, Tensor]:
    """Where codes z (M, 2) fall in the picture that ``image_grid(decode(latent_grid(extent, n)),
    nrow=n)`` draws: pixel coordinates (x, y), for drawing over it (the outline of a region of
    codes, say). Each tile's centre is the pixel position of its grid point."""
    z1_min, z1_max, z2_min, z2_max = _check_extent(extent)
    if check_positive_int(n, "n") < 2:
        raise ValueError(f"n must be at least 2 to map codes onto a grid of tiles, got {n}.")
    if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z must be a tensor of 2-D codes, shape (M, 2), got "
                         f"{tuple(getattr(z, 'shape', ()))}.")
    if not torch.isfinite(z).all():
        raise ValueError("z has non-finite values (nan or inf).")
    step = 28 + GRID_PADDING  # from one tile's centre to the next
    first = GRID_PADDING + 13.5  # the centre of the first tile
    column = (z[:, 0] - z1_min) / (z1_max - z1_min) * (n - 1)
    row = (z2_max - z[:, 1]) / (z2_max - z2_min) * (n - 1)  # top row: largest z2
    return first + step * column, first + step * row


@torch.no_grad()
def plot_decoder_grid(decode: Callable[[Tensor], Tensor], extent: tuple[float, float, float, float],
                      n: int = 15, title: str | None = None) -> Figure:
    """Decode an n x n grid of points over a 2-D latent square and tile the images like the plane.

    ``decode`` maps codes (M, 2) to images (M, 784) in [0, 1].
    """
    images = decode(latent_grid(extent, n))
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    image_grid(images, nrow=n, ax=ax)
    ax.set_title(title or f"decoder over $z_1 \\in [{extent[0]:.1f}, {extent[1]:.1f}]$, "
                          f"$z_2 \\in [{extent[2]:.1f}, {extent[3]:.1f}]$")
    return fig


def plot_gaussian_contours(gaussians: dict[str, tuple[Tensor, Tensor]], title: str | None = None,
                           labels: tuple[str, str] = ("$z_1$", "$z_2$")) -> Figure:
    """Draw the 1- and 2-standard-deviation ellipses (solid and dotted) of 2-D Gaussians given as
    name -> (mean (2,), covariance (2, 2)), one colour each: e.g. an approximate posterior against
    the exact one. The first is drawn wide and pale, so that a close fit drawn over it stays
    visible. ``labels`` name the two axes."""
    if len(labels) != 2:
        raise ValueError(f"labels must name the two axes, got {labels!r}.")
    fig = Figure(figsize=(6.3, 4.2))  # room for the legend beside the ellipses, not on them
    ax = fig.subplots()
    angle = torch.linspace(0, 2 * math.pi, 200, dtype=torch.float64)
    circle = torch.stack([angle.cos(), angle.sin()])
    for i, (name, (mean, cov)) in enumerate(gaussians.items()):
        if tuple(mean.shape) != (2,) or tuple(cov.shape) != (2, 2):
            raise ValueError(f"{name}: mean must be (2,) and covariance (2, 2), got "
                             f"{tuple(mean.shape)} and {tuple(cov.shape)}.")
        root = torch.linalg.cholesky(cov.detach().double())
        for radius, style in ((1, "-"), (2, ":")):
            ellipse = mean.detach().double()[:, None] + radius * root @ circle
            ax.plot(ellipse[0], ellipse[1], style, color=f"C{i}", lw=3.5 if i == 0 else 1.5,
                    alpha=0.5 if i == 0 else 1.0, label=name if radius == 1 else None)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_aspect("equal", adjustable="datalim")
    handles, names = ax.get_legend_handles_labels()
    for style, name in (("-", "1 standard deviation"), (":", "2 standard deviations")):
        handles.append(Line2D([], [], color="grey", ls=style))  # a key, not drawn on the axes
        names.append(name)
    ax.legend(handles, names, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
