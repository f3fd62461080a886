"""figures: the notebook's pictures are made from real outputs (VisualDL logs, label PNGs)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from paddle_segformer.report.figures import (class_table, confusion_figure, markdown_table,  # noqa: E402
                                             prediction_grid, read_scalars, tile_grid, training_curves)


def test_markdown_table_and_class_table():
    rows = class_table({"class_iou": np.array([0.5, 0.25]), "class_precision": np.array([1.0, 0.5]),
                        "class_recall": np.array([0.5, 0.4]), "class_dice": np.array([0.6, 0.4])}, ["a", "b"])
    assert rows[1] == {"class": "b", "iou": 0.25, "precision": 0.5, "recall": 0.4, "dice": 0.4}
    assert markdown_table(rows).splitlines()[2] == "| a | 0.5000 | 1.0000 | 0.5000 | 0.6000 |"


def test_curves_from_visualdl_logs(tmp_path):
    from visualdl import LogWriter

    with LogWriter(str(tmp_path)) as writer:
        for step in (10, 20, 30):
            writer.add_scalar("Train/loss", 1.0 / step, step)
        writer.add_scalar("Evaluate/mIoU", 0.4, 30)
    data = read_scalars(str(tmp_path))
    assert data["Train/loss"][:, 0].tolist() == [10, 20, 30] and data["Evaluate/mIoU"].shape == (1, 2)
    fig = training_curves(str(tmp_path))
    assert fig.axes[0].lines[0].get_ydata().tolist() == data["Train/loss"][:, 1].tolist()


def test_pictures_of_tiles_predictions_and_confusion(tmp_path):
    (tmp_path / "label").mkdir()
    pairs = []
    for i in range(2):
        Image.fromarray(np.full((32, 40, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.jpg")
        Image.fromarray(np.full((32, 40), i, np.uint8)).save(tmp_path / "label" / f"{i}.png")
        pairs.append((str(tmp_path / f"{i}.jpg"), str(tmp_path / "label" / f"{i}.png")))
    assert len(tile_grid(pairs, 4, ["a", "b", "c", "d"], [(9, 8, 7)] * 4).axes) == 4
    grid = prediction_grid([p[0] for p in pairs], str(tmp_path), [(9, 8, 7)] * 4)
    assert len(grid.axes) == 6 and grid.axes[4].images[0].get_array().shape == (32, 40, 3)
    assert grid.axes[4].images[0].get_array()[0, 0].tolist() == [9, 8, 7]  # label 1 in the given colour
    fig = confusion_figure(np.array([[3, 1], [0, 4]]), ["a", "b"])
    assert fig.axes[0].images[0].get_array()[0, 1] == 0.25


def test_generic_palette_is_paddleseg_colour_map():
    """Without a dataset palette, classes get PaddleSeg's default colours (class 0 not black, so it differs
    from the ignore index's black)."""
    from paddleseg.utils.visualize import get_color_map_list

    from paddle_segformer.report.palettes import palette

    table = palette(ignore_index=255)
    assert table[:255].tolist() == np.reshape(get_color_map_list(256), (256, 3))[:255].tolist()
    assert table[0].tolist() != [0, 0, 0] and table[255].tolist() == [0, 0, 0]
    assert palette([(1, 2, 3)], ignore_index=9)[[0, 9]].tolist() == [[1, 2, 3], [0, 0, 0]]
