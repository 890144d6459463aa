"""Draw the results of ``benchmarks.run`` as one PNG, with matplotlib.

matplotlib lives in ``benchmarks/.venv-peers`` (``benchmarks.run`` creates it)::

    benchmarks/.venv-peers/bin/python -m benchmarks.chart \\
        benchmarks/results/latest.json docs/images/performance.png

One panel per part of the results: the targets (each figure as a share of its
limit), throughput, event-loop lag, latency, connections, channels and presence
rooms, and the restarts. A part the run did not measure says so. Standard library
and matplotlib only: this runs in the peers' virtual environment.
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
MET = "#2da44e"
MISSED = "#cf222e"


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

    fig, axes = plt.subplots(4, 2, figsize=(15, 19))
    m = results["machine"]
    fig.suptitle(
        f"pusher-channels benchmarks ({results['mode']} run) — {m['nproc']} x {m['cpu_model']}, "
        f"Python {m['python']}, Node {m['node']}",
        fontsize=12,
    )
    panels = [
        (targets_panel, "targets"),
        (throughput_panel, "throughput"),
        (lag_panel, "loop_lag"),
        (latency_panel, "latency"),
        (scale_panel, "scale"),
        (rooms_panel, "channels"),
        (reconnect_panel, "reconnect"),
        (restart_panel, "restart"),
    ]
    for ax, (panel, key) in zip(axes.flat, panels, strict=True):
        if results.get(key):
            panel(ax, results)
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"{key}: not measured in this run", ha="center", va="center")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(target, dpi=100)
    plt.close(fig)


def targets_panel(ax: Any, results: dict[str, Any]) -> None:
    """Each judged target's figure as a share of its limit (1 = the limit)."""
    rows = [t for t in results["targets"] if t.get("value") is not None and t.get("limit")]
    labels = [t["target"] for t in rows]
    shares = [t["value"] / t["limit"] for t in rows]
    bars = ax.barh(labels, shares, color=[MET if t["met"] else MISSED for t in rows])
    for bar, row in zip(bars, rows, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {row['value']:.2f} (limit {row['limit']:g})",
            va="center",
            fontsize=7,
        )
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("figure / limit, log scale (≤ 1 is met; green met, red missed)")
    ax.set_title("Targets, judged on this run", fontsize=10)
    ax.set_xlim(min([*shares, 1.0]) / 2, max([*shares, 1.0]) * 8)


def throughput_panel(ax: Any, results: dict[str, Any]) -> None:
    """CPU µs per event (lower is better), events/s as labels."""
    section = results["throughput"]
    rows = [r for r in section["clients"] if r["cpu_us_per_event"] is not None]
    labels = [r["label"] + ("" if r["ok"] else " (dropped events)") for r in rows]
    values = [r["cpu_us_per_event"] for r in rows]
    bars = ax.barh(labels, values, color=[colour(r["client"]) for r in rows])
    for bar, row in zip(bars, rows, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {row['cpu_us_per_event']:.2f} µs, {row['events_per_s'] / 1000:,.0f}k ev/s",
            va="center",
            fontsize=7,
        )
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("client CPU µs per event (lower is better)")
    ax.set_title(
        f"Throughput: {section['parameters']['events']:,} events from a local blaster, "
        f"medians of {section['parameters']['repeat']}",
        fontsize=10,
    )
    ax.set_xlim(0, max(values, default=1) * 1.45)


def lag_panel(ax: Any, results: dict[str, Any]) -> None:
    """Event-loop lag while receiving: p50, p99, max per client."""
    section = results["loop_lag"]
    rows = [r for r in section["clients"] if r["p99_ms"] is not None]
    positions = range(len(rows))
    for offset, key in ((-0.27, "p50_ms"), (0.0, "p99_ms"), (0.27, "max_ms")):
        values = [r[key] for r in rows]
        ax.bar([i + offset for i in positions], values, 0.27, label=key.removesuffix("_ms"))
        for i, value in enumerate(values):
            ax.text(i + offset, value, f"{value:.1f}", ha="center", va="bottom", fontsize=8)
    ax.axhline(5.0, color="black", linestyle="--", linewidth=1, label="5 ms (p99 target)")
    ax.set_xticks(list(positions), [r["label"] for r in rows], fontsize=9)
    ax.set_ylabel("ms late, a 1 ms timer task")
    ax.set_title(
        f"Event-loop lag while receiving {section['parameters']['events']:,} events at full speed",
        fontsize=10,
    )
    ax.legend(fontsize=8)


def latency_panel(ax: Any, results: dict[str, Any]) -> None:
    """Latency through soketi: p50 and p99."""
    section = results["latency"]
    p = section["parameters"]
    rows = section["clients"]
    positions = range(len(rows))
    ax.bar([i - 0.2 for i in positions], [r["p50_ms"] for r in rows], 0.4, label="p50")
    ax.bar([i + 0.2 for i in positions], [r["p99_ms"] for r in rows], 0.4, label="p99")
    for i, row in enumerate(rows):
        ax.text(i + 0.2, row["p99_ms"], f"{row['p99_ms']:.1f}", ha="center", va="bottom", size=8)
        ax.text(i - 0.2, row["p50_ms"], f"{row['p50_ms']:.1f}", ha="center", va="bottom", size=8)
    ax.set_xticks(list(positions), [r["label"] for r in rows], rotation=15, fontsize=8)
    ax.set_ylabel("ms from HTTP trigger to callback")
    ax.set_title(
        f"Latency through soketi: {p['rate_per_s']:g} events/s for {p['seconds']:g} s"
        f" x {p['runs']} runs, pooled",
        fontsize=10,
    )
    ax.legend()


