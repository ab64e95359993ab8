"""Bounds on the work the safe config.php reader may do, whatever the file says.

Part of the safe reader (php_tokens.py, php_eval.py and the value modules check these).
The reader runs inside ``vigil init`` and the daemon's checks, in threads no timeout
stops, on files a site's administrators (or an intruder) can write: a hostile or broken
file must end in a clear php_syntax.PhpLimitError naming the line, never in a gigabyte
of memory, minutes of CPU or a RecursionError. Real config.php files are a few
kilobytes with nesting of two or three levels, so the limits sit far above anything
legitimate.
"""

from __future__ import annotations

MAX_STRING = 1 << 20        # characters in any one string value (1 MiB)
MAX_ARRAY = 100_000         # elements and nested elements of one array, counted expanded
MAX_DEPTH = 64              # nesting of brackets, unary chains, nested arrays
MAX_WORK = 8 << 20          # steps, plus characters and 64 per array element built, per file
MAX_TOKENS = 50_000         # a real config.php has a few hundred; lexing 50k takes ~0.2 s
MAX_SOURCE = 1 << 20        # bytes of PHP source read at all


class LimitExceeded(Exception):
    """Raised by value operations, which know no line; the evaluator adds it.

    Deliberately not a ValueError: the operator wrappers turn ValueErrors into
    Unresolved values, and a limit must stop the file, not be skipped over.
    """


def check_length(length: int) -> None:
    """Refuse, before building it, a string longer than MAX_STRING."""
    if length > MAX_STRING:
        raise LimitExceeded(f"a string of {length} characters is over Vigil's limit "
                            f"of {MAX_STRING}")


class Budget:
    """Work done so far for one file; shared by the evaluators that file needs."""

    def __init__(self, limit: int = MAX_WORK) -> None:
        self.used = 0
        self.limit = limit

    def charge(self, units: int) -> None:
        self.used += units
        if self.used > self.limit:
            raise LimitExceeded(f"evaluating the file takes more than {self.limit} steps")
