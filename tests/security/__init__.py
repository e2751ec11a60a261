"""The red-team suite: attacks on a running emulator, each a finding that must stay closed.

Marked `security`: `python3 dev.py test -m security` runs it alone."""
