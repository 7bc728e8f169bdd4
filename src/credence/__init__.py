"""Credence: a social credit system with its safeguards built in."""

__version__ = "0.1.0"
