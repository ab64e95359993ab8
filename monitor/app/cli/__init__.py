"""The `vigil` command line: entry point (main.py) and its subcommands."""

from monitor.app.unused_extras import HTTPX_COMMAND_LINE, keep_out

# Before main.py imports httpx: its own command line (click, rich, pygments) stays out.
keep_out(HTTPX_COMMAND_LINE)
