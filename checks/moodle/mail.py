"""The `moodle_mail` check: can Moodle hand mail to its SMTP server, and does it try?

Data flow: scheduler -> MailCheck.run(ctx) -> config (smtphosts, smtpsecure, noemailever)
through the site's read-only pool, overridden by config.php where it sets them (Moodle's
$CFG: config.php wins over the table) -> an EHLO to each configured SMTP host in the
thread pool (smtplib; no MAIL FROM, nothing is ever sent) -> email_failed events in
logstore_standard_log over the last window -> Result with lms_moodle_smtp_* samples.

Semantics copied from Moodle and the PHPMailer it ships (moodle/moodle):
- lib/moodlelib.php get_mailer(): smtphosts 'qmail' -> qmail, empty -> PHP mail(), else
  SMTP with Host = smtphosts ("main and backup servers") and SMTPSecure = smtpsecure.
- lib/phpmailer/src/PHPMailer.php smtpConnect(): hosts split on ';', each
  ``[ssl|tls://]host[:port]`` (default port 25), tried in order until one connects;
  'ssl' is implicit TLS, 'tls' is STARTTLS, and with SMTPAutoTLS (on by default, Moodle
  leaves it) STARTTLS is used whenever the server offers it, except on Host 'localhost'.
  The peer certificate is verified (PHP's stream default).
- lib/moodlelib.php email_to_user(): $CFG->noemailever makes every send a silent no-op;
  a failed send triggers \\core\\event\\email_failed (other: subject, message, errorinfo).

Index use: config.name is a unique index; the log query is bounded on timecreated, the
only index of logstore_standard_log that serves a time range (eventname is a filter).
"""

from __future__ import annotations

import asyncio
import functools
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, FilePath, model_validator

from checks.base import CheckContext
from checks.common import check_order, describe_os_error
from checks.lazy import lazy_import
from checks.moodle.logstore import decode_other, standard_log_enabled
from checks.moodle.schema import moodle_tables
from checks.moodle.site import site_database
from checks.moodle.site_config import config_php_settings
from monitor.kernel.metric import MetricSpec, declare
from monitor.kernel.result import Result, Sample, Status, threshold_status
from monitor.kernel.spec import CheckSpec, PositiveDuration
from monitor.kernel.units import fmt_duration, fmt_seconds

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_import("sqlalchemy")

METRICS = declare(
    MetricSpec("lms_moodle_smtp_up", "gauge",
               "1 if the SMTP host from Moodle's smtphosts answered EHLO (and STARTTLS where "
               "Moodle would use it), else 0.", ("host",)),
    MetricSpec("lms_moodle_smtp_response_seconds", "gauge",
               "Time to connect, read the greeting and EHLO (plus STARTTLS) on an SMTP host.",
               ("host",)),
    MetricSpec("lms_moodle_smtp_starttls", "gauge",
               "1 if the SMTP host offers STARTTLS in its EHLO answer, else 0.", ("host",)),
    MetricSpec("lms_moodle_noemailever", "gauge",
               "1 if $CFG->noemailever is on (Moodle sends no e-mail at all), else 0."),
    MetricSpec("lms_moodle_email_failed_events", "gauge",
               "\\core\\event\\email_failed events in the check's window (standard log)."),
)
EMAIL_FAILED = "\\core\\event\\email_failed"  # eventname = '\\' . classname
_HOST = re.compile(r"^(?:(ssl|tls)://)?(.+?)(?::(\d+))?$")  # PHPMailer::smtpConnect()
_SETTINGS = ("smtphosts", "smtpsecure", "noemailever")


class MailSpec(CheckSpec):
    type: Literal["moodle_mail"]
    interval: PositiveDuration = 300.0
    timeout: PositiveDuration = 30.0
    # email_failed events are counted over this window; None: the check's interval, so
    # consecutive runs count each event once.
    failed_window: PositiveDuration | None = None
    # Core has no threshold; a few failures per window (one bad recipient domain) are
    # normal on a busy site, a burst is not.
    failed_warning: int | None = Field(default=5, ge=1)
    failed_critical: int | None = Field(default=None, ge=1)
    noemailever: Literal["ok", "warning", "critical"] = "warning"
    verify_tls: bool = True
    ca_file: FilePath | None = None  # a private CA for the SMTP server's certificate
    helo_name: str | None = None  # default: this host's name, as PHPMailer's serverHostname()
    max_hosts: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _order(self) -> MailSpec:
        check_order(self, "failed_warning", "failed_critical", higher_is_worse=True)
        return self


