import numpy as np
import pytest

from codings import plots


@pytest.fixture
def figures(monkeypatch):
    """The Figure objects the plotting functions would save, kept open for inspection."""
    kept = []

    def keep(fig, path):
        kept.append(fig)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def test_filters_share_one_symmetric_colour_scale_with_a_colour_bar(figures):
    W = np.zeros((4, 9))
    W[0, 0], W[1, 4], W[3, 8] = 0.5, -2.0, 1.0  # the largest magnitude is unit 1's 2.0
    plots.feature_images(W, (3, 3), "f.png")
    fig = figures[0]
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(image_axes) == 1  # one mosaic, hence one scale for all units
    im = image_axes[0].get_images()[0]
    assert im.get_clim() == (-2.0, 2.0)
    bars = [ax for ax in fig.axes if ax not in image_axes]
    assert len(bars) == 1 and bars[0].get_ylabel() == "weight"
    tiles = np.ma.filled(im.get_array(), np.nan)
    assert tiles.shape == (2 * 5, 2 * 5)  # 2 x 2 units of 3 x 3, each framed by one pixel
    assert tiles[1, 1] == 0.5 and tiles[2, 7] == -2.0 and tiles[8, 8] == 1.0
    assert np.isnan(tiles[0]).all()  # the frames are not weights


def test_the_pca_scatter_has_a_legend_of_classes(figures):
    Z = np.random.default_rng(0).normal(size=(30, 2))
    y = np.repeat([0, 1, 2], 10)
    plots.projections([("PCA", Z), ("autoencoder", Z)], y, "p.png")
    for ax in figures[0].axes:
        legend = ax.get_legend()
        assert legend is not None and legend.get_title().get_text() == "class"
        assert [t.get_text() for t in legend.get_texts()] == ["0", "1", "2"]


def test_stages_are_drawn_as_separate_lines_with_their_names(figures):
    records = [
        {"epoch": e, "stage": s, "train_loss": 1.0 / e, "val_loss": 1.2 / e}
        for e, s in zip(range(1, 7), ["phase 1"] * 3 + ["phase 2"] * 3, strict=True)
    ]
    plots.training_curves(records, "c.png")
    ax = figures[0].axes[0]
    data = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert sorted(tuple(line.get_xdata()) for line in data) == [(1, 2, 3)] * 2 + [(4, 5, 6)] * 2
    separators = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in separators] == [3.5]  # between the phases only
    assert sorted(t.get_text().strip() for t in ax.texts) == ["phase 1", "phase 2"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]


def test_a_single_run_has_no_stage_marks(figures):
    plots.training_curves([{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2, 3)], "c.png")
    ax = figures[0].axes[0]
    assert len(ax.get_lines()) == 1 and not ax.texts


def test_table_reconstructions_name_the_columns(figures):
    X = np.random.default_rng(0).random((3, 4))
    names = ["sepal length", "sepal width", "petal length", "petal width"]
    plots.feature_columns(X, X, "t.png", n=2, names=names)
    ax = figures[0].axes[0]
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == names
    assert all(t.get_rotation() == 90 for t in labels)  # upright: long names do not overlap


def test_many_columns_are_labelled_sparsely(figures):
    X = np.zeros((2, 30))
    plots.feature_columns(X, X, "t.png", n=1, max_ticks=12)
    labels = [t.get_text() for t in figures[0].axes[0].get_xticklabels()]
    assert labels == [str(j) for j in range(0, 30, 3)]  # every 3rd: at most 12 labels
    plots.feature_columns(np.zeros((8, 30)), np.zeros((8, 30)), "t.png")
    fig = figures[-1]
    assert fig.get_size_inches()[0] <= 16  # 8 wide panels wrap onto two rows
    assert len([ax for ax in fig.axes if ax.get_title()]) == 8
    assert len({ax.get_position().y0 for ax in fig.axes}) == 2
    with pytest.raises(ValueError, match="3 names for 30 features"):
        plots.feature_columns(X, X, "t.png", names=["a", "b", "c"])


def test_the_decoded_plane_is_drawn_over_the_extent_given(figures):
    Z = np.random.default_rng(0).normal(size=(50, 2))
    grid = np.zeros((9, 4))
    plots.latent_scatter(Z, np.zeros(50), "l.png", grid=grid, image_shape=(2, 2), extent=3.5)
    (plane,) = [ax for ax in figures[0].axes if ax.get_images()]
    assert list(plane.get_images()[0].get_extent()) == [-3.5, 3.5, -3.5, 3.5]


def test_image_grids_are_one_mosaic_with_the_images_in_order(figures):
    X = np.arange(5 * 4).reshape(5, 4) / 20
    plots.image_grid(X, (2, 2), "g.png", ncols=3)
    mosaic = figures[0].axes[0].get_images()[0].get_array()
    assert mosaic.shape == (2 * 4, 3 * 4)
    np.testing.assert_array_equal(mosaic[1:3, 5:7], X[1].reshape(2, 2))
    np.testing.assert_array_equal(mosaic[5:7, 1:3], X[3].reshape(2, 2))


def test_figures_are_written(tmp_path):
    path = plots.feature_images(np.eye(4), (2, 2), tmp_path / "f.png")
    assert path.stat().st_size > 1000


def test_training_curves_of_an_empty_history_say_so(figures):
    # epochs=0 trains nothing: the figure still appears, with no axes to draw.
    plots.training_curves([], "c.png")
    (ax,) = figures[0].axes
    assert [t.get_text() for t in ax.texts] == ["no epochs trained"]


def test_drawing_leaves_a_backend_already_in_use_alone(tmp_path):
    # In a notebook pyplot runs the inline backend; switching it to Agg would make every later
    # figure of the user's silently not show.
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt\n"
        "import numpy as np; from codings.plots import image_grid\n"
        f"image_grid(np.random.rand(4, 64), (8, 8), {str(tmp_path / 'g.png')!r})\n"
        "print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
    assert (tmp_path / "g.png").stat().st_size > 0
