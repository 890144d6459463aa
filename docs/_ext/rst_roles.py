"""A griffe extension for the API reference: Sphinx-style roles as Markdown code.

The library's docstrings are Google style with a few reStructuredText habits:
``:class:`~pusher_channels.ConnectionState```, ``:meth:`init```, and paragraphs
ending in ``::`` before an indented example. mkdocstrings renders Markdown, where
those would show up literally, so this extension rewrites them when the docs are
built (the source is left as it is):

- ``:role:`~a.b.Name``` becomes ```Name```, and ``:role:`a.b.Name``` becomes
  ```a.b.Name```;
- a paragraph's final ``::`` becomes ``:`` (the indented block after it is already a
  Markdown code block).

Loaded by ``mkdocs.yml`` (``extensions: [docs/_ext/rst_roles.py]``); the ``_ext``
folder is excluded from the site.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|mod|attr|exc|data|obj|const):`(~?)([^`]+)`")
_LITERAL_MARKER = re.compile(r"(\S)::$", re.MULTILINE)
_BARE_LITERAL_MARKER = re.compile(r"^(\s*)::$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def convert(text: str) -> str:
    """Rewrite the reStructuredText habits of one docstring as Markdown."""
    text = _ROLE.sub(_role, text)
    text = _BARE_LITERAL_MARKER.sub(r"\1", text)
    return _LITERAL_MARKER.sub(r"\1:", text)


class RstRoles(griffe.Extension):
    """Converts every docstring of the loaded package."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
