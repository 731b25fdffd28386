"""Every ```python block of docs/python-api.md runs as written, in a folder holding cat.jpg and street.png."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import CITYSCAPES_IMAGES, PHOTOS, ROOT

DOC = os.path.join(ROOT, "docs", "python-api.md")
RUNNER = r"""
import json, sys, traceback
blocks = json.load(open(sys.argv[1]))
for number, block in enumerate(blocks, 1):
    print("=== block {}".format(number), flush=True)
    exec(compile(block, "python-api.md block {}".format(number), "exec"), {"__name__": "__main__"})
print("=== all blocks ran")
"""


def python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)


def test_the_page_has_runnable_and_hardware_blocks():
    text = open(DOC).read()
    assert len(python_blocks(text)) >= 5
    assert "```py\n" in text  # the TensorRT example, shown but not run here


@pytest.mark.slow
def test_every_python_block_runs(tmp_path, shared):
    work = tmp_path / "work"
    work.mkdir()
    os.symlink(os.path.join(PHOTOS, "sample5.jpg"), str(work / "cat.jpg"))
    os.symlink(os.path.join(CITYSCAPES_IMAGES, "frankfurt_000000_000294_leftImg8bit.png"), str(work / "street.png"))
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps(python_blocks(open(DOC).read())))
    env = dict(os.environ, PYTHONPATH=ROOT, ESPNET_EDGE_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(blocks)], cwd=str(work), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "=== all blocks ran" in out
    first = out.split("=== block 2")[0]
    assert "'cat'" in first and "(640, 640) uint8" in first
    assert "(384, 384)" in out and "'road'" in out
    assert "unknown model 'espnetv3'" in out and "say the channel order" in out
    for name in ("cat_overlay.png", "cat_color.png", "cat_mask.png"):
        assert (work / name).stat().st_size > 1000, name
    # export() wrote to ./export of the folder it ran in; load() of a zoo name exported into the cache
    assert (work / "export" / "espnet-c-q3-512x256.onnx").is_file()
    assert (tmp_path / "cache" / "export" / "espnetv2-s2.0-pascal-384-384x384.onnx").is_file()
    assert "note: exporting espnetv2-s2.0-pascal-384" in proc.stderr
