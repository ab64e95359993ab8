"""The process check: the real process table, and restarts through a fake lister."""

from __future__ import annotations

import re
from typing import Any

import psutil
import pytest
from check_helpers import make_ctx

from checks.process import ProcessCheck, ProcessSpec, ProcInfo
from monitor.kernel.result import Status


def value(result: Any, name: str, process: str) -> float:
    return next(s.value for s in result.samples
                if s.name == name and s.labels == {"process": process})


async def test_process_finds_the_running_python_by_name(probe: Any) -> None:
    me = psutil.Process()
    spec = ProcessSpec(type="process", processes=[
        {"name": "self", "pattern": f"^{re.escape(me.name())}$"}])
    result = await probe(ProcessCheck(spec), make_ctx())
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_process_count", "self") >= 1
    assert value(result, "lms_process_start_time_seconds", "self") <= me.create_time()
    assert value(result, "lms_process_resident_memory_bytes", "self") > 0
    assert value(result, "lms_process_cpu_seconds_total", "self") > 0


async def test_process_matches_the_command_line(probe: Any) -> None:
    spec = ProcessSpec(type="process", processes=[
        {"name": "tests", "match": "cmdline", "pattern": "pytest|python"}])
    result = await probe(ProcessCheck(spec), make_ctx())
    assert result.status is Status.OK, result.summary


async def test_process_is_critical_when_an_expected_process_is_missing(probe: Any) -> None:
    spec = ProcessSpec(type="process", processes=["vigil-no-such-daemon"])
    result = await probe(ProcessCheck(spec), make_ctx())
    assert result.status is Status.CRITICAL
    assert result.summary == "vigil-no-such-daemon missing (0 running, need 1)"
    assert value(result, "lms_process_count", "vigil-no-such-daemon") == 0


class FakeLister:
    """Feeds the check a process table we control, one listing per run."""

    def __init__(self, *tables: list[ProcInfo]) -> None:
        self.tables = list(tables)
        self.with_cmdline: list[bool] = []

    def __call__(self, with_cmdline: bool) -> list[ProcInfo]:
        self.with_cmdline.append(with_cmdline)
        return self.tables.pop(0)


def proc(pid: int, name: str, started: float, cmdline: str = "") -> ProcInfo:
    return ProcInfo(pid=pid, name=name, cmdline=cmdline or name, create_time=started,
                    rss=10e6, cpu_seconds=1.5)


MOODLE_HOST = ProcessSpec(type="process", processes=[
    {"name": "php-fpm", "pattern": "^php-fpm", "min_count": 2},
    {"name": "web", "pattern": "^(nginx|apache2)$"},
    "cron",
])


async def test_process_detects_a_restart_from_the_start_time(probe: Any) -> None:
    first = [proc(10, "php-fpm8.2", 1000.0), proc(11, "php-fpm8.2", 1005.0),
             proc(20, "nginx", 900.0), proc(30, "cron", 800.0)]
    # php-fpm restarted: both workers are new; a worker recycled alone would not count.
    second = [proc(40, "php-fpm8.2", 5000.0), proc(41, "php-fpm8.2", 5001.0),
              proc(20, "nginx", 900.0), proc(30, "cron", 800.0)]
    third = [proc(40, "php-fpm8.2", 5000.0), proc(42, "php-fpm8.2", 6000.0),
             proc(20, "nginx", 900.0), proc(30, "cron", 800.0)]
    lister = FakeLister(first, second, third)
    check = ProcessCheck(MOODLE_HOST, lister=lister)
    result = await probe(check, make_ctx())
    assert result.status is Status.OK
    assert result.summary == "running: php-fpm x2, web x1, cron x1"
    assert value(result, "lms_process_resident_memory_bytes", "php-fpm") == 20e6
    result = await probe(check, make_ctx())
    assert result.status is Status.WARNING
    assert result.summary == "php-fpm restarted at 1970-01-01 01:23:20 UTC"
    assert value(result, "lms_process_start_time_seconds", "php-fpm") == 5000.0
    assert (await probe(check, make_ctx())).status is Status.OK
    assert lister.with_cmdline == [False, False, False]


async def test_process_judges_counts_against_min_and_max(probe: Any) -> None:
    spec = ProcessSpec(type="process", processes=[
        {"name": "php-fpm", "pattern": "^php-fpm", "min_count": 2, "max_count": 3},
        {"name": "web", "pattern": "^(nginx|apache2)$"}])
    busy = [proc(i, "php-fpm8.2", 1000.0) for i in range(5)] + [proc(9, "apache2", 1.0)]
    result = await probe(ProcessCheck(spec, lister=FakeLister(busy)), make_ctx())
    assert result.status is Status.WARNING
    assert result.summary == "php-fpm: 5 running (max 3)"
    starved = [proc(1, "php-fpm8.2", 1000.0)]
    result = await probe(ProcessCheck(spec, lister=FakeLister(starved)), make_ctx())
    assert result.status is Status.CRITICAL
    assert result.summary == "php-fpm missing (1 running, need 2); web missing (0 running, need 1)"


@pytest.mark.parametrize(("processes", "message"), [
    ([], "at least 1 item"),
    (["cron", "cron"], "process names must be unique (repeated: cron)"),
    ([{"name": "php fpm"}], "String should match pattern"),
    ([{"name": "web", "pattern": "(nginx"}], "pattern"),
    ([{"name": "web", "min_count": 3, "max_count": 2}], "max_count (2) must be >= min_count (3)"),
])
def test_process_spec_errors_name_the_field(processes: list[Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        ProcessSpec(type="process", processes=processes)
    assert message in str(error.value) and "processes" in str(error.value)
