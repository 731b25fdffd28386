"""Checkpoint lookup: --weights, $ESPNET_EDGE_WEIGHTS (recursive), models/ cache, checked download."""

import os
import shutil

import pytest

from conftest import WEIGHTS
from espnet_edge import weights, zoo
from espnet_edge.errors import UserError
from espnet_edge.utils.digest import sha256_of


def with_url(entry, url):
    return entry._replace(url=url)


@pytest.fixture
def entry():
    return zoo.get_model("espnet-c-q3")


def test_explicit_file_wins(tmp_path, entry, monkeypatch):
    monkeypatch.setenv(weights.WEIGHTS_ENV, WEIGHTS)
    other = tmp_path / "mine.pth"
    other.write_bytes(b"x")
    assert weights.find_weights(entry, explicit=str(other)) == str(other)


def test_missing_explicit_file_is_a_user_error(entry):
    with pytest.raises(UserError, match="does not exist"):
        weights.find_weights(entry, explicit="/nonexistent/file.pth")


def test_env_folder_is_searched_recursively(tmp_path, entry, monkeypatch):
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(os.path.join(WEIGHTS, entry.weights_file), str(nested / entry.weights_basename))
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(tmp_path))
    found = weights.find_weights(entry, cache_dir=str(tmp_path / "cache"))
    assert found == str(nested / entry.weights_basename)


def test_shared_weights_match_the_zoo_sha256(monkeypatch):
    monkeypatch.setenv(weights.WEIGHTS_ENV, WEIGHTS)
    for name in zoo.list_models():
        entry = zoo.get_model(name)
        if entry.architecture_only:
            assert weights.find_weights(entry, download=False) is None, name
            continue
        path = weights.find_weights(entry, download=False)
        assert path is not None, name
        assert sha256_of(path) == entry.sha256, name


def test_cache_then_checked_download(tmp_path, entry, monkeypatch):
    """A download (file:// stands in for GitHub: no network here) lands in the cache, sha-checked."""
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    source = os.path.join(WEIGHTS, entry.weights_file)
    local = with_url(entry, "file://" + source)
    cache = tmp_path / "cache"
    assert weights.find_weights(local, download=False, cache_dir=str(cache)) is None
    path = weights.find_weights(local, cache_dir=str(cache))
    assert path == str(cache / entry.weights_file)
    assert sha256_of(path) == entry.sha256
    assert weights.find_weights(local, download=False, cache_dir=str(cache)) == path


def test_download_with_wrong_sha_leaves_nothing(tmp_path, entry, monkeypatch):
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    wrong = zoo.get_model("espnet-c-q5")
    local = with_url(entry, "file://" + os.path.join(WEIGHTS, wrong.weights_file))
    cache = tmp_path / "cache"
    with pytest.raises(UserError) as info:
        weights.find_weights(local, cache_dir=str(cache))
    message = str(info.value)
    assert "sha256" in message and entry.weights_basename in message and "\n" not in message
    leftovers = [f for _d, _s, files in os.walk(str(cache)) for f in files]
    assert leftovers == []


def test_unreachable_url_names_url_and_destination(tmp_path, entry, monkeypatch):
    monkeypatch.delenv(weights.WEIGHTS_ENV, raising=False)
    local = with_url(entry, "file:///nonexistent/espnet.pth")
    with pytest.raises(UserError) as info:
        weights.find_weights(local, cache_dir=str(tmp_path / "cache"))
    assert "file:///nonexistent/espnet.pth" in str(info.value)
    assert str(tmp_path / "cache") in str(info.value)
