"""Callback faults (`/_emulator/callbacks/faults`): rules that make deliveries slow,
duplicated (same event id) or reordered (a delivery swapped with the next of its room).

`Sender.attempt` consults `CallbackFaults` (see `meetings_emulator/callbacks/sender.py`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from meetings_emulator.callbacks.sender import Post
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.outbox import Attempt, Delivery, DeliveryStatus
from meetings_emulator.testing.rules import Check, Rule, Rules, is_int

MAX_DUPLICATES = 100
CALLBACK_FAULT_KEYS = ("event", "room_id", "effect", "times", "probability")
CALLBACK_EFFECT_KEYS = ("latency_ms", "duplicate", "reorder")


@dataclass(slots=True)
class CallbackFault(Rule):
    event: str | None = None
    room_id: str | None = None

    def matches(self, delivery: Delivery) -> bool:
        if self.event is not None and not fnmatch.fnmatchcase(delivery.event, self.event):
            return False
        return self.room_id is None or self.room_id == delivery.room_id

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "room_id": self.room_id, **self._common_json()}


def parse_callback_fault(body: Any, rule_id: str) -> CallbackFault:
    """`{"event"? (glob), "room_id"?, "effect", "times"?, "probability"?}`."""
    check = Check()
    fields = check.object(body, "value", CALLBACK_FAULT_KEYS)
    event = check.text(fields, "event")
    room_id = check.text(fields, "room_id")
    value = check.effect(fields, CALLBACK_EFFECT_KEYS)
    effect: dict[str, Any] = {}
    if "latency_ms" in value:
        effect["latency_ms"] = check.latency(value["latency_ms"])
    if "duplicate" in value:
        duplicate = value["duplicate"]
        if not is_int(duplicate) or not 1 <= duplicate <= MAX_DUPLICATES:
            check.fail(f'"effect.duplicate" must be an integer from 1 to {MAX_DUPLICATES}')
        else:
            effect["duplicate"] = duplicate
    if "reorder" in value:
        if value["reorder"] is not True:
            check.fail('"effect.reorder" must be [true]')
        else:
            effect["reorder"] = True
    times, probability = check.times_and_probability(fields)
    check.raise_if_any()
    return CallbackFault(rule_id, effect, times, probability, event=event, room_id=room_id)


class CallbackFaults:
    """The `Sender`'s fault hook: slow, duplicated and reordered deliveries.

    - `latency_ms`: wait (real time) before sending; the logged attempt's `latency_ms`
      includes the wait.
    - `duplicate: n`: after the attempt, post the same request n more times (same body,
      same event id); only the first is logged, and the copies' answers are ignored.
    - `reorder`: send the next delivery queued in the same room first, then this one. The
      next one's answer is kept and becomes its own attempt when its turn comes, so it is
      not sent twice. A reorder rule only matches a delivery that has one queued behind it.
    """

    def __init__(self, ids: Callable[[], Ids]) -> None:
        self.rules: Rules[CallbackFault] = Rules(ids, "callback-fault")
        self._ids = ids
        # Deliveries sent ahead of their turn by a reorder, with the attempt they got.
        self._sent_early: dict[Delivery, Attempt] = {}

    async def attempt(
        self,
        delivery: Delivery,
        timeout: float,
        post: Post,
        queued: Callable[[], list[Delivery]],
    ) -> Attempt:
        early = self._sent_early.pop(delivery, None)
        if early is not None:
            return early
        behind: list[Delivery | None] = []  # looked up once, only if a reorder rule asks

        def fits(rule: CallbackFault) -> bool:
            if not rule.matches(delivery):
                return False
            if rule.effect.get("reorder"):
                if not behind:
                    behind.append(self._next_in_room(delivery, queued()))
                return behind[0] is not None
            return True

        rule = self.rules.pick(fits)
        if rule is None:
            return await post(delivery, timeout)
        started = Clock.elapsed()
        delay = rule.latency(self._ids())
        if delay:
            await asyncio.sleep(delay)
        waited_ms = (Clock.elapsed() - started) * 1000
        successor = behind[0] if behind and rule.effect.get("reorder") else None
        if successor is not None:
            self._sent_early[successor] = await post(successor, timeout)
        attempt = await post(delivery, timeout)
        for _ in range(rule.effect.get("duplicate", 0)):
            await post(delivery, timeout)
        if delay:
            attempt = replace(attempt, latency_ms=round(attempt.latency_ms + waited_ms, 3))
        return attempt

    def _next_in_room(self, delivery: Delivery, queued: list[Delivery]) -> Delivery | None:
        room = [d for d in queued if d.room_id == delivery.room_id]
        for before, after in itertools.pairwise(room):
            if before is delivery:
                if after.status is DeliveryStatus.PENDING and after not in self._sent_early:
                    return after
                return None
        return None

    def reset(self) -> None:
        self.rules.clear()
        self._sent_early.clear()


__all__ = ["CallbackFault", "CallbackFaults", "parse_callback_fault"]
