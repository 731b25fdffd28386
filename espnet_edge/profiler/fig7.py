"""The ESPNet paper's Fig. 7 for N networks from recorded runs (``espnet-edge report``).

Panels: (a) parameters and 32-bit size, (b) FPS vs GPU frequency, (c) sensitivity to the GPU frequency,
(d) CPU/GPU/EMC utilisation, (e) warp and memory efficiency (``profile --kernels`` results), (f, g) board
power over time at two GPU frequencies with the phases marked. Plus the paper-style table (Markdown and
CSV) and one HTML page holding every panel. Runs made on a simulated board are labelled simulated on
every panel, the table and the page.

Phases in (f, g): "idle" is the baseline before the network runs; "initialisation" is the warm-up (first
inferences: engine/graph set-up, allocations, caches); "execution" is the measured phase. Loading the
network happens before sampling starts and is not in the trace.
"""

import base64
import csv
import json
import os

from espnet_edge.errors import UserError
from espnet_edge.profiler import accuracy_panels, sweep

PAPER_POWER_MHZ = (824, 1134)  # ESPNet paper, Fig. 7 (f, g)
POWER_MATCH_MHZ = 50.0  # a run within this of the paper's clock stands in for it
PHASE_NAMES = (("idle", "idle"), ("warmup", "initialisation"), ("measured", "execution"))
PANELS = (
    ("a", "fig7a_size", "(a) Network size"),
    ("b", "fig7b_fps", "(b) FPS vs GPU frequency"),
    ("c", "fig7c_sensitivity", "(c) Sensitivity to GPU frequency"),
    ("d", "fig7d_utilisation", "(d) Utilisation vs GPU frequency"),
    ("e", "fig7e_kernels", "(e) Warp and memory efficiency"),
    ("f", "fig7f_power", "(f) Board power over time"),
    ("g", "fig7g_power", "(g) Board power over time"),
)
TABLE_COLUMNS = ("network", "params", "size_mb", "freq_mhz", "fps", "power_w", "energy_mj", "simulated")


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def network_size(label, settings):
    """(params, source) of a run's network: its zoo entry, else its ONNX file's initializers."""
    from espnet_edge import zoo

    names = [settings.get("model")] if settings.get("model") else []
    names += sorted((n for n in zoo.list_models() if str(label).startswith(n)), key=len, reverse=True)
    for name in names:
        try:
            return zoo.get_model(name).params, "zoo: " + zoo.get_model(name).name
        except UserError:
            continue
    path = settings.get("onnx")
    if path and os.path.isfile(path):
        try:
            import onnx
            import numpy

            model = onnx.load(path)
            count = sum(int(numpy.prod(t.dims)) for t in model.graph.initializer)
            return count, "ONNX initializers (BatchNorm folded)"
        except Exception:  # optional: onnx absent or the file unreadable
            pass
    return None, None


def power_trace(run):
    """A run's samples.csv -> {"t": [s from the first sample], "mw": [...], "phases": {name: (start, end) s}}
    (``run``: a run_record.RunSummary read by sweep.load_runs)."""
    path = os.path.join(run.folder, "samples.csv")
    times, power = [], []
    try:
        with open(path) as handle:
            for row in csv.DictReader(handle):
                if row.get("t") and row.get("total_power_mw"):
                    times.append(float(row["t"]))
                    power.append(float(row["total_power_mw"]))
    except (IOError, OSError, ValueError) as exc:
        raise UserError("cannot read {}: {}".format(path, exc))
    if not times:
        return None
    origin = times[0]
    phases = {}
    for name, _label in PHASE_NAMES:
        phase = (run.phases or {}).get(name)
        if phase:
            phases[name] = (phase["start"] - origin, phase["end"] - origin)
    return {"t": [t - origin for t in times], "mw": power, "phases": phases}


def choose_power_freqs(freqs, wanted=None):
    """Two run frequencies for (f, g): those asked for (nearest runs), else the paper's 824 and 1134 MHz
    when runs are within 50 MHz of them, else the lowest and the highest."""
    freqs = sorted(set(f for f in freqs if f))
    if not freqs:
        return []
    if wanted:
        chosen = []
        for target in wanted:
            nearest = min(freqs, key=lambda f: abs(f - target))
            if abs(nearest - target) > POWER_MATCH_MHZ:
                raise UserError("no run near {:g} MHz for the power panels (runs at {} MHz)".format(
                    target, ", ".join("{:g}".format(f) for f in freqs)))
            chosen.append(nearest)
        return chosen
    near = [min(freqs, key=lambda f: abs(f - p)) for p in PAPER_POWER_MHZ]
    if all(abs(n - p) <= POWER_MATCH_MHZ for n, p in zip(near, PAPER_POWER_MHZ)) and near[0] != near[1]:
        return near
    return [freqs[0], freqs[-1]] if len(freqs) > 1 else freqs


