"""notebooks/segformer_rs_parcels.ipynb: stored without outputs, and runs headless end to end with small
parameters (injected after its ``parameters`` cell, as papermill does) on this interpreter's kernel."""
import json
import sys
from pathlib import Path

import pytest

from .conftest import REPO

NOTEBOOK = REPO / "notebooks" / "segformer_rs_parcels.ipynb"
KERNEL = "paddle-segformer-tests"
SMALL = {"ITERS": 4, "BATCH_SIZE": 2, "DEMO_TILES": 50, "DEMO_TEST_TILES": 3, "VARIANT": "b0", "FP16": True}


def test_stored_without_outputs_and_with_a_parameters_cell():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    dirty = [i for i, cell in enumerate(code) if cell["outputs"] or cell["execution_count"] is not None]
    assert not dirty, f"code cells {dirty} hold outputs: strip them before committing (see notebooks/README.md)"
    assert "parameters" in code[0]["metadata"].get("tags", [])
    source = "".join(code[0]["source"])
    for name in ("ITERS", "BATCH_SIZE", "DEMO_TILES", "VARIANT", "FP16"):
        assert f"\n{name} = " in "\n" + source, name


def kernel_for_this_python(root: Path) -> Path:
    """A Jupyter data folder holding one kernel spec that runs ``sys.executable`` (never whatever
    ``python3`` kernel is installed globally); put it first on JUPYTER_PATH."""
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "paddle-segformer tests", "language": "python"}), encoding="utf-8")
    return root


def with_parameters(nb, values: dict):
    """The notebook with a cell of ``values`` inserted after its ``parameters`` cell (papermill's way)."""
    import nbformat

    index = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in values.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    return nb


def outputs_of(nb, kind: str) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("name") == kind)


@pytest.mark.slow
def test_notebook_runs_headless(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_for_this_python(tmp_path / "jupyter")))
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    nb = with_parameters(nbformat.read(str(NOTEBOOK), as_version=4), dict(SMALL, WORK_DIR=str(tmp_path / "work")))
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600, startup_timeout=180,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any cell error
    work = tmp_path / "work"
    assert (work / "train" / "best_model" / "model.pdparams").is_file()
    import zipfile

    with zipfile.ZipFile(work / "submission.zip") as archive:
        assert sorted(archive.namelist()) == ["0.png", "1.png", "2.png"]
    stdout = outputs_of(nb, "stdout")
    assert "labels equal to predict()'s for" in stdout and "nothing to install" in stdout
    assert "fp16" in outputs_of(nb, "stderr")  # asked on a CPU: said so, trained in fp32
    assert "training runs in **fp32**" in json.dumps([cell.get("outputs", []) for cell in nb.cells])


@pytest.mark.slow
def test_notebook_competition_branch_up_to_the_split(tmp_path, monkeypatch):
    """The alternative data cells: zips found by glob under a nested top folder, unpacked, reported, split."""
    import zipfile

    import nbformat
    from nbclient import NotebookClient

    from paddle_segformer.data.synthetic import write_dataset

    write_dataset(str(tmp_path / "tiles"), n_train=50, n_test=2, size=64, seed=1)
    (tmp_path / "data123").mkdir()  # as AI Studio mounts a data set: data<ID>/
    for name, folders in (("train_and_label.zip", ("img_train", "lab_train")), ("img_test.zip", ("img_testA",))):
        with zipfile.ZipFile(tmp_path / "data123" / name, "w") as archive:
            for folder in folders:
                for path in sorted((tmp_path / "tiles" / folder).iterdir()):
                    archive.write(path, f"{name[:-4]}/{folder}/{path.name}")
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_for_this_python(tmp_path / "jupyter")))
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    split_cell = next(i for i, cell in enumerate(nb.cells) if "split_dataset(" in cell.source)
    nb.cells = nb.cells[:split_cell + 1]
    zips = [str(tmp_path / "data*" / "train_and_label.zip"), str(tmp_path / "data*" / "img_test.zip")]
    nb = with_parameters(nb, {"USE_COMPETITION_DATA": True, "ZIPS": zips, "WORK_DIR": str(tmp_path / "work")})
    NotebookClient(nb, kernel_name=KERNEL, timeout=300, startup_timeout=180,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    stdout = outputs_of(nb, "stdout")
    assert "img_train 50, lab_train 50, img_testA 2" in stdout and "class frequencies" in stdout
    assert (tmp_path / "work" / "rs_parcels" / "train.txt").read_text().count("\n") == 49
