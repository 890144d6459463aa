"""Benchmarks of pusher-channels; ``python -m benchmarks.run`` runs them all (see run.py)."""
