"""The evaluation report: one offline HTML page and its figures as PNG files in one folder.

``toolkit eval --report DIR`` writes ``DIR/index.html`` (inline CSS, no script,
no font or file from the network; images are PNG files next to it) from the
scores :mod:`toolkit.evaluation` computed once. Every number in the page is the
one ``toolkit eval --json`` prints: each table cell names its place in that JSON
(``data-key``). matplotlib draws the figures with its Agg canvas; it is an
optional extra, imported only here.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.metrics import MIN_RELIABLE_SUPPORT

if TYPE_CHECKING:
    from toolkit.evaluation import Evaluation, ScoredData

_INSTALL_HINT = "the report needs matplotlib: pip install 'toolkit[report]'"
_DEFAULT_MIN_GROUP = 20  # languages with fewer articles are drawn hatched and marked: too few to trust
_DEFAULT_BINS = 20  # score histogram bins over [0, 1]
_DEFAULT_DPI = 100
_DEFAULT_COLUMNS = 2  # subplots per row in the per-topic grids
_DEFAULT_MARK_WRONG = 0.05  # a topic given to this share of articles without it is marked
_EVIDENCE_SHOWN = 220  # characters of an evidence sentence shown in the error tables
_INDEX = "index.html"
_COLOURS = ("#1f77b4", "#d62728")  # the evaluated model, the compared one
_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td.text { text-align: left; }
td.text { max-width: 36em; }
.few { color: #888; }
.weak { background: #fde8e8; }
img { max-width: 100%; border: 1px solid #eee; }
p.note { color: #555; font-size: 0.9em; }
"""


def require_matplotlib() -> None:
    """Fail with one line saying what to install when matplotlib is missing (before any slow work)."""
    _matplotlib()


def _matplotlib() -> tuple[Any, Any]:
    """The Figure class of matplotlib and its Agg canvas, or a one-line error with the install hint."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ToolkitError(_INSTALL_HINT) from None
    return Figure, FigureCanvasAgg


def write_report(evaluation: Evaluation, folder: str | Path, min_group: int = _DEFAULT_MIN_GROUP) -> Path:
    """Write the figures and ``index.html`` into ``folder`` (created if needed); return the page's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result, scored = evaluation.result, evaluation.scored
    figures = {
        "pr_curves.png": _pr_figure(result, scored, None),
        "f1_by_topic.png": _topic_figure(result),
        "f1_by_language.png": _language_figure(result, min_group),
        "f1_topic_language.png": _grid_figure(result, min_group),
        "score_histograms.png": _histogram_figure(scored),
        "co_predicted.png": _co_figure(result),
    }
    if evaluation.compared is not None:
        figures["pr_compare.png"] = _pr_figure(result, scored, result["compare"])
    for name, figure in figures.items():
        _save(figure, folder / name)
    page = folder / _INDEX
    page.write_text(_page(result, min_group, set(figures)), encoding="utf-8")
    return page


# ---- figures ------------------------------------------------------------------------------------


def _new_figure(width: float, height: float) -> Any:
    figure_class, canvas_class = _matplotlib()
    figure = figure_class(figsize=(width, height), dpi=_DEFAULT_DPI, layout="constrained")
    canvas_class(figure)
    return figure


def _save(figure: Any, path: Path) -> None:
    figure.savefig(path, format="png", metadata={"Software": None})


def _topic_grid(names: list[str], height: float = 3.2) -> tuple[Any, list[Any]]:
    """A figure with one subplot per topic, ``_DEFAULT_COLUMNS`` to a row; unused cells hidden."""
    rows = math.ceil(len(names) / _DEFAULT_COLUMNS)
    figure = _new_figure(5.0 * _DEFAULT_COLUMNS, height * rows)
    axes = list(np.ravel(figure.subplots(rows, _DEFAULT_COLUMNS, squeeze=False)))
    for unused in axes[len(names) :]:
        unused.set_visible(False)
    return figure, axes[: len(names)]


