"""The three ways a record can go wrong, and what the batch does with each.

- ``Rejected``: the input itself is the problem (not audio, empty, too large, the endpoint
  failed on it). Retrying cannot help: a ``failed/<path>.json`` record tells the user why
  and the SQS message is consumed.
- ``Transient``: something outside the input failed (throttling, a 5xx, a race). The
  message is reported as a batch item failure so SQS retries it with back-off; on its last
  delivery ``give_up`` first leaves a ``failed/`` record, so the user hears of it (``runtime``).
- ``Poison``: the message cannot even be parsed, so there is no path to write a record
  for. It is reported as a batch item failure; after ``MAX_RECEIVE_COUNT`` receives SQS
  moves it to the DLQ where an operator sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class TwiLambdaError(Exception):
    """Base of every error the Lambda functions raise on purpose."""


class Rejected(TwiLambdaError):
    """Permanent, caused by the input: write ``failed/<path>.json`` and consume the message."""

    def __init__(self, reason: str, stage: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage  # "submit", "endpoint" or "complete": where it was found


class Transient(TwiLambdaError):
    """Worth retrying: the message goes back to the queue. ``give_up(attempts)``, when given,
    records the failure for the user; the batch layer calls it on the last delivery only."""

    def __init__(self, message: str, give_up: Callable[[int], object] | None = None) -> None:
        super().__init__(message)
        self.give_up = give_up

    @classmethod
    def recorded(cls, label: str, failing: str, exc: Exception, record: Callable[[str], object]) -> Transient:
        """``exc`` as a retry of ``label``; on the last delivery ``record`` gets the reason the
        user reads in ``failed/``: ``<failing> after <n> attempts: <exc>``."""
        error = str(exc)

        def give_up(attempts: int) -> None:
            record(f"{failing} after {attempts} attempts: {error}")

        return cls(f"{label}: {error}", give_up)

    @classmethod
    def of_all(cls, errors: Sequence[Transient]) -> Transient:
        """One message retried for several of its parts (a coalesced request's files): every
        reason, and every part's ``give_up``."""
        if len(errors) == 1:
            return errors[0]

        def give_up(attempts: int) -> None:
            for error in errors:
                if error.give_up is not None:
                    error.give_up(attempts)

        return cls("; ".join(str(error) for error in errors), give_up)


class Poison(TwiLambdaError):
    """The message is not one we can read: it goes back to the queue, then to the DLQ."""


class ConfigurationError(TwiLambdaError):
    """The function is deployed without a setting it needs; every message would fail."""
