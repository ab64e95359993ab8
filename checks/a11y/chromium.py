"""The Chromium processes of an a11y run: their flags and environment, reaping and killing.

checks/a11y/browser.py starts Chromium with these flags and, when a run ends, reaps it or
kills its whole tree. Chromium forks a zygote and renderers; the browser process reaps
them when it exits normally, so a kill goes to the descendants first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from pathlib import Path

import psutil


def chromium_flags(profile: Path, heap_mib: int, sandbox: bool = True,
                   jitless: bool = False) -> list[str]:
    """``sandbox`` False and ``jitless`` True let Chromium run where user namespaces are
    refused (RestrictNamespaces=) and W+X memory is forbidden (MemoryDenyWriteExecute=)."""
    js = f"--max-old-space-size={heap_mib}" + (" --jitless" if jitless else "")
    flags = [
        "--headless", "--remote-debugging-pipe", f"--user-data-dir={profile}",
        "--no-first-run", "--no-default-browser-check", "--disable-gpu",
        "--disable-extensions", "--disable-background-networking", "--disable-sync",
        "--disable-component-update", "--disable-default-apps", "--mute-audio",
        "--disable-dev-shm-usage", "--renderer-process-limit=2", "--hide-scrollbars",
        "--window-size=1280,1024", f"--js-flags={js}",
    ]
    if not sandbox or os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    return flags


def browser_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "FONTCONFIG_PATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = tempfile.gettempdir()  # no writes into the daemon's home
    return env


def memory(process: psutil.Process) -> int:
    """The process's proportional set size (PSS: each shared page split between the
    processes that map it, so a sum over Chromium's tree is what it really holds; a sum
    of RSS counts the shared browser binary once per process). RSS where PSS is unknown."""
    try:
        pss = getattr(process.memory_full_info(), "pss", None)
        return int(pss if pss is not None else process.memory_info().rss)
    except psutil.AccessDenied:
        with contextlib.suppress(psutil.Error):
            return int(process.memory_info().rss)
    except psutil.Error:
        pass
    return 0


def reaped(pid: int, within: float) -> bool:
    """Wait up to ``within`` seconds for our child to exit, reaping it."""
    end = time.monotonic() + within
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)


def kill_tree(pid: int, tree: list[psutil.Process]) -> None:
    """SIGKILL the browser's session and any descendant that left it, then reap the browser.

    Descendants go first while the browser still lives to reap them; the session kill
    catches what was forked since."""
    for process in tree[1:]:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(tree[1:], timeout=1.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    reaped(pid, 5.0)
