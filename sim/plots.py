"""Pictures of runs for `--plot FILE.png`: matplotlib is imported here, only when asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_compare", "plot_reliability", "plot_rul", "plot_thermal"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _scenario_curves(
    ax: Any, table: Any, column: str, label: str, style: str, limit: int = 12
) -> None:
    scenario = table.column("scenario").to_numpy()
    hours = table.column("t_s").to_numpy() / 3600.0
    values = table.column(column).to_numpy()
    for s in np.unique(scenario)[:limit]:
        mask = scenario == s
        ax.plot(
            hours[mask],
            values[mask],
            style,
            lw=1.2,
            label=f"{label} {s}" if len(np.unique(scenario)) > 1 else label,
        )


def plot_thermal(
    baseline: Any,
    what_if: Any | None,
    limit: float,
    path: Path,
    title: str,
    labels: Sequence[str] = (),
) -> Path:
    """Motor and fluid temperature over the horizon, baseline and what-if scenarios, limit line."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for ax, column, name in ((axes[0], "motor", "motor body"), (axes[1], "fluid", "fluid")):
        _scenario_curves(ax, baseline, column, "baseline", "k-")
        if what_if is not None:
            scenario = what_if.column("scenario").to_numpy()
            hours = what_if.column("t_s").to_numpy() / 3600.0
            values = what_if.column(column).to_numpy()
            for s in np.unique(scenario)[:12]:
                mask = scenario == s
                text = labels[s] if s < len(labels) else f"what-if {s}"
                ax.plot(hours[mask], values[mask], "-", lw=1.2, label=text)
        ax.set_ylabel(f"{name} temperature (degC)")
        ax.grid(alpha=0.3)
    axes[0].axhline(limit, color="red", ls="--", lw=1, label=f"limit {limit:g} degC")
    axes[0].legend(fontsize=8, loc="best")
    axes[1].set_xlabel("hours from now")
    axes[0].set_title(title)
    return _save(fig, path)


def plot_rul(rows: Sequence[dict[str, Any]], path: Path, title: str, unit: str) -> Path:
    """Each unit's RUL interval (p10 to p90) with its median, most urgent at the top."""
    plt = _pyplot()
    shown = list(rows)[:60]
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.22 * len(shown) + 1.2)))
    y = np.arange(len(shown))[::-1]
    p10 = np.array([r["rul_p10"] for r in shown])
    p50 = np.array([r["rul_p50"] for r in shown])
    p90 = np.array([r["rul_p90"] for r in shown])
    ax.hlines(y, p10, p90, color="tab:blue", lw=3, alpha=0.5, label="p10 to p90")
    ax.plot(p50, y, "o", color="tab:blue", ms=4, label="p50")
    ax.set_yticks(y, [str(r["unit"]).split("/")[-1] for r in shown], fontsize=7)
    ax.set_xlabel(f"remaining useful life ({unit})")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    more = f" (first {len(shown)} of {len(rows)})" if len(rows) > len(shown) else ""
    ax.set_title(title + more)
    return _save(fig, path)


def plot_reliability(groups: Sequence[Any], path: Path, title: str, unit: str) -> Path:
    """Fitted reliability with the Kaplan-Meier estimate, and the hazard, per group."""
    from thread.sim.reliability import kaplan_meier

    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    longest = max(max(life.duration for life in g.lives) for g in groups)
    ages = np.linspace(0.0, longest * 1.2, 300)
    for g in groups:
        durations = [life.duration for life in g.lives]
        failed = [life.failed for life in g.lives]
        line = top.plot(
            ages,
            g.fit.reliability(ages),
            label=f"{g.group}: β={g.fit.shape.value:.2f}, η={g.fit.scale.value:.0f}",
        )
        times, survival = kaplan_meier(durations, failed)
        top.step(
            np.r_[0.0, times],
            np.r_[1.0, survival],
            where="post",
            color=line[0].get_color(),
            alpha=0.5,
            lw=1,
        )
        bottom.plot(ages[1:], g.fit.hazard(ages[1:]), color=line[0].get_color(), label=g.group)
        top.axvline(g.fit.b10.value, color=line[0].get_color(), ls=":", lw=1)
    top.set_ylabel("reliability R(t)")
    top.set_ylim(0, 1.02)
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    top.set_title(title + " (steps: Kaplan-Meier, dotted: B10)")
    bottom.set_ylabel(f"hazard (failures per {unit.removesuffix('s')})")
    bottom.set_xlabel(f"age ({unit})")
    bottom.grid(alpha=0.3)
    return _save(fig, path)


def plot_compare(
    first: Any, second: Any, tables: tuple[Any, Any], path: Path, rows: Sequence[dict[str, Any]]
) -> Path:
    """Two runs: their time series overlaid when both have them, else their numbers side by side."""
    plt = _pyplot()
    if tables[0] is not None and tables[1] is not None and "motor" in tables[0].column_names:
        fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
        for ax, column in zip(axes, ("motor", "fluid"), strict=True):
            _scenario_curves(ax, tables[0], column, first.run_id, "-")
            _scenario_curves(ax, tables[1], column, second.run_id, "--")
            ax.set_ylabel(f"{column} temperature (degC)")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        axes[1].set_xlabel("hours from now")
        return _save(fig, path)
    numeric = [r for r in rows if isinstance(r["first"], int | float) and isinstance(r["second"], int | float)
               and not isinstance(r["first"], bool)][:20]  # fmt: skip
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.35 * len(numeric) + 1)))
    y = np.arange(len(numeric))
    ax.barh(y - 0.2, [r["first"] for r in numeric], 0.4, label=first.run_id)
    ax.barh(y + 0.2, [r["second"] for r in numeric], 0.4, label=second.run_id)
    ax.set_yticks(y, [r["property"] for r in numeric], fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
