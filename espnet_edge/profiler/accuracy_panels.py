"""Accuracy beside efficiency on the Fig. 7 page (``espnet-edge report ... --accuracy EVAL.json``).

Eval results (``espnet-edge eval --json``) are matched to the report's networks (profile/sweep runs), each
run to at most one eval, in this order:
1. "file": the eval ran the file the run profiled (same ONNX/engine file name);
2. "model+precision+backend": same zoo model, precision and backend;
3. "model+precision": same model and precision, measured on another backend (said in the notes).
A network with no match is listed under "missing". Panels: (h) mIoU per network (precision, backend)
with the published figure where the eval printed one, (i) mIoU against FPS and (j) mIoU against energy per
frame, one point per GPU frequency: the paper's accuracy/efficiency trade-off.
"""

import json
import os

from espnet_edge import zoo
from espnet_edge.errors import UserError
from espnet_edge.profiler import plots

PANELS = (
    ("h", "fig7h_accuracy", "(h) mIoU per network (precision, backend)"),
    ("i", "fig7i_miou_fps", "(i) mIoU against FPS"),
    ("j", "fig7j_miou_energy", "(j) mIoU against energy per frame"),
)
EVAL_NAMES = ("eval.json",)  # read from a folder named on the command line


def read_eval(path):
    """An eval JSON -> its dict; UserError unless `espnet-edge eval --json` wrote it."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError) as exc:
        raise UserError("cannot read --accuracy {}: {}".format(path, exc))
    if not isinstance(data, dict) or not all(k in data for k in ("model", "miou", "confusion", "format")):
        raise UserError("--accuracy {} is not an eval result (write one with `espnet-edge eval ... --json "
                        "FILE`)".format(path))
    data["_path"] = path
    return data


def find_evals(folders):
    """The eval JSONs lying directly in folders named on the command line (``eval.json``, ``eval-*.json``)."""
    found = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name in EVAL_NAMES or (name.startswith("eval-") and name.endswith(".json")):
                found.append(os.path.join(folder, name))
    return found


def _zoo_name(label, settings):
    if settings.get("model"):
        return settings["model"]
    names = sorted((n for n in zoo.list_models() if str(label).startswith(n)), key=len, reverse=True)
    return names[0] if names else label


def run_key(label, settings):
    """What a profiled network was: model, precision, backend and file (name only)."""
    runner = settings.get("runner") or {}
    path = settings.get("onnx") or settings.get("engine") or runner.get("onnx") or runner.get("engine")
    return {"model": _zoo_name(label, settings), "precision": runner.get("precision"),
            "backend": runner.get("backend") or settings.get("backend"),
            "file": os.path.basename(path) if path else None}


def eval_key(result):
    path = result.get("file")
    return {"model": result.get("model"), "precision": result.get("precision"), "backend": result.get("backend"),
            "file": os.path.basename(path) if path else None}


def _same(run, ev, fields):
    return all(run[f] is not None and run[f] == ev[f] for f in fields)


RULES = (("file", ("file",)), ("model+precision+backend", ("model", "precision", "backend")),
         ("model+precision", ("model", "precision")))


def match(labels, settings, evals):
    """-> ({label: (eval result, rule)}, [notes]) by RULES, first rule that finds one eval wins."""
    matched, notes = {}, []
    for label in labels:
        run = run_key(label, settings.get(label) or {})
        for rule, fields in RULES:
            hits = [ev for ev in evals if _same(run, eval_key(ev), fields)]
            if not hits:
                continue
            if len(hits) > 1:
                notes.append("{}: {} eval results match by {} ({}); took the first: evaluate the profiled file "
                             "itself (eval --onnx/--engine FILE) to match exactly".format(
                                 label, len(hits), rule, ", ".join(os.path.basename(h["_path"]) for h in hits)))
            matched[label] = (hits[0], rule)
            if rule == "model+precision":
                notes.append("{}: accuracy measured on {} ({} profiled)".format(
                    label, hits[0].get("backend"), run["backend"]))
            break
        else:
            notes.append("{}: no accuracy (no eval result for {} {} on {}): espnet-edge eval ... --json FILE, "
                         "then report ... --accuracy FILE".format(label, run["model"], run["precision"] or "",
                                                                 run["backend"] or "its backend"))
    return matched, notes


def _published_miou(result):
    rows = [p for p in result.get("published") or [] if p.get("metric") == "miou"]
    return rows[0] if rows else None


def build(fig7, eval_paths):
    """fig7's data + eval results -> the accuracy section (plain data, also in fig7.json)."""
    evals = [read_eval(path) for path in eval_paths]
    matched, notes = match(fig7["labels"], fig7.get("settings") or {}, evals)
    networks = {}
    for label, (result, rule) in sorted(matched.items()):
        points = [{"freq_mhz": row["freq_mhz"], "fps": row["fps"], "energy_mj": row["energy_mj"]}
                  for row in fig7["table"] if row["network"] == label]
        figure = _published_miou(result)
        networks[label] = {
            "miou": result["miou"], "class_average": result.get("class_average"),
            "convention": result.get("convention", "standard"), "precision": result.get("precision"),
            "backend": result.get("backend"), "data": "{} {}{}".format(
                result["format"], result.get("split") or "", " ({} images)".format(result.get("images"))),
            "eval": result["_path"], "matched_by": rule, "points": points,
            "published_miou": figure and {"value": figure["published"], "convention": figure["convention"],
                                          "measured": figure["measured"], "cite": figure["cite"]},
        }
    return {"networks": networks, "evals": [ev["_path"] for ev in evals], "notes": notes}


