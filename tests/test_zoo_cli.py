"""The zoo registry and the `models` / `doctor` commands."""

import json

import pytest

from espnet_edge import zoo
from espnet_edge.errors import UserError

EXPECTED = (
    ["espnet-c-q3", "espnet-c-q5", "espnet-c-q8", "espnet-q3", "espnet-q5", "espnet-q8", "espnet-q8-camvid"]
    + ["espnetv2-s{}-city-{}".format(s, n) for s in ("0.5", "1.0", "1.5", "2.0") for n in (512, 1024)]
    + ["espnetv2-s{}-pascal-{}".format(s, n) for s in ("0.5", "1.0", "1.5", "2.0") for n in (256, 384)]
)


# comparison networks without bundled weights (tests/test_comparison_models.py)
ARCHITECTURE_ONLY = ["enet-city", "erfnet-city", "deeplabv3plus-mobilenetv2-city", "deeplabv3plus-resnet101-city"]


def test_zoo_has_exactly_the_published_names():
    assert sorted(zoo.list_models()) == sorted(EXPECTED + ARCHITECTURE_ONLY)
    assert sorted(n for n in zoo.list_models() if zoo.get_model(n).architecture_only) == sorted(ARCHITECTURE_ONLY)


def test_aliases():
    assert zoo.get_model("espnet").name == "espnet-q8"
    assert zoo.get_model("espnetv2").name == "espnetv2-s2.0-city-1024"


@pytest.mark.parametrize("name", EXPECTED)
def test_entry_is_complete(name):
    entry = zoo.get_model(name)
    assert len(entry.palette) == entry.num_classes == entry.arch["num_classes"]
    assert entry.weights_basename in entry.url and entry.url.startswith("https://github.com/sacmehta/")
    assert len(entry.sha256) == 64
    width, height = entry.input_size
    if entry.family == "espnetv2":
        assert name.endswith(str(width))
        assert entry.preprocess.channel_order == "RGB"
    else:
        assert entry.preprocess.channel_order == "BGR" and entry.preprocess.divide == 255.0


# the preprocessing JSON exports have always carried in their ONNX metadata (espnet_edge.preprocess)
ESPNET_SPEC_JSON = ('{"channel_order": "BGR", "resize_first": false, "resize": "cv2_bilinear", "scale": 1.0, '
                    '"mean": [72.3923111, 82.90893555, 73.15840149], '
                    '"std": [45.3192215, 46.15289307, 44.91483307], "divide": 255.0}')


def test_entries_are_typed_records_with_every_fact_given():
    for name in zoo.list_models():
        entry = zoo.get_model(name)
        assert isinstance(entry, tuple) and isinstance(entry.preprocess, zoo.PreprocessSpec)
        assert entry.params > 0 and entry.gflops > 0, name
        with pytest.raises(AttributeError):
            entry.gflops = 1.0


def test_preprocess_spec_keeps_the_metadata_format_and_reads_back_as_the_record():
    from espnet_edge.runtime.model_info import ModelInfo

    info = ModelInfo.from_zoo(zoo.get_model("espnet-q8"))
    metadata = info.to_metadata()
    assert metadata["espnet_edge.preprocess"] == ESPNET_SPEC_JSON
    again = ModelInfo.from_metadata(metadata)
    assert isinstance(again.preprocess, zoo.PreprocessSpec)
    assert again.preprocess == zoo.ESPNET_CITYSCAPES_PREPROCESS
    for name in zoo.list_models():
        spec = zoo.get_model(name).preprocess
        assert zoo.PreprocessSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_preprocess_spec_from_older_or_foreign_metadata():
    legacy = {"channel_order": "RGB", "resize": "pil_bilinear", "mean": [0, 0, 0], "std": [1, 1, 1]}
    spec = zoo.PreprocessSpec.from_dict(legacy)
    assert (spec.resize_first, spec.scale, spec.divide) == (True, 1.0, 1.0)
    with pytest.raises(UserError, match="missing mean"):
        zoo.PreprocessSpec.from_dict(dict((k, v) for k, v in legacy.items() if k != "mean"), "x.onnx")
    with pytest.raises(UserError, match="^x.onnx .*unknown gamma"):
        zoo.PreprocessSpec.from_dict(dict(legacy, gamma=2.2), "x.onnx")
    for bad in ("BGR", dict(legacy, mean=[1, 2]), dict(legacy, divide="x")):
        with pytest.raises(UserError, match="^x.onnx has a preprocessing spec"):
            zoo.PreprocessSpec.from_dict(bad, "x.onnx")


def test_network_sizes():
    assert zoo.get_model("espnetv2-s1.0-city-512").input_size == (512, 256)
    assert zoo.get_model("espnetv2-s1.0-city-1024").input_size == (1024, 512)
    assert zoo.get_model("espnetv2-s0.5-pascal-384").input_size == (384, 384)


def test_unknown_name_suggests_close_names():
    with pytest.raises(UserError, match="espnetv2-s2.0-city-1024"):
        zoo.get_model("espnetv2-s2.0-city1024")


