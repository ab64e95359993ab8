"""Which plugins Moodle counts as disabled, read from the database as core_plugin_manager reads it.

Data flow: checks/moodle/tasks.py -> disabled_task_components(conn, prefix) -> the distinct
components of enabled task_scheduled rows (one row per task class: a few hundred at most)
-> a few small look-ups (config, config_plugins, and the modules, block,
message_processors, repository tables, each filtered by the plugin names asked about) ->
the components whose plugininfo is_enabled() is false: cron never runs their tasks.

Semantics copied from Moodle 5.1+ (train2023-31/moodle 1545c946, files under public/):
- lib/classes/task/manager.php:1060-1067 get_next_scheduled_task(): a task is skipped when
  ``$plugininfo->is_enabled() === false && !$task->get_run_if_component_disabled()``. null
  (a type without an enabled state) runs; core components ('moodle', core_*) have no
  plugininfo and run. The component is task_scheduled.component (manager.php:434-435
  scheduled_task_from_record). No stock task overrides get_run_if_component_disabled()
  (task/scheduled_task.php:345 returns false; no other definition in the tree).
- lib/classes/plugininfo/base.php:513-526 is_enabled(): isset(get_enabled_plugins()[$name]),
  null when the type's get_enabled_plugins() is null (base.php:106, the default).
- Per type, the enabled list (``_RULES``):
  enrol        plugininfo/enrol.php:44-53   explode(',', $CFG->enrol_plugins_enabled)
  auth         plugininfo/auth.php:53-63    'nologin', 'manual' + explode(',', $CFG->auth)
  antivirus    plugininfo/antivirus.php:47-60 explode(',', $CFG->antiviruses), none if empty
  mod          plugininfo/mod.php:43-46     modules rows with visible = 1
  block        plugininfo/block.php:43-47   block rows with visible = 1
  message      plugininfo/message.php:43-46 message_processors rows with enabled = 1
  repository   plugininfo/repository.php:55-58  any repository row: a type "enabled but
               hidden" (visible 0) is still enabled
  logstore     admin/tool/log/classes/plugininfo/logstore.php:40-48
               'logstore_<name>' in get_config('tool_log', 'enabled_stores')
  factor       admin/tool/mfa/classes/plugininfo/factor.php:248-261 and
               local/factor/object_factor_base.php:101-107: get_config('factor_<name>',
               'enabled') == 1
  customfield, aiprovider, availability, communication, smsgateway, dataformat, format,
  qbank        plugininfo/<type>.php get_enabled_plugins(): empty(get_config('<type>_<name>',
               'disabled')); contenttype the same with 'contentbank_<name>'
- tool and h5plib return true; cachestore, cachelock, local, report, search, theme and the
  subplugin types without a get_enabled_plugins() (ltiservice, workshopallocation, ...) null:
  their tasks always run. Every type not in ``_RULES`` is kept as enabled, including the
  ones Moodle can disable but this module does not read (qtype, qbehaviour, filter, editor,
  paygw, media, fileconverter, webservice, portfolio, gradepenalty, aiplacement, assign and
  bbb subplugins, mnetservice): a guess must never hide an overdue task.
admin/tool/task/classes/check/maxfaildelay.php skips only $task->get_disabled(), not a
disabled component: tasks.py still counts such a task's failures.
config.php wins over the tables, as in Moodle: a $CFG list it sets (lib/setuplib.php
initialise_cfg() keeps forced settings) and $CFG->forced_plugin_settings, which get_config()
returns first (lib/moodlelib.php:1039-1061, cast to string). A forced value that is not a
plain value leaves the type's plugins judged enabled.
Not visible here: a plugin missing from disk (base.php:514, is_enabled() false) and
deprecated plugin types (manager.php:1015-1023; mnetservice in 5.1's lib/components.json).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checks.lazy import lazy_import
from checks.moodle.php_numbers import PhpTypeError
from checks.moodle.php_values import php_str
from checks.moodle.schema import MoodleTables, moodle_tables

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection
else:
    sa = lazy_import("sqlalchemy")


@dataclass(frozen=True, slots=True)
class _ConfigList:
    """Enabled: the name is in explode(',', $CFG->{setting}), or always enabled."""

    setting: str
    always: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _TableRow:
    """Enabled: a row of ``table`` names the plugin (and has ``flag`` = 1, if given)."""

    table: str
    column: str
    flag: str | None


@dataclass(frozen=True, slots=True)
class _PluginSetting:
    """Enabled: decided by one config_plugins value (see _enabled_by_setting)."""

    kind: str  # "list": prefix+name in a CSV value; "disabled": empty(); "enabled": == 1
    plugin: str  # the config_plugins.plugin; "{}" is replaced by the plugin's name
    name: str
    item_prefix: str = ""


_Rule = _ConfigList | _TableRow | _PluginSetting


def _disabled_flag(prefix: str) -> _PluginSetting:
    return _PluginSetting("disabled", prefix + "_{}", "disabled")


_RULES: dict[str, _Rule] = {
    "enrol": _ConfigList("enrol_plugins_enabled"),
    "auth": _ConfigList("auth", ("nologin", "manual")),
    "antivirus": _ConfigList("antiviruses"),
    "mod": _TableRow("modules", "name", "visible"),
    "block": _TableRow("block", "name", "visible"),
    "message": _TableRow("message_processors", "name", "enabled"),
    "repository": _TableRow("repository", "type", None),
    "logstore": _PluginSetting("list", "tool_log", "enabled_stores", "logstore_"),
    "factor": _PluginSetting("enabled", "factor_{}", "enabled"),
    **{t: _disabled_flag(t) for t in ("customfield", "aiprovider", "availability",
                                      "communication", "smsgateway", "dataformat",
                                      "format", "qbank")},
    "contenttype": _disabled_flag("contentbank"),
}
JUDGED_TYPES = tuple(sorted(_RULES))
# The $CFG names config.php can force for the rules above.
FORCED_SETTINGS = ("forced_plugin_settings", *sorted(
    {r.setting for r in _RULES.values() if isinstance(r, _ConfigList)}))
_UNKNOWN = object()  # a forced value that is not plain: the plugin is not judged

# PHP 8 numeric strings (leading and trailing whitespace allowed), for `$status == 1`.
_PHP_NUMERIC = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def split_component(component: str) -> tuple[str, str] | None:
    """core_component::normalize_component() for 'type_name'; None for core or no type."""
    if component in ("moodle", "core", "") or "_" not in component:
        return None  # core, or a name without a type Moodle resolves from its code tree
    plugintype, name = component.split("_", 1)
    return None if plugintype in ("core", "moodle") else (plugintype, name)


def _php_empty(value: str | None) -> bool:
    return value is None or value in ("", "0")


def _php_equals_one(value: str | None) -> bool:
    return value is not None and bool(_PHP_NUMERIC.fullmatch(value)) and float(value) == 1


def _csv_has(value: str | None, item: str) -> bool:
    # explode(',', null) gives [''] in PHP: an unset list enables nothing.
    return item in (value or "").split(",")


def _forced_str(value: Any) -> Any:
    """(string)$value as get_config() returns a forced setting; _UNKNOWN if not plain."""
    if isinstance(value, (dict, list)):
        return _UNKNOWN
    try:
        return php_str(value)
    except PhpTypeError:
        return _UNKNOWN


def _enabled_by_setting(rule: _PluginSetting, name: str, value: str | None) -> bool:
    if rule.kind == "list":
        return _csv_has(value, rule.item_prefix + name)
    if rule.kind == "enabled":
        return _php_equals_one(value)
    return _php_empty(value)


def disabled_components(conn: Connection, prefix: str, components: Iterable[str],
                        forced: Mapping[str, Any]) -> set[str]:
    """The components whose plugininfo is_enabled() is false, among ``components``.

    ``forced``: the FORCED_SETTINGS config.php sets (checks/moodle/site_config.py)."""
    judged = {c: parts for c in components
              if (parts := split_component(c)) and parts[0] in _RULES}
    state = _State(conn, moodle_tables(prefix), forced)
    for plugintype, name in judged.values():
        state.ask(_RULES[plugintype], name)
    state.read()
    return {c for c, (plugintype, name) in judged.items()
            if not state.enabled(_RULES[plugintype], name)}


class _State:
    """The rows and settings the rules need: asked for first, then read in a few queries."""

    def __init__(self, conn: Connection, tables: MoodleTables,
                 forced: Mapping[str, Any]) -> None:
        self.conn, self.tables, self.forced = conn, tables, forced
        self.config: dict[str, Any] = {}  # config name -> value (None: unset)
        self.plugin: dict[tuple[str, str], Any] = {}  # (plugin, name) -> value
        self.rows: dict[_TableRow, set[str]] = defaultdict(set)  # names asked, then enabled

    def ask(self, rule: _Rule, name: str) -> None:
        if isinstance(rule, _ConfigList):
            self.config[rule.setting] = None
        elif isinstance(rule, _TableRow):
            self.rows[rule].add(name)
        else:
            self.plugin[(rule.plugin.format(name), rule.name)] = None

    def read(self) -> None:
        t = self.tables
        if self.config:
            self.config |= {r.name: r.value for r in self.conn.execute(
                sa.select(t.config.c.name, t.config.c.value)
                .where(t.config.c.name.in_(sorted(self.config))))}
            self.config |= {k: _forced_str(self.forced[k]) for k in self.config
                            if k in self.forced}
        if self.plugin:
            cp = t.config_plugins
            rows = self.conn.execute(sa.select(cp.c.plugin, cp.c.name, cp.c.value).where(
                cp.c.plugin.in_(sorted({p for p, _ in self.plugin})),
                cp.c.name.in_(sorted({n for _, n in self.plugin}))))
            self.plugin |= {(r.plugin, r.name): r.value for r in rows
                            if (r.plugin, r.name) in self.plugin}
            self.plugin |= _forced_plugin_settings(self.forced.get("forced_plugin_settings"),
                                                   list(self.plugin))
        for rule, names in self.rows.items():
            table = t[rule.table]
            query = sa.select(table.c[rule.column]).where(table.c[rule.column].in_(sorted(names)))
            if rule.flag is not None:
                query = query.where(table.c[rule.flag] == 1)
            self.rows[rule] = {str(v) for v in self.conn.execute(query.distinct()).scalars()}

    def enabled(self, rule: _Rule, name: str) -> bool:
        if isinstance(rule, _TableRow):
            return name in self.rows[rule]
        if isinstance(rule, _ConfigList):
            value = self.config.get(rule.setting)
            return value is _UNKNOWN or name in rule.always or _csv_has(value, name)
        value = self.plugin.get((rule.plugin.format(name), rule.name))
        return value is _UNKNOWN or _enabled_by_setting(rule, name, value)


def _forced_plugin_settings(settings: Any, pairs: Iterable[tuple[str, str]]
                            ) -> dict[tuple[str, str], Any]:
    """$CFG->forced_plugin_settings[plugin][name] for the pairs asked about."""
    if not isinstance(settings, dict):
        return {}
    return {(plugin, name): _forced_str(settings[plugin][name]) for plugin, name in pairs
            if isinstance(settings.get(plugin), dict) and name in settings[plugin]}


def disabled_task_components(conn: Connection, prefix: str,
                             forced: Mapping[str, Any]) -> list[str]:
    """Components of enabled scheduled tasks whose plugin is disabled, sorted."""
    ts = moodle_tables(prefix).task_scheduled
    components = conn.execute(sa.select(ts.c.component).where(ts.c.disabled == 0).distinct()
                              .limit(5000)).scalars().all()
    return sorted(disabled_components(conn, prefix, components, forced))
