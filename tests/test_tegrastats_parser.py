"""The tegrastats parser over every real line in ../shared/jetson/tegrastats, checked by hand per format."""

import glob
import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TEGRASTATS_DIR, run_main
from espnet_edge.profiler.sample import Sample
from espnet_edge.profiler.tegrastats import (cpu_load_pct, gpu_power_rail, is_sample, parse_file, parse_line,
                                             total_power_rails)

FILES = sorted(glob.glob(os.path.join(TEGRASTATS_DIR, "*.txt")))
LINES = [(os.path.basename(path), number, line.rstrip("\n"))
         for path in FILES for number, line in enumerate(open(path), 1) if line.strip()]


def first(name):
    with open(os.path.join(TEGRASTATS_DIR, name)) as handle:
        return parse_line(handle.readline())


def test_corpus_is_there():
    assert len(FILES) >= 30 and len(LINES) >= 70


@pytest.mark.parametrize("name,number,line", LINES, ids=["{}:{}".format(n, i) for n, i, _ in LINES])
def test_every_shared_line(name, number, line):
    record = parse_line(line)
    assert is_sample(record)
    assert record.unknown == [], "unparsed tokens {}".format(record.unknown)
    assert record.ram_used_mb is not None and record.ram_total_mb > record.ram_used_mb
    assert record.cpu and len(record.cpu) == len(re.search(r"\[([^\]]*)\]", line).group(1).split(","))
    assert sum(core is None for core in record.cpu) == line.split("]")[0].count("off")
    if re.match(r"\d\d-\d\d-\d{4} ", line):
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", record.time)
    else:
        assert record.time is None
    if "SWAP" in line:
        assert record.swap_total_mb > 0
    else:
        assert record.swap_total_mb is None
    if "GR3D" in line:
        assert record.gpu_load_pct is not None
    if re.search(r"GR3D(_FREQ)? \d+%@", line):
        assert record.gpu_freq_mhz and record.gpu_freq_mhz[0] is not None
    if "EMC" in line:
        assert record.emc_load_pct is not None
    temps = re.findall(r"(\S+)@(-?[\d.]+)C", line)
    assert len(record.temps_c) == len(set(name for name, _ in temps))
    rails = re.findall(r"(?:^| )(\w+) \d+(?:mW)?/\d+(?:mW)?(?:/\d+(?:mW)?)?(?= |$)", line)
    assert sorted(record.rails_mw) == sorted(set(rails))
    assert Sample.from_dict(json.loads(json.dumps(record.to_dict()))) == record  # plain JSON types only


def test_tx1_l4t24_old_cpu_form():
    r = first("tx1_l4t24-inferred_1.txt")
    assert r.cpu == [{"load_pct": 0, "freq_mhz": 1734}] * 4  # `cpu [0%,0%,0%,0%]@1734`
    assert (r.emc_load_pct, r.emc_freq_mhz) == (0, 1600)   # `EMC 0%@1600`
    assert (r.gpu_load_pct, r.gpu_freq_mhz) == (0, [998])  # `GR3D 0%@998`
    assert r.engines["AVP"] == {"on": True, "load_pct": 1, "freq_mhz": 115}
    assert r.engines["MSENC"]["freq_mhz"] == 192 and r.engines["NVDEC"]["freq_mhz"] == 192
    assert r.edp_limit_mhz == 1734
    assert r.rails_mw == {} and r.temps_c == {}


def test_tx2_l4t28_sudo():
    r = first("tx2_l4t28-inferred_3.txt")
    assert (r.ram_used_mb, r.ram_total_mb, r.lfb) == (1685, 7854, "1044x4MB")
    assert (r.swap_used_mb, r.swap_total_mb, r.swap_cached_mb) == (278, 8192, 23)
    assert r.cpu[0] == {"load_pct": 0, "freq_mhz": 1303} and r.cpu[5]["freq_mhz"] == 1421
    assert (r.emc_load_pct, r.emc_freq_mhz) == (0, 1866)
    assert (r.gpu_load_pct, r.gpu_freq_mhz) == (0, [140])
    assert (r.mts_fg_pct, r.mts_bg_pct) == (1, 8)
    assert r.engines["APE"]["freq_mhz"] == 150
    assert r.temps_c["Tdiode"] == 37.25 and r.temps_c["thermal"] == 39.9
    assert r.rails_mw["VDD_IN"] == {"current": 1931, "average": 1931}
    assert r.rails_mw["VDD_DDR"] == {"current": 326, "average": 326}
    assert total_power_rails(r.rails_mw)[0] == ["VDD_IN"]
    assert gpu_power_rail(r.rails_mw) == "VDD_GPU"


