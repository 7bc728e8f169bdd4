"""Who may call: API principals, their keys, the guard against guessing (used by api and web)."""
