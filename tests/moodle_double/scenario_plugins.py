"""Scenario rows for plugins' enabled state, as a stock install leaves it and as admins change it.

Transcribed from Moodle 5.1+ (train2023-31/moodle 1545c946, files under public/), not from
checks/moodle/plugin_state.py:
- lib/db/install.php:119-137 $defaults: auth 'email', enrol_plugins_enabled
  'manual,guest,self,cohort', antiviruses ''.
- modules / block rows come from each plugin's install with visible DEFAULT 1
  (lib/db/install.xml:822, 2763); mod/bigbluebuttonbn/db/install.php:32 and
  blocks/{rss_client,course_summary,feedback,selfcompletion}/db/install.php:32,
  blocks/tag_youtube/db/install.php:34 set visible 0.
- message_processors: message/output/*/db/install.php insert name only (enabled DEFAULT 1,
  install.xml:2622); message/output/sms/db/install.php:39 disables sms.
- repository: only repository/{areafiles,contentbank,local,recent,upload,url,user,wikimedia}
  /db/install.php create their type row (visible 1); dropbox, filesystem, onedrive, ... have
  none, which is what "Disabled" means (plugininfo/repository.php:101-104).
- factor_grace / factor_nosetup settings.php:33-35: 'enabled' checkbox, default 0, written
  at install by admin_apply_default_settings.
enable_plugin() writes what each type's plugininfo ::enable_plugin() writes (lib/classes/
plugininfo/<type>.php, admin/tool/log/classes/plugininfo/logstore.php:50-66,
admin/tool/mfa/classes/plugininfo/factor.php:130-145).
"""

from __future__ import annotations

from typing import Self

from tests.moodle_double.scenario_base import ScenarioBase

STOCK_MODULES = ("assign", "bigbluebuttonbn", "book", "choice", "data", "feedback", "folder",
                 "forum", "glossary", "h5pactivity", "imscp", "label", "lesson", "lti", "page",
                 "qbank", "quiz", "resource", "scorm", "subsection", "url", "wiki", "workshop")
STOCK_HIDDEN_MODULES = ("bigbluebuttonbn",)
STOCK_BLOCKS = ("activity_modules", "calendar_month", "course_summary", "feedback", "html",
                "myoverview", "navigation", "online_users", "recent_activity", "rss_client",
                "selfcompletion", "settings", "tag_youtube", "timeline")
STOCK_HIDDEN_BLOCKS = ("course_summary", "feedback", "rss_client", "selfcompletion",
                       "tag_youtube")
STOCK_MESSAGE_PROCESSORS = {"airnotifier": 1, "email": 1, "popup": 1, "sms": 0}
STOCK_REPOSITORIES = ("areafiles", "contentbank", "local", "recent", "upload", "url", "user",
                      "wikimedia")
# Plugin types whose enabled state is a comma-separated $CFG list.
_CFG_LISTS = {"enrol": "enrol_plugins_enabled", "auth": "auth", "antivirus": "antiviruses"}
# Types whose plugininfo keeps config_plugins <prefix>_<name>/disabled (set 1, unset to enable).
_DISABLED_FLAG = {"customfield": "customfield", "aiprovider": "aiprovider",
                  "availability": "availability", "communication": "communication",
                  "smsgateway": "smsgateway", "dataformat": "dataformat", "format": "format",
                  "qbank": "qbank", "contenttype": "contentbank"}


class PluginRows(ScenarioBase):
    def stock_plugins(self) -> Self:
        """Plugin enabled state right after a stock install (see the module docstring)."""
        self.set_config("auth", "email")
        self.set_config("enrol_plugins_enabled", "manual,guest,self,cohort")
        self.set_config("antiviruses", "")
        self.set_plugin_config("tool_log", "enabled_stores", "logstore_standard")
        for factor in ("grace", "nosetup"):
            self.set_plugin_config(f"factor_{factor}", "enabled", 0)
        self.insert("modules", [{"name": m, "visible": int(m not in STOCK_HIDDEN_MODULES)}
                                for m in STOCK_MODULES])
        self.insert("block", [{"name": b, "visible": int(b not in STOCK_HIDDEN_BLOCKS)}
                              for b in STOCK_BLOCKS])
        self.insert("message_processors", [{"name": n, "enabled": e}
                                           for n, e in STOCK_MESSAGE_PROCESSORS.items()])
        self.insert("repository", [{"type": r, "visible": 1, "sortorder": i}
                                   for i, r in enumerate(STOCK_REPOSITORIES, 1)])
        return self

    def enable_plugin(self, component: str, enabled: int = 1) -> Self:
        """``core_plugin_manager`` ``<type>::enable_plugin(name, enabled)`` for ``type_name``.

        Repositories take 1 (on), 0 (enabled but hidden) or -1 (disabled: the row goes).
        """
        plugintype, name = component.split("_", 1)
        if plugintype in _CFG_LISTS:
            self._cfg_list(_CFG_LISTS[plugintype], name, enabled)
        elif plugintype in ("mod", "block", "message"):
            table, column = {"mod": ("modules", "visible"), "block": ("block", "visible"),
                             "message": ("message_processors", "enabled")}[plugintype]
            self.update(table, {column: enabled}, self.tables[table].c.name == name)
        elif plugintype == "repository":
            self._repository(name, enabled)
        elif plugintype == "logstore":
            self._plugin_list("tool_log", "enabled_stores", component, enabled)
        elif plugintype == "factor":
            self.set_plugin_config(component, "enabled", enabled)
        elif plugintype in _DISABLED_FLAG:
            plugin = f"{_DISABLED_FLAG[plugintype]}_{name}"
            if enabled:
                self.unset_plugin_config(plugin, "disabled")
            else:
                self.set_plugin_config(plugin, "disabled", 1)
        else:
            raise ValueError(f"enable_plugin: no enabled state for plugin type {plugintype!r}")
        return self

    def _cfg_list(self, setting: str, name: str, enabled: int) -> None:
        cfg = self.tables.config
        rows = self.rows("config", cfg.c.name == setting)
        self.set_config(setting, _toggle(rows[0].value if rows else "", name, enabled))

    def _plugin_list(self, plugin: str, setting: str, item: str, enabled: int) -> None:
        cp = self.tables.config_plugins
        rows = self.rows("config_plugins", cp.c.plugin == plugin, cp.c.name == setting)
        self.set_plugin_config(plugin, setting,
                               _toggle(rows[0].value if rows else "", item, enabled))

    def _repository(self, name: str, visible: int) -> None:
        repo = self.tables.repository
        if visible < 0:
            self.delete("repository", repo.c.type == name)
        elif self.rows("repository", repo.c.type == name):
            self.update("repository", {"visible": visible}, repo.c.type == name)
        else:
            self.insert("repository", {"type": name, "visible": visible, "sortorder": 99})


def _toggle(csv: str, item: str, enabled: int) -> str:
    """Moodle's enable_plugin on a CSV list: array_flip(explode), add or unset, implode."""
    items = [i for i in csv.split(",") if i] if csv else []
    if enabled and item not in items:
        items.append(item)
    elif not enabled:
        items = [i for i in items if i != item]
    return ",".join(items)
