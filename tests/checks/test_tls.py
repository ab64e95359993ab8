"""The tls check against real TLS servers on 127.0.0.1 with generated certificates."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from check_helpers import make_ctx, self_signed_context, serve, server_context, silent, unused_port

from checks.tls import TlsCheck, TlsSpec
from monitor.kernel.result import Status


async def hold(reader: Any, writer: Any) -> None:
    await reader.read()


async def run_tls(probe: Any, port: int, timeout: float = 2.0, **spec: Any) -> Any:
    spec.setdefault("host", "localhost")
    check = TlsCheck(TlsSpec(type="tls", port=port, timeout=timeout, **spec))
    return await probe(check, make_ctx(timeout=timeout))


def value(result: Any, name: str) -> float:
    return next(s.value for s in result.samples if s.name == name)


def expiring(ca: trustme.CA, days: float, name: str = "localhost") -> ssl.SSLContext:
    not_after = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return server_context(ca.issue_cert(name, not_after=not_after))


async def test_tls_is_ok_for_a_trusted_certificate(probe: Any, good_tls: ssl.SSLContext,
                                                   ca_file: Path) -> None:
    async with serve(hold, good_tls) as port:
        result = await run_tls(probe, port, ca_file=ca_file)
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("certificate expires in ")
    assert value(result, "lms_tls_cert_verified") == 1
    assert value(result, "lms_tls_handshake_seconds") > 0
    left = value(result, "lms_tls_cert_expiry_seconds")
    expiry = value(result, "lms_tls_cert_expiry_timestamp_seconds")
    assert abs(expiry - time.time() - left) < 5 and left > 21 * 86400
    assert result.details["tls_version"].startswith("TLS")


async def test_tls_is_critical_when_the_certificate_expires_in_three_days(
        probe: Any, ca: trustme.CA, ca_file: Path) -> None:
    async with serve(hold, expiring(ca, 3)) as port:
        result = await run_tls(probe, port, ca_file=ca_file, critical_days=7)
    assert result.status is Status.CRITICAL
    assert "certificate expires in 3.0 days" in result.summary
    assert 2 * 86400 < value(result, "lms_tls_cert_expiry_seconds") <= 3 * 86400


async def test_tls_warns_inside_the_warning_window(probe: Any, ca: trustme.CA,
                                                   ca_file: Path) -> None:
    async with serve(hold, expiring(ca, 3)) as port:
        result = await run_tls(probe, port, ca_file=ca_file, warning_days=21, critical_days=2)
    assert result.status is Status.WARNING


async def test_tls_names_a_self_signed_certificate_and_still_reports_its_expiry(
        probe: Any) -> None:
    async with serve(hold, self_signed_context("localhost")) as port:
        result = await run_tls(probe, port)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("TLS: certificate verify failed: self-signed certificate;")
    assert value(result, "lms_tls_cert_verified") == 0
    assert value(result, "lms_tls_cert_expiry_seconds") > 80 * 86400


async def test_tls_names_an_unknown_issuer(probe: Any, good_tls: ssl.SSLContext) -> None:
    async with serve(hold, good_tls) as port:
        result = await run_tls(probe, port)  # no ca_file: the test CA is unknown
    assert result.status is Status.CRITICAL
    assert "unable to get local issuer certificate" in result.summary


async def test_tls_names_an_expired_certificate(probe: Any, ca: trustme.CA,
                                                ca_file: Path) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    after = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    context = server_context(ca.issue_cert("localhost", not_before=before, not_after=after))
    async with serve(hold, context) as port:
        result = await run_tls(probe, port, ca_file=ca_file)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("TLS: certificate verify failed: certificate has expired;")
    assert "certificate expired 2.0 days ago" in result.summary
    assert value(result, "lms_tls_cert_expiry_seconds") < 0


async def test_tls_names_a_hostname_mismatch(probe: Any, ca: trustme.CA, ca_file: Path) -> None:
    async with serve(hold, server_context(ca.issue_cert("moodle.example.org"))) as port:
        result = await run_tls(probe, port, ca_file=ca_file)
        assert result.status is Status.CRITICAL
        assert "hostname mismatch" in result.summary
        # The same server is fine when asked under the name its certificate carries.
        result = await run_tls(probe, port, ca_file=ca_file, server_name="moodle.example.org")
        assert result.status is Status.OK, result.summary


async def test_tls_uses_the_target_host_when_the_spec_has_none(
        probe: Any, good_tls: ssl.SSLContext, ca_file: Path) -> None:
    async with serve(hold, good_tls) as port:
        check = TlsCheck(TlsSpec(type="tls", ca_file=ca_file))  # host and port from the url
        result = await probe(check, make_ctx(url=f"https://localhost:{port}/"))
    assert result.status is Status.OK, result.summary
    assert result.details["server_name"] == "localhost"


async def test_tls_reports_connection_refused(probe: Any) -> None:
    port = unused_port()
    result = await run_tls(probe, port, host="127.0.0.1")
    assert result.status is Status.CRITICAL
    assert result.summary == f"connection refused to 127.0.0.1:{port}"


async def test_tls_reports_a_handshake_timeout(probe: Any) -> None:
    async with serve(silent) as port:
        result = await run_tls(probe, port, timeout=0.5)
    assert result.status is Status.CRITICAL
    assert result.summary == f"timeout after 0.5s during TLS handshake (localhost:{port})"


async def test_tls_reports_a_server_that_does_not_speak_tls(probe: Any) -> None:
    async def plain(reader: Any, writer: Any) -> None:
        await reader.read(10)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()

    async with serve(plain) as port:
        result = await run_tls(probe, port)
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("TLS: handshake failed: ")


def test_tls_spec_needs_critical_days_below_warning_days() -> None:
    with pytest.raises(ValueError, match=r"critical_days \(30\) must be <= warning_days \(21\)"):
        TlsSpec(type="tls", critical_days=30)
    with pytest.raises(ValueError, match="port"):
        TlsSpec(type="tls", port=70000)



async def test_a_verified_certificate_reads_the_same_from_ssl_as_from_its_der(
        probe: Any, tmp_path: Path) -> None:
    """Verified certificates are read from ssl's decoding (no cryptography import): the
    figures must be those cryptography reads from the same certificate. (trustme's names
    carry no common name, which sends the check to the DER reader; the demo's do.)"""
    from cryptography import x509

    from monitor.app.demo.tls import write_demo_certificate

    files = write_demo_certificate(tmp_path, days=45)
    cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.cert_file, files.key_file)
    async with serve(hold, context) as port:
        result = await run_tls(probe, port, ca_file=files.ca_file)
    assert result.status is Status.OK, result.summary
    assert value(result, "lms_tls_cert_verified") == 1
    assert value(result, "lms_tls_cert_expiry_timestamp_seconds") == (
        cert.not_valid_after_utc.timestamp())
    assert result.details["not_after"] == cert.not_valid_after_utc.isoformat()
    assert (result.details["subject"], result.details["issuer"]) == ("localhost",
                                                                     "Vigil demo CA")
    assert "(localhost, localhost:" in result.summary
    # Both readers, on the same certificate: ssl's decoding (what getpeercert() returns
    # for a verified peer) gives exactly what cryptography reads from the DER.
    from checks.tls import _read_decoded, _read_der

    decoded = ssl._ssl._test_decode_cert(str(files.cert_file))  # type: ignore[attr-defined]
    der = ssl.PEM_cert_to_DER_cert(files.cert_file.read_text())
    assert _read_decoded(decoded) == _read_der(der) == (
        cert.not_valid_after_utc.timestamp(), "localhost", "Vigil demo CA")