def _pr_figure(result: dict, scored: ScoredData, other: dict | None) -> Any:
    """Precision against recall per topic, the point at the stored threshold marked (two models overlaid)."""
    figure, axes = _topic_grid(scored.names)
    models = [(result, result.get("model", "model"))]
    if other is not None:
        models.append((other, other.get("model", "compared")))
    for axis, name in zip(axes, scored.names, strict=True):
        for (summary, label), colour in zip(models, _COLOURS, strict=False):
            curve, row = summary["curves"][name], summary["overall"]["labels"][name]
            if curve["recall"] is None:
                continue
            axis.step(curve["recall"], curve["precision"], where="post", color=colour, label=Path(label).name)
            axis.plot(
                [row["recall"]],
                [row["precision"]],
                "o",
                color=colour,
                label=f"threshold {curve['threshold']:.2f}: P {row['precision']:.2f}, R {row['recall']:.2f}",
            )
        axis.set(title=name, xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05))
        axis.grid(alpha=0.3)
        axis.legend(loc="lower left", fontsize=8)
    return figure


def _bars(axis: Any, labels: list[str], values: list[float], counts: list[int], few: list[bool]) -> None:
    """F1 bars with the count under each; the thin ones hatched, paler and marked with ``*``."""
    positions = np.arange(len(labels))
    bars = axis.bar(positions, values, color="#4c72b0", edgecolor="#222")
    for bar, thin in zip(bars, few, strict=True):
        if thin:
            bar.set(hatch="//", alpha=0.45)
    for position, value in zip(positions, values, strict=True):
        axis.text(position, value + 0.01, f"{value:.2f}", ha="center", va="bottom", fontsize=8)
    ticks = [
        f"{label}{'*' if thin else ''}\nn={count}"
        for label, count, thin in zip(labels, counts, few, strict=True)
    ]
    axis.set_xticks(positions, ticks, fontsize=8)
    axis.set(ylim=(0, 1.1), ylabel="F1")
    axis.grid(axis="y", alpha=0.3)


def _topic_figure(result: dict) -> Any:
    """F1 per topic (n = articles carrying it), thin topics hatched."""
    rows = result["overall"]["labels"]
    names = list(rows)
    figure = _new_figure(max(5.0, 1.2 * len(names) + 2), 4.0)
    axis = figure.subplots()
    counts = [rows[name]["support"] for name in names]
    _bars(
        axis, names, [rows[name]["f1"] for name in names], counts, [n < MIN_RELIABLE_SUPPORT for n in counts]
    )
    axis.axhline(result["overall"]["macro"]["f1"], color="#c44", linestyle="--", label="macro-F1")
    axis.set_title(f"F1 per topic (* fewer than {MIN_RELIABLE_SUPPORT} positive articles)")
    axis.legend(loc="lower right", fontsize=8)
    return figure


def _language_figure(result: dict, min_group: int) -> Any:
    """Macro-F1 per language, weakest first (n = articles), small groups hatched."""
    groups = sorted(result["by_language"].items(), key=lambda item: (item[1]["macro"]["f1"], item[0]))
    figure = _new_figure(max(6.0, 0.6 * len(groups) + 2), 4.2)
    axis = figure.subplots()
    counts = [scores["n"] for _, scores in groups]
    _bars(
        axis,
        [language for language, _ in groups],
        [scores["macro"]["f1"] for _, scores in groups],
        counts,
        [n < min_group for n in counts],
    )
    axis.axhline(result["overall"]["macro"]["f1"], color="#c44", linestyle="--", label="overall macro-F1")
    axis.set_title(f"macro-F1 per language, weakest first (* hatched: fewer than {min_group} articles)")
    axis.legend(loc="lower right", fontsize=8)
    return figure


