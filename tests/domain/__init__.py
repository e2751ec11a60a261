"""The rules, driven in-process with an injected clock and ids."""
