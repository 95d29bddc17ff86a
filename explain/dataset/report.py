"""The report of a finished dataset run: one self-contained HTML page, its figures drawn by matplotlib
and embedded as PNG.

    python -m explain.report run/            # writes run/report.html

It shows the run's settings and counts, the files that could not be explained (with why), the
accuracy per class when true classes are known, how confident the model was, the distribution of
each map's metrics when they were computed, and the images the model was most and least confident
about with their maps.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from explain.measure.statistics import wilson  # noqa: E402
from vit_hybrid.images import ImageError, load_image  # noqa: E402

from . import manifest  # noqa: E402
from .table import METRICS, read_rows  # noqa: E402

EXAMPLES = 5  # images shown among the most, and among the least, confident


def _embed(figure: plt.Figure, alt: str) -> str:
    """The figure as an <img> carrying its PNG (the page needs no other file)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _rate_bars(axes: plt.Axes, names: list[str], counts: list[tuple[int, int]], title: str) -> None:
    """Proportions (hits of n) as bars with their 95% Wilson intervals."""
    rates = [wilson(hits, n) for hits, n in counts]
    errors = [[max(0.0, p - low) for p, low, _ in rates], [max(0.0, high - p) for p, _, high in rates]]
    axes.bar(names, [p for p, _, _ in rates], yerr=errors, color="#4c72b0", capsize=3)
    axes.set(ylim=(0, 1.05), title=title)
    axes.tick_params(axis="x", rotation=45)


def _accuracy(rows: list[dict[str, Any]]) -> str:
    """Accuracy of the top prediction per true class, with 95% intervals."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        counts = hits[row["true_label"]]
        counts[0] += row["predictions"][0]["index"] == row["true_index"]
        counts[1] += 1
    names = sorted(hits)
    figure, axes = plt.subplots(figsize=(max(4.0, 0.6 * len(names) + 2), 3))
    _rate_bars(axes, names, [tuple(hits[n]) for n in names], "Accuracy per true class (95% intervals)")
    correct = sum(h[0] for h in hits.values())
    total = sum(h[1] for h in hits.values())
    return f"<h2>Accuracy</h2><p>{correct} of {total} correct ({correct / total:.1%}).</p>" + _embed(figure, "accuracy per class")


def _confidence(rows: list[dict[str, Any]]) -> str:
    figure, axes = plt.subplots(figsize=(6, 3))
    top = np.array([r["predictions"][0]["probability"] for r in rows])
    known = np.array([r["true_index"] is not None for r in rows])
    right = np.array([r["predictions"][0]["index"] == r["true_index"] for r in rows])
    groups = [(top[known & right], "correct", "#55a868"), (top[known & ~right], "wrong", "#c44e52"),
              (top[~known], "no true class", "#4c72b0")]
    groups = [g for g in groups if len(g[0])]
    axes.hist([g[0] for g in groups], bins=20, range=(0, 1), stacked=True, label=[g[1] for g in groups],
              color=[g[2] for g in groups])
    axes.legend()
    axes.set(xlabel="probability of the top prediction", ylabel="images", title="Confidence")
    return "<h2>Confidence</h2>" + _embed(figure, "confidence")


def _metrics(rows: list[dict[str, Any]]) -> str:
    """Each metric's distribution per map, beside its random-order baseline where it has one."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        for record in row["maps"]:
            for metric in METRICS:
                if record[metric] is not None:
                    values[metric][record["name"]].append(float(record[metric]))
    if not values:
        return ("<h2>Metrics</h2><p>No metrics were computed: run with <code>--faithfulness</code> "
                "(deletion and insertion) or <code>--masks</code> (pointing game, energy inside).</p>")
    shown = [m for m in ("deletion", "insertion", "energy_inside", "pointing_game") if m in values]
    figure, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], shown):
        names = list(values[metric])
        if metric == "pointing_game":
            counts = [(int(sum(values[metric][n])), len(values[metric][n])) for n in names]
            _rate_bars(ax, names, counts, "pointing game (hit rate)")
        else:
            data = [values[metric][n] for n in names]
            labels = list(names)
            if f"random_{metric}" in values:
                data += [[v for n in names for v in values[f"random_{metric}"][n]]]
                labels += ["random order"]
            ax.boxplot(data, tick_labels=labels)
            better = {"deletion": "lower", "insertion": "higher", "energy_inside": "higher"}[metric]
            ax.set(title=f"{metric.replace('_', ' ')} ({better} is better)")
            ax.tick_params(axis="x", rotation=45)
    return "<h2>Metrics</h2>" + _embed(figure, "metrics per map")


