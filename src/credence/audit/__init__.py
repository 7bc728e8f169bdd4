"""The audit trail: a hash-chained log of every write and read, and subjects' access events."""
