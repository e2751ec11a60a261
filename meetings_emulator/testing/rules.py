"""Fault rules: what the API's and the callbacks' fault rules share.

A rule has an effect, and applies to the calls it matches: for the next `times` of them,
with a `probability`, or until removed. Rules are tried in the order they were added; the
first that matches and fires applies. Randomness comes from the emulator's `Ids` (with a
seed, the same API calls meet the same draws; callback deliveries draw when the network
lets them); latency is real time, as it is about the caller's own timeouts. `Check` checks
a rule's JSON form.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from meetings_emulator.domain.errors import ConflictError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.http.schemas import Checker

MAX_LATENCY_MS = 600_000
MAX_TIMES = 1_000_000
MAX_TEXT = 1000


@dataclass(slots=True)
class Rule:
    """A fault rule: when it matches, it applies (with `probability`, for `times` calls)."""

    id: str
    effect: dict[str, Any]
    times: int | None
    probability: float | None
    remaining: int | None = None
    applied: int = 0

    def __post_init__(self) -> None:
        self.remaining = self.times

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def latency(self, ids: Ids) -> float:
        """Seconds to wait: the effect's `latency_ms`, or a random pick in its range."""
        value = self.effect.get("latency_ms")
        if value is None:
            return 0.0
        if isinstance(value, list):
            low, high = value
            return (low + (high - low) * ids.fraction()) / 1000
        return float(value) / 1000

    def _common_json(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "times": self.times,
            "probability": self.probability,
            "remaining": self.remaining,
            "applied": self.applied,
        }


R = TypeVar("R", bound=Rule)


# How many rules of one kind may be in place at once (spent ones count until removed).
MAX_RULES = 1000


class Rules(Generic[R]):
    """Rules in the order they were added; the first that matches and fires applies."""

    def __init__(self, ids: Callable[[], Ids], prefix: str) -> None:
        self._ids = ids
        self._prefix = prefix
        self._lock = threading.Lock()
        self._rules: dict[str, R] = {}
        self._serial = itertools.count(1)

    def next_id(self) -> str:
        return f"{self._prefix}-{next(self._serial)}"

    def add(self, rule: R) -> R:
        with self._lock:
            if len(self._rules) >= MAX_RULES:
                raise ConflictError(
                    f"At most {MAX_RULES} rules may be in place at once: remove some first"
                )
            self._rules[rule.id] = rule
        return rule

    def __len__(self) -> int:
        return len(self._rules)

    def all(self) -> list[R]:
        with self._lock:
            return list(self._rules.values())

    def get(self, rule_id: str) -> R | None:
        with self._lock:
            return self._rules.get(rule_id)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, matches: Callable[[R], bool]) -> R | None:
        """The rule that applies to this call, if any; it counts as applied.

        A rule with a probability draws a number for each call it matches; when the draw
        misses, the later rules get their chance."""
        with self._lock:
            for rule in self._rules.values():
                if rule.exhausted or not matches(rule):
                    continue
                if rule.probability is not None and self._ids().fraction() >= rule.probability:
                    continue
                rule.applied += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None


# -- checking rules ---------------------------------------------------------------------


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Check(Checker):
    """The API's field checks, plus the fault rules' own (effects, latency, times)."""

    def object(self, value: Any, label: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        found = super().object(value, label, allowed)
        if found is None:  # not an object: nothing more to check
            self.raise_if_any()
        assert found is not None
        return found

    def text(self, fields: Mapping[str, Any], label: str) -> str | None:
        if fields.get(label) is None:
            return None
        found: str | None = self.string(fields[label], label, max_length=MAX_TEXT)
        return found

    def effect(self, fields: Mapping[str, Any], allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if "effect" not in fields:
            self.fail('"effect" is required')
            return {}
        value = fields["effect"]
        if not isinstance(value, dict):
            self.fail('"effect" must be of type object')
            return {}
        if not value:
            self.fail('"effect" must have at least 1 key')
        self.problems.extend(
            f'"effect.{key}" is not allowed' for key in value if key not in allowed
        )
        return value

    def latency(self, value: Any) -> float | list[float] | None:
        def fits(number: Any) -> bool:
            return is_number(number) and 0 <= number <= MAX_LATENCY_MS

        if fits(value):
            return value  # type: ignore[no-any-return]
        if isinstance(value, list) and len(value) == 2 and all(fits(n) for n in value):
            if value[0] > value[1]:
                self.fail(
                    '"effect.latency_ms" must be [min, max] with min less than or equal to max'
                )
                return None
            return list(value)
        self.fail(
            f'"effect.latency_ms" must be a number from 0 to {MAX_LATENCY_MS}, '
            "or an array [min, max] of such numbers"
        )
        return None

    def times_and_probability(self, fields: Mapping[str, Any]) -> tuple[int | None, float | None]:
        times = fields.get("times")
        if times is not None and (not is_int(times) or not 1 <= times <= MAX_TIMES):
            self.fail(f'"times" must be an integer from 1 to {MAX_TIMES}')
            times = None
        probability = fields.get("probability")
        if probability is not None and (not is_number(probability) or not 0 <= probability <= 1):
            self.fail('"probability" must be a number from 0 to 1')
            probability = None
        return times, probability


__all__ = ["Check", "Rule", "Rules", "is_int", "is_number"]
