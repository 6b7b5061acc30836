"""Runs side by side: a rich table, a JSON document, Markdown, and a PNG plot.

Every view names the device that actually ran (as the workload reported it), shows a failed
step as "did not run" with its error instead of numbers, and prints where the prices come
from and their date.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..catalog.sizes import PRICES_AS_OF, PRICES_SOURCE
from ..errors import DsvmctlError
from .compare import Comparison, cost_per_1000_steps
from .store import RunRecord

MISSING = "—"
COLUMNS = ("size", "device", "device name", "samples/s", "step time ms", "TFLOP/s", "MFU", "wall s", "$/h",
           "$ per 1,000 steps")


# ---------------------------------------------------------------------------- numbers


def run_cost(run: RunRecord) -> float | None:
    return cost_per_1000_steps(run.step_time_ms, run.price_per_hour) if run.status == "ok" else None


def price_note(runs: Sequence[RunRecord]) -> dict:
    """{"source", "as_of"} of the prices in `runs` (joined with '; ' when they differ)."""
    pairs = list(dict.fromkeys((r.price_source, r.price_as_of) for r in runs if r.price_source))
    if not pairs:
        return {"source": PRICES_SOURCE, "as_of": PRICES_AS_OF}
    return {"source": "; ".join(s for s, _ in pairs), "as_of": "; ".join(dict.fromkeys(a or "?" for _, a in pairs))}


def _sig(value: float, digits: int = 3) -> str:
    """`digits` significant digits, never in exponent notation (costs can be $0.000440)."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def _cells(run: RunRecord) -> list[str]:
    """One table row as text, in COLUMNS order."""
    price = f"${run.price_per_hour:.3f}" if run.price_per_hour is not None else "no price"
    if run.status != "ok":
        return [run.size, "did not run", MISSING, MISSING, MISSING, MISSING, MISSING, MISSING, price, MISSING]
    cost = run_cost(run)
    of_peak = (run.metrics or {}).get("fraction_of_measured_peak")
    if run.mfu is not None:
        mfu = f"{run.mfu:.1%}"
    elif of_peak is not None and not run.ran_on_gpu:
        mfu = f"{of_peak:.1%} of measured peak"  # a CPU: against this machine's matmul probe
    else:
        mfu = "n/a (CPU)" if not run.ran_on_gpu else "unknown"
    return [
        run.size,
        run.device or MISSING,
        run.device_name or MISSING,
        f"{run.samples_per_s:,.1f}" if run.samples_per_s is not None else MISSING,
        f"{run.step_time_ms:,.1f}" if run.step_time_ms is not None else MISSING,
        _sig(run.achieved_tflops) if run.achieved_tflops is not None else MISSING,
        mfu,
        f"{run.wall_s:,.1f}" if run.wall_s is not None else MISSING,
        price,
        f"${_sig(cost)}" if cost is not None else MISSING,
    ]


def _note_lines(runs: Sequence[RunRecord], comparison: Comparison | None) -> list[str]:
    if comparison is not None:
        return [("warning: " if n.level == "warning" else "") + n.text for n in comparison.notes]
    return [f"{r.size} could not run: {r.error}" for r in runs if r.status != "ok"]  # still say so


def _price_line(runs: Sequence[RunRecord]) -> str:
    prices = price_note(runs)
    return (f"Prices: {prices['source']}, as of {prices['as_of']}. "
            "Cost per 1,000 steps uses the median step time (no start-up or warm-up).")


# ---------------------------------------------------------------------------- views


def render_table(runs: Sequence[RunRecord], comparison: Comparison | None = None):
    """A rich Table; the caption carries the speedup, the notes and the price source."""
    from rich.table import Table
    from rich.text import Text

    title = f"bench {comparison.comparison_id}" if comparison and comparison.comparison_id else "bench runs"
    table = Table(title=title, caption_justify="left")
    numeric = set(COLUMNS[3:])
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in numeric else "left")
    for run in runs:
        cells = _cells(run)
        style = "red" if run.status != "ok" else ("green" if run.ran_on_gpu else None)
        table.add_row(*cells[:1], Text(cells[1], style=style or ""), *cells[2:])
    footer = [comparison.headline()] if comparison is not None else []
    footer += _note_lines(runs, comparison) + [_price_line(runs)]
    caption = Text()
    for i, line in enumerate(footer):
        caption.append(("\n" if i else "") + line, style="yellow" if line.startswith("warning") else "")
    table.caption = caption
    return table


