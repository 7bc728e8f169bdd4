"""Policies: the declarative, versioned rule sets that turn records into assessments."""

from credence.policy.load import PolicySet, load_policy
from credence.policy.model import PolicyVersion

__all__ = ["PolicySet", "PolicyVersion", "load_policy"]
