"""What goes wrong with a scenario: `InvalidScenario` before anything is sent, `ScenarioFailed`
while playing. Both are `ScenarioError`s, and each knows the exit code of `play`."""

from __future__ import annotations


class ScenarioError(Exception):
    """A scenario that cannot be played, or that failed while playing."""

    exit_code = 1

    def __init__(self, message: str, *, step: int | None = None, kind: str | None = None) -> None:
        self.step = step
        self.kind = kind
        self.problem = message
        where = ""
        if step is not None:
            where = f"step {step}" + (f" ({kind})" if kind else "") + ": "
        super().__init__(where + message)


class InvalidScenario(ScenarioError):
    """The file is no valid scenario: nothing was played."""

    exit_code = 2


class ScenarioFailed(ScenarioError):
    """A step failed while playing: an unexpected API answer or an unmet expectation."""

    exit_code = 1


class _StepFailure(Exception):
    """Raised inside a step; the runner adds the step's number and kind."""