def _grid_figure(result: dict, min_group: int) -> Any:
    """A heat map of F1 per language (rows, most articles first) and topic (columns); n/a left blank."""
    names = list(result["overall"]["labels"])
    groups = sorted(result["by_language"].items(), key=lambda item: (-item[1]["n"], item[0]))
    values = _matrix(
        [
            [scores["labels"][name]["f1"] if scores["labels"][name]["support"] else None for name in names]
            for _, scores in groups
        ]
    )
    figure = _new_figure(1.3 * len(names) + 3.5, 0.32 * len(groups) + 1.6)
    axis = figure.subplots()
    image = axis.imshow(values, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for (i, j), value in np.ndenumerate(values):
        if not np.isnan(value):
            support = groups[i][1]["labels"][names[j]]["support"]
            axis.text(j, i, f"{value:.2f} ({support})", ha="center", va="center", fontsize=8)
    rows = [f"{lang}{' *' if scores['n'] < min_group else ''} (n={scores['n']})" for lang, scores in groups]
    axis.set_xticks(range(len(names)), names, rotation=30, ha="right")
    axis.set_yticks(range(len(groups)), rows, fontsize=8)
    axis.set_title(
        f"F1 per language and topic (* fewer than {min_group} articles; blank: no article with it)"
    )
    figure.colorbar(image, ax=axis, shrink=0.8)
    return figure


def _histogram_figure(scored: ScoredData) -> Any:
    """Per topic, the scores of articles carrying it and of the others, with the threshold line."""
    figure, axes = _topic_grid(scored.names, height=2.8)
    bins = np.linspace(0.0, 1.0, _DEFAULT_BINS + 1)
    for j, (axis, name) in enumerate(zip(axes, scored.names, strict=True)):
        positive = scored.truth[:, j]
        axis.hist(
            scored.proba[~positive, j],
            bins=bins,
            alpha=0.6,
            color="#888",
            label=f"others ({(~positive).sum()})",
        )
        axis.hist(
            scored.proba[positive, j],
            bins=bins,
            alpha=0.6,
            color="#2a7",
            label=f"carry it ({positive.sum()})",
        )
        axis.axvline(
            scored.thresholds[j], color="#c44", linestyle="--", label=f"threshold {scored.thresholds[j]:.2f}"
        )
        axis.set(title=name, xlabel="score", ylabel="articles", yscale="log")
        axis.legend(fontsize=8)
    return figure


def _co_figure(result: dict) -> Any:
    """Two heat maps, row = true topic, column = given topic: all articles, and those not carrying it."""
    co = result["co_predicted"]
    names = co["labels"]
    figure = _new_figure(2.4 * len(names) + 4, 0.9 * len(names) + 2.2)
    left, right = figure.subplots(1, 2)
    wrong = _matrix(co["wrong_rates"])
    panels = (
        (
            left,
            _matrix(co["rates"]),
            1.0,
            "share of a true topic's articles given each topic\n(diagonal: recall)",
        ),
        (
            right,
            wrong,
            max(0.1, float(np.nanmax(wrong, initial=0.0))),
            "given a topic they do not carry\n(share of those without it)",
        ),
    )
    for axis, values, top, title in panels:
        image = axis.imshow(values, vmin=0, vmax=top, cmap="Reds" if axis is right else "Blues")
        for (i, j), value in np.ndenumerate(values):
            if not np.isnan(value):
                colour = "white" if value > 0.6 * top else "black"
                axis.text(j, i, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=9)
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right")
        axis.set_yticks(
            range(len(names)), [f"{name} (n={n})" for name, n in zip(names, co["support"], strict=True)]
        )
        axis.set(xlabel="given topic", ylabel="true topic", title=title)
        figure.colorbar(image, ax=axis, shrink=0.8)
    return figure


def _matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if value is None else value for value in row] for row in rows], dtype=float)


# ---- the page -----------------------------------------------------------------------------------


def _cell(value: Any, key: str, decimals: int = 3, css: str = "") -> str:
    """A table cell showing a JSON value, with its path in the JSON as ``data-key``."""
    if value is None:
        shown = "n/a"
    elif isinstance(value, float):
        shown = f"{value:.{decimals}f}"
    else:
        shown = str(value)
    attribute = f' class="{css}"' if css else ""
    return f'<td data-key="{html.escape(key)}"{attribute}>{html.escape(shown)}</td>'


def _text(value: str, css: str = "text") -> str:
    return f'<td class="{css}">{html.escape(value)}</td>'


def _head(*names: str) -> str:
    return "<tr>" + "".join(f"<th>{html.escape(name)}</th>" for name in names) + "</tr>"


def _image(name: str, alt: str, figures: set[str]) -> str:
    return f'<p><img src="{name}" alt="{html.escape(alt)}"></p>' if name in figures else ""


def _weakest(result: dict, min_group: int) -> str:
    """One sentence naming the weakest topic and the weakest language with enough articles."""
    labels = {name: row for name, row in result["overall"]["labels"].items() if row["support"]}
    parts = []
    if labels:
        topic = min(labels, key=lambda name: (labels[name]["f1"], name))
        parts.append(f"weakest topic: <b>{html.escape(topic)}</b> (F1 {labels[topic]['f1']:.3f})")
    big = {lang: s for lang, s in result["by_language"].items() if s["n"] >= min_group}
    small = {lang: s for lang, s in result["by_language"].items() if s["n"] < min_group}
    if big:
        lang = min(big, key=lambda name: (big[name]["macro"]["f1"], name))
        parts.append(
            f"weakest language with {min_group} or more articles: <b>{html.escape(lang)}</b> "
            f"(macro-F1 {big[lang]['macro']['f1']:.3f}, {big[lang]['n']} articles)"
        )
    if small:
        lang = min(small, key=lambda name: (small[name]["macro"]["f1"], name))
        parts.append(
            f"weakest of the smaller groups: {html.escape(lang)} "
            f"(macro-F1 {small[lang]['macro']['f1']:.3f}, {small[lang]['n']} articles: too few to trust)"
        )
    return "<p>" + "; ".join(parts) + ".</p>"


