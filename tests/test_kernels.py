"""Kernel efficiency (Fig. 7e): the nvprof and ncu parsers on real recorded profiler output
(tests/data/kernels, sources in SOURCES.md), time weighting, the outputs, and the one-line errors."""

import json
import os

import pytest

from conftest import run_main
from espnet_edge.errors import UserError
from espnet_edge.profiler import kernels

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "kernels")


def read(name):
    with open(os.path.join(DATA, name)) as handle:
        return handle.read()


def by_name(records):
    return dict((r.name, r) for r in records)


def test_nvprof_text_metrics_per_kernel():
    records = by_name(kernels.parse_nvprof(read("nvprof_metrics_gtx1070.txt")))
    assert sorted(records) == ["getError(int, int, float*, float*, float*)",
                               "multiply(int, int, float*, float*, float*)",
                               "void better_reduce_kernel<unsigned int=1024>(float*, float*, unsigned int, unsigned int)"]
    reduce_kernel = records["void better_reduce_kernel<unsigned int=1024>(float*, float*, unsigned int, unsigned int)"]
    assert reduce_kernel.invocations == 1000
    assert reduce_kernel.metrics == {"gld_efficiency": 100.0, "gst_efficiency": 12.5, "shared_efficiency": 99.74}
    assert records["multiply(int, int, float*, float*, float*)"].metrics["gld_efficiency"] == 82.56
    # this recording has no warp_execution_efficiency and no times: invocation-weighted, warp missing
    result = kernels.aggregate(list(records.values()))
    assert result["weights"] == "invocations" and result["network"]["warp_execution_efficiency"] is None
    assert result["network"]["gld_efficiency"] == pytest.approx((100.0 + 1000 * 100.0 + 82.56) / 1002)
    assert result["network"]["gst_efficiency"] == pytest.approx((100.0 + 1000 * 12.5 + 100.0) / 1002)
    assert result["kernels"][0]["invocations"] == 1000  # heaviest first


def test_nvprof_csv_metrics():
    (record,) = kernels.parse_nvprof(read("nvprof_metrics_k20c.csv"))
    assert record.name == "__kernel___forma_kernel__0__(float*, int, int, int, int, int, int, float*)"
    assert record.invocations == 1
    assert record.metrics == {"gld_efficiency": 100.0, "gst_efficiency": 74.558824,
                              "shared_efficiency": 41.673992, "warp_execution_efficiency": 100.0}


def test_nvprof_summary_times_weight_the_network_mean():
    times = kernels.parse_nvprof_summary(read("nvprof_summary_meshmode.txt"))
    assert "[CUDA memcpy DtoH]" not in times and len(times) == 14  # 18 lines, 4 of them copies/memsets
    assert times["resample_by_picking"] == (28160, pytest.approx(1.72898e9))
    assert times["axpb"] == (23428, pytest.approx(954.48e6))
    assert times["divide"] == (6, pytest.approx(359.81e3))
    # two kernels of that run with made-up efficiencies: the mean follows GPU time, not call counts
    records = [kernels.KernelRecord("axpb", 23428, metrics={"gld_efficiency": 50.0}),
               kernels.KernelRecord("face_mass", 1760, metrics={"gld_efficiency": 100.0})]
    result = kernels.aggregate(kernels.attach_times(records, times))
    assert result["weights"] == "gpu time"
    expected = (50.0 * 954.48e6 + 100.0 * 849.96e6) / (954.48e6 + 849.96e6)
    assert result["network"]["gld_efficiency"] == pytest.approx(expected)


def test_ncu_csv_launches_units_and_na():
    (record,) = kernels.parse_ncu(read("ncu_saxpy_cc121.csv"))
    assert record.name == "saxpy" and record.invocations == 3
    assert record.time_ns == pytest.approx((211.94 + 203.02 + 1205.0) * 1e3)  # "1,205.00" us
    assert record.metrics == {}  # the only other metric was "n/a" on that GPU
    (gemm,) = kernels.parse_ncu(read("ncu_cute_gemm_a100.csv"))  # older layout with a "Kernel Time" column
    assert gemm.name == "ampere_h16816gemm_256x128_ldg8_stages_32x3_tn" and gemm.time_ns == 152192.0


NAIVE = "ncu_details_transpose_naive_rtx3070.txt"  # naive transpose: stores strided
SMEM = "ncu_details_transpose_smem_rtx3070.txt"  # shared-memory tile: coalesced, bank conflicts
PADDED = "ncu_details_transpose_smem_padded_rtx3070.txt"  # tile padded by a column: no conflicts


