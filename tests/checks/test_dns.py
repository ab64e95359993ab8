"""The dns check against a tiny DNS responder on 127.0.0.1 built with dnspython."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from check_helpers import make_ctx

from checks.dns import DnsCheck, DnsSpec
from monitor.kernel.result import Status

ZONE = {
    ("lms.example.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("lms.example.test.", "AAAA"): ["2001:db8::10"],
    ("example.test.", "MX"): ["10 mail.example.test."],
    ("example.test.", "TXT"): ['"v=spf1 mx -all"'],
    ("www.example.test.", "CNAME"): ["lms.example.test."],
    ("example.test.", "NS"): ["ns1.example.test."],
}


class Responder(asyncio.DatagramProtocol):
    """Answers from ZONE; NXDOMAIN for unknown names, SERVFAIL for servfail.example.test."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name, rtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        if name == "servfail.example.test.":
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif (name, rtype) in ZONE:
            reply.answer.append(dns.rrset.from_text_list(name, 60, "IN", rtype, ZONE[name, rtype]))
        elif not any(zone_name == name for zone_name, _ in ZONE):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(reply.to_wire(), addr)


@pytest.fixture
async def dns_port() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Responder, local_addr=("127.0.0.1", 0))
    yield transport.get_extra_info("sockname")[1]
    transport.close()


@pytest.fixture
def mute_port() -> Any:
    """A UDP port that is bound but never answers (a DNS server that hangs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


async def run_dns(probe: Any, port: int, timeout: float = 2.0, **spec: Any) -> Any:
    check = DnsCheck(DnsSpec(type="dns", nameservers=["127.0.0.1"], port=port, timeout=timeout,
                             **spec))
    return await probe(check, make_ctx(url="https://lms.example.test/", timeout=timeout))


def value(result: Any, name: str) -> float:
    return next(s.value for s in result.samples if s.name == name)


async def test_dns_resolves_the_target_host_by_default(probe: Any, dns_port: int) -> None:
    result = await run_dns(probe, dns_port)
    assert result.status is Status.OK, result.summary
    assert result.summary.startswith("lms.example.test A: 192.0.2.10, 192.0.2.11 in ")
    assert value(result, "lms_dns_answers") == 2
    assert value(result, "lms_dns_lookup_seconds") > 0


@pytest.mark.parametrize(("name", "rtype", "expected"), [
    ("lms.example.test", "aaaa", "2001:db8::10"),
    ("example.test", "MX", "mail.example.test"),
    ("example.test", "MX", "10 mail.example.test."),
    ("example.test", "TXT", "v=spf1 mx -all"),
    ("www.example.test", "CNAME", "LMS.example.test."),
    ("example.test", "NS", "ns1.example.test"),
])
async def test_dns_matches_expected_values_per_record_type(
        probe: Any, dns_port: int, name: str, rtype: str, expected: str) -> None:
    result = await run_dns(probe, dns_port, name=name, record_type=rtype,
                           expected_values=[expected])
    assert result.status is Status.OK, result.summary


async def test_dns_fails_when_an_expected_value_is_missing(probe: Any, dns_port: int) -> None:
    result = await run_dns(probe, dns_port, expected_values=["192.0.2.99"])
    assert result.status is Status.CRITICAL
    assert result.summary == ("DNS: lms.example.test A lacks expected 192.0.2.99 "
                              "(got 192.0.2.10, 192.0.2.11)")


async def test_dns_names_nxdomain(probe: Any, dns_port: int) -> None:
    result = await run_dns(probe, dns_port, name="nope.example.test")
    assert result.status is Status.CRITICAL
    assert result.summary == "DNS: NXDOMAIN for nope.example.test A"
    assert value(result, "lms_dns_answers") == 0


async def test_dns_accepts_nxdomain_when_the_name_need_not_resolve(probe: Any,
                                                                    dns_port: int) -> None:
    result = await run_dns(probe, dns_port, name="nope.example.test", must_resolve=False)
    assert result.status is Status.OK


async def test_dns_fails_on_an_empty_answer(probe: Any, dns_port: int) -> None:
    result = await run_dns(probe, dns_port, name="example.test", record_type="A")
    assert result.status is Status.CRITICAL
    assert result.summary == "DNS: no A records for example.test A"


async def test_dns_names_servfail(probe: Any, dns_port: int) -> None:
    result = await run_dns(probe, dns_port, name="servfail.example.test")
    assert result.status is Status.CRITICAL
    assert result.summary == (f"DNS: SERVFAIL from 127.0.0.1:{dns_port} "
                              "for servfail.example.test A")


async def test_dns_times_out_against_a_server_that_never_answers(probe: Any,
                                                                  mute_port: int) -> None:
    result = await run_dns(probe, mute_port, timeout=0.5)
    assert result.status is Status.CRITICAL
    assert result.summary == "DNS: timeout after 0.5s resolving lms.example.test A"


async def test_dns_warns_on_a_slow_answer(probe: Any, dns_port: int) -> None:
    result = await run_dns(probe, dns_port, latency_warning=1e-9)
    assert result.status is Status.WARNING
    assert result.summary.startswith("slow answer: ")


def test_dns_spec_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"nameservers[\s\S]*'dns.example' is not an IP"):
        DnsSpec(type="dns", nameservers=["dns.example"])
    with pytest.raises(ValueError, match="record_type"):
        DnsSpec(type="dns", record_type="SRV")  # type: ignore[arg-type]
