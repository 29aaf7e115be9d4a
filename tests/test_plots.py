from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from vaebook import plots
from vaebook.plots import (
    image_grid,
    latent_grid,
    plot_decoder_grid,
    plot_gaussian_contours,
    plot_latent_scatter,
    plot_losses,
    plot_rows,
)
from vaebook.training import History


def test_image_grid_accepts_flat_and_square_images():
    for x in (torch.rand(12, 784), torch.rand(12, 28, 28)):
        fig = image_grid(x, nrow=6, title="digits")
        assert isinstance(fig, Figure)
        image = fig.axes[0].images[0].get_array()
        assert image.shape == (2 * 30 + 2, 6 * 30 + 2)  # 28 px plus 2 px padding per tile


def test_image_grid_refuses_other_shapes():
    with pytest.raises(ValueError, match=r"\(N, 784\) or \(N, 28, 28\)"):
        image_grid(torch.rand(4, 100))


def test_plot_rows_labels_each_row_and_checks_lengths():
    fig = plot_rows([torch.rand(5, 784), torch.rand(5, 784)], ["input", "reconstruction"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["input", "reconstruction"]
    with pytest.raises(ValueError, match="one label per row"):
        plot_rows([torch.rand(5, 784)], ["a", "b"])
    with pytest.raises(ValueError, match="same number of rows"):
        plot_rows([torch.rand(5, 784), torch.rand(4, 784)], ["a", "b"])


def test_plot_losses_draws_train_and_test_curves():
    fig = plot_losses({"a": History([3.0, 2.0], [3.5, 2.5]), "b": History([4.0, 1.0])})
    assert len(fig.axes[0].lines) == 3


def test_plot_latent_scatter_one_series_per_label():
    z, labels = torch.randn(100, 2), torch.arange(100) % 4
    fig = plot_latent_scatter(z, labels)
    assert len(fig.axes[0].collections) == 4
    with pytest.raises(ValueError, match=r"2 features per row"):
        plot_latent_scatter(torch.randn(10, 3), torch.zeros(10))
    with pytest.raises(ValueError, match="same number of rows"):
        plot_latent_scatter(z, labels[:50])


def test_latent_grid_runs_row_by_row_from_the_top():
    grid = latent_grid((-1.0, 1.0, -2.0, 2.0), n=3)
    assert grid.shape == (9, 2)
    assert grid[0].tolist() == [-1.0, 2.0] and grid[2].tolist() == [1.0, 2.0]
    assert grid[-1].tolist() == [1.0, -2.0]
    with pytest.raises(ValueError, match="min < max"):
        latent_grid((1.0, -1.0, 0.0, 1.0))


def test_plot_decoder_grid_decodes_every_point():
    seen = []

    def decode(z):
        seen.append(z.shape)
        return torch.rand(len(z), 784)

    fig = plot_decoder_grid(decode, (-1, 1, -1, 1), n=4)
    assert seen == [(16, 2)] and isinstance(fig, Figure)


def test_plot_gaussian_contours_draws_two_ellipses_per_gaussian():
    fig = plot_gaussian_contours({"p": (torch.zeros(2), torch.eye(2)),
                                  "q": (torch.ones(2), torch.tensor([[2.0, 0.5], [0.5, 1.0]]))})
    lines = fig.axes[0].lines
    assert len(lines) == 4
    radii = (torch.as_tensor(lines[0].get_xdata()) ** 2 + torch.as_tensor(lines[0].get_ydata()) ** 2).sqrt()
    torch.testing.assert_close(radii, torch.ones_like(radii, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"covariance \(2, 2\)"):
        plot_gaussian_contours({"bad": (torch.zeros(3), torch.eye(3))})


def test_plot_gaussian_contours_names_the_axes_and_both_line_styles():
    ax = plot_gaussian_contours({"p": (torch.zeros(2), torch.eye(2))}).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$z_1$", "$z_2$")
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["p", "1 standard deviation", "2 standard deviations"]
    assert len(ax.lines) == 2  # the style keys are not drawn on the axes
    ax = plot_gaussian_contours({"p": (torch.zeros(2), torch.eye(2))}, labels=("$a$", "$b$")).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$a$", "$b$")
    with pytest.raises(ValueError, match="two axes"):
        plot_gaussian_contours({"p": (torch.zeros(2), torch.eye(2))}, labels=("$a$",))


def test_plot_embeddings_one_panel_per_embedding_and_one_legend():
    labels = torch.tensor([0, 1, 1, 2])
    fig = plots.plot_embeddings({"a": torch.randn(4, 2), "b": torch.randn(4, 2).numpy()}, labels, ncols=3)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["a", "b"]
    assert len(titled[0].collections) == 3 and not fig.axes[2].axison
    assert fig.axes[2].get_legend() is not None  # the legend sits in the spare panel
    assert fig.get_figwidth() <= plots.COLUMN_WIDTH
    full = plots.plot_embeddings({"a": torch.randn(4, 2), "b": torch.randn(4, 2)}, labels, ncols=2)
    assert len(full.legends) == 1  # no spare panel: one legend below
    with pytest.raises(ValueError, match="a and labels"):
        plots.plot_embeddings({"a": torch.randn(5, 2)}, labels)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_embeddings({}, labels)


def test_latent_grid_pixels_land_on_the_tiles_that_image_grid_draws():
    latent_grid_pixels = plots.latent_grid_pixels
    extent, n = (-2.5, 2.5, -1.0, 3.0), 4
    grid = latent_grid(extent, n)
    for k in (0, 5, 15):  # one tile inked at a time: its centre pixel is inked, the rest not
        images = torch.zeros(n * n, 784)
        images[k] = 1.0
        picture = image_grid(images, nrow=n).axes[0].images[0].get_array()
        x, y = latent_grid_pixels(grid, extent, n)
        inked = [picture[round(float(y[i] - 0.5)), round(float(x[i] - 0.5))] for i in range(n * n)]
        assert inked == [1.0 if i == k else 0.0 for i in range(n * n)]
    # halfway between two grid points is halfway between their tiles' centres
    x, y = latent_grid_pixels(grid[:2].mean(0, keepdim=True), extent, n)
    x_pair, _ = latent_grid_pixels(grid[:2], extent, n)
    assert float(x[0]) == pytest.approx(float(x_pair.mean()))
    with pytest.raises(ValueError, match="shape"):
        latent_grid_pixels(torch.zeros(3), extent, n)
    with pytest.raises(ValueError, match="at least 2"):
        latent_grid_pixels(grid, extent, 1)



def test_frame_tiles_outlines_exactly_the_tiles_that_image_grid_draws():
    for k, nrow in ((0, 4), (6, 4), (13, 5)):  # one tile inked: its frame hugs its pixels
        images = torch.zeros(15, 784)
        images[k] = 1.0
        ax = image_grid(images, nrow=nrow).axes[0]
        rows, columns = np.nonzero(ax.images[0].get_array() == 1.0)
        plots.frame_tiles(ax, [k], nrow=nrow)
        frame = ax.patches[-1]
        # pixel (i, j) covers [j - 0.5, j + 0.5]: the frame runs half a pixel outside the tile
        assert frame.get_x() == columns.min() - 1.0 and frame.get_y() == rows.min() - 1.0
        assert frame.get_width() == columns.max() - columns.min() + 2.0
        assert frame.get_height() == rows.max() - rows.min() + 2.0
    with pytest.raises(ValueError, match="tile numbers"):
        plots.frame_tiles(ax, [-1])

def test_shared_legend_replaces_the_panels_legends_by_one():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    for ax in (left, right):
        plots.plot_latent_scatter(torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]), ax=ax)
    plots.shared_legend(fig)
    assert left.get_legend() is None and right.get_legend() is None
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="no panel"):
        plots.shared_legend(fig)
