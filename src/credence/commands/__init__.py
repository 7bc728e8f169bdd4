"""The `credence` commands, one module per area; `credence.cli` registers them on one Typer app."""
