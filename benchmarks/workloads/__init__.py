"""The workloads of ``benchmarks.run``: one module each, found by name.

Every module of this package that defines ``WORKLOAD`` (a
:class:`benchmarks.harness.Workload`) is a workload: adding one is adding a file.
They run and print in the order of ``WORKLOAD.order``.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..harness import Workload


def discover() -> list[Workload]:
    """Every workload of this package, in their order."""
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        workload = getattr(module, "WORKLOAD", None)
        if isinstance(workload, Workload):
            found.append(workload)
    return sorted(found, key=lambda workload: workload.order)
