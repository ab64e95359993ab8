"""The fleet on loopback, all real processes: two Alertmanagers clustered by gossip, four
``vigil run`` (two shards x an HA pair) watching eight stand-in sites, and a webhook
behind the Alertmanager cluster.

Shown: every site is watched by exactly one shard (both members of it); a failing site
gives exactly one notification at the webhook, although both members of its pair push
the alert to both Alertmanagers; killing one member of the pair and one Alertmanager
changes nothing for the receiver (no resolve, no second notification); a window created
on one member silences, through the mirrored silence, the alert its partner fires.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.kernel.shard import hashmod
from tests.fleet.processes import Alertmanager, Vigil, Webhook, need_alertmanager
from tests.helpers import TargetServer, wait_for

SITES = [f"site-{i}" for i in range(8)]
TOKEN = "ops-token-0123456789abc"
RESEND = 2.0  # Vigil re-sends firing alerts every 2 s, valid for 4 x 2 s

ALERTMANAGER = """
route:
  receiver: "null"
  group_by: ["lms", "alertname"]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="LmsCheckFailing"']
      receiver: hook
receivers:
  - name: "null"
  - name: hook
    webhook_configs:
      - url: "{hook}"
        send_resolved: true
"""

VIGIL = """
[state]
dir = "{state}"
[server]
port = {port}
[[server.tokens]]
name = "ops"
token = "%(token)s"
scopes = ["maintenance"]
[alerts]
failure_threshold = 2
success_threshold = 1
[alerts.route]
group_wait = "0s"
group_interval = "1s"
[[alerts.receivers]]
name = "am"
type = "alertmanager"
urls = [%(ams)s]
resend_interval = "%(resend)gs"
timeout = "2s"
[fleet]
ha = true
ha_member = %(member)d
sync_interval = "1s"
%(sites)s
"""

SITE = """[[lms]]
name = "%s"
url = "%s"
[lms.checks.http]
interval = "1s"
timeout = "900ms"
"""


@dataclass
class Fleet:
    ams: list[Alertmanager]
    hook: Webhook
    targets: dict[str, TargetServer]
    vigils: dict[tuple[int, int], Vigil]  # (shard, member) -> daemon


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    need_alertmanager()
    hook = Webhook()
    targets = {name: TargetServer() for name in SITES}
    am_config = ALERTMANAGER.replace("{hook}", hook.url)
    ams: list[Alertmanager] = []
    vigils: dict[tuple[int, int], Vigil] = {}
    try:
        ams.append(Alertmanager(tmp_path / "am0", am_config))
        ams.append(Alertmanager(tmp_path / "am1", am_config, peers=[ams[0].cluster_address]))
        wait_for(lambda: all(am.peers() == 2 for am in ams), 20, "two clustered alertmanagers")
        sites = "\n".join(SITE % (name, targets[name].url) for name in SITES)
        for shard in (0, 1):
            for member in (0, 1):
                config = VIGIL % {"token": TOKEN, "member": member, "sites": sites,
                                  "ams": ", ".join(f'"{am.url}"' for am in ams),
                                  "resend": RESEND}
                vigils[shard, member] = Vigil(tmp_path / f"vigil-{shard}-{member}", config,
                                              "--shard", f"{shard}/2")
        for vigil in vigils.values():
            wait_for(vigil.ready, 40, f"vigil on {vigil.port} ready")
        yield Fleet(ams, hook, targets, vigils)
    finally:
        for vigil in vigils.values():
            vigil.stop()
        for am in ams:
            am.stop()
        for target in targets.values():
            target.close()
        hook.close()


def owned(vigil: Vigil) -> set[str]:
    return set(re.findall(r'vigil_fleet_site_owned\{lms="([^"]+)"', vigil.metrics()))


def am_alerts(am: Alertmanager, lms: str) -> list[dict[str, Any]]:
    return [a for a in am.get("/api/v2/alerts", filter=f'lms="{lms}"')
            if a["labels"].get("alertname") == "LmsCheckFailing"]


def resolved_for(hook: Webhook, lms: str) -> list[dict[str, Any]]:
    return [p for p in hook.posts if p.get("status") == "resolved"
            and any(a["labels"].get("lms") == lms for a in p["alerts"])]


def vigil_firing(vigil: Vigil, lms: str) -> bool:
    alerts = httpx.get(vigil.api + "/api/v1/alerts", timeout=5).json()["alerts"]
    return any(a["lms"] == lms for a in alerts)


def test_two_shards_of_ha_pairs_behind_a_clustered_alertmanager(fleet: Fleet) -> None:
    by_shard = {shard: [site for site in SITES if hashmod(site, 2) == shard] for shard in (0, 1)}
    assert by_shard[0] and by_shard[1], by_shard  # the eight names do split
    # Each pair owns its shard's sites, and nothing else; together: every site once.
    for (shard, _member), vigil in fleet.vigils.items():
        assert owned(vigil) == set(by_shard[shard])
        assert f'vigil_fleet_owned_sites{{shard="{shard}"}} {len(by_shard[shard])}.0' \
            in vigil.metrics()
    status_page = httpx.get(fleet.vigils[0, 1].api + "/", timeout=5).text
    assert f"owns {len(by_shard[0])} of 8 LMS sites" in status_page

    # A failure seen by both members of the pair, pushed to both Alertmanagers: one page.
    failing = by_shard[0][0]
    fleet.targets[failing].status = 500
    [first] = wait_for(lambda: fleet.hook.firing_for(failing), 40, f"page for {failing}")
    assert len(first["alerts"]) == 1  # the two members' alerts are one in Alertmanager
    assert first["alerts"][0]["labels"]["lms"] == failing
    assert first["alerts"][0]["labels"]["shard"] == "0"
    assert all(vigil_firing(fleet.vigils[0, m], failing) for m in (0, 1))  # both fired it
    time.sleep(3 * RESEND)  # several re-sends from both members, group_interval passes
    assert len(fleet.hook.firing_for(failing)) == 1

    # One member of the pair and one Alertmanager die: nothing changes for the receiver.
    fleet.vigils[0, 0].proc.kill()
    fleet.ams[0].proc.kill()
    time.sleep(5 * RESEND)  # past the dead member's last validity (4 x RESEND)
    [still] = am_alerts(fleet.ams[1], failing)
    assert still["status"]["state"] == "active"  # kept alive by the surviving member
    assert len(fleet.hook.firing_for(failing)) == 1
    assert resolved_for(fleet.hook, failing) == []
    # Member 0's heartbeat expired from the cluster: its partner now runs the LMS actions
    # of config windows; in the other pair member 0 lives and member 1 still waits.
    wait_for(lambda: "vigil_fleet_lms_actions_enabled 1.0" in fleet.vigils[0, 1].metrics(),
             20, "member 1 of shard 0 taking over")
    assert "vigil_fleet_lms_actions_enabled 0.0" in fleet.vigils[1, 1].metrics()

    # A window created on member 0 of shard 1 silences the alert member 1 fires.
    quiet = by_shard[1][0]
    created = httpx.post(fleet.vigils[1, 0].api + "/api/v1/maintenance", timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}"},
                         json={"name": "fleet upgrade", "kind": "manual", "lms": quiet})
    assert created.status_code == 201, created.text
    uid = created.json()["window"]["uid"]
    [silence] = wait_for(lambda: [s for s in fleet.ams[1].get("/api/v2/silences")
                                  if uid in s["comment"] and s["status"]["state"] == "active"],
                         20, "the window's silence in the surviving alertmanager")
    assert "vigil_fleet_silences_mirrored 1.0" in fleet.vigils[1, 0].metrics()
    fleet.targets[quiet].status = 500
    wait_for(lambda: vigil_firing(fleet.vigils[1, 1], quiet), 40, "member 1 fires the alert")
    [alert] = wait_for(lambda: am_alerts(fleet.ams[1], quiet), 20, "the alert in alertmanager")
    assert alert["status"]["state"] == "suppressed"
    assert alert["status"]["silencedBy"] == [silence["id"]]
    time.sleep(3 * RESEND)  # group_wait and a few re-sends
    assert fleet.hook.firing_for(quiet) == []
    # The other pages stayed as they were.
    assert len(fleet.hook.firing_for(failing)) == 1
