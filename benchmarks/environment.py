"""What a benchmark run needs installed, and the description of where it ran.

``benchmarks.run`` calls :func:`ensure_node_modules` and :func:`ensure_peers_venv`
before measuring, and records :func:`machine` and the versions with the results.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
from typing import Any

from .harness import DEVTOOLS, PEERS_PYTHON, PEERS_VENV, PYTHON, ROOT, BenchmarkError, log

PEER_REQUIREMENTS = [
    "Pysher==1.0.8",
    "websocket-client==1.9.2",
    "asyncpusher==0.2.5",
    "aiohttp==3.14.5",
    "matplotlib==3.11.2",
]


def ensure_node_modules() -> None:
    if shutil.which("node") is None:
        raise BenchmarkError("Node.js is needed (soketi, pusher-js)")
    wanted = [DEVTOOLS / "node_modules" / "pusher-js", DEVTOOLS / "node_modules" / "@soketi"]
    if all(path.exists() for path in wanted):
        return
    log("==> npm ci in devtools/ (soketi, pusher-js)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=DEVTOOLS, check=True
    )


def ensure_peers_venv() -> None:
    """Create ``benchmarks/.venv-peers`` with the pinned peer libraries, once."""
    stamp = PEERS_VENV / ".installed"
    wanted = "\n".join(PEER_REQUIREMENTS)
    if PEERS_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"==> creating {PEERS_VENV.relative_to(ROOT)} ({', '.join(PEER_REQUIREMENTS)})")
    if not PEERS_PYTHON.exists():
        base = getattr(sys, "_base_executable", PYTHON)
        subprocess.run([base, "-m", "venv", str(PEERS_VENV)], check=True)
    install = subprocess.run(
        [
            str(PEERS_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PEER_REQUIREMENTS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if install.returncode != 0:
        raise BenchmarkError(f"pip install into {PEERS_VENV} failed:\n{install.stderr}")
    stamp.write_text(wanted)


def peer_versions() -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d: m.version(d) for d in "
        "('Pysher', 'websocket-client', 'asyncpusher', 'aiohttp', 'matplotlib')}))"
    )
    out = subprocess.run(
        [str(PEERS_PYTHON), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    versions: dict[str, str] = json.loads(out)
    return versions


def npm_version(package: str) -> str:
    manifest = DEVTOOLS / "node_modules" / package / "package.json"
    version: str = json.loads(manifest.read_text())["version"]
    return version


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = os.getloadavg()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "node": node,
        "load_average_at_start": [round(value, 2) for value in load],
    }
