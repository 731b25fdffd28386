"""Where files go: outputs in the current directory, downloads and on-demand exports in the user's
cache (XDG), never in the package or its checkout."""

import os

from conftest import ROOT, WEIGHTS
from espnet_edge import paths, weights, zoo
from espnet_edge.utils.digest import sha256_of


def test_cache_follows_xdg_and_the_override(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == str(tmp_path / "xdg" / "espnet-edge")
    assert paths.weights_cache_dir() == str(tmp_path / "xdg" / "espnet-edge" / "models")
    assert paths.export_cache_dir() == str(tmp_path / "xdg" / "espnet-edge" / "export")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.cache_dir() == str(tmp_path / "home" / ".cache" / "espnet-edge")
    monkeypatch.setenv(paths.CACHE_ENV, "relative/cache")
    monkeypatch.chdir(tmp_path)
    assert paths.cache_dir() == str(tmp_path / "relative" / "cache")


def test_outputs_go_to_the_current_directory(monkeypatch, tmp_path):
    from espnet_edge.profiler import profile

    monkeypatch.chdir(tmp_path)
    assert paths.export_dir() == str(tmp_path / "export")
    assert profile.default_out_dir() == str(tmp_path / "profiles")
    for folder in (paths.export_dir(), paths.profiles_dir(), paths.cache_dir()):
        assert not folder.startswith(ROOT + os.sep)


def test_a_download_lands_in_the_user_cache_with_a_note(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(paths.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    entry = zoo.get_model("espnet-c-q3")
    entry = entry._replace(url="file://" + os.path.join(WEIGHTS, entry.weights_file))  # no network here
    path = weights.find_weights(entry)
    assert path == str(tmp_path / "xdg" / "espnet-edge" / "models" / entry.weights_file)
    assert sha256_of(path) == entry.sha256
    err = capsys.readouterr().err
    assert "note: downloading the espnet-c-q3 checkpoint from " + entry.url + " to " + path in err
    assert weights.find_weights(entry) == path and capsys.readouterr().err == ""
