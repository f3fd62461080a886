"""ImageNet MiT weights named by URL (issue #21): downloaded once from a real HTTP server on 127.0.0.1 serving a
tar.gz packed the way PaddleSeg packs its backbones, cached, checked by sha256 on every later use; only training
reads them; a dead URL fails in seconds with one ``error:`` line."""
import json
import logging
import shutil
import socket
import tarfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import paddle
import pytest

from paddle_segformer.models.backbone import mit
from paddle_segformer.weights.pretrained_cache import cache_path, recorded_sha256, sha256_file
from paddle_segformer.weights.rules import CheckpointError

from .conftest import write_config

ARCHIVE = "mix_vision_transformer_b0.tar.gz"
URL_PATH = f"/paddleseg/dygraph/backbone/{ARCHIVE}"  # PaddleSeg's layout, served from 127.0.0.1


@pytest.fixture(scope="module")
def paddleseg_b0(tmp_path_factory):
    """(folder holding paddleseg/dygraph/backbone/mix_vision_transformer_b0.tar.gz, its state as numpy): PaddleSeg's
    own MixVisionTransformer_B0 with a fixed seed, saved as mix_vision_transformer_b0/model.pdparams in a tar.gz."""
    from paddleseg.models.backbones import mix_transformer

    paddle.seed(21)
    state = mix_transformer.MixVisionTransformer_B0().state_dict()
    root = tmp_path_factory.mktemp("served")
    inner = root / "pack" / "mix_vision_transformer_b0"
    inner.mkdir(parents=True)
    paddle.save(state, str(inner / "model.pdparams"))
    served = root / URL_PATH.lstrip("/")
    served.parent.mkdir(parents=True)
    with tarfile.open(served, "w:gz") as archive:
        archive.add(inner / "model.pdparams", arcname="mix_vision_transformer_b0/model.pdparams")
    return root, {k: v.numpy() for k, v in state.items()}


class Server:
    """A real HTTP server on 127.0.0.1 in a thread, counting the requests it answers."""

    def __init__(self, root: Path):
        self.requests = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{URL_PATH}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(paddleseg_b0):
    serving = Server(paddleseg_b0[0])
    yield serving
    serving.stop()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_SEGFORMER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{URL_PATH}"


def assert_same_weights(backbone, expected):
    got = {k: v.numpy() for k, v in backbone.state_dict().items()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(got[key], value), key


def test_downloaded_weights_land_in_the_model_exactly(server, paddleseg_b0, cache):
    backbone = mit("b0", pretrained=server.url)
    assert_same_weights(backbone, paddleseg_b0[1])
    cached = cache_path(server.url)
    assert cached == cache / "weights" / f"127.0.0.1_{server.url.split(':')[2].split('/')[0]}" / URL_PATH[1:]
    assert recorded_sha256(cached) == sha256_file(cached) == backbone.pretrained_report.origin.sha256
    assert server.requests == [URL_PATH]
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_second_use_reads_the_cache_without_the_network(server, paddleseg_b0):
    mit("b0", pretrained=server.url)
    server.stop()  # the second run works with the server gone, and made no request
    again = mit("b0", pretrained=server.url)
    assert_same_weights(again, paddleseg_b0[1])
    assert server.requests == [URL_PATH] and again.pretrained_report.origin.recorded


def test_changed_cached_file_is_refused(server):
    mit("b0", pretrained=server.url)
    cached = cache_path(server.url)
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"has changed since it was first used: sha256 .* refusing to load "
                                              r"it\. Delete both files to download it again"):
        mit("b0", pretrained=server.url)
    assert server.requests == [URL_PATH]


def test_file_placed_by_hand_is_used_and_recorded_once_it_loads(paddleseg_b0, server):
    url = closed_port_url()  # nothing answers there: the cache must serve it
    cached = cache_path(url)
    cached.parent.mkdir(parents=True)
    shutil.copyfile(paddleseg_b0[0] / URL_PATH.lstrip("/"), cached)
    assert recorded_sha256(cached) is None
    assert_same_weights(mit("b0", pretrained=url), paddleseg_b0[1])
    assert recorded_sha256(cached) == sha256_file(cached)


def test_wrong_file_in_the_cache_is_not_recorded_and_says_how_to_replace_it(paddleseg_b0):
    url = closed_port_url()
    cached = cache_path(url)
    cached.parent.mkdir(parents=True)
    shutil.copyfile(paddleseg_b0[0] / URL_PATH.lstrip("/"), cached)
    with pytest.raises(CheckpointError, match=r"(?s)MiT-B0.*the model is MiT-B1.*never loaded before: delete it"):
        mit("b1", pretrained=url)
    assert recorded_sha256(cached) is None  # the right file put there later is not refused as changed


