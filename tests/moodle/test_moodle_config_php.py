"""The safe config.php reader on the config.php files real sites have (never executed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.moodle.config_php import (
    PhpSyntaxError,
    Unresolved,
    parse_config_php,
    parse_php,
    to_python,
)


def cfg(body: str, path: str = "/var/www/moodle/config.php") -> dict:
    parsed = parse_php("<?php\n" + body, path)
    return parsed.variables["CFG"].props


def test_reads_the_config_that_the_installer_writes(tmp_path: Path) -> None:
    (tmp_path / "config.php").write_text("""<?php  // Moodle configuration file

unset($CFG);
global $CFG;
$CFG = new stdClass();

$CFG->dbtype    = 'mariadb';
$CFG->dblibrary = 'native';
$CFG->dbhost    = 'db.internal';
$CFG->dbname    = 'moodle';
$CFG->dbuser    = 'moodleuser';
$CFG->dbpass    = 'p@ss';
$CFG->prefix    = 'mdl_';
$CFG->dboptions = array (
  'dbpersist' => 0,
  'dbport' => 3306,
  'dbsocket' => '',
  'dbcollation' => 'utf8mb4_unicode_ci',
);

$CFG->wwwroot   = 'https://moodle.example.edu';
$CFG->dataroot  = '/var/moodledata';
$CFG->admin     = 'admin';

$CFG->directorypermissions = 0777;

require_once(__DIR__ . '/lib/setup.php');

// There is no php closing tag in this file,
// it is intentional because it prevents trailing whitespace problems!
""")
    config = parse_config_php(tmp_path / "config.php")
    assert config.values["dbtype"] == "mariadb"
    assert config.values["dbhost"] == "db.internal"
    assert config.values["dboptions"] == {"dbpersist": 0, "dbport": 3306, "dbsocket": "",
                                          "dbcollation": "utf8mb4_unicode_ci"}
    assert config.values["directorypermissions"] == 0o777
    assert config.values["wwwroot"] == "https://moodle.example.edu"
    assert config.requires == [str(tmp_path.absolute() / "lib" / "setup.php")]
    assert config.loads_setup and config.warnings == []


def test_short_array_syntax_and_nested_arrays() -> None:
    values = cfg("$CFG->dboptions = ['dbport' => '5433', 'dbsocket' => '/run/pg', "
                 "'connecttimeout' => 5, 'extra' => ['a', 'b',],];")
    assert values["dboptions"]["dbport"] == "5433"
    assert to_python(values["dboptions"]["extra"]) == ["a", "b"]


def test_single_quote_escapes_keep_other_backslashes_and_dollars() -> None:
    assert cfg(r"$CFG->dbpass = 'it\'s a \\ back\slash $notvar';")["dbpass"] == \
        "it's a \\ back\\slash $notvar"


def test_double_quote_escapes_and_interpolation() -> None:
    values = cfg(r'''$CFG->dataroot = '/data';
$CFG->a = "tab\there \"q\" \x41\101\u{1F600} \$x \q";
$CFG->b = "$CFG->dataroot/temp";
$CFG->c = "{$CFG->dataroot}/cache";
$CFG->d = "${CFG}";
''')
    assert values["a"] == 'tab\there "q" AA\U0001F600 $x \\q'
    assert values["b"] == "/data/temp"
    assert values["c"] == "/data/cache"
    assert "PHP would fail here" in values["d"].reason  # an object is no string


def test_concatenation_dir_and_dirname_resolve_against_the_file() -> None:
    values = cfg("""$CFG->a = __DIR__ . '/../moodledata';
$CFG->b = dirname(__FILE__) . '/x';
$CFG->c = dirname(__DIR__);
$CFG->d = dirname(__FILE__, 2) . DIRECTORY_SEPARATOR . 'data';
$CFG->e = realpath('/nonexistent/path');
""", path="/srv/www/moodle/config.php")
    assert values["a"] == "/srv/www/moodle/../moodledata"
    assert values["b"] == "/srv/www/moodle/x"
    assert values["c"] == "/srv/www"
    assert values["d"] == "/srv/www/data"
    assert values["e"] is False


def test_defined_constants_are_used_and_unknown_ones_are_marked() -> None:
    parsed = parse_php("""<?php
define('MOODLE_DATA', '/var/md');
define("DBPASS", 'secret');
$CFG->dataroot = MOODLE_DATA;
$CFG->dbpass = DBPASS;
$CFG->dbhost = SOME_HOST;
$CFG->debug = DEBUG_DEVELOPER;
$CFG->x = \\PDO::ATTR_TIMEOUT;
""", "/m/config.php")
    values = parsed.variables["CFG"].props
    assert values["dataroot"] == "/var/md" and values["dbpass"] == "secret"
    assert isinstance(values["dbhost"], Unresolved)
    assert "constant SOME_HOST" in str(values["dbhost"])
    assert values["debug"] == 32767
    assert "PDO::ATTR_TIMEOUT" in values["x"].reason
    assert parsed.constants == {"MOODLE_DATA": "/var/md", "DBPASS": "secret"}


def test_all_three_comment_styles_are_ignored() -> None:
    values = cfg("""// $CFG->a = 'no';
