"""Console sign-in (issue #15): a named token pasted once opens a server-side session
(HttpOnly, SameSite=Strict cookie); forms then carry the session's CSRF token; a form
from another site (no or a wrong CSRF token) is refused, as is a session whose token
left the config; the token's scopes decide what the pages offer and allow."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from monitor.app.audit import AuditLog
from monitor.app.store import StateStore
from monitor.app.web.sessions import Sessions
from tests.conftest import FakeClock
from tests.token_kit import FP, TOKENS, View, client_for, config_text, make_view


@pytest.fixture
def view(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[View]:
    view = make_view(store, clock, config_text(tmp_path))
    yield view
    view.sites.close()


def signed_in(view: View, name: str) -> tuple[TestClient, str]:
    """A client signed in as ``name`` and the CSRF token its pages carry."""
    client = client_for(view)
    answer = client.post("/signin", data={"token": TOKENS[name][0], "next": "/alerts"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/alerts"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set when served over TLS
    assert TOKENS[name][0] not in cookie
    page = client.get("/alerts").text
    return client, re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_signing_in_with_a_named_token_shows_who_and_offers_the_ack_form(view: View) -> None:
    client, csrf = signed_in(view, "oncall")
    page = client.get("/alerts").text
    assert "Signed in as <strong>oncall</strong>" in page
    assert f'action="/alerts/{FP}/ack"' in page and len(csrf) >= 32
    assert TOKENS["oncall"][0] not in page


def test_a_wrong_token_is_refused_with_the_error_linked_to_its_field(view: View) -> None:
    client = client_for(view)
    answer = client.post("/signin", data={"token": "not-a-known-token-at-all"})
    assert answer.status_code == 401 and "set-cookie" not in answer.headers
    assert 'aria-describedby="token-error"' in answer.text
    assert "not one the config knows" in answer.text
    assert "not-a-known-token-at-all" not in answer.text


def test_an_ack_with_the_session_and_its_csrf_token_is_saved_and_audited(
        view: View, store: StateStore) -> None:
    client, csrf = signed_in(view, "oncall")
    done = client.post(f"/alerts/{FP}/ack", data={"csrf": csrf, "comment": "on it",
                                                  "sticky": "on"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/alerts?acked={FP}"
    alert = store.get_alert(FP)
    assert alert is not None and alert.ack_by == "oncall" and alert.ack_comment == "on it"
    [entry, signin] = AuditLog(store.database).entries(2)
    assert (entry.actor, entry.operation, entry.outcome) == ("oncall", "alert.ack", "ok")
    assert signin.operation == "session.signin" and signin.actor == "oncall"


@pytest.mark.parametrize("csrf", [None, "", "forged-by-another-site"])
def test_a_cross_site_post_without_the_csrf_token_is_refused(
        view: View, store: StateStore, csrf: str | None) -> None:
    client, _ = signed_in(view, "oncall")
    data = {"comment": "from evil.example"} if csrf is None else {"csrf": csrf}
    refused = client.post(f"/alerts/{FP}/ack", data=data,
                          headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "CSRF token is missing or wrong" in unescape(refused.text)
    assert store.get_alert(FP).ack_by is None  # type: ignore[union-attr]
    [entry] = AuditLog(store.database).entries(1)
    assert (entry.operation, entry.outcome) == ("alert.ack", "refused")


def test_a_post_without_a_session_asks_to_sign_in(view: View, store: StateStore) -> None:
    refused = client_for(view).post(f"/alerts/{FP}/ack", data={"csrf": "x"})
    assert refused.status_code == 401 and "sign in first" in unescape(refused.text).lower()
    assert store.get_alert(FP).ack_by is None  # type: ignore[union-attr]


def test_a_read_only_token_is_offered_no_write_form_and_refused_on_every_write(
        view: View, store: StateStore) -> None:
    client, csrf = signed_in(view, "viewer")
    for page in ("/", "/alerts", "/maintenance", "/checks/prod/http", "/audit"):
        text = client.get(page).text
        forms = re.findall(r'<form method="post" action="([^"]+)"', text)
        assert forms == ["/signout"], (page, forms)
    wid = view.maintenance.list()[0].id
    for url, data in ((f"/alerts/{FP}/ack", {}), (f"/alerts/{FP}/unack", {}),
                      ("/outbox/1/retry", {}), ("/maintenance/preview", {"name": "x"}),
                      ("/maintenance", {"name": "x", "lms": "prod", "kind": "once",
                                        "start": "2027-02-01T06:00", "duration": "1h"}),
                      (f"/maintenance/{wid}/end", {})):
        refused = client.post(url, data={**data, "csrf": csrf})
        assert refused.status_code == 403, url
        assert "token 'viewer' lacks the scope" in unescape(refused.text), url
    assert store.get_alert(FP).ack_by is None  # type: ignore[union-attr]
    assert len(view.maintenance.list()) == 1


def test_signing_out_ends_the_session_and_needs_the_csrf_token(view: View) -> None:
    client, csrf = signed_in(view, "oncall")
    assert client.post("/signout", data={"csrf": "wrong"}).status_code == 403
    assert "Signed in as" in client.get("/alerts").text
    out = client.post("/signout", data={"csrf": csrf})
    assert out.status_code == 200 and "You are signed out." in out.text
    assert "Signed in as" not in client.get("/alerts").text
    assert client.post(f"/alerts/{FP}/ack", data={"csrf": csrf}).status_code == 401


def test_a_session_ends_when_its_token_leaves_the_config(view: View, tmp_path: Path) -> None:
    client, csrf = signed_in(view, "oncall")
    view.config = make_view(view.store, view.clock, config_text(tmp_path, named=False,
                            legacy="legacy-token-0123456789")).config
    assert "Signed in as" not in client.get("/alerts").text
    assert client.post(f"/alerts/{FP}/ack", data={"csrf": csrf}).status_code == 401


def test_sessions_expire_when_idle_and_after_the_absolute_limit() -> None:
    from monitor.app.tokens import ApiToken, Principal

    sessions = Sessions(idle=100, absolute=250)
    token = ApiToken(Principal("ann", frozenset({"ack"})), b"ann-token-0123456789")
    one = sessions.open(token, 0)
    assert sessions.find(one.id, 90) is one and sessions.find(one.id, 180) is one
    assert sessions.find(one.id, 260) is None  # touched, but past the absolute limit
    two = sessions.open(token, 1000)
    assert sessions.find(two.id, 1101) is None  # idle too long
    assert sessions.find("no-such-session", 0) is None


def test_signin_only_redirects_to_a_path_on_this_site(view: View) -> None:
    client = client_for(view)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        answer = client.post("/signin", data={"token": TOKENS["viewer"][0], "next": target},
                             follow_redirects=False)
        assert answer.headers["location"] == "/", target


def test_the_cookie_is_secure_when_the_console_is_served_over_tls(view: View) -> None:
    from monitor.app.web.api import create_app

    client = TestClient(create_app(view), base_url="https://vigil.example")
    answer = client.post("/signin", data={"token": TOKENS["viewer"][0]},
                         follow_redirects=False)
    assert answer.status_code == 303 and "Secure" in answer.headers["set-cookie"]


def test_posts_from_another_site_are_refused_even_with_a_leaked_csrf_token(
        view: View, store: StateStore) -> None:
    client, csrf = signed_in(view, "oncall")
    foreign = {"Origin": "https://evil.example"}
    refused = client.post(f"/alerts/{FP}/ack", data={"csrf": csrf}, headers=foreign)
    assert refused.status_code == 403 and "another site (https://evil.example)" in refused.text
    assert store.get_alert(FP).ack_by is None  # type: ignore[union-attr]
    same = client.post(f"/alerts/{FP}/ack", data={"csrf": csrf},
                       headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303
    fetched = client.post(f"/alerts/{FP}/unack", data={"csrf": csrf},
                          headers={"Sec-Fetch-Site": "cross-site", "Origin": "null"})
    assert fetched.status_code == 403 and store.get_alert(FP).ack_by == "oncall"  # type: ignore[union-attr]
    login = client_for(view).post("/signin", data={"token": TOKENS["viewer"][0]},
                                  headers=foreign, follow_redirects=False)
    assert login.status_code == 403 and "set-cookie" not in login.headers


def test_signing_in_again_replaces_the_session(view: View) -> None:
    client, csrf = signed_in(view, "oncall")
    old = client.cookies.get("vigil_session")
    client.post("/signin", data={"token": TOKENS["viewer"][0]}, follow_redirects=False)
    assert client.cookies.get("vigil_session") != old
    assert "Signed in as <strong>viewer</strong>" in client.get("/alerts").text
    stale = client_for(view)
    stale.cookies.set("vigil_session", old or "")
    assert stale.post(f"/alerts/{FP}/ack", data={"csrf": csrf}).status_code == 401
