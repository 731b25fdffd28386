"""GPU-frequency sweeps: the table and figures of the ESPNet paper (Fig. 7) from profiled runs.

A sweep folder holds ``runs/<label>-<freq>MHz/`` (one profile run each, the same files as
``espnet-edge profile``), ``summary.json``, ``sweep.csv`` and the PNG figures. ``--from-logs``
rebuilds everything but the runs from run folders recorded elsewhere.
"""

import logging
import os

from espnet_edge.errors import UserError
from espnet_edge.profiler.run_folders import interrupted_note
from espnet_edge.profiler.run_record import RunSummary, SummaryRow, read_summary_json

log = logging.getLogger(__name__)

UNKNOWN_STEP_MHZ = 10.0  # a requested frequency farther than this from every table step is a typo


def check_freqs(freqs, table_mhz):
    """Each requested MHz -> the table step it will run at; UserError for unknown or colliding steps.
    Range and nearest step are the pin's own rule (``clocks.snap_to_table``); a sweep also refuses a
    frequency farther than UNKNOWN_STEP_MHZ from every step (a typo, not a rounding)."""
    if not table_mhz:
        return dict((f, None) for f in freqs)
    from espnet_edge.jetson.clocks import mhz, snap_to_table

    table_hz = [int(round(step * 1e6)) for step in table_mhz]
    steps = {}
    for freq in freqs:
        nearest = mhz(snap_to_table(freq, table_hz))
        if abs(nearest - freq) > UNKNOWN_STEP_MHZ:
            close = sorted(table_mhz, key=lambda step: abs(step - freq))[:3]
            raise UserError("{} MHz is not a step of this GPU (nearest: {}); pick from "
                            "`espnet-edge clocks show`".format(freq, ", ".join("{:g}".format(s) for s in sorted(close))))
        steps[freq] = nearest
    seen = {}
    for freq, step in steps.items():
        if step in seen:
            raise UserError("{} and {} MHz are the same GPU step ({:g} MHz); list each step once".format(
                seen[step], freq, step))
        seen[step] = freq
    return steps


def gpu_table_mhz():
    """The primary GPU's available_frequencies in MHz, or [] when this is not a Jetson."""
    from espnet_edge.jetson import clocks, detect

    info = detect.detect()
    if not info.is_jetson:
        return []
    return [clocks.mhz(hz) for hz in clocks.GpuState(info.gpus[0]).table]


def load_runs(folders):
    """RunSummary (run_record) of each run folder under ``folders`` (a run folder itself, or a folder of
    them). A summary.json holding a value of the wrong type is skipped with a one-line warning naming
    the file and the key."""
    runs = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise UserError("{} is not a folder of profile runs".format(folder))
        candidates = [folder] if os.path.isfile(os.path.join(folder, "summary.json")) else []
        if not candidates:
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                if "summary.json" in files and "samples.csv" in files:
                    candidates.append(root)
                note = interrupted_note(root)
                if note:
                    log.warning(note)
        for run_dir in candidates:
            summary = _load_run(run_dir)
            if summary is not None:
                runs.append(summary)
    if not runs:
        raise UserError("no profile runs (folders with summary.json and samples.csv) under {}".format(
            ", ".join(folders)))
    return runs


def _load_run(run_dir):
    path = os.path.join(run_dir, "summary.json")
    data = read_summary_json(path)  # a file that is not a summary at all: the one-line error
    try:
        summary = RunSummary.from_dict(data, source=path, folder=run_dir)  # folder: samples.csv, settings.json
    except UserError as exc:
        log.warning("%s; run skipped", exc)
        return None
    run = summary.run or os.path.basename(run_dir)
    return summary._replace(run=run, label=summary.label or run)


def table_rows(runs):
    """One SummaryRow per run, sorted by label then frequency."""
    rows = [run.row() for run in runs]
    rows.sort(key=lambda r: (str(r.label), r.freq_mhz if r.freq_mhz is not None else -1))
    return rows


def report_json(report):
    """The sweep report as the JSON document summary.json (and fig7.json) hold: rows as objects."""
    return dict(report, rows=[row.to_dict() for row in report["rows"]])


def sensitivity(points):
    """The paper's sensitivity to GPU frequency: % change in execution time / % change in frequency.

    ``points`` = [(freq_mhz, exec_time)] of one model. Returned as percentages, positive when the
    higher clock runs faster (100 = time falls by the same percentage as the clock rises):
    {"neighbours": [{"from_mhz", "to_mhz", "pct"}], "overall": {...}} (overall: lowest to highest).
    """
    pts = sorted((f, t) for f, t in points if f and t)

    def one(lo, hi):
        (f0, t0), (f1, t1) = lo, hi
        pct = -((t1 - t0) / t0) / ((f1 - f0) / f0) * 100.0
        return {"from_mhz": f0, "to_mhz": f1, "time_change_pct": (t1 - t0) / t0 * 100.0,
                "freq_change_pct": (f1 - f0) / f0 * 100.0, "pct": pct}

    neighbours = [one(pts[i], pts[i + 1]) for i in range(len(pts) - 1) if pts[i + 1][0] > pts[i][0]]
    overall = one(pts[0], pts[-1]) if len(pts) >= 2 and pts[-1][0] > pts[0][0] else None
    return {"neighbours": neighbours, "overall": overall}


def build_report(runs):
    """A sweep's report: rows (SummaryRow), per-label series and sensitivities, what is missing
    (``report_json`` makes it the sweep's summary.json)."""
    rows = table_rows(runs)
    labels = []
    for row in rows:
        if row.label not in labels:
            labels.append(row.label)
    models = {}
    missing = []
    for label in labels:
        mine = [r for r in rows if r.label == label]
        with_freq = [r for r in mine if r.freq_mhz]
        unpinned = [r for r in mine if not r.freq_mhz]
        if unpinned:
            seen = sum(1 for r in unpinned if r.gpu_clock_seen_mhz)
            shown = ("; FPS vs GPU frequency shows {} of them at the GPU clock read during the run (hollow "
                     "marker)".format(seen)) if seen else ""
            missing.append("{}: {} run(s) without a pinned GPU frequency (profile --freq MHz) are left out of "
                           "the frequency figures{}".format(label, len(unpinned), shown))
        models[label] = {
            "freqs_mhz": [r.freq_mhz for r in with_freq],
            "sensitivity": sensitivity([(r.freq_mhz, r.exec_ms) for r in with_freq]),
        }
        if not any(r.power_load_mw is not None for r in mine):
            missing.append("{}: no power figures (no power rails in its samples)".format(label))
    return {"models": models, "rows": rows, "missing": missing}


# sweep.csv's columns: every SummaryRow field, in its order
CSV_COLUMNS = SummaryRow._fields


def write_report(folder, report, make_plots=True):
    """sweep.csv, summary.json and the figures into ``folder`` (which exists); returns the PNG paths."""
    import csv

    from espnet_edge.utils.atomic import atomic_open, write_json

    with atomic_open(os.path.join(folder, "sweep.csv")) as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in report["rows"]:
            writer.writerow(["" if getattr(row, c) is None else getattr(row, c) for c in CSV_COLUMNS])
    pngs = []
    if make_plots:
        from espnet_edge.profiler import plots

        pngs = plots.write_figures(folder, report)
    report["figures"] = [os.path.basename(p) for p in pngs]
    write_json(os.path.join(folder, "summary.json"), report_json(report))
    return pngs
