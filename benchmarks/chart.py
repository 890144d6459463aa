"""Draw the results of ``benchmarks.run`` as one PNG (four panels), with matplotlib.

matplotlib lives in ``benchmarks/.venv-peers`` (``benchmarks.run`` creates it)::

    benchmarks/.venv-peers/bin/python -m benchmarks.chart \\
        benchmarks/results/latest.json docs/images/performance.png
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

OURS = "#1f6feb"
OTHERS = "#8c959f"
CEILING = "#2da44e"


def colour(client: str) -> str:
    if client.startswith("pc-"):
        return OURS
    if client == "picows-raw":
        return CEILING
    return OTHERS


def draw(results: dict[str, Any], target: Path) -> None:
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")

    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5))
    m = results["machine"]
    p = results["parameters"]
    fig.suptitle(
        f"pusher-channels benchmarks — {m['nproc']} x {m['cpu_model']}, Python {m['python']}, "
        f"Node {m['node']} — medians of {p.get('throughput_repeat', p['repeat'])}"
        f" throughput and {p['repeat']} scale and reconnect runs",
        fontsize=12,
    )

    throughput_panel(axes[0][0], results)
    latency_panel(axes[0][1], results)
    scale_panel(axes[1][0], results)
    reconnect_panel(axes[1][1], results)
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)


def throughput_panel(ax: Any, results: dict[str, Any]) -> None:
    """CPU µs per event (lower is better), events/s as labels."""
    p = results["parameters"]
    rows = [r for r in results["throughput"] if r["cpu_us_per_event"] is not None]
    labels = [r["label"] + ("" if r["ok"] else " (dropped events)") for r in rows]
    values = [r["cpu_us_per_event"] for r in rows]
    bars = ax.barh(labels, values, color=[colour(r["client"]) for r in rows])
    for bar, row in zip(bars, rows, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {row['cpu_us_per_event']:.2f} µs, {row['events_per_s'] / 1000:,.0f}k ev/s",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlabel("client CPU µs per event (lower is better)")
    ax.set_title(f"Throughput: {p['events']:,} events from a local blaster", fontsize=10)
    ax.set_xlim(0, max(values, default=1) * 1.45)


def latency_panel(ax: Any, results: dict[str, Any]) -> None:
    """Latency through soketi: p50 and p99."""
    p = results["parameters"]
    rows = results["latency"]
    positions = range(len(rows))
    ax.bar([i - 0.2 for i in positions], [r["p50_ms"] for r in rows], 0.4, label="p50")
    ax.bar([i + 0.2 for i in positions], [r["p99_ms"] for r in rows], 0.4, label="p99")
    for i, row in enumerate(rows):
        ax.text(i + 0.2, row["p99_ms"], f"{row['p99_ms']:.1f}", ha="center", va="bottom", size=8)
        ax.text(i - 0.2, row["p50_ms"], f"{row['p50_ms']:.1f}", ha="center", va="bottom", size=8)
    ax.set_xticks(list(positions), [r["label"] for r in rows], rotation=15, fontsize=8)
    ax.set_ylabel("ms from HTTP trigger to callback")
    ax.set_title(
        f"Latency through soketi: {p['latency_rate']:g} events/s for {p['latency_seconds']:g} s"
        f" x {p.get('latency_runs', p['repeat'])} runs, pooled",
        fontsize=10,
    )
    ax.legend()


def scale_panel(ax: Any, results: dict[str, Any]) -> None:
    """Time until all subscribed, RSS per connection as labels."""
    rows = [r for r in results["scale"] if r["subscribed_s"] is not None]
    names = [f"{r['connections']:,}\n({r['server']})" for r in rows]
    bars = ax.bar(names, [r["subscribed_s"] for r in rows], color=OURS)
    for bar, row in zip(bars, rows, strict=True):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            bar.get_height(),
            f"{row['subscribed_s']:.2f} s\n{row['rss_per_connection_kib']:.1f} KiB/conn",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("s until every connection is subscribed (log)")
    ax.set_xlabel("connections in one process, one channel each")
    ax.set_title("Scale: pusher-channels clients in one process", fontsize=10)
    ax.set_yscale("log")
    ax.set_ylim(
        min((r["subscribed_s"] for r in rows), default=0.01) / 3,
        max((r["subscribed_s"] for r in rows), default=1) * 6,
    )


def reconnect_panel(ax: Any, results: dict[str, Any]) -> None:
    """From the kill to resubscribed and to the first event."""
    p = results["parameters"]
    rows = [r for r in results["reconnect"] if r["event_s"] is not None]
    positions = range(len(rows))
    ax.bar(
        [i - 0.2 for i in positions], [r["resubscribed_s"] for r in rows], 0.4, label="resubscribed"
    )
    ax.bar([i + 0.2 for i in positions], [r["event_s"] for r in rows], 0.4, label="first event")
    up = [r["soketi_up_after_kill_s"] for r in rows]
    if up:
        ax.axhline(sum(up) / len(up), color="black", linestyle="--", linewidth=1, label="soketi up")
    ax.set_xticks(list(positions), [r["label"] for r in rows], fontsize=9)
    ax.set_ylabel("s after soketi was killed")
    ax.set_title(
        f"Reconnect: soketi killed, restarted {p['reconnect_outage_s']:g} s later", fontsize=10
    )
    ax.legend()


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m benchmarks.chart RESULTS.json OUTPUT.png")
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
