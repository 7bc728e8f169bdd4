"""The bundled policy library: schemes modelled on real public ones, with their tests."""

from __future__ import annotations

from pathlib import Path

from credence.policy.load import PolicySet, load_policy

LIBRARY = Path(__file__).parent


def names() -> list[str]:
    """The names of the bundled policies."""
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


def path_of(name: str) -> Path:
    """The file of a bundled policy."""
    return LIBRARY / f"{name}.yaml"


def resolve(name_or_path: str) -> PolicySet:
    """Load a policy from a path, or a bundled policy by name."""
    candidate = Path(name_or_path)
    if candidate.exists() or name_or_path not in names():
        return load_policy(candidate)
    return load_policy(path_of(name_or_path))
