"""Run one function in a short-lived child process and return only its (small) result.

Why: a code_integrity run over a Moodle tree (30,500 files) builds per-file tables of
~20 MB (scan, observed rows, plan). They are freed after the run, but the daemon's
allocators keep their high-water mark (pymalloc and glibc arenas stay fragmented: ~25 MB
of RSS that never comes back, docs/benchmarks.md "the integrity high-water mark"). In a
child process that exits after the run, all of it goes back to the system; the daemon
gets only the Result (a few kB). Cost: one interpreter start and the imports of the
integrity modules per run (~0.1-0.2 CPU-s; once per 5 min by default).

Not multiprocessing: the daemon has threads and must not fork (checks/integrity/
parallel.py), and a fresh interpreter (``python -m checks.integrity.isolated``) with a
pipe each way is all this needs. The parent writes one pickle, ``(function, argument)``,
to the child's stdin (the function named by module and name: it is imported, not sent);
the child writes one pickle back: ``("ok", value)``, or ``("raised", "Type", "message")``
for an exception (re-raised here as IsolatedError). It imports only what the function
needs (no HTTP client, no pydantic: checks/integrity/job.py). The child is
killed when the caller's deadline passes or the awaiting task is cancelled (the runner's
timeout), and always reaped: no process outlives the call.
"""

from __future__ import annotations

import os
import pickle
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding checks/
STDERR_TAIL = 300  # characters of the child's stderr quoted when it dies
PARENT_ENV = "VIGIL_ISOLATED_PARENT"  # the daemon's pid, for the child's parent-death check


class IsolatedError(Exception):
    """The child failed: ``kind`` is the name of the exception it raised, or "died"
    (crashed, killed, exited early) or "timeout"; the message says what happened."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


async def run_isolated(fn: Callable[[Any], T], arg: Any, *, timeout: float, what: str,
                       pass_fds: tuple[int, ...] = ()) -> T:
    """``fn(arg)`` in a child process, within ``timeout`` seconds; raises IsolatedError
    (its message names ``what`` where the child did not say it itself). ``pass_fds``:
    descriptors the child inherits, at the same numbers."""
    import asyncio  # (here: the child, this module's __main__, runs no event loop)

    job = pickle.dumps((fn, arg), protocol=pickle.HIGHEST_PROTOCOL)
    env = dict(os.environ)  # the child imports this same code, wherever it was run from
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (_ROOT, env.get("PYTHONPATH"))))
    env[PARENT_ENV] = str(os.getpid())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "checks.integrity.isolated",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        pass_fds=pass_fds,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(job)
    except TimeoutError:
        raise IsolatedError(
            "timeout",
            f"{what}: its worker process did not finish within {timeout:g}s and was killed",
        ) from None
    finally:
        if proc.returncode is None:  # deadline passed, or the caller was cancelled
            proc.kill()
            await asyncio.shield(proc.wait())
    return _answer(proc.returncode, out, err, what)


def _answer(code: int | None, out: bytes, err: bytes, what: str) -> Any:
    if code == 0 and out:
        try:
            answer = pickle.loads(out)
        except Exception as exc:  # (cannot happen: the child's stdout is the answer only)
            raise IsolatedError(
                "died", f"{what}: unreadable answer from its worker process ({type(exc).__name__})"
            ) from None
        if answer[0] == "ok":
            return answer[1]
        raise IsolatedError(answer[1], answer[2])
    how = (
        f"was killed by signal {-code}"
        if code is not None and code < 0
        else f"exited with code {code}"
    )
    tail = err.decode("utf-8", "replace").strip()[-STDERR_TAIL:].replace("\n", " | ")
    raise IsolatedError("died", f"{what}: its worker process {how}" + (f": {tail}" if tail else ""))


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG):
    a daemon killed with SIGKILL mid-run must not leave its scan running. Elsewhere, or
    without ctypes, the child still stops at its own read deadline."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.environ.get(PARENT_ENV, str(os.getppid())) != str(os.getppid()):
        os._exit(1)  # the parent died before the request took effect


def child_main() -> int:
    """The child: one job from stdin, its answer to stdout."""
    die_with_parent()
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # a print() in the job must not corrupt the answer
    fn, arg = pickle.load(sys.stdin.buffer)
    try:
        answer: tuple[Any, ...] = ("ok", fn(arg))
    except Exception as exc:
        traceback.print_exc()  # to stderr (quoted only if the child dies after this)
        answer = ("raised", type(exc).__name__, str(exc))
    stdout.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