def test_local_archive_path_makes_no_request(server, paddleseg_b0, tmp_path):
    local = tmp_path / ARCHIVE
    shutil.copyfile(paddleseg_b0[0] / URL_PATH.lstrip("/"), local)
    assert_same_weights(mit("b0", pretrained=str(local)), paddleseg_b0[1])
    with pytest.raises(CheckpointError, match="checkpoint not found: .*absent.tar.gz"):
        mit("b0", pretrained=str(tmp_path / "absent.tar.gz"))
    assert server.requests == []


def test_band_adaptation_applies_to_downloaded_weights(server, paddleseg_b0):
    backbone = mit("b0", in_channels=4, pretrained=server.url)
    rgb = paddleseg_b0[1]["patch_embed1.proj.weight"]
    got = backbone.patch_embed1.proj.weight.numpy()
    np.testing.assert_allclose(got[:, :3], rgb * 3 / 4, rtol=1e-6)
    np.testing.assert_allclose(got[:, 3], rgb.mean(axis=1) * 3 / 4, rtol=1e-5, atol=1e-8)
    assert backbone.pretrained_report.adapted == ["patch_embed1.proj.weight 3->4 bands (rgb_mean)"]


def _train_cli(argv, capsys):
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.cli.train import main

    start = time.perf_counter()
    status = run_cli(main, argv)
    return status, time.perf_counter() - start, capsys.readouterr().err


def test_dead_url_fails_in_seconds_with_one_error_line(tiny_data, tmp_path, capsys, registered):
    url = closed_port_url()
    config = write_config(tmp_path / "c.yml", tiny_data, {"model": {"backbone": {"pretrained": url}}})
    status, seconds, err = _train_cli(["--config", str(config), "--save_dir", str(tmp_path / "o")], capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2 and seconds < 10 and len(errors) == 1 and "Traceback" not in err, err
    assert errors[0].startswith(f"error: cannot download {url}: ")
    assert str(cache_path(url)) in errors[0] and "--pretrained none" in errors[0]
    assert not (tmp_path / "o" / "iter_1").exists()  # never a silent start from random weights


def test_silent_server_times_out(tmp_path, monkeypatch):
    from paddle_segformer.weights import download
    from paddle_segformer.weights.download import DownloadError

    monkeypatch.setattr(download, "TIMEOUT", 0.5)
    with socket.socket() as sock:  # accepts connections (the kernel does), never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}{URL_PATH}"
        start = time.perf_counter()
        with pytest.raises(DownloadError, match=r"no answer within 0\.5 s\. Without network, put the file at "):
            mit("b0", pretrained=url)
    assert time.perf_counter() - start < 5 and not cache_path(url).exists()


def test_http_error_is_named(server):
    with pytest.raises(OSError, match=r"cannot download .*/nothing_here\.tar\.gz: HTTP 404"):
        mit("b0", pretrained=server.url.replace(ARCHIVE, "nothing_here.tar.gz"))


def test_training_logs_and_records_where_the_encoder_came_from(server, tiny_data, tmp_path, caplog, registered):
    from paddle_segformer.cli.train import train

    config = write_config(tmp_path / "c.yml", tiny_data, {"model": {"backbone": {"pretrained": server.url}}})
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        train(str(config), save_dir=str(tmp_path / "o"), iters=1, save_interval=1)
    sha256 = sha256_file(cache_path(server.url))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("encoder weights:")]
    assert lines == [f"encoder weights: backbone checkpoint {server.url} (cached at {cache_path(server.url)}), "
                     f"sha256 {sha256[:12]}"]
    record = json.loads((tmp_path / "o" / "pretrained.json").read_text(encoding="utf-8"))
    assert record["source"] == server.url and record["sha256"] == sha256 and record["line"] == lines[0]
    assert record["encoder"] == "backbone checkpoint" and record["adapted"] == []


@pytest.mark.parametrize("how", ["flag", "opts"])
def test_pretrained_none_trains_from_scratch(how, server, tiny_data, tmp_path, caplog, registered):
    from paddle_segformer.cli.train import train

    config = write_config(tmp_path / "c.yml", tiny_data, {"model": {"backbone": {"pretrained": server.url}}})
    way = {"pretrained": "none"} if how == "flag" else {"opts": ["model.backbone.pretrained=none"]}
    with caplog.at_level(logging.INFO, logger="paddle_segformer"):
        model = train(str(config), save_dir=str(tmp_path / "o"), iters=1, save_interval=1, **way)
    assert model.backbone.pretrained_report is None and server.requests == []
    assert "encoder weights: none, randomly initialised (training from scratch)" in caplog.text
    assert json.loads((tmp_path / "o" / "pretrained.json").read_text(encoding="utf-8"))["encoder"] == "scratch"


