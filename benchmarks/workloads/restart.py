"""A fleet after a server restart: 1,000 connections, soketi killed and started again.

C pusher-channels clients in one process (one ``PusherChannelsClient`` each, each
subscribed to its own channel) are connected to soketi; soketi is killed (SIGKILL)
and started again on the same port 1 s later. Each client records the time of every
connection attempt (``client.connection.bind("connecting", ...)``: the state is
entered once per attempt) and of every ``subscription_succeeded``. The figures:
when the last client was subscribed again, counted from the moment soketi answered
again (its ``/ready`` endpoint), and how the attempts are spread: the most attempts
within any 10 ms, and the span of each client's first attempt after the kill.

The client runs as ``python -m benchmarks.workloads.restart client ...``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from .._common import LagMonitor, emit, hard_deadline, raise_fd_limit, workload_client_arguments
from ..harness import (
    Bench,
    Client,
    Row,
    Target,
    Workload,
    busiest_window,
    check,
    fmt,
    log,
    median,
    module_client,
)

MODULE = "benchmarks.workloads.restart"
OUTAGE_S = 1.0
BACK_WITHIN_S = 2.0
WINDOW_S = 0.010
BURST_SHARE = 0.25
"""At most this share of the connections' attempts within any 10 ms (all of them in
the same 10 ms would be the burst the target rules out)."""


def run(bench: Bench) -> dict[str, Any]:
    count = bench.sized(1_000, 50)
    repeat = bench.repeats(3)
    log(f"==> restart: {count:,} connections, soketi killed and restarted, {repeat} run(s)")
    soketi = bench.soketi()
    runs: list[dict[str, Any]] = []
    for rep in range(repeat):
        command = module_client(MODULE, soketi.port, soketi.key, connections=count, max_seconds=180)
        client = Client("restart", command, stdin=True)
        try:
            if client.wait_for("ready", 120) is None:
                runs.append({"ok": False, "error": "the clients did not all subscribe"})
                continue
            time.sleep(0.5)
            t_kill = time.time()
            soketi.kill()
            time.sleep(OUTAGE_S)
            soketi.start()
            t_up = time.time()
            client.wait_for("resubscribed", 60)
            client.close_stdin()
            result = client.result(60)
        finally:
            client.stop()
        runs.append(measure(result, count, t_kill, t_up))
        last = runs[-1]
        log(
            f"  restart {rep + 1}/{repeat} C={count:,}: soketi up {t_up - t_kill:5.2f} s after "
            f"the kill, all resubscribed {fmt(last.get('all_back_after_up_s'), '.2f', ' s')} "
            f"later; busiest 10 ms: {last.get('busiest_10ms', '-')} attempts  "
            f"{'ok' if last.get('ok') else 'FAILED: ' + str(last.get('error'))}"
        )
    good = [r for r in runs if r.get("ok")]
    worst = max(good, key=lambda r: r["busiest_10ms"], default=None)
    return {
        "parameters": {"connections": count, "repeat": repeat, "outage_s": OUTAGE_S},
        "ok": len(good) == len(runs),
        "error": next((r.get("error") for r in runs if not r.get("ok")), None),
        "soketi_up_after_kill_s": median(r["soketi_up_after_kill_s"] for r in good),
        "all_back_after_up_s": median(r["all_back_after_up_s"] for r in good),
        "median_back_after_up_s": median(r["median_back_after_up_s"] for r in good),
        "busiest_10ms": worst["busiest_10ms"] if worst else None,
        "stall_before_busiest_ms": worst["stall_before_busiest_ms"] if worst else None,
        "longest_stall_ms": max((r["longest_stall_ms"] for r in good), default=None),
        "first_attempt_span_s": median(r["first_attempt_span_s"] for r in good),
        "attempts_per_client": median(r["attempts_per_client"] for r in good),
        "runs": runs,
    }


def measure(result: dict[str, Any], count: int, t_kill: float, t_up: float) -> dict[str, Any]:
    """The figures of one run, from every client's attempt and subscription times."""
    if not result.get("ok"):
        return {"ok": False, "error": result.get("error")}
    attempts = [[t for t in times if t > t_kill] for times in result["attempts"]]
    back = [[t for t in times if t > t_kill] for times in result["subscribed"]]
    missing = sum(1 for times in back if not times)
    every_attempt = [t for times in attempts for t in times]
    firsts = [times[0] for times in attempts if times]
    busiest, at = busiest_window(every_attempt, WINDOW_S)
    last_back = [max(times) for times in back if times]
    stalls = [(t, lag) for t, lag in result.get("stalls", []) if t > t_kill]
    # A stall ends with the late wake-up: timers that came due meanwhile fire at once.
    before_busiest = [lag for t, lag in stalls if busiest and at - WINDOW_S <= t <= at + WINDOW_S]
    out: dict[str, Any] = {
        "ok": missing == 0,
        "error": f"{missing} of {count} clients not resubscribed" if missing else None,
        "soketi_up_after_kill_s": t_up - t_kill,
        "all_back_after_up_s": max(last_back, default=t_up) - t_up,
        "median_back_after_up_s": median(t - t_up for t in last_back),
        "busiest_10ms": busiest,
        "busiest_10ms_at_s": at - t_kill if busiest else None,
        "stall_before_busiest_ms": max(before_busiest, default=None),
        "longest_stall_ms": max((lag for _, lag in stalls), default=0.0),
        "stalls_after_kill": [(round(t - t_kill, 4), lag) for t, lag in stalls],
        "first_attempt_span_s": max(firsts) - min(firsts) if firsts else None,
        "attempts_per_client": len(every_attempt) / count,
        # Attempts per 10 ms from the kill, for the chart.
        "histogram_10ms": histogram(every_attempt, t_kill, WINDOW_S),
        "back_after_kill_s": sorted(round(t - t_kill, 4) for t in last_back),
    }
    return out


