"""Dataset folders and list files checked before a model is built, with the command that makes them."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable

from ..integration.config import ConfigError

MODE_LIST_KEY = {"train": "train_path", "val": "val_path", "test": "test_path"}


def _split_command(root: str, parcel_layout: bool = False) -> str:
    """The data_split.py command for ``root``: the parcel task's folder names if present (or asked for)."""
    images, labels = os.path.join(root, "img_train"), os.path.join(root, "lab_train")
    if not parcel_layout and not (os.path.isdir(images) and os.path.isdir(labels)):
        images, labels = os.path.join(root, "<images>"), os.path.join(root, "<labels>")
    return f"python data_split.py 0.98 0.02 0 {images} {labels} --seed 0"


def check_dataset_paths(cfg_dic: Dict[str, Any], config: str, blocks: Iterable[str]) -> None:
    """Raise :class:`ConfigError` if a dataset block's ``dataset_root`` or list file does not exist.

    The message names the config key, the working directory a relative path is taken from, and the
    command that makes the missing part (``data_split.py``; ``scripts/make_demo_data.py`` for tiles).
    """
    for name in blocks:
        block = cfg_dic.get(name)
        if not isinstance(block, dict) or "dataset_root" not in block:
            continue
        root = str(block["dataset_root"])
        where = f"{name}.dataset_root in {config}" + ("" if os.path.isabs(root) else f", relative to {os.getcwd()}")
        if not os.path.isdir(root) and block.get("type") == "CityscapesDataset":
            raise ConfigError(
                f"dataset folder not found: {root} ({where}). Unpack Cityscapes' leftImg8bit_trainvaltest.zip and "
                f"gtFine_trainvaltest.zip there (official layout: {root}/leftImg8bit/<split>/<city>/"
                f"*_leftImg8bit.png, {root}/gtFine/<split>/<city>/*_gtFine_labelIds.png); or point the config "
                f"elsewhere with --opts {name}.dataset_root=DIR")
        if not os.path.isdir(root):
            raise ConfigError(
                f"dataset folder not found: {root} ({where}). Put the images and labels there (the competition's "
                f"img_train/ and lab_train/; synthetic tiles: python scripts/make_demo_data.py --out {root}), then "
                f"write the lists with: {_split_command(root, parcel_layout=True)}; or point the config elsewhere "
                f"with --opts {name}.dataset_root=DIR")
        key = MODE_LIST_KEY.get(str(block.get("mode", "train")).lower())
        listed = block.get(key) if key else None
        if listed and not (os.path.isfile(listed) or os.path.isfile(os.path.join(root, str(listed)))):
            raise ConfigError(f"list file not found: {listed} ({name}.{key} in {config}; looked in {os.getcwd()} "
                              f"and {root}). Write it with: {_split_command(root)}")


def skip_data_check(cfg_dic: Dict[str, Any], blocks: Iterable[str]) -> None:
    """``--skip_data_check``: set ``check: False`` in the dataset blocks whose class takes it (ours;
    PaddleSeg's own dataset classes check nothing up front and are left as they are)."""
    import inspect

    from paddleseg.cvlibs import manager

    for name in blocks:
        block = cfg_dic.get(name)
        if not isinstance(block, dict) or block.get("type") not in manager.DATASETS.components_dict:
            continue
        if "check" in inspect.signature(manager.DATASETS[block["type"]]).parameters:
            block["check"] = False