def to_json(runs: Sequence[RunRecord], comparison: Comparison | None = None) -> dict:
    return {
        "runs": [
            {
                "run_id": r.run_id, "comparison_id": r.comparison_id, "machine": r.machine, "cloud": r.cloud,
                "size": r.size, "size_is_gpu": r.size_is_gpu, "workload": r.workload, "device": r.device,
                "device_name": r.device_name, "samples_per_s": r.samples_per_s, "step_time_ms": r.step_time_ms,
                "achieved_tflops": r.achieved_tflops, "mfu": r.mfu, "wall_s": r.wall_s,
                "price_per_hour": r.price_per_hour, "cost_per_1000_steps": run_cost(r), "status": r.status,
                "error": r.error, "started_at": r.started_at, **_run_facts(r),
            }
            for r in runs
        ],
        "comparison": comparison.to_dict() if comparison is not None else None,
        "prices": price_note(runs),
    }


def _run_facts(run: RunRecord) -> dict:
    """What every run record also carries: loss, world size, precision, and on CPU the fraction
    of this machine's measured matmul peak (never a spec-sheet number)."""
    m = run.metrics or {}
    return {"final_loss": m.get("final_loss"), "world_size": m.get("world_size", 1 if m else None),
            "nodes": m.get("nodes", 1 if m else None), "precision": m.get("precision"),
            "fraction_of_measured_peak": m.get("fraction_of_measured_peak"),
            "measured_peak_tflops": m.get("measured_peak_tflops")}


def to_markdown(runs: Sequence[RunRecord], comparison: Comparison | None = None) -> str:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [row(COLUMNS), "|" + "|".join("---:" if c in COLUMNS[3:] else "---" for c in COLUMNS) + "|"]
    lines += [row(_cells(r)) for r in runs]
    if comparison is not None:
        lines += ["", f"**{comparison.headline()}**"]
    notes = _note_lines(runs, comparison)
    if notes:
        lines += [""] + [f"- {' '.join(n.split())}" for n in notes]  # one line each, or the list breaks
    lines += ["", _price_line(runs)]
    return "\n".join(lines) + "\n"


def plot(runs: Sequence[RunRecord], path: str | Path, comparison: Comparison | None = None) -> Path:
    """Two bar panels (samples/s; $ per 1,000 steps) per size, each bar labelled with its device."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise DsvmctlError("plotting needs matplotlib, which is not installed",
                           fix="pip install 'dsvmctl[plot]'") from e
    # Figure + Agg canvas directly: no pyplot, so a caller's interactive backend is left alone.
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    speed_ax, cost_ax = fig.subplots(1, 2)
    labels = [r.size.removeprefix("Standard_") for r in runs]
    colors = ["#2ca02c" if r.ran_on_gpu else "#1f77b4" for r in runs]
    panels = ((speed_ax, "samples / s (higher is better)", [r.samples_per_s if r.status == "ok" else None
                                                            for r in runs], lambda v: f"{v:,.1f}"),
              (cost_ax, "$ per 1,000 steps (lower is better)", [run_cost(r) for r in runs],
               lambda v: f"${_sig(v)}"))
    for ax, title, values, fmt in panels:
        heights = [v if v is not None else 0 for v in values]
        bars = ax.bar(range(len(runs)), heights, color=colors)
        top = max(heights, default=0) or 1
        for bar, run, value in zip(bars, runs, values):
            if value is not None:
                text = f"{fmt(value)}\n{run.device}"
            elif run.status != "ok":
                text = "did not run"
            else:
                text = f"no price\n{run.device}"
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + top * 0.02, text,
                    ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(runs)), labels, fontsize=9)
        ax.set_title(title, fontsize=11)
        ax.set_ylim(0, top * 1.3)
        ax.spines[["top", "right"]].set_visible(False)
    headline = comparison.headline() if comparison is not None else "bench runs"
    fig.suptitle(headline, fontsize=12)
    prices = price_note(runs)
    fig.supxlabel(f"bar label = device that ran (green: CUDA, blue: CPU). Prices: {prices['source']}, "
             f"as of {prices['as_of']}", fontsize=7, color="#555555")  # supxlabel: laid out, never overlaps
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=120)
    return out
