"""Compare JSON by shape: the same keys, and values of the same JSON types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return "null"
    return type(value).__name__


def fixture(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text())