def histogram(times: list[float], start: float, width: float) -> list[int]:
    if not times:
        return []
    bins = [0] * (int((max(times) - start) / width) + 1)
    for t in times:
        bins[int((t - start) / width)] += 1
    return bins


def rows(section: dict[str, Any]) -> Iterator[Row]:
    p = section["parameters"]
    yield (
        f"restart, {p['connections']:,} connections, soketi down {p['outage_s']:g} s",
        "pusher-channels",
        fmt(section["all_back_after_up_s"], ".2f", " s all back"),
        f"{fmt(section['busiest_10ms'], 'd')} in busiest 10 ms",
        check(
            section["ok"],
            f"after soketi answered; first attempts over "
            f"{fmt(section['first_attempt_span_s'], '.3f', ' s')}, "
            f"{fmt(section['attempts_per_client'], '.1f')} attempts/client, "
            f"longest loop stall {fmt(section['longest_stall_ms'], '.0f', ' ms')}",
            section["error"],
        ),
    )


def targets(section: dict[str, Any]) -> list[Target]:
    count = section["parameters"]["connections"]
    out: list[Target] = []
    back = section["all_back_after_up_s"]
    if back is not None:
        out.append(
            Target(
                f"{count:,} connections after a server restart",
                f"all resubscribed within {BACK_WITHIN_S:g} s of the server answering",
                f"{back:.2f} s (median client {section['median_back_after_up_s']:.2f} s)",
                back <= BACK_WITHIN_S and section["ok"],
                back,
                BACK_WITHIN_S,
            )
        )
    busiest = section["busiest_10ms"]
    if busiest is not None:
        limit = BURST_SHARE * count
        out.append(
            Target(
                f"{count:,} connections after a server restart: attempts spread",
                f"no burst: ≤ {limit:,.0f} attempts ({BURST_SHARE:.0%}) in any 10 ms",
                f"{busiest} in the busiest 10 ms{_after_stall(section)}; first attempts "
                f"spread over {section['first_attempt_span_s']:.3f} s",
                busiest <= limit,
                busiest / count,
                BURST_SHARE,
            )
        )
    return out


def _after_stall(section: dict[str, Any]) -> str:
    stall = section.get("stall_before_busiest_ms")
    return f", right after a {stall:.0f} ms event-loop stall" if stall else ""


def failures(section: dict[str, Any]) -> list[str]:
    return [] if section["ok"] else [f"restart: {section['error']}"]


WORKLOAD = Workload(
    name="restart",
    order=70,
    summary="1,000 connections back after soketi is killed and restarted",
    run=run,
    rows=rows,
    targets=targets,
    failures=failures,
)


# --------------------------------------------------------------------- the client


async def stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not os.read(fd, 4096) and not closed.done():
            closed.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await closed
    finally:
        loop.remove_reader(fd)


async def client(args: Any) -> None:
    from pusher_channels import PusherChannelsClient

    count = args.connections
    raise_fd_limit(count + 1024)
    attempts: list[list[float]] = [[] for _ in range(count)]
    subscribed: list[list[float]] = [[] for _ in range(count)]
    total = 0
    everyone = asyncio.Event()

    def on_subscribed(index: int) -> Any:
        def record(data: Any) -> None:
            nonlocal total
            subscribed[index].append(time.time())
            total += 1
            if total == count:
                everyone.set()
            elif total == 2 * count:
                emit({"type": "resubscribed", "t": time.time()})

        return record

    clients = []
    for i in range(count):
        pusher = PusherChannelsClient(
            api_key=args.key, host=args.host, ws_port=args.port, use_tls=False
        )
        pusher.connection.bind("connecting", _stamp(attempts[i]))
        await pusher.subscribe(f"restart-{i}", on_subscription_succeeded=on_subscribed(i))
        clients.append(pusher)
    try:
        await asyncio.gather(*(c.connect(timeout=args.max_seconds / 3) for c in clients))
        await asyncio.wait_for(everyone.wait(), args.max_seconds / 3)
    except (TimeoutError, OSError) as exc:
        emit({"type": "result", "ok": False, "error": f"{total} of {count} subscribed: {exc!r}"})
        return
    lag = LagMonitor()
    lag.start()
    emit({"type": "ready"})
    await stdin_closed()
    lag.stop()
    emit(
        {
            "type": "result",
            "ok": True,
            "attempts": _rounded(attempts),
            "subscribed": _rounded(subscribed),
            "stalls": lag.stalls,
        }
    )
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)


def _stamp(times: list[float]) -> Any:
    return lambda: times.append(time.time())


def _rounded(per_client: list[list[float]]) -> list[list[float]]:
    return [[round(t, 4) for t in times] for times in per_client]


def main() -> None:
    args = workload_client_arguments().parse_args()
    hard_deadline(args.max_seconds)
    asyncio.run(client(args))


if __name__ == "__main__":
    main()
