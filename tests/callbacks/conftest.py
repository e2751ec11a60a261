"""What the callback tests share: a real receiver on a free port, with answers a test can
script."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from meetings_emulator.callbacks.receiver import Inbox, Received, create_receiver

from ..conftest import serving


@dataclass
class Receiver:
    """A real HTTP receiver on a free port, with answers a test can script."""

    url: str
    inbox: Inbox
    answers: list[int] = field(default_factory=list)  # consumed first; then 204

    def at(self, path: str) -> str:
        return f"{self.url}/{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    inbox = Inbox()
    holder: list[Receiver] = []

    def respond(_item: Received) -> int:
        answers = holder[0].answers
        return answers.pop(0) if answers else 204

    with serving(create_receiver(inbox=inbox, respond=respond)) as url:
        holder.append(Receiver(url, inbox))
        yield holder[0]
