"""The `vigil` command line: entry point (main.py) and its subcommands."""