def test_whole_model_pretrained_replaces_the_config_encoder_unread(server, tiny_data, random_checkpoint, tmp_path,
                                                                    registered):
    from paddle_segformer.cli.train import train

    config = write_config(tmp_path / "c.yml", tiny_data, {"model": {"backbone": {"pretrained": server.url}}})
    model = train(str(config), save_dir=str(tmp_path / "o"), iters=1, save_interval=1,
                  pretrained=str(random_checkpoint))
    assert server.requests == [] and model.backbone.pretrained_report is None  # never fetched, then overwritten
    record = json.loads((tmp_path / "o" / "pretrained.json").read_text(encoding="utf-8"))
    assert record["encoder"] == "model checkpoint" and record["sha256"] == sha256_file(random_checkpoint)


def test_predict_val_export_never_read_the_config_weights(server, tiny_data, random_checkpoint, tmp_path,
                                                          registered):
    """The notebook API and the CLIs given a trained model: the config's pretrained URL is never fetched."""
    from paddle_segformer.cli.export import export_model
    from paddle_segformer.cli.predict import predict
    from paddle_segformer.cli.val import evaluate
    from paddle_segformer.inference.options import RuntimeOptions

    from .conftest import CONFIGS

    config = write_config(tmp_path / "c.yml", tiny_data, {"model": {"backbone": {"pretrained": server.url}}})
    export_model(str(CONFIGS / "segformerb0.yml"), str(random_checkpoint), str(tmp_path / "export_default"))
    export_model(str(config), str(random_checkpoint), str(tmp_path / "export"))
    dynamic = RuntimeOptions(backend="paddle")  # no runtime export: the question is what the model build reads
    assert not predict(str(config), str(random_checkpoint), str(tiny_data / "img_testA"), str(tmp_path / "p"),
                       runtime=dynamic).failed
    assert 0 <= evaluate(str(config), str(random_checkpoint), runtime=dynamic)["miou"] <= 1
    assert server.requests == [] and not cache_path(server.url).exists()


def test_fetch_weights_imports_files_copied_over(paddleseg_b0, tmp_path, capsys):
    """``scripts/fetch_weights.py --from DIR b0``: the b0 config's URL filled from a copied file, no network."""
    from paddle_segformer.cli.fetch_weights import main
    from paddle_segformer.cli.runtime import run_cli
    from paddle_segformer.integration.config_facts import pretrained_url
    from paddle_segformer.io.paths import format_size

    url = pretrained_url("b0")
    copied = tmp_path / "usb"
    copied.mkdir()
    shutil.copyfile(paddleseg_b0[0] / URL_PATH.lstrip("/"), copied / ARCHIVE)
    assert run_cli(main, ["--from", str(copied), "b0"]) == 0
    out = capsys.readouterr().out
    sha256 = sha256_file(copied / ARCHIVE)
    assert recorded_sha256(cache_path(url)) == sha256
    assert f"b0  {cache_path(url)}  {format_size((copied / ARCHIVE).stat().st_size)}  sha256 {sha256}" in out
    assert_same_weights(mit("b0", pretrained=url), paddleseg_b0[1])  # training now finds it offline
    assert run_cli(main, []) == 0 and sha256 in capsys.readouterr().out  # the listing


def test_fetch_weights_downloads_and_refuses_a_wrong_file(server, paddleseg_b0, tmp_path, capsys):
    from paddle_segformer.cli.fetch_weights import fetch
    from paddle_segformer.cli.runtime import run_cli

    found = fetch("b0", server.url)
    assert found.recorded is False and recorded_sha256(found.path) == found.sha256  # checked, then recorded
    assert fetch("b0", server.url).recorded and server.requests == [URL_PATH]  # the second time: the cache
    copied = tmp_path / "usb"
    copied.mkdir()
    shutil.copyfile(paddleseg_b0[0] / URL_PATH.lstrip("/"), copied / "mix_vision_transformer_b1.tar.gz")
    from paddle_segformer.cli.fetch_weights import main

    assert run_cli(main, ["--from", str(copied), "b1"]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "the model is MiT-B1" in err and "Traceback" not in err
