"""Named API tokens with scopes (issue #11): each write needs its scope and a token without
it gets 403 naming the scope; windows that act on the LMS need lms-actions on create and
edit; the deprecated server.api_token keeps every power; the config names each problem;
the OpenAPI document states each operation's scope."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from monitor.app.config import ConfigError, parse_config
from monitor.app.store import StateStore
from monitor.app.tokens import api_tokens, identify
from tests.conftest import FakeClock
from tests.token_kit import FP, TOKENS, WINDOW, View, auth, client_for, config_text, make_view

LMS_MODE = {"lms_maintenance_mode": True}
ACCEPT = {"accept_integrity_changes": True}


@pytest.fixture
def view(store: StateStore, clock: FakeClock, tmp_path: Path) -> Iterator[View]:
    view = make_view(store, clock, config_text(tmp_path))
    yield view
    view.sites.close()


@pytest.fixture
def client(view: View) -> TestClient:
    return client_for(view)


def new_window(client: TestClient, token: str = "root", **actions: bool) -> int:
    body: dict[str, Any] = {**WINDOW, "actions": actions} if actions else WINDOW
    created = client.post("/api/v1/maintenance", json=body, headers=auth(token))
    assert created.status_code == 201, created.text
    return int(created.json()["window"]["id"])


# (method, path, json body, the scope it needs); {id} is a window the test makes first
WRITES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", f"/api/v1/alerts/{FP}/ack", {"by": "ann"}, "ack"),
    ("DELETE", f"/api/v1/alerts/{FP}/ack", None, "ack"),
    ("POST", "/api/v1/maintenance", WINDOW, "maintenance"),
    ("PATCH", "/api/v1/maintenance/{id}", {"comment": "later"}, "maintenance"),
    ("DELETE", "/api/v1/maintenance/{id}", None, "maintenance"),
]
WITHOUT = {"ack": ["viewer", "ops", "lmsops"], "maintenance": ["viewer", "oncall"]}
WITH = {"ack": ["oncall", "root"], "maintenance": ["ops", "lmsops", "root"]}


@pytest.mark.parametrize(("method", "path", "body", "scope"), WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_each_write_is_refused_without_its_scope_with_a_403_naming_it(
        client: TestClient, method: str, path: str, body: dict[str, Any] | None,
        scope: str) -> None:
    if method == "DELETE" and "ack" in path:
        assert client.post(path, json={"by": "ann"}, headers=auth("root")).status_code == 200
    url = path.format(id=new_window(client)) if "{id}" in path else path
    before = client.get("/api/v1/maintenance").json(), client.get(f"/api/v1/alerts/{FP}").json()
    for name in WITHOUT[scope]:
        refused = client.request(method, url, json=body, headers=auth(name))
        assert refused.status_code == 403, (name, refused.text)
        assert refused.json() == {"error": f"token {name!r} lacks the scope {scope!r}"}
    after = client.get("/api/v1/maintenance").json(), client.get(f"/api/v1/alerts/{FP}").json()
    assert after == before  # nothing changed


@pytest.mark.parametrize(("method", "path", "body", "scope"), WRITES,
                         ids=[f"{m} {p}" for m, p, _, _ in WRITES])
def test_each_write_is_allowed_with_its_scope_or_admin(
        client: TestClient, method: str, path: str, body: dict[str, Any] | None,
        scope: str) -> None:
    for name in WITH[scope]:
        if method == "DELETE" and "ack" in path:
            assert client.post(path, json={"by": "a"}, headers=auth(name)).status_code == 200
        url = path.format(id=new_window(client)) if "{id}" in path else path
        done = client.request(method, url, json=body, headers=auth(name))
        assert done.status_code in (200, 201), (name, done.text)
        if method == "POST" and "ack" in path:  # ack it again next round: withdraw it
            client.delete(path, headers=auth("root"))


def test_missing_and_unknown_tokens_are_401_and_no_tokens_at_all_is_403(
        store: StateStore, clock: FakeClock, tmp_path: Path, client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token-at-all-00"},
                    {"Authorization": f"Basic {TOKENS['root'][0]}"}):
        refused = client.post("/api/v1/maintenance", json=WINDOW, headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    bare = client_for(make_view(store, clock, config_text(tmp_path, named=False)))
    disabled = bare.post("/api/v1/maintenance", json=WINDOW, headers=auth("root"))
    assert disabled.status_code == 403 and "[[server.tokens]]" in disabled.json()["error"]


@pytest.mark.parametrize("actions", [LMS_MODE, ACCEPT], ids=["maintenance-mode", "integrity"])
def test_a_window_that_acts_on_the_lms_needs_lms_actions_to_be_created(
        client: TestClient, actions: dict[str, bool]) -> None:
    body = {**WINDOW, "actions": actions}
    refused = client.post("/api/v1/maintenance", json=body, headers=auth("ops"))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error.startswith("token 'ops' lacks the scope 'lms-actions', needed because")
    assert next(iter(actions)) in error
    assert client.get("/api/v1/maintenance").json()["windows"][1:] == []  # only "weekly"
    for name in ("lmsops", "root"):
        assert client.post("/api/v1/maintenance", json=body,
                           headers=auth(name)).status_code == 201


@pytest.mark.parametrize("actions", [LMS_MODE, ACCEPT], ids=["maintenance-mode", "integrity"])
def test_an_edit_that_adds_an_lms_action_needs_lms_actions(
        client: TestClient, actions: dict[str, bool]) -> None:
    wid = new_window(client, "ops")
    url = f"/api/v1/maintenance/{wid}"
    refused = client.patch(url, json={"actions": actions}, headers=auth("ops"))
    assert refused.status_code == 403 and "'lms-actions'" in refused.json()["error"]
    assert not any(client.get(url).json()["actions"][key] for key in actions)
    added = client.patch(url, json={"actions": actions}, headers=auth("lmsops"))
    assert added.status_code == 200, added.text
    assert all(client.get(url).json()["actions"][key] for key in actions)


@pytest.mark.parametrize("actions", [LMS_MODE, ACCEPT], ids=["maintenance-mode", "integrity"])
def test_editing_a_window_that_acts_on_the_lms_needs_lms_actions_but_ending_it_does_not(
        client: TestClient, actions: dict[str, bool]) -> None:
    """Moving such a window moves when Moodle goes into maintenance mode (or when changes are
    accepted): lms-actions. Switching the actions off or ending the window takes power away,
    so the maintenance scope is enough."""
    wid = new_window(client, "lmsops", **actions)
    url = f"/api/v1/maintenance/{wid}"
    moved = client.patch(url, json={"start": "2027-01-21T22:00"}, headers=auth("ops"))
    assert moved.status_code == 403 and "'lms-actions'" in moved.json()["error"]
    assert client.patch(url, json={"start": "2027-01-21T22:00"},
                        headers=auth("lmsops")).status_code == 200
    off = client.patch(url, json={"actions": {}}, headers=auth("ops"))
    assert off.status_code == 200 and not any(off.json()["window"]["actions"][k]
                                              for k in actions)
    other = new_window(client, "lmsops", **actions)
    assert client.delete(f"/api/v1/maintenance/{other}", headers=auth("ops")).status_code == 200


def test_the_forms_need_the_same_scopes(client: TestClient) -> None:
    ack_form = {"by": "ann", "token": TOKENS["viewer"][0]}
    refused = client.post(f"/alerts/{FP}/ack", data=ack_form, follow_redirects=False)
    assert refused.status_code == 403
    assert "token 'viewer' lacks the scope 'ack'" in unescape(refused.text)
    done = client.post(f"/alerts/{FP}/ack", data={**ack_form, "token": TOKENS["oncall"][0]},
                       follow_redirects=False)
    assert done.status_code == 303
    form = {"name": "kernel", "lms": "prod", "kind": "once", "timezone": "UTC",
            "start": "2027-02-01T06:00", "duration": "1h", "token": TOKENS["oncall"][0]}
    refused = client.post("/maintenance", data=form)
    assert refused.status_code == 403
    assert "token 'oncall' lacks the scope 'maintenance'" in unescape(refused.text)
    added = client.post("/maintenance", data={**form, "token": TOKENS["ops"][0]},
                        follow_redirects=False)
    assert added.status_code == 303
    wid = client.get("/api/v1/maintenance").json()["windows"][-1]["id"]
    end_url = f"/maintenance/{wid}/end"
    assert client.post(end_url, data={"token": TOKENS["oncall"][0]}).status_code == 403
    assert client.post(end_url, data={"token": TOKENS["ops"][0]},
                       follow_redirects=False).status_code == 303


def test_the_deprecated_api_token_keeps_every_power_and_warns_at_load(
        store: StateStore, clock: FakeClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    legacy = "legacy-token-0123456789"
    with caplog.at_level(logging.WARNING):
        view = make_view(store, clock, config_text(tmp_path, legacy=legacy, named=False))
    assert any("server.api_token is deprecated" in r.getMessage() for r in caplog.records)
    assert legacy not in caplog.text
    client = client_for(view)
    headers = {"Authorization": f"Bearer {legacy}"}
    assert client.post(f"/api/v1/alerts/{FP}/ack", json={"by": "ann"},
                       headers=headers).status_code == 200
    body = {**WINDOW, "actions": {**LMS_MODE, **ACCEPT}}
    assert client.post("/api/v1/maintenance", json=body, headers=headers).status_code == 201
    assert client.get("/api/v1/audit", headers=headers).json()["entries"][0]["actor"] == "api"
    view.sites.close()


def tokens_config(*entries: str, server: str = "") -> str:
    return "[server]\n" + server + "".join(f"[[server.tokens]]\n{e}\n" for e in entries)


GOOD = 'token = "abcdefghijklmnop"\nscopes = ["read"]'


@pytest.mark.parametrize(("text", "problem"), [
    (tokens_config('name = "a"\ntoken = "short-secret"\nscopes = ["read"]'),
     "server.tokens[0].token: must be at least 16 characters"),
    (tokens_config('name = "a"\ntoken = "abcdefghijklmnop"\nscopes = []'),
     "server.tokens[0].scopes: name at least one scope of: read, ack, maintenance, "
     "lms-actions, admin"),
    (tokens_config('name = "a"\ntoken = "abcdefghijklmnop"\nscopes = ["root"]'),
     "server.tokens[0].scopes[0]: Input should be 'read', 'ack', 'maintenance', "
     "'lms-actions' or 'admin'"),
    (tokens_config(f'name = "a"\n{GOOD}', 'name = "a"\ntoken = "qrstuvwxyz012345"\n'
                   'scopes = ["ack"]'),
     "server.tokens[1].name: 'a' is already used by server.tokens[0]; token names must be "
     "unique"),
    (tokens_config(f'name = "a"\n{GOOD}', f'name = "b"\n{GOOD}'),
     "server.tokens[1].token: the same token as server.tokens[0]; each holder needs its own"),
    (tokens_config('name = "api"\ntoken = "qrstuvwxyz012345"\nscopes = ["ack"]',
                   server='api_token = "abcdefghijklmnop"\n'),
     "server.tokens[0].name: 'api' is already used by server.api_token"),
    (tokens_config('name = "a b"\ntoken = "qrstuvwxyz012345"\nscopes = ["ack"]'),
     "server.tokens[0].name: 'a b' does not match"),
    (tokens_config('name = "a"\nscopes = ["ack"]'),
     "server.tokens[0].token: required key is missing"),
])
def test_token_config_errors_name_the_path_and_never_the_token(text: str, problem: str
                                                               ) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    joined = "; ".join(raised.value.problems)
    assert problem in joined
    for secret in ("abcdefghijklmnop", "qrstuvwxyz012345", "short-secret"):
        assert secret not in joined


def test_tokens_are_secret_and_compared_in_constant_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(tokens_config('name = "a"\ntoken = "abcdefghijklmnop"\n'
                                        'scopes = ["ack"]',
                                        'name = "b"\ntoken = "qrstuvwxyz012345"\n'
                                        'scopes = ["admin"]'))
    assert "abcdefghijklmnop" not in repr(config.server) + repr(config.server.api_tokens())
    compared: list[bytes] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    tokens = api_tokens(config.server.tokens, None)
    found = identify(tokens, "abcdefghijklmnop")
    assert found is not None and found.name == "a" and found.allows("ack")
    assert not found.allows("maintenance") and not found.allows("read")
    assert len(compared) == 2  # every token is compared, not only up to the first match
    admin = identify(tokens, "qrstuvwxyz012345")
    assert admin is not None and all(admin.allows(s) for s in ("read", "lms-actions"))
    assert identify(tokens, "") is None


def test_the_openapi_document_states_the_scope_of_every_operation(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    expected = {
        ("/api/v1/alerts/{fingerprint}/ack", "post"): "ack",
        ("/api/v1/alerts/{fingerprint}/ack", "delete"): "ack",
        ("/alerts/{fingerprint}/ack", "post"): "ack",
        ("/alerts/{fingerprint}/unack", "post"): "ack",
        ("/outbox/{id}/retry", "post"): "ack",
        ("/api/v1/maintenance", "post"): "maintenance",
        ("/api/v1/maintenance/{id}", "patch"): "maintenance",
        ("/api/v1/maintenance/{id}", "delete"): "maintenance",
        ("/maintenance", "post"): "maintenance",
        ("/maintenance/{id}/end", "post"): "maintenance",
        ("/api/v1/audit", "get"): "read",
    }
    for (path, method), scope in expected.items():
        operation = paths[path][method]
        assert operation["x-vigil-scopes"] == [scope], (path, method)
        assert f"with the scope {scope} (or admin)" in operation["description"]
    for path in ("/api/v1/maintenance", "/api/v1/maintenance/{id}"):
        method = "post" if path == "/api/v1/maintenance" else "patch"
        [conditional] = paths[path][method]["x-vigil-conditional-scopes"]
        assert conditional["scope"] == "lms-actions"
        assert "lms_maintenance_mode" in conditional["when"]
        assert "accept_integrity_changes" in conditional["when"]
        assert "Also needs lms-actions" in paths[path][method]["description"]
    scoped = {(p, m) for p, item in paths.items() for m, op in item.items()
              if m != "parameters" and "x-vigil-scopes" in op}
    assert scoped == set(expected)  # reads other than the audit log stay open
    assert "audit" in paths["/api/v1/audit"]["get"]["summary"]
    assert "403" in paths["/api/v1/audit"]["get"]["responses"]
