"""The PHP files Moodle writes into its dataroot, built the way the Moodle source writes them.

Imported by basename (pytest puts tests/integrity on sys.path). Each builder transcribes the
cited PHP function, and ``var_export`` transcribes PHP's own (ext/standard/var.c,
php_var_export_ex, PHP >= 7.3 spelling) independently of checks/integrity/generated.py, so
a mistake in the recogniser's idea of the format does not repeat here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any


def var_export(value: Any, level: int = 1) -> str:
    """PHP's var_export($value, true)."""
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # serialize_precision -1: the shortest round-trip form
        return text if "." in text or "E" in text.upper() else text + ".0"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, SimpleNamespace):  # a stdClass: "(object) array(", 3 more spaces
        body = "".join(f"{' ' * (level + 2)}{var_export(k)} => {_nested(v, level + 2)},\n"
                       for k, v in vars(value).items())
        return f"\n{' ' * (level - 1)}(object) array(\n{body}{' ' * (level - 1)})"
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    body = "".join(f"{' ' * (level + 1)}{var_export(k)} => {_nested(v, level + 2)},\n"
                   for k, v in items)
    opening = "array (\n" if level == 1 else f"\n{' ' * (level - 1)}array (\n"
    return f"{opening}{body}{' ' * (level - 1)})"


def _nested(value: Any, level: int) -> str:
    return var_export(value, level)  # an array or object opens on the next line


def muc_config(stores: Mapping[str, Any]) -> str:
    """cache/classes/config_writer.php config_save()."""
    configuration = {"siteidentifier": "0a342c89f843dfb4d951b3b86c7baa1d", "stores": stores,
                     "modemappings": [{"store": "default_application", "mode": 1, "sort": 0}],
                     "definitions": {"core/string": {"mode": 1, "simplekeys": True,
                                                     "component": "core", "area": "string"}},
                     "definitionmappings": [], "locks": {"cachelock_file_default": {
                         "name": "cachelock_file_default", "type": "cachelock_file",
                         "dir": "filelocks", "default": True}}}
    return ("<?php defined('MOODLE_INTERNAL') || die();\n $configuration = "
            + var_export(configuration) + ";")


def core_component(classes: int = 20) -> str:
    """lib/classes/component.php get_cache_content()."""
    classmap = {f"core\\output\\thing_{i}": f"/var/www/moodle/lib/classes/output/thing_{i}.php"
                for i in range(classes)}
    cache = {"subsystems": {"admin": "/var/www/moodle/admin", "badges": None},
             "plugintypes": {"mod": "/var/www/moodle/mod"},
             "plugins": {"mod": {"quiz": "/var/www/moodle/mod/quiz"}},
             "apis": {"access": SimpleNamespace(component="core", allowedlevel2=False,
                                                allowedspread=False)},
             "classmap": classmap, "classmaprenames": [], "filemap": {},
             "version": 2025100600.02}
    return "<?php\n$cache = " + var_export(cache) + ";\n"


def bootstrap(siteidentifier: str = "fG7qLk0pZr2WcXe8AmvN1uYsTj5hBd3Oexample.org",
              syscontextid: int = 1) -> str:
    """lib/setuplib.php initialise_local_config_cache()."""
    bootstraphash = hashlib.md5(b"pgsqllocalhostmoodlemoodlemdl_").hexdigest()
    return ("<?php\n// ********** This file is generated DO NOT EDIT **********\n"
            f"$CFG->siteidentifier = {var_export(siteidentifier)};\n"
            f"$CFG->bootstraphash = {var_export(bootstraphash)};\n"
            "// Only if the file is not stale and has not been defined.\n"
            "if ($CFG->bootstraphash === hash_local_config_cache() "
            "&& !defined('SYSCONTEXTID')) {\n"
            f"    define('SYSCONTEXTID', {syscontextid});\n}}\n")


def routes_name(basepath: str = "/r.php") -> str:
    """lib/classes/router.php configure_caching(): routes.<sha1(basepath)>.cache."""
    return f"routes.{hashlib.sha1(basepath.encode()).hexdigest()}.cache"