def load_kernel_results(paths):
    """label -> aggregate from kernels.json files (``profile --kernels``)."""
    out = {}
    for path in paths:
        data = _read_json(path)
        if not isinstance(data, dict) or "networks" not in data:
            raise UserError("{} is not a kernels.json written by espnet-edge profile --kernels".format(path))
        out.update(data["networks"])
    return out


def build(runs, power_freqs=None, kernel_files=(), simulated=None):
    """Everything Fig. 7 shows, as plain data (also written as fig7.json)."""
    report = sweep.build_report(runs)
    labels = sorted(report["models"])
    run_settings = [_read_json(os.path.join(run.folder or "", "settings.json")) or {} for run in runs]
    settings = {}
    for run, these in zip(runs, run_settings):
        settings.setdefault(run.label, these)
    sizes = {}
    for label in labels:
        params, source = network_size(label, settings.get(label, {}))
        sizes[label] = {"params": params, "size_mb": params * 4 / 1e6 if params else None, "source": source}
    is_simulated = any(these.get("simulated") for these in run_settings) if simulated is None else bool(simulated)
    kernels = {}
    for run in runs:
        path = os.path.join(run.folder or "", "kernels.json")
        if os.path.isfile(path):
            kernels.update(load_kernel_results([path]))
    kernels.update(load_kernel_results(list(kernel_files)))
    chosen = choose_power_freqs([r.freq_mhz for r in report["rows"]], power_freqs)
    traces = {}
    for freq in chosen:
        for run in runs:
            if run.pinned_mhz == freq and run.folder:
                trace = power_trace(run)
                if trace:
                    traces.setdefault("{:g}".format(freq), {})[run.label] = trace
    table = []
    for row in report["rows"]:
        size = sizes.get(row.label, {})
        table.append({
            "network": row.label, "params": size.get("params"), "size_mb": size.get("size_mb"),
            "freq_mhz": row.freq_mhz, "fps": row.fps,
            "power_w": row.power_load_mw / 1000.0 if row.power_load_mw is not None else None,
            "energy_mj": row.energy_mj, "simulated": is_simulated,
        })
    missing = list(report["missing"])
    for label in labels:
        if label not in kernels:
            missing.append("{}: no kernel-efficiency results (espnet-edge profile --kernels on the board)".format(label))
    return {"labels": labels, "sizes": sizes, "report": report, "kernels": kernels, "power_freqs": chosen,
            "traces": traces, "table": table, "simulated": is_simulated, "missing": missing,
            "settings": settings}  # label -> its run's settings.json (accuracy_panels matches evals by them)


# --- drawing ------------------------------------------------------------------------------------------
def _styles(fig7):
    return dict((label, "C{}".format(i % 10)) for i, label in enumerate(fig7["labels"]))


def _mark_simulated(ax, fig7):
    if fig7["simulated"]:
        ax.text(0.99, 0.98, "SIMULATED", transform=ax.transAxes, ha="right", va="top", fontsize=8,
                color="#b00020", fontweight="bold",
                bbox={"facecolor": "white", "edgecolor": "#b00020", "alpha": 0.85, "pad": 2})


def draw_size(ax, fig7):
    labels = fig7["labels"]
    styles = _styles(fig7)
    sizes = [fig7["sizes"][l]["size_mb"] or 0.0 for l in labels]
    bars = ax.bar(range(len(labels)), sizes, color=[styles[l] for l in labels])
    for bar, label in zip(bars, labels):
        params = fig7["sizes"][label]["params"]
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(),
                "{:.3f} M params".format(params / 1e6) if params else "n/a", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("32-bit size (MB = 10^6 bytes)")
    ax.set_ylim(0, max(sizes + [1e-6]) * 1.25)
    ax.grid(True, axis="y", alpha=0.3)


