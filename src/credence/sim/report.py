"""Impact reports (placeholder)."""
