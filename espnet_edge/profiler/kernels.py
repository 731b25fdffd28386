"""Kernel efficiency (the ESPNet paper's Fig. 7e): warp execution efficiency and global-load, global-store
and shared-memory efficiency of every CUDA kernel a network runs, from nvprof or Nsight Compute.

nvprof (JetPack 4.x, CUDA <= 10.2 on Jetson) reports the four metrics by their paper names. Nsight Compute
(``ncu``; JetPack 5+ and desktop GPUs, where nvprof no longer profiles) has other names; NCU_METRICS
maps them (NVIDIA, Nsight Compute CLI, "Nvprof Transition Guide: Metric Comparison", now only in the
archived docs; each row checked in tests/data/kernels/SOURCES.md). Per network the efficiencies are averaged over kernels weighted by each
kernel's GPU time (invocation counts when no times were recorded; the result says which).
"""

import csv
import io
import os
import re

from espnet_edge.errors import UserError

METRICS = ("warp_execution_efficiency", "gld_efficiency", "gst_efficiency", "shared_efficiency")
LABELS = {"warp_execution_efficiency": "warp execution", "gld_efficiency": "global load",
          "gst_efficiency": "global store", "shared_efficiency": "shared memory"}
# ours -> (ncu metric, factor to a percentage). The .pct metrics are percentages already; the warp metric
# is active threads per executed warp instruction (0..32, ncu --query-metrics: "average # of active threads
# per instruction executed"), nvprof's warp_execution_efficiency is that over the 32 threads of a warp.
NCU_METRICS = {
    "warp_execution_efficiency": ("smsp__thread_inst_executed_per_inst_executed.ratio", 100.0 / 32.0),
    "gld_efficiency": ("smsp__sass_average_data_bytes_per_sector_mem_global_op_ld.pct", 1.0),
    "gst_efficiency": ("smsp__sass_average_data_bytes_per_sector_mem_global_op_st.pct", 1.0),
    "shared_efficiency": ("smsp__sass_average_data_bytes_per_wavefront_mem_shared.pct", 1.0),
}
NCU_DURATION = "gpu__time_duration.sum"
_TIME_UNITS = {"ns": 1.0, "nsecond": 1.0, "us": 1e3, "usecond": 1e3, "msecond": 1e6, "ms": 1e6,
               "second": 1e9, "s": 1e9}
PERMISSION_FIX = ("ncu may not read the GPU performance counters (ERR_NVGPUCTRPERM): run it as root "
                  "(sudo -E espnet-edge profile --kernels ...) or, on a desktop GPU, allow profiling for all "
                  "users with the nvidia module option NVreg_RestrictProfilingToAdminUsers=0 and reboot "
                  "(https://developer.nvidia.com/ERR_NVGPUCTRPERM)")


def _number(text):
    """'82.56%' / '1,205.00' / '0.995165' -> float; None for n/a or words ('Idle (0)')."""
    text = (text or "").strip().strip('"').rstrip("%").replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


class KernelRecord(object):
    """One kernel (by name) of one run: invocations, GPU time in ns (or None), metrics in percent."""

    def __init__(self, name, invocations=0, time_ns=None, metrics=None):
        self.name = name
        self.invocations = invocations
        self.time_ns = time_ns
        self.metrics = dict(metrics or {})

    def to_dict(self):
        return {"kernel": self.name, "invocations": self.invocations, "time_ns": self.time_ns,
                "metrics": dict(self.metrics)}


def _record(records, name):
    if name not in records:
        records[name] = KernelRecord(name)
    return records[name]


def parse_nvprof(text):
    """nvprof ``--metrics`` output, text or ``--csv`` -> [KernelRecord] (metric averages, invocations)."""
    lines = text.splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith('"Device","Kernel","Invocations"')]
    records = {}
    if header:
        rows = csv.reader(io.StringIO("\n".join(lines[header[0]:])))
        names = next(rows)
        for row in rows:
            if len(row) != len(names):
                continue
            item = dict(zip(names, row))
            record = _record(records, item["Kernel"])
            record.invocations = max(record.invocations, int(_number(item["Invocations"]) or 0))
            if item["Metric Name"] in METRICS:
                record.metrics[item["Metric Name"]] = _number(item["Avg"])
        return list(records.values())
    kernel = None
    for line in lines:
        match = re.match(r"^\s+Kernel: (.+)$", line)
        if match:
            kernel = _record(records, match.group(1).strip())
            continue
        match = re.match(r"^\s+(\d+)\s+(\w+)\s+.*?\s(\S+)\s*$", line)
        if kernel is not None and match and match.group(2) in METRICS:
            kernel.invocations = max(kernel.invocations, int(match.group(1)))
            kernel.metrics[match.group(2)] = _number(match.group(3))
    if not records:
        raise UserError("no kernel metrics found in the nvprof output (did the workload run any CUDA kernel?)")
    return list(records.values())


