"""The wheel builds, passes twine check, and installs into a clean virtualenv."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pusher_channels

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str | Path) -> str:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_wheel_and_sdist_build_check_and_install(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1
    assert len(sdists) == 1
    assert "PASSED" in run(sys.executable, "-m", "twine", "check", *wheels, *sdists)
    # The sdist carries what its tests need: every tracked file of devtools/ (the
    # Node peers' scripts included) and of tests/.
    with tarfile.open(sdists[0]) as sdist:
        packed = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    tracked = run("git", "-C", ROOT, "ls-files", "devtools", "tests").split()
    assert sorted(set(tracked) - packed) == []
    listing = run(sys.executable, "-m", "zipfile", "-l", wheels[0])
    assert "pusher_channels/py.typed" in listing
    assert "licenses/LICENSE" in listing
    with zipfile.ZipFile(wheels[0]) as wheel:
        metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = wheel.read(metadata_name).decode()
    # Every URL must lead somewhere real: the docs are not hosted, so there is no
    # Homepage (it once named a package-index page that did not exist).
    urls = [line for line in metadata.splitlines() if line.startswith("Project-URL:")]
    assert urls == [
        "Project-URL: Protocol reference, https://pusher.com/docs/channels/"
        "library_auth_reference/pusher-websockets-protocol/"
    ]
    assert "Home-page:" not in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Classifier: License :: OSI Approved :: MIT License" in metadata
    assert "Requires-Python: >=3.11" in metadata

    environment = tmp_path / "clean"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheels[0])
    imported = run(
        python,
        "-c",
        "import pusher_channels, pusher_channels.sync; print(pusher_channels.__version__)",
    )
    assert imported.strip() == pusher_channels.__version__
    version = run(environment / "bin" / "pusher-channels", "--version")
    assert version.strip() == f"pusher-channels {pusher_channels.__version__}"