def scale_panel(ax: Any, results: dict[str, Any]) -> None:
    """Time until all subscribed, pusher-channels against raw picows, per size."""
    rows = [r for r in results["scale"]["sizes"] if r["subscribed_s"] is not None]
    sizes = sorted({r["connections"] for r in rows})
    positions = range(len(sizes))
    for offset, client, label in (
        (-0.2, "pc-callbacks", "pusher-channels"),
        (0.2, "picows-raw", "raw picows"),
    ):
        by_size = {r["connections"]: r for r in rows if r["client"] == client}
        values = [by_size[s]["subscribed_s"] if s in by_size else 0 for s in sizes]
        ax.bar([i + offset for i in positions], values, 0.4, label=label, color=colour(client))
        for i, size in enumerate(sizes):
            if size in by_size:
                row = by_size[size]
                ax.text(
                    i + offset,
                    row["subscribed_s"],
                    f"{row['subscribed_s']:.2f} s\n{row['rss_per_connection_kib']:.1f} KiB",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(list(positions), [f"{s:,}" for s in sizes])
    ax.set_yscale("log")
    ax.set_ylabel("s until every connection is subscribed (log)")
    ax.set_xlabel("connections in one process, one channel each (KiB = RSS per idle connection)")
    ax.set_title("Connections on soketi, at once", fontsize=10)
    ax.legend(fontsize=8)


def rooms_panel(ax: Any, results: dict[str, Any]) -> None:
    """Per-unit cost against size: channels on one connection, presence members."""
    channels = results["channels"]["sizes"]
    ax.plot(
        [r["channels"] for r in channels],
        [r["per_channel_us"] for r in channels],
        "o-",
        color=OURS,
        label="µs per channel (register + subscribe), one connection",
    )
    for r in channels:
        ax.annotate(
            f"{r['per_channel_us']:.1f} µs, stall {r['max_stall_ms']:.0f} ms",
            (r["channels"], r["per_channel_us"]),
            fontsize=7,
        )
    presence = results.get("presence")
    if presence:
        sizes = presence["sizes"]
        ax.plot(
            [r["members"] for r in sizes],
            [r["cpu_per_member_us"] for r in sizes],
            "s-",
            color=CEILING,
            label="CPU µs per member, presence subscription",
        )
        for r in sizes:
            ax.annotate(
                f"{r['cpu_per_member_us']:.2f} µs, stall {r['subscribe_stall_ms']:.1f} ms",
                (r["members"], r["cpu_per_member_us"]),
                fontsize=7,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("channels / members")
    ax.set_ylabel("µs per channel or member (flat = linear)")
    ax.set_title("Many channels on one connection, presence rooms (blaster)", fontsize=10)
    ax.legend(fontsize=8)


def reconnect_panel(ax: Any, results: dict[str, Any]) -> None:
    """From the kill to resubscribed and to the first event."""
    section = results["reconnect"]
    rows = [r for r in section["clients"] if r["event_s"] is not None]
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
        f"Reconnect: soketi killed, restarted {section['parameters']['outage_s']:g} s later",
        fontsize=10,
    )
    ax.legend()


def restart_panel(ax: Any, results: dict[str, Any]) -> None:
    """Connection attempts per 10 ms after the kill, and the clients back over time."""
    section = results["restart"]
    runs = [r for r in section["runs"] if r.get("ok")]
    if not runs:
        ax.set_axis_off()
        return
    run = runs[0]
    bins = run["histogram_10ms"]
    ax.bar(
        [i * 0.01 for i in range(len(bins))],
        bins,
        width=0.01,
        color=OURS,
        label="attempts per 10 ms",
    )
    ax.axvline(
        run["soketi_up_after_kill_s"],
        color="black",
        linestyle="--",
        linewidth=1,
        label="soketi answers",
    )
    stalls = [(t, lag) for t, lag in run.get("stalls_after_kill", []) if lag >= 20]
    if stalls:
        top = max(bins, default=1)
        ax.scatter(
            [t for t, _ in stalls],
            [top * 1.05] * len(stalls),
            s=[lag for _, lag in stalls],
            marker="v",
            color=MISSED,
            label="event-loop stall ≥ 20 ms, at its end (size: ms)",
        )
    ax.set_xlabel("s after soketi was killed")
    ax.set_ylabel("connection attempts per 10 ms")
    back = run["back_after_kill_s"]
    twin = ax.twinx()
    twin.plot(back, range(1, len(back) + 1), color=CEILING, label="clients resubscribed")
    twin.set_ylabel("clients resubscribed")
    ax.set_title(
        f"{section['parameters']['connections']:,} connections after a restart (first run): "
        f"all back {run['all_back_after_up_s']:.2f} s after soketi answered",
        fontsize=10,
    )
    handles = ax.get_legend_handles_labels()
    twin_handles = twin.get_legend_handles_labels()
    ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], fontsize=8)


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m benchmarks.chart RESULTS.json OUTPUT.png")
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
