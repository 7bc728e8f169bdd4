"""The system of record: append-only, bitemporal storage of records and due-process state."""
