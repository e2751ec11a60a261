"""Aids for testing a caller: faults, the request journal, the control token."""
