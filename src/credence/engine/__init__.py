"""Evaluators: one policy meaning, computed per subject (reference) or per population (batch)."""