def draw_power_trace(ax, fig7, freq_key):
    from espnet_edge.profiler import plots

    traces = fig7["traces"].get(freq_key) or {}
    styles = _styles(fig7)
    if not traces:
        plots._no_data(ax, "power samples at this frequency")
        return
    top = 0.0
    labels = sorted(traces)
    for index, label in enumerate(labels):
        trace = traces[label]
        # each network drawn thinner than the one below it, so traces that coincide stay visible
        ax.plot(trace["t"], [p / 1000.0 for p in trace["mw"]], "-", color=styles.get(label), label=label,
                linewidth=1.2 + 1.6 * (len(labels) - 1 - index))
        top = max([top] + [p / 1000.0 for p in trace["mw"]])
    shades = {"idle": "0.92", "warmup": "#fde9c8", "measured": "#dff0d8"}
    first = sorted(traces)[0]
    for name, text in PHASE_NAMES:
        span = traces[first]["phases"].get(name)
        if span:
            ax.axvspan(span[0], span[1], color=shades[name], zorder=0)
            ax.text((span[0] + span[1]) / 2.0, top * 1.08, text, ha="center", va="bottom", fontsize=7, color="0.3")
    for label, trace in sorted(traces.items()):
        for name in ("warmup", "measured"):
            span = trace["phases"].get(name)
            if span:
                ax.axvline(span[0], color=styles.get(label), linestyle=":", linewidth=0.9)
    ax.set_ylim(0, top * 1.2 if top else 1)
    ax.set_xlabel("time (s); shaded phases of {}, dotted: each network's phase starts".format(first), fontsize=8)
    ax.set_ylabel("board power (W)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _panel(ax, fig7, key, title):
    from espnet_edge.profiler import plots

    report = fig7["report"]
    if key == "a":
        draw_size(ax, fig7)
    elif key == "b":
        plots.draw_fps(ax, report)
    elif key == "c":
        plots.draw_sensitivity(ax, report)
    elif key == "d":
        plots.draw_utilisation(ax, report)
    elif key == "e":
        plots.draw_kernels(ax, fig7["kernels"], _styles(fig7))
    else:
        index = 0 if key == "f" else 1
        freqs = fig7["power_freqs"]
        if index < len(freqs):
            freq = freqs[index]
            title = "{} at {:g} MHz".format(title, freq)
            draw_power_trace(ax, fig7, "{:g}".format(freq))
        else:
            plots._no_data(ax, "a second GPU frequency")
    ax.set_title(title, fontsize=10)
    _mark_simulated(ax, fig7)


def write_panels(folder, panels, draw, dpi=90):
    """One PNG per (key, file name, title) of ``panels``, drawn by ``draw(ax, key, title)``; -> the paths."""
    from espnet_edge.profiler import plots

    plt = plots._pyplot()
    paths = []
    for key, name, title in panels:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        draw(ax, key, title)
        fig.tight_layout()
        path = os.path.join(folder, name + ".png")
        plots._save(fig, path, dpi)
        plt.close(fig)
        paths.append(path)
    return paths


def write_figures(folder, fig7, dpi=90):
    """One PNG per panel and fig7.png with all of them; returns the paths."""
    from espnet_edge.profiler import plots

    plt = plots._pyplot()
    paths = write_panels(folder, PANELS, lambda ax, key, title: _panel(ax, fig7, key, title), dpi)
    fig, axes = plt.subplots(3, 3, figsize=(18, 14))
    for ax, (key, _name, title) in zip(axes.flat, PANELS):
        _panel(ax, fig7, key, title)
    for ax in axes.flat[len(PANELS):]:
        ax.axis("off")
    notes = axes.flat[-1]
    notes.text(0.0, 1.0, "\n".join(_notes(fig7)), va="top", ha="left", fontsize=8, transform=notes.transAxes)
    fig.suptitle("Fig. 7 after the ESPNet paper: " + ", ".join(fig7["labels"]) +
                 (" -- SIMULATED board, not a measurement" if fig7["simulated"] else ""),
                 color="#b00020" if fig7["simulated"] else "black")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path = os.path.join(folder, "fig7.png")
    plots._save(fig, path, dpi)
    plt.close(fig)
    return paths + [path]


def _notes(fig7):
    from espnet_edge.profiler import plots

    lines = []
    if fig7["simulated"]:
        lines.append("SIMULATED: sysfs tree and replayed tegrastats; FPS from")
        lines.append("this machine's CPU, power replayed: shapes, not a measurement")
    for label in fig7["labels"]:
        overall = fig7["report"]["models"][label]["sensitivity"]["overall"]
        lines.append("{}: sensitivity {}".format(label, "{:.0f}%".format(overall["pct"]) if overall else "n/a"))
    lines += [plots._wrap("missing: " + m, 60) for m in fig7["missing"]]
    return lines


def _fmt(value, spec):
    return "" if value is None else spec.format(value)


def table_markdown(fig7):
    head = "| network | params (M) | size (MB, fp32) | GPU MHz | FPS | power (W) | energy/frame (mJ) |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for row in fig7["table"]:
        lines.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            row["network"], _fmt(row["params"] and row["params"] / 1e6, "{:.3f}"), _fmt(row["size_mb"], "{:.2f}"),
            _fmt(row["freq_mhz"], "{:g}"), _fmt(row["fps"], "{:.2f}"), _fmt(row["power_w"], "{:.2f}"),
            _fmt(row["energy_mj"], "{:.1f}")))
    if fig7["simulated"]:
        lines.append("")
        lines.append("**Simulated board**: FPS from this machine's CPU, power from replayed tegrastats lines.")
    return "\n".join(lines) + "\n"


