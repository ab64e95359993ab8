"""`python -m monitor ...` runs the `vigil` command line (monitor/app/cli/main.py)."""

from monitor.app.cli.main import main

main()
