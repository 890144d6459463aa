"""``python -m benchmarks.auth_batching``: the batched-authorization workload on its own.

It lives in :mod:`benchmarks.workloads.auth_batching` (``benchmarks.run --only
auth_batching`` runs it with the others); this keeps the earlier command working.
"""

from __future__ import annotations

from .workloads.auth_batching import main

if __name__ == "__main__":
    raise SystemExit(main())