def parse_nvprof_summary(text):
    """nvprof's default summary ("GPU activities:" lines) -> {kernel: (calls, total time ns)}."""
    out = {}
    section = False
    for line in text.splitlines():
        if "GPU activities:" in line:
            section = True
            line = line.split("GPU activities:", 1)[1]
        elif section and ("API calls:" in line or not line.strip()):
            break
        if not section:
            continue
        match = re.match(r"^\s*[\d.]+%\s+([\d.]+)(ns|us|ms|s)\s+(\d+)\s+\S+\s+\S+\s+\S+\s+(.+)$", line)
        if match and not match.group(4).startswith("[CUDA"):
            out[match.group(4).strip()] = (int(match.group(3)), float(match.group(1)) * _TIME_UNITS[match.group(2)])
    return out


def _ncu_csv_rows(lines, start):
    """``--csv`` details page: (launch id, kernel, metric, unit, value text) per row."""
    rows = csv.reader(io.StringIO("\n".join(l for l in lines[start:] if l.startswith('"'))))
    names = next(rows)
    for row in rows:
        if len(row) == len(names):
            item = dict(zip(names, row))
            yield (item["ID"], item["Kernel Name"], item["Metric Name"], item.get("Metric Unit", ""),
                   item["Metric Value"])


# a launch header of the text details page: "  name(args), 2022-Jun-08 17:30:31, Context 1, Stream 7" or
# (newer ncu) "  name(args) (128, 64, 1)x(32, 1, 1), Context 1, Stream 7, Device 0, CC 8.9"
_NCU_LAUNCH = re.compile(r"^  (\S.*?)(?:, \d{4}-\w{3}-\d{2} [\d:]+| \(\d+, \d+, \d+\)x\(\d+, \d+, \d+\)), Context \d+")
_NCU_METRIC = re.compile(r"^\s{4,}(\w+__\S+)\s+(?:(\S+)\s+)?(\S+)\s*$")


def _ncu_details_rows(lines):
    """Text details page (ncu without --csv): the same tuples, launches numbered in order."""
    launch, kernel = -1, None
    for line in lines:
        match = _NCU_LAUNCH.match(line)
        if match:
            launch, kernel = launch + 1, match.group(1)
            continue
        match = _NCU_METRIC.match(line)
        if kernel is not None and match:
            yield str(launch), kernel, match.group(1), match.group(2) or "", match.group(3)


def parse_ncu(text):
    """ncu output -> [KernelRecord]: metrics averaged over launches, summed durations. Reads the ``--csv``
    details page (what ``profile --kernels`` records) and the plain-text details page."""
    if "ERR_NVGPUCTRPERM" in text:
        raise UserError(PERMISSION_FIX)
    lines = text.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith('"ID",')]
    rows = list(_ncu_csv_rows(lines, start[0]) if start else _ncu_details_rows(lines))
    if not rows:
        raise UserError("no CSV table or details page in the ncu output (was it run with --csv, and did the "
                        "workload launch CUDA kernels?)")
    wanted = dict((ncu, (ours, factor)) for ours, (ncu, factor) in NCU_METRICS.items())
    records, launches, sums = {}, {}, {}
    for launch, kernel, metric, unit, text_value in rows:
        record = _record(records, kernel)
        launches.setdefault(kernel, set()).add(launch)
        value = _number(text_value)
        if value is None:
            continue  # "n/a": the metric does not exist on this GPU
        if metric == NCU_DURATION:
            record.time_ns = (record.time_ns or 0.0) + value * _TIME_UNITS.get(unit or "ns", 1.0)
        elif metric in wanted:
            ours, factor = wanted[metric]
            total, count = sums.get((kernel, ours), (0.0, 0))
            sums[(kernel, ours)] = (total + value * factor, count + 1)
    for (kernel, ours), (total, count) in sums.items():
        records[kernel].metrics[ours] = total / count
    for kernel, ids in launches.items():
        records[kernel].invocations = len(ids)
    return list(records.values())


def aggregate(records):
    """Per-network efficiencies: means over kernels weighted by GPU time (else by invocations)."""
    timed = all(r.time_ns for r in records) and records
    weight = (lambda r: r.time_ns) if timed else (lambda r: r.invocations or 1)
    network = {}
    for metric in METRICS:
        pairs = [(r.metrics[metric], weight(r)) for r in records if r.metrics.get(metric) is not None]
        total = sum(w for _v, w in pairs)
        network[metric] = sum(v * w for v, w in pairs) / total if total else None
    return {"weights": "gpu time" if timed else "invocations", "network": network,
            "kernels": [r.to_dict() for r in sorted(records, key=lambda r: -(weight(r)))],
            "total_time_ns": sum(r.time_ns for r in records) if timed else None}


