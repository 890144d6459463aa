"""Render the README's screenshot of the example app from the app itself.

Starts a local soketi and authorization endpoint (``devtools/``), runs
``examples/chat_app.py`` headlessly, connects it to a presence channel as "ada",
lets "bob" join with a second client, sends events both ways, then saves
``docs/images/example-app.svg`` (Textual's own screenshot) and converts it to
``docs/images/example-app.png`` with ``rsvg-convert`` (Debian's ``librsvg2-bin``)
or, failing that, ``cairosvg`` (PyPI). Run it with the project's venv::

    .venv/bin/python examples/make_screenshot.py
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.auth_server import AuthServer
from devtools.soketi import SoketiServer
from textual.pilot import Pilot

from chat_app import PusherApp, Settings  # beside this file
from pusher_channels import PusherChannelsClient, PusherEvent

ROOT = Path(__file__).resolve().parent.parent

CHANNEL = "presence-chatbox"
SIZE = (116, 30)
USERS = {
    "ada": {"user_id": "ada", "user_info": {"name": "Ada Lovelace"}},
    "bob": {"user_id": "bob", "user_info": {"name": "Bob"}},
}


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 15) -> None:
    """Let the app run until ``condition()`` holds, or fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshot failed: waited {timeout} s for {condition}")
        await pilot.pause(0.05)


async def render(soketi: SoketiServer, auth: AuthServer, svg: Path) -> None:
    """Drive the app to a telling state and save its SVG screenshot."""
    settings = Settings(
        key=soketi.key,
        host="127.0.0.1",
        port=soketi.port,
        tls=False,
        auth_endpoint=auth.url,
        user="ada",
        channel=CHANNEL,
        event_name="client-message",
        event_data='{"text": "hi Bob"}',
    )
    app = PusherApp(settings)
    bob_got: list[PusherEvent] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#connect")
        await wait_for(pilot, lambda: "ada" in app.member_ids())
        bob = PusherChannelsClient(
            api_key=soketi.key,
            host="127.0.0.1",
            ws_port=soketi.port,
            use_tls=False,
            auth_endpoint=auth.url,
            auth_params={"params": {"user": "bob"}},
        )
        room = await bob.subscribe(CHANNEL, on_event=bob_got.append)
        await bob.connect(timeout=10)
        await wait_for(pilot, lambda: "bob" in app.member_ids())
        await wait_for(pilot, lambda: room.subscribed)
        sdk = soketi.server_sdk()
        await asyncio.to_thread(sdk.trigger, CHANNEL, "order-shipped", {"order": 1042})
        await wait_for(pilot, lambda: any("order-shipped" in line for line in app.history))
        await room.trigger(event_name="client-message", data={"text": "hello Ada"})
        await wait_for(pilot, lambda: any("hello Ada" in line for line in app.history))
        await pilot.click("#trigger")
        await wait_for(pilot, lambda: bool(bob_got))
        app.set_focus(None)
        await pilot.pause(0.3)
        app.save_screenshot(svg.name, str(svg.parent))
        await bob.disconnect()


def convert(svg: Path, png: Path) -> str:
    """SVG to PNG; returns the tool used."""
    rsvg = shutil.which("rsvg-convert")
    if rsvg is not None:
        subprocess.run([rsvg, "--zoom", "1.5", "-o", str(png), str(svg)], check=True)
        return "rsvg-convert"
    try:
        import cairosvg  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise SystemExit(
            "no SVG converter: apt-get install librsvg2-bin, or pip install cairosvg"
        ) from None
    cairosvg.svg2png(url=str(svg), write_to=str(png), scale=1.5)
    return "cairosvg"


def main() -> None:
    """Start the servers, render, convert."""
    parser = argparse.ArgumentParser(description="Render the example app's screenshot.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    svg, png = out / "example-app.svg", out / "example-app.png"
    soketi = SoketiServer()
    soketi.start()
    auth = AuthServer(soketi.server_sdk(), users=USERS)
    auth.start()
    try:
        asyncio.run(render(soketi, auth, svg))
    finally:
        auth.stop()
        soketi.stop()
    tool = convert(svg, png)
    print(f"wrote {svg.relative_to(ROOT)} and {png.relative_to(ROOT)} ({tool})")


if __name__ == "__main__":
    main()
