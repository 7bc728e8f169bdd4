"""Every error Credence raises on purpose, in one place."""

from __future__ import annotations


class CredenceError(Exception):
    """Base of all errors that Credence reports to a user."""


class PolicyError(CredenceError):
    """A policy file could not be read or is not a valid policy.

    ``problems`` holds one ``(location, message)`` pair per problem found, so that a user
    sees every mistake at once rather than one per run.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"]
        lines += [f"  {loc}: {msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


class RecordError(CredenceError):
    """A record row is invalid; names the line, the field and the reason."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        self.line = line
        self.field = field
        self.reason = reason
        super().__init__(f"line {line}: field {field!r}: {reason}")


class EvaluationError(CredenceError):
    """A policy cannot be evaluated as asked (not in force, unlawful, bad dates)."""


class DurationError(CredenceError, ValueError):
    """An ISO-8601 duration string could not be parsed."""
