"""The pytest files shown on docs/testing.md, run by pytest as a reader would run them.

The page's other examples run in ``tests/test_docs.py``; the blocks titled as files
(``board.py``, ``test_board.py``, ``conftest.py``...) are written to a fresh
project here and run in a pytest session with the package's plugin.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.testing.test_plugin import INI, plugin_args

pytest_plugins = ["pytester"]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_FILE_BLOCK = re.compile(r'^```python title="([\w.]+)"\n(.*?)^```$', re.MULTILINE | re.DOTALL)


def page_files() -> dict[str, str]:
    """The page's code blocks that have a file name, by name."""
    return dict(_FILE_BLOCK.findall(PAGE.read_text(encoding="utf-8")))


def test_the_page_shows_the_files_of_a_project() -> None:
    assert set(page_files()) == {"board.py", "test_board.py", "conftest.py", "test_options.py"}


def test_the_pytest_files_of_the_page_pass(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"{INI}addopts = --strict-markers\n")
    for name, code in page_files().items():
        pytester.path.joinpath(name).write_text(code, encoding="utf-8")
    result = pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
