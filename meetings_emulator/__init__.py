"""A local, in-memory emulator of the Vonage Meetings API.

The names a user needs are here, whatever layer they live in (see ARCHITECTURE.md):

    from meetings_emulator import create_app, Clock, Ids, Settings

Each is imported when first asked for, so importing the package stays cheap.
"""

from importlib import import_module

from meetings_emulator.version import __version__

# name -> the module that defines it
_EXPORTS = {
    "create_app": "meetings_emulator.app",
    "Clock": "meetings_emulator.domain.clock",
    "Ids": "meetings_emulator.domain.ids",
    "Settings": "meetings_emulator.domain.settings",
    "Emulator": "meetings_emulator.domain.emulator",
    "ConnectionDropped": "meetings_emulator.testing.api_faults",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'meetings_emulator' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