def test_tx2_l4t32_non_root():
    with open(os.path.join(TEGRASTATS_DIR, "tx2_l4t32-inferred_1.txt")) as handle:
        r = parse_line(handle.readlines()[-1])
    assert r.gpu_load_pct == 99 and r.gpu_freq_mhz == []
    assert r.emc_load_pct == 0 and r.emc_freq_mhz is None
    assert r.rails_mw["VDD_SYS_GPU"] == {"current": 2294, "average": 242}
    assert r.rails_mw["VDD_IN"]["current"] == 7842
    assert cpu_load_pct(r) == pytest.approx((3 + 21 + 65 + 1 + 0 + 0) / 6.0)
    assert gpu_power_rail(r.rails_mw) == "VDD_SYS_GPU"


def test_tx2_off_cores():
    r = first("tx2-4gb-family_jp4.6_1.txt")
    assert r.cpu[1] is None and r.cpu[2] is None and r.cpu[0]["freq_mhz"] == 345
    assert r.rails_mw == {} and r.temps_c["PMIC"] == 50.0
    assert total_power_rails(r.rails_mw)[0] == []


def test_nano_with_iwlwifi():
    with open(os.path.join(TEGRASTATS_DIR, "nano-4gb_l4t32-inferred_4.txt")) as handle:
        r = parse_line(handle.readlines()[1])
    assert r.temps_c["iwlwifi"] == 35.0 and r.temps_c["thermal"] == 24.5
    assert r.gpu_load_pct == 2 and r.gpu_freq_mhz == []
    assert r.rails_mw["POM_5V_IN"] == {"current": 2079, "average": 1943}
    assert total_power_rails(r.rails_mw)[0] == ["POM_5V_IN"]


def test_nano_iram():
    r = first("nano-4gb_l4t32-inferred_1.txt")
    assert (r.iram_used_kb, r.iram_total_kb) == (0, 252)
    assert r.engines["NVENC"]["freq_mhz"] == 716 and r.gpu_freq_mhz == [76]


def test_agx_xavier_rails_without_vdd_prefix():
    r = first("agx-xavier_l4t32-inferred_1.txt")
    assert r.rails_mw["GPU"] == {"current": 0, "average": 0}
    assert r.rails_mw["SYS5V"] == {"current": 1889, "average": 1889}
    rails, how = total_power_rails(r.rails_mw)
    assert rails == ["GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V"] and "Xavier" in how
    assert sum(r.rails_mw[n]["current"] for n in rails) == 0 + 216 + 864 + 0 + 144 + 1889
    assert r.temps_c["GPU"] == 32.0 and r.temps_c["thermal"] == 32.9


def test_agx_xavier_jp5_bracket_single_gpc():
    with open(os.path.join(TEGRASTATS_DIR, "agx-xavier-32gb_jp5-inferred_1.txt")) as handle:
        r = parse_line(handle.readlines()[3])
    assert r.time == "2024-05-06T11:26:29"
    assert (r.gpu_load_pct, r.gpu_freq_mhz) == (67, [1377])
    assert r.rails_mw["GPU"] == {"current": 11832, "average": 11832}
    assert r.engines["VIC_FREQ"]["freq_mhz"] == 1036


def test_orin_jp5_gr3d2():
    r = first("agx-orin-32gb_l4t34-inferred_1.txt")
    assert r.time == "2023-10-16T10:59:22"
    assert r.gpu_freq_mhz == [114, 114] and r.gpu_loads_pct == [0, 0]
    assert r.temps_c["CV0"] is None and r.temps_c["GPU"] == 38.156  # -256C = no reading
    assert r.engines["NVJPG1"]["freq_mhz"] == 729 and r.engines["APE"]["freq_mhz"] == 233
    assert r.rails_mw["NC"] == {"current": 0, "average": 0}
    rails, _ = total_power_rails(r.rails_mw)
    assert rails == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]


def test_orin_nx_jp5_non_root_gr3d2():
    r = first("orin-nx-16gb_jp5-inferred_1.txt")
    assert r.gpu_load_pct == 0 and r.gpu_freq_mhz == [None, 0]
    with open(os.path.join(TEGRASTATS_DIR, "orin-nx-16gb_jp5-inferred_1.txt")) as handle:
        r = parse_line(handle.readlines()[2])
    assert r.gpu_loads_pct == [38, 38] and r.rails_mw == {}


def test_orin_jp6_brackets_and_engine_forms():
    with open(os.path.join(TEGRASTATS_DIR, "agx-orin-64gb_jp6-inferred_1.txt")) as handle:
        lines = handle.readlines()
    r = parse_line(lines[6])
    assert r.gpu_freq_mhz == [305, 1300]
    assert r.cpu[11] == {"load_pct": 100, "freq_mhz": 2201}
    assert r.engines["NVENC"] == {"on": False, "load_pct": None, "freq_mhz": None}
    assert r.engines["PVA0_FREQ"]["on"] is False
    assert r.temps_c["tj"] == 49.281
    assert parse_line(lines[7]).gpu_freq_mhz == [305, 0]
    nx = first("orin-nx-8gb_jp6-inferred_1.txt")
    assert nx.engines["NVENC"] == {"on": True, "load_pct": 1, "freq_mhz": 115}
    assert nx.engines["NVDEC"]["load_pct"] == 40
    assert (nx.gpu_load_pct, nx.gpu_freq_mhz) == (84, [713])
    assert nx.cpu[5] == {"load_pct": 93, "freq_mhz": 247}
    assert total_power_rails(nx.rails_mw)[0] == ["VDD_IN"]


