"""The image, built once per run by replaying the Dockerfile (see image.py)."""

from __future__ import annotations

import pytest

from .image import Replayed, replay


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    return replay(tmp_path_factory.mktemp("image"))
