"""The command line interface (Typer + Rich)."""