def test_jp72_cur_avg_max_and_temp_max():
    r = first("agx-orin-64gb_jp7.2_1.txt")
    assert r.rails_mw["VDD_GPU_SOC"] == {"current": 4385, "average": 3787, "max": 4385}
    assert r.temps_c["soc0"] == 49.406 and r.temps_max_c["soc0"] == 49.5
    assert r.gpu_load_pct == 32 and r.gpu_freq_mhz == [] and r.emc_load_pct is None
    assert r.swap_total_mb is None


def test_t210_battery_device():
    r = first("unidentified-t210-battery-device_unk_1.txt")
    assert r.temps_c["Charger"] == 115.0 and r.temps_c["max170xx"] == 38.9
    assert r.emc_load_pct is None and r.gpu_load_pct == 2
    assert r.rails_mw == {}


@pytest.mark.parametrize("line", ["", "   ", "hello world", "Wed 2 May 2024 19:51:56 CEST",
                                  "RAM", "RAM abc", "CPU [", "CPU [1%@", "GR3D_FREQ", "VDD_IN 12/",
                                  "10-16-2023", "cpu@C", "\x00\xff", "MTS fg 0%"])
def test_garbage_lines_do_not_raise(line):
    r = parse_line(line)
    assert not is_sample(r)
    assert " ".join(r.unknown) == " ".join(line.split()).replace("(", " (").strip() or r.unknown == []


def _tokens():
    return [tok for _n, _i, line in LINES for tok in line.split()]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mangled_lines_never_raise(data):
    tokens = _tokens()
    picked = data.draw(st.lists(st.sampled_from(tokens), max_size=40))
    cut = data.draw(st.integers(min_value=0, max_value=400))
    noise = data.draw(st.text(max_size=30))
    line = " ".join(picked)
    for candidate in (line, line[:cut], noise + line, line + noise, line.replace("@", noise[:3])):
        record = parse_line(candidate)
        assert isinstance(record.unknown, list)
        json.dumps(record.to_dict())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text):
    record = parse_line(text)
    assert isinstance(record, Sample) and isinstance(record.unknown, list)


def test_truncated_real_lines_keep_what_they_have():
    _n, _i, line = LINES[0]
    for end in range(0, len(line), 7):
        record = parse_line(line[:end])
        if end > len("10-16-2023 10:59:22 RAM 1205/30623MB"):
            assert record.ram_total_mb == 30623


def test_cli_table_and_json():
    path = os.path.join(TEGRASTATS_DIR, "agx-orin-64gb_jp6-inferred_1.txt")
    table = run_main("tegrastats", path)
    assert table.returncode == 0, table.stderr
    rows = table.stdout.strip().splitlines()
    assert len(rows) == 11 and rows[0].split()[0] == "time"
    assert "305,1300" in rows[7] and str(4001 + 2800 + 4838) in rows[7]  # AGX Orin total = sum of 3 rails
    js = run_main("tegrastats", path, "--json")
    records = [json.loads(line) for line in js.stdout.splitlines()]
    assert len(records) == 10 and records[2]["gpu_load_pct"] == 54
    # the JSON object this command has always printed: the sample's fields in order, without t/gpu_cur_mhz
    assert list(records[2]) == [name for name in Sample._fields if name not in ("t", "gpu_cur_mhz")]
    assert [Sample.from_dict(r) for r in records] == parse_file(path)


def test_cli_errors_are_one_line(tmp_path):
    missing = run_main("tegrastats", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    junk = tmp_path / "junk.log"
    junk.write_text("not tegrastats\n")
    bad = run_main("tegrastats", str(junk))
    assert bad.returncode == 2 and "no tegrastats lines" in bad.stderr


def test_sample_record_round_trip_and_stamps():
    record = parse_line(LINES[0][2])
    stamped = record._replace(t=1700000000.25)
    assert stamped.to_dict()["t"] == 1700000000.25 and "t" not in record.to_dict()
    assert Sample.from_dict(stamped.to_dict()) == stamped
    empty = Sample.empty()
    assert empty.rails_mw == {} and empty.rails_mw is not Sample.empty().rails_mw  # fresh containers
    with pytest.raises(ValueError, match="ram_used"):
        Sample.from_dict({"ram_used": 1})
