"""Getting records in: file formats, row validation, quarantine of bad rows."""
