"""Board input power per tegrastats line (total_mw / total_rails from the rule in jetson/boards.py),
clock-only fields of JetPack 7 / Thor, absurd values and constant sensors."""

import glob
import json
import math
import os

import pytest

from conftest import TEGRASTATS_DIR, run_main
from espnet_edge.jetson import boards
from espnet_edge.profiler.tegrastats import hottest, parse_line

FILES = sorted(glob.glob(os.path.join(TEGRASTATS_DIR, "*.txt")))
LINES = [(os.path.basename(path), number, line.rstrip("\n"))
         for path in FILES for number, line in enumerate(open(path), 1) if line.strip()]
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN")


@pytest.mark.parametrize("name,number,line", LINES, ids=["{}:{}".format(n, i) for n, i, _ in LINES])
def test_every_shared_line_gives_a_total(name, number, line):
    record = parse_line(line)
    assert record.total_how
    rails = record.rails_mw
    if not rails:   # boards printing no rails (non-root TX2 4GB, Orin NX in a robot): nothing to add
        assert record.total_mw is None and record.total_rails == []
        return
    assert isinstance(record.total_mw, int) and record.total_mw >= 0
    assert set(record.total_rails) <= set(rails)
    present_inputs = [name for name in INPUT_RAILS if name in rails]
    if present_inputs:   # an input rail is the total by itself: its sub-rails are never added on top
        assert record.total_rails == present_inputs[:1]
        assert record.total_mw == rails[present_inputs[0]]["current"]
    else:
        assert record.total_mw == sum(rails[r]["current"] for r in record.total_rails)
        assert "NC" not in record.total_rails and "VDDQ_VDD2_1V8AO" not in record.total_rails


def test_known_boards_use_their_documented_rule():
    tx2 = parse_line(open(os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")).readline())
    assert tx2.total_rails == ["VDD_IN"] and tx2.total_mw == 1840
    orin = parse_line(open(os.path.join(TEGRASTATS_DIR, "agx-orin-64gb_jp5.1-inferred_1.txt")).readline())
    assert orin.total_rails == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]
    assert orin.total_mw == 2399 + 400 + 4032
    xavier = parse_line(open(os.path.join(TEGRASTATS_DIR, "agx-xavier_l4t32-inferred_1.txt")).readline())
    assert xavier.total_mw == 0 + 216 + 864 + 0 + 144 + 1889


# Fields as issue 12 quotes them from an R39 Thor (no Thor capture is in ../shared): clock-only
# GR3D/EMC/NVENC fields, Thor's module rails and the carrier's VIN input rail.
THOR = ("RAM 8179/125772MB (lfb 1x4MB) CPU [3%@972,off,2%@972] EMC_FREQ @4266 GR3D_FREQ @[1574,1574,1574] "
        "NVENC0_FREQ @1691 NVDEC0_FREQ off cpu@45.5C tj@48C VDD_GPU 5000mW/5000mW "
        "VDD_CPU_SOC_MSS 9000mW/9000mW VIN_SYS_5V0 6000mW/6000mW VIN 31000mW/30000mW")


def test_clock_only_fields_parse_with_null_load():
    record = parse_line(THOR)
    assert record.unknown == []
    assert record.gpu_freq_mhz == [1574, 1574, 1574] and record.gpu_load_pct is None
    assert record.gpu_loads_pct == [None]
    assert (record.emc_freq_mhz, record.emc_load_pct) == (4266, None)
    assert record.engines["NVENC0_FREQ"] == {"on": True, "load_pct": None, "freq_mhz": 1691}
    assert record.engines["NVDEC0_FREQ"]["on"] is False


def test_thor_vin_is_the_total_not_the_sum_of_module_rails():
    record = parse_line(THOR)
    assert record.total_rails == ["VIN"] and record.total_mw == 31000
    without_vin = parse_line(THOR.replace(" VIN 31000mW/30000mW", ""))
    assert without_vin.total_mw == 5000 + 9000 + 6000
    assert "not the board input" in without_vin.total_how


def test_off_inside_a_frequency_list():
    record = parse_line("RAM 1/2MB CPU [1%@729] GR3D_FREQ 0%@[305,off] VDD_IN 10mW/10mW")
    assert record.gpu_freq_mhz == [305, None] and record.gpu_load_pct == 0 and record.unknown == []


ABSURD = [
    "RAM 1/2MB CPU [1%@729] VDD_IN " + "9" * 5000 + "mW/1mW",
    "RAM 1/2MB CPU [1%@729] VDD_IN \u00b2\u00b3mW/1mW GPU@\u00b9\u00b2C",
    "RAM 1/2MB CPU [1%@729] VDD_IN \u0663\u0663mW/1mW",
    "RAM 1/2MB CPU [1%@729] cpu@" + "9" * 400 + "C tj@1e999C GR3D_FREQ " + "9" * 330 + "%@1",
    "RAM " + "9" * 4400 + "/2MB CPU [" + "9" * 400 + "%@1] EMC_FREQ @" + "9" * 40,
    "RAM 1/2MB CPU [1%@729] GR3D_FREQ @[" + ",".join(["1"] * 500) + "] VDD_IN 99999999999mW/1",
]


@pytest.mark.parametrize("line", ABSURD)
def test_absurd_values_never_crash_nor_make_nan(line):
    record = parse_line(line)
    text = json.dumps(record, allow_nan=False)   # raises on NaN/Infinity
    assert "Infinity" not in text and "NaN" not in text
    for value in list(record.temps_c.values()) + [record.total_mw, record.gpu_load_pct]:
        assert value is None or (math.isfinite(value) and abs(value) < 1e12)
    assert not any(str(tok).startswith("<parse error") for tok in record.unknown)


def test_cli_json_with_absurd_lines(tmp_path):
    log = tmp_path / "absurd.log"
    real = open(os.path.join(TEGRASTATS_DIR, "nano-4gb_l4t32-inferred_4.txt")).read()
    log.write_text(real + "\n".join(ABSURD) + "\n", encoding="utf-8")
    result = run_main("tegrastats", str(log), "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3 + len(ABSURD)
    assert [r["total_mw"] for r in records[:3]] == [1807, 2079, 1807]   # POM_5V_IN alone
    table = run_main("tegrastats", str(log))
    assert table.returncode == 0, table.stderr


def test_constant_pmic_is_never_the_hottest():
    record = parse_line(open(os.path.join(TEGRASTATS_DIR, "nano-4gb_l4t32-inferred_4.txt")).readline())
    assert record.temps_c["PMIC"] == 100.0
    assert hottest(record) == ("iwlwifi", 32.0)
    assert "PMIC" in boards.value_of(boards.CONSTANT_SENSORS)
    table = run_main("tegrastats", os.path.join(TEGRASTATS_DIR, "nano-4gb_l4t32-inferred_4.txt"))
    assert table.returncode == 0 and "100.0" not in table.stdout and "32.0 iwlwifi" in table.stdout
