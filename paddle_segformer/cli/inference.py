"""What predict.py and val.py share: the model with its weights, the runtime, the predictor."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Tuple

from ..inference.options import InferenceOptions
from ..integration.config import build
from .runtime import logger

if TYPE_CHECKING:
    import paddle

    from ..inference.choice import RuntimeChoice
    from ..inference.tiled import Tiling
    from ..weights.load_report import LoadReport


def load_model_weights(model: "paddle.nn.Layer", model_path: str) -> "LoadReport":
    """Strictly load a trained checkpoint (file or iter_N folder) for evaluation / prediction / export; one
    that does not fit the config's model is refused, naming what it holds and the configs it fits."""
    from ..integration.config_facts import naming_the_fitting_config
    from ..weights.checkpoint import read_state_dict
    from ..weights.loading import load_state_dict_strict
    from ..weights.reader import CheckpointError, checkpoint_file

    path = checkpoint_file(model_path)  # an iter_N folder: the file read from it, named in the report
    try:
        return load_state_dict_strict(model, read_state_dict(path), source=path, allow_new_classes=False)
    except CheckpointError as exc:
        raise naming_the_fitting_config(exc) from None


def build_predictor(builder: Any, config: str, model_path: str, test: InferenceOptions, device: str,
                    choice: Optional["RuntimeChoice"] = None, tiling: Optional["Tiling"] = None) -> Tuple[Any, Any]:
    """(model, Predictor): the config's model with ``model_path`` loaded strictly, its eval transforms,
    the test-time options ``test`` (test_config + flags), the runtime ``choice`` made (default:
    :func:`~paddle_segformer.inference.choice.choose_runtime` for ``test`` on ``device``), and the memory
    budget of its options (inputs over it are tiled with ``tiling`` or automatic tiles)."""
    from ..inference.backends import start_runtime
    from ..inference.choice import choose_runtime
    from ..inference.predictor import Predictor

    choice = choice or choose_runtime(test=test, device=device)
    model = build(builder, "model", config)
    load_model_weights(model, model_path)
    dataset_cls = build(builder, "val_dataset_class", config)
    channels = getattr(dataset_cls, "IMG_CHANNELS", None) or builder.config.val_dataset_cfg.get("img_channels", 3)
    predictor = Predictor(model, build(builder, "val_transforms", config), img_channels=channels, options=test)
    calibration = calibration_images(builder, config, predictor, choice)
    predictor.attach(start_runtime(model, choice, model_path, calibration))
    facts = dict(builder.config.val_dataset_cfg, **builder.config.train_dataset_cfg)
    ignore = facts.get("ignore_index", getattr(dataset_cls, "IGNORE_INDEX", 255))  # config, else the class's
    predictor.nodata_label = int(ignore)
    predictor.class_colours = getattr(dataset_cls, "PALETTE", None)
    memory = choice.options.memory_budget()
    predictor.set_memory_budget(memory, tiling)
    logger.info("memory budget of one forward pass: %s", memory)
    return model, predictor


def calibration_images(builder: Any, config: str, predictor: Any, choice: "RuntimeChoice") -> Optional[Any]:
    """int8's calibration images (None for other precisions or the dynamic graph): ``choice.options.calib``
    files drawn evenly from the config's training list, each made into the model input by the predictor's
    own reading and preprocessing (``Predictor.load``), with the validation images of accuracy control."""
    if choice.dynamic or choice.options.precision != "int8":
        return None
    from pathlib import Path

    from ..inference.int8 import Calibration

    files = [str(item[0]) for item in build(builder, "train_dataset", config).file_list]
    validation = validation_images(builder, config, predictor, choice.options.int8_val)
    calibration = Calibration.draw(files, choice.options.calib, lambda path: predictor.load(Path(path)).chw,
                                   validation)
    logger.info("int8 calibration: %d of the %d training images", len(calibration.files), len(files))
    return calibration


def validation_images(builder: Any, config: str, predictor: Any, count: int) -> Optional[Any]:
    """The validation images NNCF's accuracy control scores (at most ``count``, drawn evenly from the config's
    validation list, read and scored as val.py does), or None (with a warning when the config names a
    validation list that cannot be read here: int8 is then made without accuracy control)."""
    from ..inference.evaluate import score_items
    from ..inference.int8_accuracy import Validation

    if not builder.config.val_dataset_cfg:
        return None
    try:
        dataset = build(builder, "val_dataset", config)
    except (OSError, ValueError) as exc:  # a deploy machine without the validation data
        logger.warning("int8: the config's validation list cannot be read (%s): no accuracy control", exc)
        return None
    if len(dataset) == 0:
        return None
    pairs = [(str(item[0]), str(item[1])) for item in dataset.file_list]
    validation = Validation.draw(pairs, count, dataset.__getitem__,
                                 lambda forward, items: score_items(predictor, forward, items, dataset.num_classes,
                                                                    dataset.ignore_index))
    logger.info("int8 accuracy control: %d of the %d validation images", len(validation), len(pairs))
    return validation


def dataset_class_names(builder: Any, config: str) -> List[str]:
    """The config's dataset's class names (its ``CLASS_NAMES``), else ``class_0``, ``class_1``, ..."""
    from ..report.evaluation import class_names_of

    dataset_cls = build(builder, "val_dataset_class", config)
    facts = dict(builder.config.val_dataset_cfg, **builder.config.train_dataset_cfg)
    count = facts.get("num_classes") or getattr(dataset_cls, "NUM_CLASSES", None) or 0
    return class_names_of(dataset_cls, int(count))
