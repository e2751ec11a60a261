"""Fault rules, the request journal and the control token."""