def test_ncu_details_page_three_of_the_four_efficiencies():
    # values read off the recorded files (ncu text details page, RTX 3070 Laptop, see SOURCES.md)
    (naive,) = kernels.parse_ncu(read(NAIVE))
    assert naive.name == "naive_cuda_transpose(int, const double *, double *)" and naive.invocations == 1
    assert naive.metrics == {"gld_efficiency": 100.0, "gst_efficiency": 25.0} and naive.time_ns is None
    (smem,) = kernels.parse_ncu(read(SMEM))
    assert smem.name == "smem_cuda_transpose(int, const double *, double *)"
    assert smem.metrics == {"gld_efficiency": 100.0, "gst_efficiency": 100.0, "shared_efficiency": 11.76}
    (padded,) = kernels.parse_ncu(read(PADDED))
    assert padded.metrics["shared_efficiency"] == 100.0
    # both kernels as one workload: no durations recorded, so each kernel weighs by its one launch
    result = kernels.aggregate([naive, smem])
    assert result["weights"] == "invocations" and result["total_time_ns"] is None
    assert result["network"] == {"gld_efficiency": 100.0, "gst_efficiency": pytest.approx((25.0 + 100.0) / 2),
                                 "shared_efficiency": 11.76, "warp_execution_efficiency": None}


def test_ncu_details_page_launches_of_one_kernel_are_averaged():
    # the two unchanged recordings of smem_cuda_transpose one after the other: two launches of one kernel
    (record,) = kernels.parse_ncu(read(SMEM) + read(PADDED))
    assert record.invocations == 2
    assert record.metrics["shared_efficiency"] == pytest.approx((11.76 + 100.0) / 2)
    assert record.metrics["gst_efficiency"] == 100.0


def test_ncu_details_page_warp_execution_efficiency():
    # newer ncu layout ("(grid)x(block), ..., CC 12.0" headers); ratios read off the file: 32.00 and 15.47
    records = by_name(kernels.parse_ncu(read("ncu_details_divergence_cc120.txt")))
    assert sorted(records) == ["full_divergence(const float *, float *, int)",
                               "no_divergence(const float *, float *, int)"]
    assert records["no_divergence(const float *, float *, int)"].metrics == {"warp_execution_efficiency": 100.0}
    full = records["full_divergence(const float *, float *, int)"]
    assert full.metrics["warp_execution_efficiency"] == pytest.approx(15.47 / 32 * 100)
    result = kernels.aggregate(list(records.values()))
    assert result["network"]["warp_execution_efficiency"] == pytest.approx((100.0 + 15.47 / 32 * 100) / 2)
    assert result["network"]["gld_efficiency"] is None


def test_ncu_metric_mapping_to_the_papers_percentages():
    names = dict((ours, ncu) for ours, (ncu, _f) in kernels.NCU_METRICS.items())
    assert names["gld_efficiency"] == "smsp__sass_average_data_bytes_per_sector_mem_global_op_ld.pct"
    assert names["gst_efficiency"] == "smsp__sass_average_data_bytes_per_sector_mem_global_op_st.pct"
    assert names["shared_efficiency"] == "smsp__sass_average_data_bytes_per_wavefront_mem_shared.pct"
    assert all(factor == 1.0 for ncu, factor in kernels.NCU_METRICS.values() if ncu.endswith(".pct"))
    # warp execution efficiency: active threads per warp instruction (0..32) as a percentage
    ncu, factor = kernels.NCU_METRICS["warp_execution_efficiency"]
    assert ncu == "smsp__thread_inst_executed_per_inst_executed.ratio" and 32 * factor == pytest.approx(100.0)


def test_ncu_counter_permission_is_one_line_with_the_fix():
    with pytest.raises(UserError) as err:
        kernels.parse_ncu("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU "
                          "Performance Counters on the target device 0.\n")
    assert "\n" not in str(err.value) and "sudo" in str(err.value) and "RestrictProfilingToAdminUsers" in str(err.value)
    with pytest.raises(UserError, match="no CSV table or details page"):
        kernels.parse_ncu("==PROF== Disconnected from process 1\n")


def test_results_json_csv_and_bar_chart(tmp_path):
    import cv2
    import numpy as np

    networks = {"nvprof-k20c": kernels.aggregate(kernels.parse_nvprof(read("nvprof_metrics_k20c.csv"))),
                "nvprof-gtx1070": kernels.aggregate(kernels.parse_nvprof(read("nvprof_metrics_gtx1070.txt")))}
    pngs = kernels.write_results(str(tmp_path), {"tool": "nvprof", "networks": networks})
    data = json.load(open(str(tmp_path / "kernels.json")))
    assert data["networks"]["nvprof-k20c"]["network"]["shared_efficiency"] == pytest.approx(41.673992)
    rows = (tmp_path / "kernels.csv").read_text().splitlines()
    assert rows[0].startswith("network,kernel,invocations,time_ns,warp_execution_efficiency")
    assert len(rows) == 1 + 2 + 1 + 3  # header, a network row each, their kernels
    image = cv2.imread(pngs[0])
    assert image is not None and image.shape[1] > 300 and len(np.unique(image.reshape(-1, 3), axis=0)) > 20
    for bgr in ((180, 119, 31), (14, 127, 255)):  # both networks' bars (C0, C1)
        assert np.any(np.all(np.abs(image.astype(int) - bgr) < 12, axis=2))


def test_profile_kernels_off_a_gpu_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin"}  # no nvprof/ncu here (and none is installed on CI)
    proc = run_main("profile", "--model", "enet-city", "--kernels", "--out", str(tmp_path / "k"), env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()
    assert len(line) == 1 and "nvprof" in line[0] and "ncu" in line[0]
    assert not (tmp_path / "k").exists()