def attach(fig7, eval_paths):
    """Add fig7["accuracy"] (when eval results are given) and its notes to fig7["missing"]."""
    if not eval_paths:
        fig7["missing"].append("no accuracy beside efficiency: espnet-edge eval ... --json FILE, then "
                               "report ... --accuracy FILE (or an eval.json in a RUNS folder)")
        return fig7
    fig7["accuracy"] = build(fig7, eval_paths)
    fig7["missing"].extend(fig7["accuracy"]["notes"])
    return fig7


# --- drawing ------------------------------------------------------------------------------------------
def _pct(value):
    return None if value is None else 100.0 * value


def draw_accuracy(ax, fig7, styles):
    networks = fig7["accuracy"]["networks"]
    labels = sorted(networks)
    for index, label in enumerate(labels):
        net = networks[label]
        ax.barh(index, _pct(net["miou"]), color=styles.get(label), height=0.6)
        ax.text(_pct(net["miou"]), index, " {:.2f}".format(_pct(net["miou"])), va="center", fontsize=8)
        figure = net["published_miou"]
        if figure:
            ax.plot([_pct(figure["value"])] * 2, [index - 0.4, index + 0.4], color="black", linewidth=2)
            ax.text(_pct(figure["value"]), index + 0.42, "published {:.2f}{}".format(
                _pct(figure["value"]), " (void counted; measured so: {:.2f})".format(_pct(figure["measured"]))
                if figure["convention"] != net["convention"] else ""), fontsize=7, ha="center", va="bottom")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(["{}\n({}, {})".format(l, networks[l]["precision"], networks[l]["backend"]) for l in labels],
                       fontsize=8)
    ax.set_ylim(-0.6, len(labels) - 0.2)
    ax.set_xlim(0, 100)
    conventions = sorted(set(networks[l]["convention"] for l in labels))
    data = sorted(set(networks[l]["data"] for l in labels))
    ax.set_xlabel("mIoU (%), {}; {}".format("/".join(conventions), "; ".join(data)), fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)


def draw_tradeoff(ax, fig7, styles, key, xlabel):
    networks = fig7["accuracy"]["networks"]
    drawn = False
    for index, label in enumerate(sorted(networks)):
        net = networks[label]
        points = sorted((p[key], p["freq_mhz"]) for p in net["points"] if p.get(key) is not None)
        if not points:
            continue
        xs = [x for x, _ in points]
        ys = [_pct(net["miou"])] * len(xs)
        ax.plot(xs, ys, "-", color=styles.get(label), label=label, marker="os^Dv"[index % 5], markersize=5)
        for x, freq in (points[0], points[-1]) if len(points) > 1 else points:
            # networks of about the same mIoU: their clock labels above and below the line in turn
            ax.annotate("{:g} MHz".format(freq) if freq else "", (x, ys[0]), textcoords="offset points",
                        xytext=(0, 6 if index % 2 == 0 else -13), ha="center", fontsize=7, color=styles.get(label))
        drawn = True
    if not drawn:
        plots._no_data(ax, "{} beside an accuracy".format(xlabel.split(" (")[0]))
        return
    ax.set_xlabel(xlabel + "; one point per GPU frequency")
    ax.set_ylabel("mIoU (%)")
    low, high = ax.get_ylim()
    ax.set_ylim(max(0.0, low - 5), min(100.0, high + 5))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _panel(ax, fig7, key, title):
    from espnet_edge.profiler import fig7 as figure7

    styles = figure7._styles(fig7)
    if key == "h":
        draw_accuracy(ax, fig7, styles)
    elif key == "i":
        draw_tradeoff(ax, fig7, styles, "fps", "FPS")
    else:
        draw_tradeoff(ax, fig7, styles, "energy_mj", "energy per frame (mJ)")
    ax.set_title(title, fontsize=10)
    figure7._mark_simulated(ax, fig7)


def write_figures(folder, fig7, dpi=90):
    """One PNG per accuracy panel; [] when the report has no accuracy."""
    from espnet_edge.profiler import fig7 as figure7

    if not (fig7.get("accuracy") or {}).get("networks"):
        return []
    return figure7.write_panels(folder, PANELS, lambda ax, key, title: _panel(ax, fig7, key, title), dpi)


def html(fig7):
    """The accuracy table of the Fig. 7 page (HTML lines; none without accuracy)."""
    networks = (fig7.get("accuracy") or {}).get("networks")
    if not networks:
        return []
    head = ("network", "precision", "backend", "data", "mIoU %", "class avg %", "convention", "published",
            "matched by", "eval")
    parts = ["<h2>Accuracy (espnet-edge eval)</h2><table><tr>" + "".join("<th>{}</th>".format(h) for h in head)
             + "</tr>"]
    for label, net in sorted(networks.items()):
        figure = net["published_miou"]
        cells = (label, net["precision"], net["backend"], net["data"], "{:.2f}".format(_pct(net["miou"])),
                 "" if net["class_average"] is None else "{:.2f}".format(_pct(net["class_average"])),
                 net["convention"], "{:.2f} ({}, {})".format(_pct(figure["value"]), figure["convention"], figure["cite"])
                 if figure else "", net["matched_by"], os.path.basename(net["eval"]))
        parts.append("<tr>" + "".join("<td>{}</td>".format(_escape(c)) for c in cells) + "</tr>")
    parts.append("</table>")
    return parts


def _escape(value):
    return str("" if value is None else value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