# $CFG->b = 'no';
/* $CFG->c = 'no';
   still a comment */
$CFG->d = 'yes'; // trailing
$CFG->e = /* inline */ 'yes'; # trailing
""")
    assert values == {"d": "yes", "e": "yes"}


def test_heredoc_and_nowdoc() -> None:
    values = cfg("""$CFG->admin = 'admin';
$CFG->h = <<<EOT
Hello $CFG->admin
  indented "quotes"
EOT;
$CFG->n = <<<'EOT'
raw $CFG->admin \\n
EOT;
$CFG->i = <<<"EOT"
    flexible
      closing
    EOT;
""")
    assert values["h"] == 'Hello admin\n  indented "quotes"'
    assert values["n"] == "raw $CFG->admin \\n"  # backslash-n stays as written
    assert values["i"] == "flexible\n  closing"


def test_getenv_with_a_fallback_is_unresolved_but_carries_the_fallback() -> None:
    parsed = parse_php("""<?php
$CFG->dbhost = getenv('MOODLE_DBHOST') ?: 'localhost';
$CFG->dbname = getenv('MOODLE_DBNAME') ?? 'moodle';
$CFG->dbuser = getenv('MOODLE_DBUSER');
$CFG->dataroot = (getenv('DATA') ?: '/var/md') . '/site1';
""", "/m/config.php")
    values = parsed.variables["CFG"].props
    assert isinstance(values["dbhost"], Unresolved) and values["dbhost"].fallback == "localhost"
    assert "getenv('MOODLE_DBHOST')" in values["dbhost"].reason
    assert values["dbname"].fallback == "moodle"
    assert not values["dbuser"].has_fallback
    assert values["dataroot"].fallback == "/var/md/site1"


def test_setting_returns_the_fallback_for_callers(tmp_path: Path) -> None:
    (tmp_path / "config.php").write_text("<?php\n$CFG->dbhost = getenv('H') ?: 'db1';\n")
    config = parse_config_php(tmp_path / "config.php")
    assert config.setting("dbhost") == "db1"
    assert isinstance(config.get("dbhost"), Unresolved)


def test_superglobals_and_unknown_functions_are_unresolved() -> None:
    values = cfg("""$CFG->wwwroot = 'https://' . $_SERVER['HTTP_HOST'];
$CFG->tempdir = sys_get_temp_dir() . '/moodle';
$CFG->x = `hostname`;
""")
    assert "$_SERVER" in values["wwwroot"].reason
    assert "sys_get_temp_dir()" in values["tempdir"].reason
    assert "shell command" in values["x"].reason


def test_conditional_blocks_are_skipped_with_a_warning_naming_the_settings() -> None:
    parsed = parse_php("""<?php
$CFG->dbhost = 'a';
if (getenv('STAGING')) {
    $CFG->dbhost = 'staging-db';
    $CFG->wwwroot = 'https://staging';
} else if (false) {
    $CFG->x = 1;
} else {
    $CFG->y = 2;
}
foreach ([1, 2] as $i) { $CFG->z = $i; }
$CFG->after = true;
""", "/m/config.php")
    values = parsed.variables["CFG"].props
    assert values == {"dbhost": "a", "after": True}
    assert len(parsed.warnings) == 2
    assert parsed.warnings[0].startswith("line 3: `if` block skipped")
    assert "dbhost, wwwroot, x, y" in parsed.warnings[0]


def test_trailing_closing_tag_and_html_after_it() -> None:
    values = cfg("$CFG->a = 1 ?>\n\n<html>not code $CFG->b = 2;</html>\n<?php $CFG->c = 3;")
    assert values == {"a": 1, "c": 3}


def test_session_redis_settings_and_other_scalars() -> None:
    values = cfg("""$CFG->session_handler_class = '\\\\core\\\\session\\\\redis';
$CFG->session_redis_host = '127.0.0.1';
$CFG->session_redis_port = 6379;
$CFG->session_redis_database = 0;
$CFG->session_redis_prefix = 'mdl_';
$CFG->session_redis_acquire_lock_timeout = 120;
$CFG->session_redis_lock_expire = 7200;
$CFG->session_redis_serializer_use_igbinary = false;
$CFG->noemailever = true;
$CFG->sslproxy = TRUE;
$CFG->x = NULL;
$CFG->ratio = 0.5;
$CFG->big = 1_000_000;
$CFG->hex = 0x1F;
$CFG->neg = -5;
""")
    assert values["session_handler_class"] == "\\core\\session\\redis"
    assert values["session_redis_port"] == 6379
    assert values["session_redis_serializer_use_igbinary"] is False
    assert values["sslproxy"] is True and values["x"] is None
    assert (values["ratio"], values["big"], values["hex"], values["neg"]) == (0.5, 10**6, 31, -5)


def test_array_element_assignments_and_append() -> None:
    values = cfg("""$CFG->dboptions = array();
