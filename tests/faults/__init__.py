"""Fault injection: server restarts and network faults through a TCP proxy."""