def attach_times(records, summary):
    """nvprof: GPU times from the summary pass onto the metric pass's kernels (by name)."""
    for record in records:
        if record.name in summary:
            record.time_ns = summary[record.name][1]
    return records


CSV_COLUMNS = ("network", "kernel", "invocations", "time_ns") + METRICS


def write_results(folder, results):
    """kernels.json, kernels.csv (one row per network and kernel) and the Fig. 7e bar chart."""
    from espnet_edge.utils.atomic import atomic_open, write_json

    write_json(os.path.join(folder, "kernels.json"), results)
    with atomic_open(os.path.join(folder, "kernels.csv")) as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for label, result in sorted(results["networks"].items()):
            writer.writerow([label, "(network, {}-weighted)".format(result["weights"]), "",
                             result["total_time_ns"] or ""] +
                            ["" if result["network"][m] is None else round(result["network"][m], 3) for m in METRICS])
            for kernel in result["kernels"]:
                writer.writerow([label, kernel["kernel"], kernel["invocations"], kernel["time_ns"] or ""] +
                                ["" if kernel["metrics"].get(m) is None else kernel["metrics"][m] for m in METRICS])
    from espnet_edge.profiler import plots

    return plots.write_kernel_figure(os.path.join(folder, "kernel_efficiency.png"), results)


# --- running the workload under a profiler ------------------------------------------------------------
def choose_tool(which=None):
    """'nvprof' on JetPack 4.x (L4T 32), else 'ncu'; UserError naming what is missing."""
    import shutil

    which = which or shutil.which
    prefer = ["ncu", "nvprof"]
    try:
        from espnet_edge.jetson import detect

        info = detect.detect()
        release = str(info.l4t or "") if info.is_jetson else ""
        if info.is_jetson and release.startswith(("32.", "28.")):
            prefer = ["nvprof", "ncu"]
    except Exception:  # detection is a preference only
        pass
    for tool in prefer:
        path = which(tool) or (which(os.path.join("/usr/local/cuda/bin", tool)) if tool else None)
        if path:
            return tool, path
    raise UserError("profile --kernels needs a CUDA profiler: nvprof (JetPack 4.x) or ncu (Nsight Compute: "
                    "JetPack 5+ and desktop GPUs); neither is on PATH or in /usr/local/cuda/bin here")


def profiler_commands(tool, path, workload, log_dir):
    """[(purpose, argv, log file)] to run: nvprof twice (times, then metrics), ncu once."""
    if tool == "nvprof":
        times = os.path.join(log_dir, "nvprof-summary.txt")
        metrics = os.path.join(log_dir, "nvprof-metrics.csv")
        return [("times", [path, "--log-file", times] + workload, times),
                ("metrics", [path, "--csv", "--metrics", ",".join(METRICS), "--log-file", metrics] + workload,
                 metrics)]
    log = os.path.join(log_dir, "ncu.csv")
    wanted = [NCU_DURATION] + [ncu for ncu, _factor in NCU_METRICS.values()]
    return [("metrics", [path, "--csv", "--target-processes", "all", "--metrics", ",".join(wanted),
                         "--log-file", log] + workload, log)]


KERNEL_RUN_TIMEOUT_S = 3600   # every kernel launch is replayed: slow, but never without end


def profile_kernels(workload, log_dir, tool=None):
    """Run ``workload`` (argv) under the platform's profiler; -> aggregate() of its kernels."""
    import subprocess

    from espnet_edge.utils.textio import decode, read_text

    tool_name, path = choose_tool() if tool is None else tool
    texts = {}
    for purpose, argv, log in profiler_commands(tool_name, path, workload, log_dir):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output = decode(proc.communicate(timeout=KERNEL_RUN_TIMEOUT_S)[0], tool_name + "'s output")[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:   # a grandchild keeps the pipe: it is not ours to wait for
                pass
            raise UserError("{} ran longer than {} s and was stopped; profile fewer inferences with "
                            "--kernel-iters".format(tool_name, KERNEL_RUN_TIMEOUT_S))
        text = read_text(log) if os.path.isfile(log) else ""
        if "ERR_NVGPUCTRPERM" in output + text:
            raise UserError(PERMISSION_FIX)
        if proc.returncode != 0:
            last = (output.strip().splitlines() or ["(no output)"])[-1]
            raise UserError("{} failed (exit {}): {}".format(tool_name, proc.returncode, last[:200]))
        texts[purpose] = text
    if tool_name == "nvprof":
        records = attach_times(parse_nvprof(texts["metrics"]), parse_nvprof_summary(texts["times"]))
    else:
        records = parse_ncu(texts["metrics"])
    result = aggregate(records)
    result["tool"] = tool_name
    return result