def write_html(path, fig7, pngs):
    """One self-contained page: the table and every panel (PNG data inline)."""
    from espnet_edge.utils.atomic import atomic_open

    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Fig. 7 report</title>",
             "<style>body{font-family:sans-serif;max-width:1300px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:2px 8px;text-align:right}.sim{color:#b00020;font-weight:bold}"
             "img{max-width:100%}</style></head><body>",
             "<h1>Fig. 7 after the ESPNet paper: {}</h1>".format(", ".join(fig7["labels"]))]
    if fig7["simulated"]:
        parts.append("<p class='sim'>SIMULATED board (simulated sysfs tree, replayed tegrastats): the panels show "
                     "what the figure looks like, not a measurement.</p>")
    parts.append("<table><tr>" + "".join("<th>{}</th>".format(c) for c in TABLE_COLUMNS) + "</tr>")
    for row in fig7["table"]:
        parts.append("<tr>" + "".join("<td>{}</td>".format("" if row[c] is None else row[c]) for c in TABLE_COLUMNS)
                     + "</tr>")
    parts.append("</table>")
    parts += accuracy_panels.html(fig7)
    for png in pngs:
        with open(png, "rb") as handle:
            data = base64.b64encode(handle.read()).decode("ascii")
        parts.append("<h2>{}</h2><img alt='{}' src='data:image/png;base64,{}'>".format(
            os.path.basename(png), os.path.basename(png), data))
    if fig7["missing"]:
        parts.append("<h2>Missing</h2><ul>" + "".join("<li>{}</li>".format(m) for m in fig7["missing"]) + "</ul>")
    parts.append("</body></html>")
    with atomic_open(path) as handle:
        handle.write("\n".join(parts))
    return path


def write_report(folder, fig7):
    """fig7.json, fig7_table.md/.csv, the PNGs and fig7.html into ``folder``; returns the PNG paths."""
    from espnet_edge.utils.atomic import atomic_open, write_json

    pngs = write_figures(folder, fig7)
    pngs = pngs[:-1] + accuracy_panels.write_figures(folder, fig7) + pngs[-1:]  # fig7.png stays last
    with atomic_open(os.path.join(folder, "fig7_table.md")) as handle:
        handle.write(table_markdown(fig7))
    with atomic_open(os.path.join(folder, "fig7_table.csv")) as handle:
        writer = csv.writer(handle)
        writer.writerow(TABLE_COLUMNS)
        for row in fig7["table"]:
            writer.writerow(["" if row[c] is None else row[c] for c in TABLE_COLUMNS])
    write_html(os.path.join(folder, "fig7.html"), fig7, pngs)
    data = dict(fig7, report=sweep.report_json(fig7["report"]))
    data["traces"] = dict((f, dict((l, {"phases": t["phases"], "samples": len(t["t"])}) for l, t in v.items()))
                          for f, v in fig7["traces"].items())
    data["figures"] = [os.path.basename(p) for p in pngs]
    write_json(os.path.join(folder, "fig7.json"), data)
    return pngs