@dataclass(frozen=True, slots=True)
class SmtpHost:
    host: str
    port: int
    secure: str  # '' | 'ssl' (implicit TLS) | 'tls' (STARTTLS required)

    @property
    def label(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SmtpProbe:
    host: SmtpHost
    ok: bool
    seconds: float
    starttls: bool | None = None  # advertised in the EHLO answer; None: never got that far
    error: str | None = None


def parse_smtphosts(value: str, smtpsecure: str = "") -> list[SmtpHost]:
    """Moodle's smtphosts as PHPMailer reads it: 'host:port;tls://host2'."""
    hosts = []
    for entry in value.split(";"):
        match = _HOST.match(entry.strip())
        if not entry.strip() or match is None:
            continue
        secure = match.group(1) or smtpsecure.strip().lower()
        host = match.group(2).strip()
        if host.startswith("[") and host.endswith("]"):  # "[::1]:25"
            host = host[1:-1]
        hosts.append(SmtpHost(host, int(match.group(3) or 25), secure))
    return hosts


class MailCheck:
    def __init__(self, spec: MailSpec) -> None:
        self.spec = spec
        self._tls: ssl.SSLContext | None = None

    async def run(self, ctx: CheckContext) -> Result:
        db = site_database(ctx)
        window = self.spec.failed_window or self.spec.interval
        since = int(ctx.now() - window)
        settings, failed = await db.run(ctx, lambda conn: self._read(conn, db.prefix, since))
        forced, notes = await ctx.run_blocking(lambda: config_php_settings(ctx, _SETTINGS))
        settings.update(forced)
        smtphosts = str(settings.get("smtphosts") or "").strip()
        hosts = [] if smtphosts == "qmail" else parse_smtphosts(
            smtphosts, str(settings.get("smtpsecure") or ""))[:self.spec.max_hosts]
        auto_tls = smtphosts != "localhost"  # PHPMailer skips auto STARTTLS for 'localhost'
        budget = ctx.timeout - min(ctx.timeout * 0.1, 0.5)
        probes = list(await asyncio.gather(*(
            ctx.run_blocking(functools.partial(self._ehlo, host, budget, auto_tls))
            for host in hosts)))
        noemailever = _truthy(settings.get("noemailever"))
        return self._judge(smtphosts, probes, noemailever, failed, window, notes)

    def _read(self, conn: Connection, prefix: str, since: int
              ) -> tuple[dict[str, Any], tuple[int, str | None] | None]:
        t = moodle_tables(prefix)
        rows = conn.execute(sa.select(t.config.c.name, t.config.c.value)
                            .where(t.config.c.name.in_(_SETTINGS)))
        settings: dict[str, Any] = {name: value for name, value in rows}
        if not standard_log_enabled(conn, t):
            return settings, None  # events are not written anywhere we can read
        log = t.logstore_standard_log
        recent = sa.and_(log.c.timecreated >= since, log.c.eventname == EMAIL_FAILED)
        count = conn.execute(sa.select(sa.func.count()).select_from(log).where(recent)).scalar()
        newest = conn.execute(sa.select(log.c.other).where(recent)
                              .order_by(log.c.timecreated.desc(), log.c.id.desc())
                              .limit(1)).scalar()
        other = decode_other(newest)
        errorinfo = other.get("errorinfo") if isinstance(other, dict) else None
        return settings, (int(count or 0), str(errorinfo)[:200] if errorinfo else None)

    def _ehlo(self, host: SmtpHost, timeout: float, auto_tls: bool) -> SmtpProbe:
        """Connect, read the greeting, EHLO, STARTTLS where PHPMailer would, QUIT."""
        start = time.perf_counter()
        name = self.spec.helo_name or socket.gethostname()
        smtp: smtplib.SMTP | None = None
        try:
            if host.secure == "ssl":
                smtp = smtplib.SMTP_SSL(host.host, host.port, local_hostname=name,
                                        timeout=timeout, context=self._context())
            else:
                smtp = smtplib.SMTP(host.host, host.port, local_hostname=name, timeout=timeout)
            code, reply = smtp.ehlo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, reply)
            starttls = smtp.has_extn("starttls")
            if host.secure == "tls" and not starttls:
                return SmtpProbe(host, False, time.perf_counter() - start, False,
                                 "no STARTTLS offered but smtpsecure is 'tls'")
            if starttls and host.secure != "ssl" and (host.secure == "tls" or auto_tls):
                smtp.starttls(context=self._context())
                smtp.ehlo()
            return SmtpProbe(host, True, time.perf_counter() - start, starttls)
        except (OSError, smtplib.SMTPException) as exc:
            return SmtpProbe(host, False, time.perf_counter() - start, None, _smtp_error(exc))
        finally:
            if smtp is not None:
                _quit(smtp)

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:  # built once: loading the CA bundle is the costly part
            context = ssl.create_default_context(
                cafile=str(self.spec.ca_file) if self.spec.ca_file else None)
            if not self.spec.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls = context
        return self._tls

    def _judge(self, smtphosts: str, probes: list[SmtpProbe], noemailever: bool,
               failed: tuple[int, str | None] | None, window: float,
               notes: list[str]) -> Result:
        spec = self.spec
        found: list[tuple[Status, str]] = []
        if noemailever and spec.noemailever != "ok":
            found.append((Status[spec.noemailever.upper()],
                          "noemailever is on: Moodle sends no e-mail at all"))
        found.extend(_smtp_problems(probes))
        if failed is not None:
            count, errorinfo = failed
            status = threshold_status(count, spec.failed_warning, spec.failed_critical)
            if status is not Status.OK:
                last = f" (last: {errorinfo})" if errorinfo else ""
                found.append((status, f"{count} email_failed events in the last "
                                      f"{fmt_duration(window)}{last}"))
        status = Status.worst(s for s, _ in found) if found else Status.OK
        if found:
            summary = "; ".join(text for s, text in sorted(found, key=lambda f: -f[0].value))
        else:
            summary = _healthy(smtphosts, probes)
        samples = [Sample("lms_moodle_noemailever", 1.0 if noemailever else 0.0)]
        for probe in probes:
            labels = {"host": probe.host.label}
            samples.append(Sample("lms_moodle_smtp_up", 1.0 if probe.ok else 0.0, labels))
            samples.append(Sample("lms_moodle_smtp_response_seconds", probe.seconds, labels))
            if probe.starttls is not None:
                samples.append(Sample("lms_moodle_smtp_starttls", float(probe.starttls), labels))
        if failed is not None:
            samples.append(Sample("lms_moodle_email_failed_events", failed[0]))
        details: dict[str, Any] = {
            "transport": _transport(smtphosts), "noemailever": noemailever,
            "hosts": [{"host": p.host.label, "secure": p.host.secure, "ok": p.ok,
                       "seconds": round(p.seconds, 4), "starttls": p.starttls,
                       **({"error": p.error} if p.error else {})} for p in probes],
            "email_failed": ({"count": failed[0], "window_seconds": window,
                              "last_errorinfo": failed[1]} if failed is not None
                             else "not visible: logstore_standard is not enabled"),
        }
        if notes:
            details["config_php"] = notes[:10]
        return Result(status, summary, tuple(samples), details)