def _picture(settings: dict[str, Any], key: str) -> np.ndarray | None:
    """The image a row was made from, small, or None when it can no longer be read."""
    path = Path(key) if Path(key).is_absolute() else Path(settings["source"]) / key
    try:
        image = load_image(path)
    except ImageError:
        return None
    image.thumbnail((256, 256))
    return np.asarray(image)


def _examples(rows: list[dict[str, Any]], settings: dict[str, Any], title: str) -> str:
    """Each image with every map over the region the model saw."""
    columns = 1 + max(len(r["maps"]) for r in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.4 * columns, 2.6 * len(rows)), squeeze=False)
    for line, row in zip(axes, rows):
        height, width = row["original_size"]
        left, top, right, bottom = row["crop_box"]
        picture = _picture(settings, row["path"])
        top_prediction = row["predictions"][0]
        caption = f"{top_prediction['label']} {top_prediction['probability']:.1%}"
        if row["true_label"] is not None:
            caption += f"\ntrue: {row['true_label']}"
        for ax, record in zip(line, [None, *row["maps"]]):
            ax.set_axis_off()
            if picture is not None:
                ax.imshow(picture, extent=(0, width, height, 0))
            if record is not None:
                ax.imshow(np.asarray(record["values"]), extent=(left, right, bottom, top), cmap="inferno",
                          alpha=0.6 if picture is not None else 1.0, interpolation="bilinear")
            ax.set_xlim(0, width)
            ax.set_ylim(height, 0)
            ax.set_title(f"{row['path'][-28:]}\n{caption}" if record is None else record["name"], fontsize=8)
    return f"<h2>{html.escape(title)}</h2>" + _embed(figure, title)


def report(out: Path, examples: int = EXAMPLES) -> str:
    """The report page of the run in `out`, as HTML."""
    settings = manifest.read(out)
    rows = read_rows(out).to_pylist()
    explained = [r for r in rows if r["error"] is None]
    failed = [r for r in rows if r["error"] is not None]
    parts = [f"<h1>Dataset run: {html.escape(str(out))}</h1>",
             f"<p>{len(explained)} images explained, {len(failed)} could not be.</p>",
             "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                                 for k, v in settings.items()) + "</table>"]
    if failed:
        parts.append("<h2>Files that could not be explained</h2><table>" + "".join(
            f"<tr><td>{html.escape(r['path'])}</td><td>{html.escape(r['error'])}</td></tr>" for r in failed) + "</table>")
    if explained:
        if any(r["true_index"] is not None for r in explained):
            parts.append(_accuracy([r for r in explained if r["true_index"] is not None]))
        parts += [_confidence(explained), _metrics(explained)]
        confident = sorted(explained, key=lambda r: r["predictions"][0]["probability"], reverse=True)
        parts.append(_examples(confident[:examples], settings, "Most confident"))
        parts.append(_examples(confident[::-1][:examples], settings, "Least confident"))
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;font-size:90%}img.figure{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Dataset run report</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m explain.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the folder of a dataset run")
    parser.add_argument("--html", type=Path, help="where to write the page (default: OUT/report.html)")
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="images among the most and the least confident")
    args = parser.parse_args(argv)
    path = args.html or args.out / "report.html"
    path.write_text(report(args.out, max(1, args.examples)), encoding="utf-8")
    print(f"wrote {path}")
