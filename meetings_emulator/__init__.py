"""A local, in-memory emulator of the Vonage Meetings API."""

from meetings_emulator.version import __version__

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from meetings_emulator.app import create_app

        return create_app
    raise AttributeError(name)
