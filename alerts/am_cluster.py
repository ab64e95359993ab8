"""What a Vigil fleet asks of a (clustered) Alertmanager besides pushing alerts: silences
and a heartbeat alert, through its API v2 (api/v2/openapi.yaml of prometheus/alertmanager:
``GET/POST /api/v2/silences``, ``DELETE /api/v2/silence/{silenceID}``,
``GET/POST /api/v2/alerts`` with ``filter`` matchers).

Used by the silence mirror (alerts/maintenance/silences.py) and the HA role
(alerts/fleet_ha.py); built from the config's alertmanager receiver (its URLs and
headers). A read goes to the first instance that answers (gossip keeps them equal); a
silence is written to one instance and gossiped to the others. Every failure is an
``AlertmanagerUnavailable`` naming the instance by scheme://host:port only, never a
header or a password in a URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from alerts.notifiers.http import USER_AGENT, endpoint_of
from alerts.receiver_specs import AlertmanagerReceiverSpec


class AlertmanagerUnavailable(Exception):
    """No instance of the cluster answered as it should; retried at the next step."""


class AlertmanagerCluster:
    def __init__(self, spec: AlertmanagerReceiverSpec, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.endpoints = [url.rstrip("/") for url in spec.endpoints]
        self._headers = {"User-Agent": USER_AGENT,
                         **{k: v.get_secret_value() for k, v in spec.headers.items()}}
        self._client = httpx.AsyncClient(transport=transport, timeout=spec.timeout,
                                         follow_redirects=False)

    async def _call(self, method: str, path: str, *, json: Any = None,
                    params: Sequence[tuple[str, str]] = (), ok: Sequence[int] = (200,),
                    ) -> httpx.Response:
        """The first instance's answer with a status in ``ok``; else unavailable."""
        errors: list[str] = []
        for base in self.endpoints:
            where = endpoint_of(base)
            try:
                response = await self._client.request(method, base + path, json=json,
                                                      params=list(params),
                                                      headers=self._headers)
            except httpx.HTTPError as exc:
                errors.append(f"{where}: {type(exc).__name__}")
                continue
            if response.status_code in ok:
                return response
            snippet = " ".join(response.text[:200].split())
            errors.append(f"{where}: HTTP {response.status_code} {snippet}".rstrip())
        raise AlertmanagerUnavailable(f"{method} {path}: " + "; ".join(errors))

    # -- silences ---------------------------------------------------------------
    async def silences(self) -> list[dict[str, Any]]:
        response = await self._call("GET", "/api/v2/silences")
        body = response.json()
        if not isinstance(body, list):
            raise AlertmanagerUnavailable("GET /api/v2/silences: not a list of silences")
        return [s for s in body if isinstance(s, dict)]

    async def post_silence(self, silence: Mapping[str, Any]) -> str:
        """Create (no ``id``) or update (with ``id``) a silence; returns its id, which is
        new when Alertmanager had to replace it (e.g. the matchers of an active one)."""
        response = await self._call("POST", "/api/v2/silences", json=dict(silence))
        silence_id = response.json().get("silenceID")
        if not isinstance(silence_id, str):
            raise AlertmanagerUnavailable("POST /api/v2/silences: no silenceID in the answer")
        return silence_id

    async def expire_silence(self, silence_id: str) -> None:
        # 404: already gone (expired and collected); nothing left to do.
        await self._call("DELETE", f"/api/v2/silence/{silence_id}", ok=(200, 404))

    # -- alerts -----------------------------------------------------------------
    async def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """To every instance, as Prometheus does; one accepting is enough."""
        accepted = 0
        errors: list[str] = []
        for base in self.endpoints:
            try:
                response = await self._client.post(base + "/api/v2/alerts", json=list(alerts),
                                                   headers=self._headers)
                if response.status_code == 200:
                    accepted += 1
                    continue
                errors.append(f"{endpoint_of(base)}: HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"{endpoint_of(base)}: {type(exc).__name__}")
        if not accepted:
            raise AlertmanagerUnavailable("POST /api/v2/alerts: " + "; ".join(errors))

    async def alerts(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Alerts (active, silenced or inhibited) whose labels equal ``labels``, from
        every instance that answers: unlike silences, alerts are not gossiped, each
        instance has what was pushed to it."""
        filters = httpx.QueryParams([("filter", f'{name}="{value}"')
                                     for name, value in labels.items()])
        found: list[dict[str, Any]] = []
        errors: list[str] = []
        for base in self.endpoints:
            try:
                response = await self._client.get(base + "/api/v2/alerts", params=filters,
                                                  headers=self._headers)
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(f"{endpoint_of(base)}: {type(exc).__name__}")
                continue
            found += [a for a in body if isinstance(a, dict)] if isinstance(body, list) else []
        if len(errors) == len(self.endpoints):
            raise AlertmanagerUnavailable("GET /api/v2/alerts: " + "; ".join(errors))
        return found

    async def aclose(self) -> None:
        await self._client.aclose()