def _smtp_problems(probes: list[SmtpProbe]) -> list[tuple[Status, str]]:
    """PHPMailer uses the first host that answers: a dead backup or primary is a warning
    while another answers; all dead is critical."""
    dead = [p for p in probes if not p.ok]
    if not dead:
        return []
    causes = "; ".join(f"{p.host.label} {p.error}" for p in dead[:5])
    if len(dead) == len(probes):
        return [(Status.CRITICAL, f"no SMTP host answers: {causes}")]
    alive = next(p for p in probes if p.ok)
    return [(Status.WARNING, f"SMTP host down: {causes} (mail goes through {alive.host.label})")]


def _healthy(smtphosts: str, probes: list[SmtpProbe]) -> str:
    if not probes:
        return f"mail goes through {_transport(smtphosts)}: no SMTP host to probe"
    first = probes[0]
    tls = ", STARTTLS" if first.starttls else (", implicit TLS" if first.host.secure == "ssl"
                                               else "")
    more = f" (+{len(probes) - 1} backup)" if len(probes) > 1 else ""
    return f"SMTP {first.host.label} answers EHLO in {fmt_seconds(first.seconds)}{tls}{more}"


def _transport(smtphosts: str) -> str:
    if smtphosts == "qmail":
        return "qmail"
    return "SMTP" if smtphosts else "PHP mail() (smtphosts empty)"


def _truthy(value: Any) -> bool:
    # PHP's empty(): config table values are strings ('0', ''); config.php may hold bools.
    if value is None or value is False:
        return False
    return str(value).strip() not in ("", "0")


def _smtp_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"answered {exc.smtp_code} {' '.join(text.split())[:120]}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "closed the connection"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"DNS: {exc.strerror}"
    return describe_os_error(exc)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()