def routes_cache() -> str:
    """FastRoute cachedDispatcher(): '<?php return ' . var_export($dispatchData, true) . ';'
    ($dispatchData of the GroupCountBased generator: static routes, variable route data)."""
    data = [{"GET": {"/api/rest/v2/openapi.json": "route0"}},
            {"GET": [{"regex": "~^(?|/api/rest/v2/([^/]+)/([^/]+))$~",
                      "routeMap": {3: ["route1", {"component": "component",
                                                  "path": "path"}]}}]}]
    return "<?php return " + var_export(data) + ";"


def mustache_template(source: str = "<div>{{name}}</div>", v3: bool = False) -> tuple[str, str]:
    """Mustache_Compiler::writeCode() through KLASS_NO_LAMBDAS and prepare(): the file name
    (FilesystemCache: "<class>.php") and its content."""
    name = "__Mustache_" + hashlib.md5(source.encode()).hexdigest()
    parent, ctx = (("\\Mustache\\Template", "\\Mustache\\Context") if v3
                   else ("Mustache_Template", "Mustache_Context"))
    signature = ("(\\Mustache\\Context $context, string $indent = ''): string" if v3
                 else f"({ctx} $context, $indent = '')")
    blocks = "" if v3 else "        $blocksContext = array();\n"
    return f"{name}.php", (
        f"<?php\n\nclass {name} extends {parent}\n{{\n"
        f"    public function renderInternal{signature}\n    {{\n        $buffer = '';\n"
        f"{blocks}\n        $buffer .= $indent . '<div>';\n"
        "        $value = $this->resolveValue($context->find('name'), $context);\n"
        "        $buffer .= call_user_func($this->mustache->getEscape(), $value);\n"
        "        $buffer .= '</div>';\n\n        return $buffer;\n    }\n}\n")


def di_container() -> str:
    """PHP-DI Compiler::compile(): "<?php\\n" . src/Compiler/Template.php, rendered by PHP,
    which drops the newline after "?>": the brace follows the parent class on its line
    (as Moodle 5.1 writes it to localcache/di/CompiledContainer.php)."""
    return ("<?php\n/**\n * This class has been auto-generated by PHP-DI.\n */\n"
            "class CompiledContainer extends DI\\CompiledContainer{\n"
            "    const METHOD_MAPPING = "
            + var_export({"core\\hook\\manager": "get1", "core_string_manager": "get2"})
            + ";\n\n"
            "    protected function get1()\n    {\n"
            "        return $this->resolveFactory(static function () {\n"
            "            return get_string_manager();\n        }, 'core_string_manager');\n"
            "\n    }\n\n}\n")


_GPL = """// This file is part of Moodle - https://moodle.org/
//
// Moodle is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// Moodle is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with Moodle.  If not, see <https://www.gnu.org/licenses/>.
"""


def lang_pack(strings: Mapping[str, str]) -> str:
    """A language pack file as download.moodle.org (AMOS) ships it."""
    return ("<?php\n\n" + _GPL + "\n/**\n * Strings for component 'moodle', language 'de', "
            "version '5.1'.\n *\n * @package     core\n * @category    string\n"
            " * @copyright   1999 Martin Dougiamas and contributors\n"
            " * @license     https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later\n */\n\n"
            "defined('MOODLE_INTERNAL') || die();\n\n"
            + "".join(f"$string['{k}'] = {var_export(v)};\n" for k, v in strings.items()))


def customlang(strings: Mapping[str, str]) -> str:
    """admin/tool/customlang/locallib.php customlang_utils::dump_strings()."""
    return ("<?php\n\n" + _GPL + "\n/**\n * Local language pack from https://moodle.example\n"
            " *\n * @package    core\n"
            " * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later\n */\n\n"
            "defined('MOODLE_INTERNAL') || die();\n\n\n"
            + "".join(f"$string['{k}'] = {var_export(v)};\n" for k, v in strings.items()))