def _topic_table(result: dict, prefix: str = "") -> str:
    rows = [_head("topic", "precision", "recall", "F1", "articles", "threshold", "average precision")]
    for name, row in result["overall"]["labels"].items():
        key = f"{prefix}overall.labels.{name}"
        curve = f"{prefix}curves.{name}"
        rows.append(
            "<tr>"
            + _text(name)
            + "".join(_cell(row[field], f"{key}.{field}") for field in ("precision", "recall", "f1"))
            + _cell(row["support"], f"{key}.support")
            + _cell(result["curves"][name]["threshold"], f"{curve}.threshold", 2)
            + _cell(result["curves"][name]["average_precision"], f"{curve}.average_precision")
            + "</tr>"
        )
    macro = result["overall"]["macro"]
    rows.append(
        "<tr>"
        + _text("macro")
        + "".join(
            _cell(macro[field], f"{prefix}overall.macro.{field}") for field in ("precision", "recall", "f1")
        )
        + _cell(result["overall"]["n"], f"{prefix}overall.n")
        + "<td></td><td></td></tr>"
    )
    return "<table>" + "".join(rows) + "</table>"


def _language_table(result: dict, min_group: int) -> str:
    names = list(result["overall"]["labels"])
    rows = [_head("language", "articles", "macro-F1", *names)]
    for lang, scores in sorted(result["by_language"].items(), key=lambda item: -item[1]["n"]):
        few = scores["n"] < min_group
        key = f"by_language.{lang}"
        rows.append(
            f'<tr class="{"few" if few else ""}">'
            + _text(lang + (" *" if few else ""))
            + _cell(scores["n"], f"{key}.n")
            + _cell(scores["macro"]["f1"], f"{key}.macro.f1")
            + "".join(
                _cell(
                    scores["labels"][name]["f1"] if scores["labels"][name]["support"] else None,
                    f"{key}.labels.{name}.f1",
                )
                for name in names
            )
            + "</tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _co_table(result: dict, field: str, mark: float = 1.1) -> str:
    """``co_predicted[field]`` as a table, row = true topic; off-diagonal cells of ``mark`` or more marked."""
    co = result["co_predicted"]
    rows = [_head("true topic \\ given", *co["labels"], "articles")]
    for i, name in enumerate(co["labels"]):
        cells = [
            _cell(
                value, f"co_predicted.{field}.{i}.{j}", css="weak" if i != j and (value or 0) >= 0.2 else ""
            )
            for j, value in enumerate(co[field][i])
        ]
        rows.append(
            "<tr>"
            + _text(name)
            + "".join(cells)
            + _cell(co["support"][i], f"co_predicted.support.{i}")
            + "</tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _error_table(errors: list[dict], kind: str) -> str:
    if not errors:
        return "<p>None.</p>"
    rows = [
        _head(
            "id",
            "language",
            "topic",
            "score",
            "threshold",
            "other scores",
            "true topics",
            "evidence sentence",
        )
    ]
    for k, error in enumerate(errors):
        key = f"worst_errors.{kind}.{k}"
        others = ", ".join(
            f"{name} {value:.2f}" for name, value in error["scores"].items() if name != error["topic"]
        )
        sentence = (error["evidence"] or {}).get("text", "")
        if len(sentence) > _EVIDENCE_SHOWN:
            sentence = sentence[: _EVIDENCE_SHOWN - 1] + "…"
        rows.append(
            "<tr>"
            + _text(error["id"])
            + _text(error["language"])
            + _text(error["topic"])
            + _cell(error["score"], f"{key}.score")
            + _cell(error["threshold"], f"{key}.threshold", 2)
            + _text(others)
            + _text(", ".join(error["truth"]) or "(none)")
            + _text(" ".join(sentence.split()))
            + "</tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _compare_table(result: dict) -> str:
    other = result["compare"]
    rows = [_head("", "F1 A", "F1 B", "B − A", "precision A", "precision B", "recall A", "recall B")]

    def row(label: str, a: dict, b: dict, key_a: str, key_b: str) -> str:
        cells = [
            _cell(a["f1"], f"{key_a}.f1"),
            _cell(b["f1"], f"{key_b}.f1"),
            f"<td>{b['f1'] - a['f1']:+.3f}</td>",
        ]
        for field in ("precision", "recall"):
            cells += [_cell(a[field], f"{key_a}.{field}"), _cell(b[field], f"{key_b}.{field}")]
        return "<tr>" + _text(label) + "".join(cells) + "</tr>"

    for name in result["overall"]["labels"]:
        key = f"overall.labels.{name}"
        rows.append(
            row(
                name,
                result["overall"]["labels"][name],
                other["overall"]["labels"][name],
                key,
                f"compare.{key}",
            )
        )
    rows.append(
        row(
            "macro",
            result["overall"]["macro"],
            other["overall"]["macro"],
            "overall.macro",
            "compare.overall.macro",
        )
    )
    for lang, scores in result["by_language"].items():
        key = f"by_language.{lang}.macro"
        rows.append(
            row(
                f"language {lang} (n={scores['n']})",
                scores["macro"],
                other["by_language"][lang]["macro"],
                key,
                f"compare.{key}",
            )
        )
    return "<table>" + "".join(rows) + "</table>"


def _page(result: dict, min_group: int, figures: set[str]) -> str:
    """The whole HTML document."""
    title = f"Evaluation of {Path(result.get('model', 'the model')).name} on {result['data']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{result['overall']['n']} articles, macro-F1 {result['overall']['macro']['f1']:.3f} "
        "(the mean over topics that have articles).</p>",
        _weakest(result, min_group),
        "<h2>1. Precision and recall per topic</h2>",
        '<p class="note">Each curve moves the topic\'s threshold over every score; the dot is the '
        "stored threshold, the point this model gives you.</p>",
        _image("pr_curves.png", "precision-recall curve per topic", figures),
        _topic_table(result),
        "<h2>2. F1 per topic and per language</h2>",
        _image("f1_by_topic.png", "F1 per topic", figures),
        _image("f1_by_language.png", "macro-F1 per language", figures),
        _image("f1_topic_language.png", "F1 per language and topic", figures),
        f'<p class="note">* and hatched: fewer than {min_group} articles (languages) or '
        f"{MIN_RELIABLE_SUPPORT} positive articles (topics); one article moves such a figure a lot. "
        "A topic no article of a language carries shows n/a and is left out of that language's macro-F1.</p>",
        _language_table(result, min_group),
        "<h2>3. Score distributions</h2>",
        '<p class="note">Scores of the articles that carry the topic and of the others (log scale); '
        "the dashed line is the threshold. Overlap around it is where mistakes are made.</p>",
        _image("score_histograms.png", "score histograms per topic", figures),
        "<h2>4. Which topics come together</h2>",
        '<p class="note">Row: the articles carrying a topic. Left (first table): the share of them given '
        "each topic; the diagonal is recall, and off it both right and wrong labels count (many articles "
        "carry two topics). Right (second table): among those that do not carry the column's topic, the "
        "share given it anyway: where one topic drags another in.</p>",
        _image("co_predicted.png", "co-predicted topics", figures),
        _co_table(result, "rates"),
        _co_table(result, "wrong_rates", _DEFAULT_MARK_WRONG),
        "<h2>5. The most confident mistakes</h2>",
        "<h3>False positives (highest scores on articles without the topic)</h3>",
        _error_table(result["worst_errors"]["false_positives"], "false_positives"),
        "<h3>False negatives (lowest scores on articles with the topic)</h3>",
        _error_table(result["worst_errors"]["false_negatives"], "false_negatives"),
        '<p class="note">Evidence: the sentence the model scores highest for that topic.</p>',
    ]
    if "compare" in result:
        other = result["compare"]
        parts += [
            "<h2>6. Side by side</h2>",
            f"<p>A = {html.escape(str(result.get('model', 'model')))}, "
            f"B = {html.escape(str(other.get('model', 'compared')))}, same articles.</p>",
            _compare_table(result),
            _image("pr_compare.png", "precision-recall curves of both models", figures),
        ]
    parts.append("</body></html>\n")
    return "\n".join(parts)