$CFG->dboptions['dbport'] = 5432;
$CFG->forced_plugin_settings['tool_x']['enabled'] = 1;
$CFG->list[] = 'a';
$CFG->list[] = 'b';
$CFG->s = 'a';
$CFG->s .= 'b';
""")
    assert values["dboptions"] == {"dbport": 5432}
    assert values["forced_plugin_settings"] == {"tool_x": {"enabled": 1}}
    assert to_python(values["list"]) == ["a", "b"] and values["s"] == "ab"


def test_unset_of_one_setting_removes_only_that_setting() -> None:
    assert cfg("$CFG->a = 1;\n$CFG->b = 2;\nunset($CFG->a);\n") == {"b": 2}


def test_local_variables_feed_later_settings() -> None:
    values = cfg("""$root = '/srv';
$site = "site1";
$CFG->dataroot = $root . '/data/' . $site;
$CFG->wwwroot = "https://{$site}.example.edu";
""")
    assert values["dataroot"] == "/srv/data/site1"
    assert values["wwwroot"] == "https://site1.example.edu"


def test_ternary_casts_and_arithmetic() -> None:
    values = cfg("""$CFG->a = true ? 'yes' : 'no';
$CFG->b = (int) '42abc';
$CFG->c = 60 * 60 * 24;
$CFG->d = E_ALL & ~E_NOTICE;
$CFG->e = '5' + 1;
""")
    assert values == {"a": "yes", "b": 42, "c": 86400, "d": 32767 & ~8, "e": 6}


def test_unsupported_expressions_do_not_break_the_rest_of_the_file() -> None:
    values = cfg("""$CFG->f = function() { return 'x'; };
$CFG->g = $obj->method();
$CFG->dbname = 'moodle';
""")
    assert "line 2" in values["f"].reason
    assert isinstance(values["g"], Unresolved)
    assert values["dbname"] == "moodle"


def test_ini_set_error_reporting_and_declare_are_ignored() -> None:
    parsed = parse_php("""<?php
declare(strict_types=1);
@error_reporting(E_ALL | E_STRICT);
@ini_set('display_errors', '1');
$CFG->debugdisplay = 1;
""")
    assert parsed.variables["CFG"].props == {"debugdisplay": 1}
    assert parsed.warnings == []


@pytest.mark.parametrize(("body", "line", "what"), [
    ("$CFG->a = 'unterminated;\n$CFG->b = 1;\n", 2, "unterminated 'single-quoted' string"),
    ('$CFG->a = "x;\n', 2, 'unterminated "double-quoted" string'),
    ("$CFG->a = 1;\n/* never closed\n", 3, "unterminated /* comment"),
    ("$CFG->a = array(1, 2;\n", 2, "'(' is never closed"),
    ("$CFG->a = <<<EOT\nbody\n", 2, "heredoc <<<EOT is never closed"),
    ("\n\n$CFG->a = 1 }\n", 4, "unmatched '}'"),
    ("$CFG->a = 0789;\n", 2, "invalid octal number"),
])
def test_syntax_errors_name_the_line(body: str, line: int, what: str) -> None:
    with pytest.raises(PhpSyntaxError) as excinfo:
        parse_php("<?php\n" + body, "/m/config.php")
    assert excinfo.value.line == line
    assert f"config.php line {line}: {what}" in str(excinfo.value)


def test_a_missing_file_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cannot read"):
        parse_config_php(tmp_path / "config.php")


def test_the_file_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "config.php").write_text(
        f"<?php\nsystem('touch {marker}');\n$CFG->x = exec('touch {marker}');\n"
        f"$CFG->y = `touch {marker}`;\n")
    config = parse_config_php(tmp_path / "config.php")
    assert not marker.exists()
    assert isinstance(config.values["x"], Unresolved)


def test_version_php_files_are_read_with_the_same_reader() -> None:
    core = parse_php("""<?php
defined('MOODLE_INTERNAL') || die();
$version  = 2024100700.00;              // YYYYMMDD = weekly release date.
$release  = '4.5 (Build: 20241007)'; // Human-friendly version name
$branch   = '405';
$maturity = MATURITY_STABLE;
""").variables
    plugin = parse_php("""<?php
defined('MOODLE_INTERNAL') || die();
$plugin->version   = 2024100700;
$plugin->requires  = 2024100100;
$plugin->component = 'mod_quiz';
$plugin->dependencies = ['mod_assign' => ANY_VERSION];
""").variables["plugin"].props
    assert core == {"version": 2024100700.0, "release": "4.5 (Build: 20241007)",
                    "branch": "405", "maturity": 200}
    assert plugin["component"] == "mod_quiz" and plugin["version"] == 2024100700
    assert plugin["dependencies"] == {"mod_assign": "any"}