def test_models_command_lists_every_entry(main):
    result = main("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(EXPECTED + ARCHITECTURE_ONLY)
    assert all(rows[n]["weights"] for n in EXPECTED)  # ESPNET_EDGE_WEIGHTS points at ../shared
    assert not any(rows[n]["weights"] for n in ARCHITECTURE_ONLY)
    assert rows["espnet-q8"]["classes"] == 20 and rows["espnet-q8"]["size"] == "1024x512"


def test_models_table(main):
    result = main("models")
    assert result.returncode == 0
    assert "espnet-q8-camvid" in result.stdout and "aliases: espnet = espnet-q8" in result.stdout


def test_unknown_model_is_one_line_error(main):
    result = main("segment", "--model", "espnet-q7", "--out", "/tmp/x", "/nonexistent.png")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "espnet-q8" in lines[0] and "Traceback" not in result.stderr


def test_doctor_reports_missing_pieces(main):
    result = main("doctor", "--json")
    assert result.returncode == 0, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["numpy"]["ok"]
    assert not checks["tensorrt"]["ok"] and "engine" in checks["tensorrt"]["disables"]


# the authors' figures as the issue lists them from their sources (checked by hand against the files at
# the commits the records name; docs/models.md says where each is)
PUBLISHED = {
    "espnet-q8": {("cityscapes", "test", "miou"): "60.336", ("cityscapes", "test", "category_miou"): "82.178",
                  ("cityscapes", "val", "miou"): "61.4"},
    "espnet-c-q8": {("cityscapes", "val", "miou"): "53.3"},
    "espnet-q8-camvid": {("camvid", "test", "miou"): "55.64", ("camvid", "test", "class_average"): "68.30"},
    "espnetv2-s0.5-city-512": {("cityscapes", "val", "miou"): "47.3"},
    "espnetv2-s1.0-city-512": {("cityscapes", "val", "miou"): "52.2"},
    "espnetv2-s1.5-city-512": {("cityscapes", "val", "miou"): "54.6"},
    "espnetv2-s0.5-city-1024": {("cityscapes", "val", "miou"): "53.9"},
    "espnetv2-s1.0-city-1024": {("cityscapes", "val", "miou"): "60.1"},
    "espnetv2-s1.5-city-1024": {("cityscapes", "val", "miou"): "63.8"},
    "espnetv2-s2.0-city-1024": {("cityscapes", "val", "miou"): "66.4", ("cityscapes", "test", "miou"): "66.2"},
    "espnetv2-s0.5-pascal-256": {("pascal", "val", "miou"): "39.82"},
    "espnetv2-s1.0-pascal-256": {("pascal", "val", "miou"): "54.14"},
    "espnetv2-s1.5-pascal-256": {("pascal", "val", "miou"): "59.39"},
    "espnetv2-s2.0-pascal-256": {("pascal", "val", "miou"): "63.36"},
    "espnetv2-s0.5-pascal-384": {("pascal", "val", "miou"): "47.18"},
    "espnetv2-s1.0-pascal-384": {("pascal", "val", "miou"): "60.22"},
    "espnetv2-s1.5-pascal-384": {("pascal", "val", "miou"): "63.67"},
    "espnetv2-s2.0-pascal-384": {("pascal", "val", "miou"): "67.01", ("pascal", "test", "miou"): "67.95"},
}


def test_published_figures_are_the_authors():
    from espnet_edge.published import Published

    found = {}
    for name in zoo.list_models():
        entry = zoo.get_model(name)
        assert all(isinstance(f, Published) for f in entry.published)
        if entry.published:
            found[name] = {(f.dataset, f.split, f.metric): f.printed for f in entry.published}
    assert found == PUBLISHED
    camvid = zoo.get_model("espnet-q8-camvid").published
    assert [f.convention for f in camvid] == ["void-counted", "standard"]


def test_every_published_figure_has_a_source_a_reader_can_open():
    import re

    for name in zoo.list_models():
        entry = zoo.get_model(name)
        for figure in entry.published:
            source = figure.source
            assert source.repo in ("sacmehta/ESPNet", "sacmehta/EdgeNets"), (name, source)
            assert re.match(r"^[0-9a-f]{40}$", source.commit), (name, source)
            assert (source.path is None) != (source.issue is None), (name, source)
            if source.issue is not None:  # an issue comment: its date and the sentence that holds the figure
                assert re.match(r"^\d{4}-\d\d-\d\d$", source.date) and figure.printed in source.quote
                assert source.url == "https://github.com/{}/issues/{}".format(source.repo, source.issue)
            else:
                assert source.url == "https://github.com/{}/blob/{}/{}".format(source.repo, source.commit, source.path)
            assert figure.dataset == entry.dataset and figure.split in ("val", "test")
            assert figure.size is None or tuple(figure.size) == entry.input_size
            assert figure.value == float(figure.printed) and 0 < figure.value < 100


def test_models_shows_published_figures_and_sources(cli):
    table = cli("models")
    line = [l for l in table.stdout.splitlines() if l.startswith("espnet-q8-camvid ")][0]
    assert line.endswith("test mIoU 55.64*, class average 68.30") and "void-labelled pixels" in table.stdout
    one = cli("models", "espnet")
    assert one.returncode == 0, one.stderr
    assert "cityscapes val mIoU 61.4 at 1024x512: sacmehta/ESPNet issue #9 (2018-05-15)" in one.stdout
    assert "https://github.com/sacmehta/ESPNet/blob/afe71c38edaee3514ca44e0adcafdf36109bf437/README.md" in one.stdout
    data = json.loads(cli("models", "espnetv2-s2.0-city-1024", "--json").stdout)
    assert [(f["split"], f["printed"], f["size"]) for f in data["published"]] == \
        [("val", "66.4", [1024, 512]), ("test", "66.2", [1024, 512])]
    assert data["published"][0]["source"]["path"] == "model/segmentation/model_zoo/README.md"
    assert "none for this checkpoint" in cli("models", "espnet-q3").stdout
    bad = cli("models", "espnet-q7")
    assert bad.returncode == 2 and "did you mean" in bad.stderr
