"""PNG figures of a sweep, after the ESPNet paper's Fig. 7 (matplotlib, Agg backend, imported lazily)."""

import os

from espnet_edge.utils.atomic import atomic_path

FIGURES = (
    ("fps_vs_freq", "Frames per second vs GPU frequency"),
    ("sensitivity", "Sensitivity to GPU frequency"),
    ("power_vs_freq", "Power vs GPU frequency"),
    ("energy_vs_freq", "Energy per frame vs GPU frequency"),
    ("utilisation_vs_freq", "Utilisation vs GPU frequency"),
)
MARKERS = "osD^vP*X"
THROTTLED_LABEL = "throttled run"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from espnet_edge.errors import MissingDependency
        raise MissingDependency("the sweep figures need matplotlib: pip install matplotlib "
                                "(the table and summary.json were written)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _series(report, key):
    """label -> ([freq], [value]) for rows that have both."""
    out = {}
    for row in report["rows"]:
        if row.freq_mhz and getattr(row, key) is not None:
            xs, ys = out.setdefault(row.label, ([], []))
            xs.append(row.freq_mhz)
            ys.append(getattr(row, key))
    return out


def _no_data(ax, what):
    ax.text(0.5, 0.5, "no {} in these runs".format(what), ha="center", va="center",
            transform=ax.transAxes, color="0.4")


def _style(report, label):
    """The same colour and marker for a model in every panel."""
    labels = sorted(set(row.label for row in report["rows"]))
    index = labels.index(label) if label in labels else 0
    return {"color": "C{}".format(index % 10), "marker": MARKERS[index % len(MARKERS)]}


def _extra(ax, report, key, suffix, linestyle):
    data = _series(report, key)
    for label, (xs, ys) in sorted(data.items()):
        ax.plot(xs, ys, linestyle, fillstyle="none", label=label + suffix, **_style(report, label))
    return data


def _top(ax, *series):
    values = [y for data in series for _xs, ys in data.values() for y in ys]
    if values:
        low = min(0.0, min(values) * 1.12)  # energy above idle can be negative: show it, not clip it
        ax.set_ylim(low, max(max(values) * 1.12, 1e-9))
        if low < 0:
            ax.axhline(0, color="0.3", linewidth=0.8)


def _lines(ax, report, key, ylabel, what, style="-"):
    data = _series(report, key)
    for label, (xs, ys) in sorted(data.items()):
        ax.plot(xs, ys, style, label=label, **_style(report, label))
    ax.set_xlabel("GPU frequency (MHz)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if not data and what:
        _no_data(ax, what)
    _mark_throttled(ax, report, key)
    return data


def _unpinned(report, key):
    """label -> ([GPU clock read during the run], [value]) for runs made without a pinned frequency."""
    out = {}
    for row in report["rows"]:
        if not row.freq_mhz and row.gpu_clock_seen_mhz and getattr(row, key) is not None:
            xs, ys = out.setdefault(row.label, ([], []))
            xs.append(row.gpu_clock_seen_mhz)
            ys.append(getattr(row, key))
    return out


def _model_lines(ax):
    return [line for line in ax.get_lines() if line.get_label() != THROTTLED_LABEL]


def _mark_throttled(ax, report, key):
    """A red ring around every point of a run the profiler flagged as throttled."""
    hot = [(r.freq_mhz, getattr(r, key)) for r in report["rows"]
           if r.throttled and r.freq_mhz and getattr(r, key) is not None]
    if hot:
        ax.plot([x for x, _y in hot], [y for _x, y in hot], "o", markersize=14, markerfacecolor="none",
                markeredgecolor="red", markeredgewidth=1.5, linestyle="none", label=THROTTLED_LABEL)


def draw_fps(ax, report):
    """FPS at each pinned GPU clock (lines); runs made without --freq as hollow markers at the clock
    read during the run."""
    data = _lines(ax, report, "fps", "frames per second", None)
    seen = _unpinned(report, "fps")
    for label, (xs, ys) in sorted(seen.items()):
        ax.plot(xs, ys, linestyle="none", fillstyle="none", markersize=10, markeredgewidth=1.5,
                label=label + " (clock not pinned)", **_style(report, label))
    if data or seen:
        ax.legend(fontsize=8, loc="lower right")
    else:
        with_fps = sum(1 for row in report["rows"] if row.fps is not None)
        _no_data(ax, "GPU clock (pinned or read) for the {} run(s) with FPS".format(with_fps) if with_fps else "FPS")
    _top(ax, data, seen)


def draw_sensitivity(ax, report):
    """Grouped bars: one group per neighbouring-frequency interval, one bar per model, plus overall."""
    models = [(label, m["sensitivity"]) for label, m in sorted(report["models"].items())
              if m["sensitivity"]["neighbours"]]
    if not models:
        _no_data(ax, "two or more frequencies")
        return
    groups = []
    for _label, sens in models:
        for item in sens["neighbours"]:
            key = "{:g}-{:g}".format(item["from_mhz"], item["to_mhz"])
            if key not in groups:
                groups.append(key)
    groups.append("overall")
    width = 0.8 / len(models)
    for index, (label, sens) in enumerate(models):
        values = dict(("{:g}-{:g}".format(i["from_mhz"], i["to_mhz"]), i["pct"]) for i in sens["neighbours"])
        if sens["overall"]:
            values["overall"] = sens["overall"]["pct"]
        xs = [g + (index - (len(models) - 1) / 2.0) * width for g in range(len(groups))]
        ax.bar(xs, [values.get(g, 0.0) for g in groups], width, label=label,
               color=_style(report, label)["color"])
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel("GPU frequency interval (MHz)")
    ax.set_ylabel("sensitivity (%)\n= -(time change %) / (freq change %)", fontsize=9)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)


def draw_power(ax, report):
    load = _lines(ax, report, "power_load_mw", "mean power (mW)", "power readings")
    for line in _model_lines(ax):
        line.set_label(line.get_label() + " load")
    idle = _extra(ax, report, "power_idle_mw", " idle", ":")
    if load or idle:
        ax.legend(fontsize=8, loc="lower right")
        _top(ax, load, idle)


def draw_energy(ax, report):
    gross = _lines(ax, report, "energy_mj", "energy per frame (mJ)", "power readings")
    for line in _model_lines(ax):
        line.set_label(line.get_label() + " gross")
    above = _extra(ax, report, "energy_above_idle_mj", " above idle", "--")
    if gross:
        ax.legend(fontsize=8, loc="best")
        _top(ax, gross, above)


def draw_utilisation(ax, report):
    gpu = _lines(ax, report, "gpu_util_pct", "utilisation under load (%)", "utilisation readings")
    for line in _model_lines(ax):
        line.set_label(line.get_label() + " GPU")
    cpu = _extra(ax, report, "cpu_util_pct", " CPU", "--")
    emc = _extra(ax, report, "emc_util_pct", " EMC", ":")
    if gpu or cpu or emc:
        ax.legend(fontsize=8, loc="best")
    ax.set_ylim(0, 105)


DRAW = {"fps_vs_freq": draw_fps, "sensitivity": draw_sensitivity, "power_vs_freq": draw_power,
        "energy_vs_freq": draw_energy, "utilisation_vs_freq": draw_utilisation}


def _save(fig, path, dpi=90):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def write_figures(folder, report, dpi=90):
    """One PNG per figure plus ``sweep.png`` with all panels; returns their paths."""
    plt = _pyplot()
    paths = []
    for name, title in FIGURES:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        DRAW[name](ax, report)
        ax.set_title(title)
        fig.tight_layout()
        path = os.path.join(folder, name + ".png")
        _save(fig, path, dpi)
        plt.close(fig)
        paths.append(path)
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    for ax, (name, title) in zip(axes.flat, FIGURES):
        DRAW[name](ax, report)
        ax.set_title(title)
    axes.flat[-1].axis("off")
    _describe(axes.flat[-1], report)
    fig.suptitle("GPU frequency sweep: " + ", ".join(sorted(report["models"])))
    fig.tight_layout()
    path = os.path.join(folder, "sweep.png")
    _save(fig, path, dpi)
    plt.close(fig)
    paths.append(path)
    return paths


def _describe(ax, report):
    lines = []
    for label, model in sorted(report["models"].items()):
        overall = model["sensitivity"]["overall"]
        lines.append("{}: overall sensitivity {}".format(
            label, "{:.0f}% ({:g}->{:g} MHz)".format(overall["pct"], overall["from_mhz"], overall["to_mhz"])
            if overall else "n/a"))
    methods = sorted(set(r.power_method for r in report["rows"] if r.power_method))
    lines += ["power: " + m for m in methods]
    sources = sorted(set(r.energy_source for r in report["rows"] if r.energy_source))
    lines += ["energy: " + m for m in sources]
    lines += ["THROTTLED: {} at {:g} MHz (red rings)".format(r.label, r.freq_mhz)
              for r in report["rows"] if r.throttled and r.freq_mhz]
    lines += ["missing: " + m for m in report.get("missing") or []]
    ax.text(0.0, 1.0, "\n".join(_wrap(l) for l in lines), va="top", ha="left", fontsize=8,
            transform=ax.transAxes)


def _wrap(text, width=70):
    import textwrap
    return "\n".join(textwrap.wrap(text, width)) or text


# --- Fig. 7e: kernel efficiency ------------------------------------------------------------------------
def draw_kernels(ax, kernels, styles=None):
    """Grouped bars: one group per efficiency metric, one bar per network (``kernels``: label -> aggregate)."""
    from espnet_edge.profiler.kernels import LABELS, METRICS

    labels = sorted(kernels)
    if not labels:
        ax.text(0.5, 0.5, "no kernel-efficiency data in these runs\n(espnet-edge profile --kernels,\nrun on the board's GPU)",
                ha="center", va="center", transform=ax.transAxes, color="0.4")
        ax.set_xticks([])
        return
    width = 0.8 / len(labels)
    for index, label in enumerate(labels):
        values = [kernels[label]["network"].get(m) for m in METRICS]
        xs = [g + (index - (len(labels) - 1) / 2.0) * width for g in range(len(METRICS))]
        color = (styles or {}).get(label, "C{}".format(index % 10))
        weights = "GPU-time" if kernels[label].get("weights") == "gpu time" else "call-count"
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width, color=color,
               label="{} ({}-weighted)".format(label, weights))
        for x, value in zip(xs, values):
            if value is None:
                ax.text(x, 1, "n/a", ha="center", va="bottom", fontsize=7, color=color, rotation=90)
    ax.set_xticks(range(len(METRICS)))
    ax.set_xticklabels([LABELS[m] for m in METRICS], fontsize=8)
    ax.set_ylabel("efficiency (%), mean over kernels")
    ax.set_ylim(0, 125)
    ax.set_yticks(range(0, 101, 20))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", ncol=2)


def write_kernel_figure(path, results, dpi=90):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    draw_kernels(ax, results["networks"])
    ax.set_title("Warp and memory efficiency ({})".format(results.get("tool", "profiler")))
    fig.tight_layout()
    _save(fig, path, dpi)
    plt.close(fig)
    return [path]
