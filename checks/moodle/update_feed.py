"""Moodle's available-updates feed: the request Moodle itself sends, the response it accepts.

Used by the update probe (updates.py). Copied from moodle/moodle
public/lib/classes/update/checker.php (lib/classes/update/checker.php before 5.1):
- prepare_request_url(): https://download.moodle.org/api/1.3/updates.php, overridable in
  Moodle by $CFG->alternativeupdateproviderurl; Vigil's `feed_url` does the same job (a
  mirror for sites without internet).
- get_response(): a cURL POST of prepare_request_params(): format=json, version=<$version
  of version.php>, branch=<moodle_major_version(true), "5.1">, ticket=<from the previous
  response> when there is one, plugins=<component@versiondisk,...> for the non-standard
  (additional) plugins only. Moodle 5.1 also sends siteidentifier (md5 of the hub
  registration secret) and countrycode; Vigil never sends those: they identify the site.
  Any HTTP status but 200 is an error (err_response_http_code).
- validate_response(): JSON, status == 'OK', apiver == '1.3', forbranch == the site's
  branch; else checker_exception err_response_* (Moodle's cron prints "FAILED!").
- The body (fixture public/lib/tests/fixtures/testable_update_checker.php): {status,
  provider, apiver, timegenerated, forversion, forbranch, ticket, updates: {<component>:
  [{version, release, maturity, url, download, [downloadmd5], [requires]}]}};
  \\core\\update\\info (lib/classes/update/info.php) keeps version, release, maturity, url,
  download, downloadmd5. There is no security flag and no publication date: the only date
  is the "(Build: YYYYMMDD)" inside a core release name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

OFFICIAL_URL = "https://download.moodle.org/api/1.3/updates.php"
API_VERSION = "1.3"
USER_AGENT = "Vigil (Moodle update check)"
MAX_BODY = 4 * 1024 * 1024  # a real answer is a few KiB; a mirror's error page is no reason
# to read gigabytes
# "4.5.3+ (Build: 20250321)", "5.1+ (Build: 20251017)", "5.2dev (Build: 20251201)"
_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?(\+?)([^(]*)(?:\(Build:\s*(\d{8})\))?")


class FeedError(Exception):
    """The feed could not be used; the message names the cause, e.g. "HTTP 500"."""


@dataclass(frozen=True, slots=True)
class Release:
    """What a core release name says: "4.5.3+ (Build: 20250321)"."""

    branch: str                  # "4.5"
    point: int                   # 3 (0 for "4.5" / "4.5+")
    plus: bool                   # a weekly build after the point release
    suffix: str                  # "dev", "beta", "rc1", "" ...
    build: datetime | None       # the build date, UTC midnight

    @property
    def name(self) -> str:
        return f"{self.branch}.{self.point}{'+' if self.plus else ''}{self.suffix}"


def parse_release(text: str | None) -> Release | None:
    match = _RELEASE.match(text or "")
    if not match:
        return None
    major, minor, point, plus, rest, build = match.groups()
    built = None
    if build:
        try:
            built = datetime.strptime(build, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            built = None
    return Release(f"{int(major)}.{int(minor)}", int(point or 0), bool(plus), rest.strip(),
                   built)


def php_number(version: float) -> str:
    """A PHP float as http_build_query prints it: 2025100600.02 -> "2025100600.02",
    2024100700.00 -> "2024100700"."""
    text = f"{version:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def request_params(version: float, branch: str, plugins: dict[str, float],
                   ticket: str | None) -> dict[str, str]:
    """checker::prepare_request_params() without the site-identifying fields."""
    params = {"format": "json"}
    if ticket:
        params["ticket"] = ticket
    params["version"] = php_number(version)
    params["branch"] = branch
    if plugins:
        params["plugins"] = ",".join(f"{component}@{php_number(plugin_version)}"
                                     for component, plugin_version in sorted(plugins.items()))
    return params


async def fetch(client: httpx.AsyncClient, url: str, params: dict[str, str],
                timeout: float) -> str:
    """POST the form; the raw body of a 200 answer, else FeedError naming the cause."""
    try:
        request = client.build_request("POST", url, data=params, timeout=timeout)
        response = await client.send(request, stream=True)
        try:
            if response.status_code != 200:
                raise FeedError(f"HTTP {response.status_code} from {_host(url)}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    raise FeedError(f"answer from {_host(url)} larger than {MAX_BODY} bytes")
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        raise FeedError(f"no answer from {_host(url)} within {timeout:g}s") from None
    except httpx.InvalidURL as exc:
        raise FeedError(f"invalid feed URL: {exc}") from None
    except httpx.HTTPError as exc:
        raise FeedError(f"cannot reach {_host(url)}: {_describe(exc)}") from None
    return body.decode("utf-8", errors="replace")


def validate(raw: str, branch: str) -> dict[str, Any]:
    """checker::validate_response(), plus the shape Vigil relies on; FeedError if invalid."""
    try:
        response = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise FeedError(f"answer is not JSON ({_preview(raw)})") from None
    if not response or not isinstance(response, dict):
        raise FeedError("empty answer (err_response_empty)" if not response
                        else f"answer is not a JSON object ({_preview(raw)})")
    if response.get("status") != "OK":
        raise FeedError(f"status {response.get('status')!r}, expected 'OK' (err_response_status)")
    if response.get("apiver") != API_VERSION:
        raise FeedError(f"apiver {response.get('apiver')!r}, expected {API_VERSION!r} "
                        "(err_response_format_version)")
    if response.get("forbranch") != branch:
        raise FeedError(f"answer is for branch {response.get('forbranch')!r}, the site runs "
                        f"{branch} (err_response_target_version)")
    updates = response.get("updates", {})
    if updates == []:  # PHP's json_encode of an empty array
        updates = {}
    if not isinstance(updates, dict) or not all(
            isinstance(entries, list) and all(isinstance(e, dict) and _number(e.get("version"))
                                              is not None for e in entries)
            for entries in updates.values()):
        raise FeedError("answer has no valid updates list (err_response_format)")
    return {**response, "updates": updates}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except httpx.InvalidURL:
        return url


def _describe(exc: httpx.HTTPError) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause) or type(cause).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text \
            or "Temporary failure in name resolution" in text:
        return "name does not resolve (no DNS / no internet?)"
    return text[:120]


def _preview(raw: str) -> str:
    text = " ".join(raw.split())
    return repr(text[:40] + ("…" if len(text) > 40 else ""))
