"""PHP files Moodle writes into its own data directory, recognised by place, name and shape.

Used by webshells.find_scripts() for the `dataroot_scripts` check on a Moodle site (4.1 to
5.1). A path proves nothing (a web shell can be called bootstrap.php), so a file counts as
Moodle's own only when all three agree:
- where it is and its name: a regex over the path relative to the dataroot, with Moodle's
  default $CFG->cachedir (dataroot/cache) and $CFG->localcachedir (dataroot/localcache);
  a cache directory configured outside the dataroot is not scanned at all;
- the shape of its content, as the cited Moodle function writes it: the exact header and
  ending, and for data files (var_export, language strings) nothing in between but data
  tokens, so a function call, or code appended after the array, breaks the shape.
Files up to WHOLE_BYTES are checked whole; larger ones by their first HEAD_BYTES and last
TAIL_BYTES only (a bounded read, once per stat change): code hidden in the middle of a large
file that keeps both ends intact is out of reach. Compiled Mustache templates and the PHP-DI
container are code by nature: their header (class named as the file) and ending are checked.
Nothing else Moodle 4.1-5.1 writes below these directories is PHP: MUC's file store writes
serialize() output (cache/cachestore_file/...), the hook, string and theme caches go
through MUC or are CSS/JS, and temp/ holds unpacked uploads (plugin installs included).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from checks.integrity.hashing import Ends
from checks.integrity.patterns import PHP_TAG, SNIFF_BYTES

WHOLE_BYTES = 64 * 1024
HEAD_BYTES = TAIL_BYTES = SNIFF_BYTES

Shape = Callable[[Ends, "re.Match[str]"], bool]


@dataclass(frozen=True, slots=True)
class Generated:
    what: str
    path: re.Pattern[str]  # relative to the dataroot, matched whole
    shape: Shape


# What var_export() writes for arrays of scalars (PHP >= 7.3 spelling): quoted strings,
# numbers, NULL/true/false, "array (", "(object) array(" (stdClass), "=>", ",", ")".
# A NUL byte comes out as '' . "\0" . ''. None of these can call anything.
_DATA_TOKEN = re.compile(rb"""\s*(?:
    '(?:[^'\\]|\\.)*' | "\\0" | \. | -?\d+(?:\.\d+)?(?:E[+-]?\d+)?
  | NULL | true | false | array\ \( | \(object\)\ array\( | => | , | \)
)""", re.X | re.S)
_DATA_OPEN = re.compile(rb"\s*'(?:[^'\\]|\\.)*\\?\Z", re.S)  # a string running on
_DATA_SYNC = re.compile(rb"\n(?= *(?:'|\)|-?\d|array |\(object\)|NULL|true|false))")

# A language file as AMOS (download.moodle.org packs) and tool_customlang write it:
# comments, the MOODLE_INTERNAL guard and $string['id'] = '<var_export>'; statements.
_LANG_TOKEN = re.compile(rb"""\s*(?:
    //[^\n]* | /\*.*?\*/
  | defined\('MOODLE_INTERNAL'\)\s*\|\|\s*die\(\);
  | \$string\['[A-Za-z][A-Za-z0-9.:/_-]*'\]\s*=\s*'(?:[^'\\]|\\.)*'\s*;
)""", re.X | re.S)
_LANG_OPEN = re.compile(
    rb"\s*(?:\$string\['[^']*'\]\s*=\s*'(?:[^'\\]|\\.)*\\?|/\*(?:(?!\*/).)*)\Z", re.S)
_LANG_SYNC = re.compile(rb"\n(?=\$string\[')")


def _lex(token: re.Pattern[bytes], data: bytes, pos: int) -> int:
    """Where a run of ``token`` matches starting at ``pos`` stops."""
    while (m := token.match(data, pos)) is not None and m.end() > pos:
        pos = m.end()
    return pos


def _tokens_shape(header: re.Pattern[bytes], footer: re.Pattern[bytes],
                  token: re.Pattern[bytes], open_end: re.Pattern[bytes],
                  sync: re.Pattern[bytes]) -> Shape:
    """Header, then only ``token`` up to ``footer``: over the whole file, or over its head
    (a token may run past the window's last line) and its tail (from its first line that
    starts a token: the window may begin inside one)."""

    def check(ends: Ends, _: re.Match[str]) -> bool:
        start = header.match(ends.head)
        if start is None:
            return False
        if ends.whole:
            return footer.fullmatch(ends.head, _lex(token, ends.head, start.end())) is not None
        stop = _lex(token, ends.head, start.end())
        if stop < ends.head.rfind(b"\n") and open_end.match(ends.head, stop) is None:
            return False
        line = sync.search(ends.tail)
        return line is not None and footer.fullmatch(
            ends.tail, _lex(token, ends.tail, line.end())) is not None

    return check


def _data(header: bytes, footer: bytes) -> Shape:
    return _tokens_shape(re.compile(header), re.compile(footer), _DATA_TOKEN, _DATA_OPEN,
                         _DATA_SYNC)


def _exact(regex: bytes) -> Shape:
    pattern = re.compile(regex)
    return lambda ends, _: ends.whole and pattern.fullmatch(ends.head) is not None


def _code(header: bytes, footer: bytes = rb"\n\}\n") -> Shape:
    """Generated code: its header (a ``name`` group must equal the path's), its ending,
    and no second PHP open tag in what was read."""
    head_re, foot_re = re.compile(header), re.compile(footer + rb"\Z")

    def check(ends: Ends, where: re.Match[str]) -> bool:
        head = head_re.match(ends.head)
        if head is None or head.groupdict().get("name", b"").decode() != (
                where.groupdict().get("name") or ""):
            return False
        if PHP_TAG.search(ends.head, head.end()) or PHP_TAG.search(ends.tail):
            return False
        return foot_re.search(ends.head if ends.whole else ends.tail) is not None

    return check


_LANG = _tokens_shape(re.compile(rb"<\?php\s"), re.compile(rb"\s*"), _LANG_TOKEN,
                      _LANG_OPEN, _LANG_SYNC)

# lib/setuplib.php initialise_local_config_cache() (moodle/moodle main): written to
# "$CFG->cachedir/bootstrap.php" through "bootstrap.php.tmp" . uniqid(), then copied to
# "$CFG->localcachedir/bootstrap.php" (the same content in both places).
_BOOTSTRAP = _exact(
    rb"<\?php\n// \*{10} This file is generated DO NOT EDIT \*{10}\n"
    rb"\$CFG->siteidentifier = '(?:[^'\\]|\\.)*';\n"
    rb"\$CFG->bootstraphash = '[0-9a-f]{32}';\n"
    rb"// Only if the file is not stale and has not been defined\.\n"
    rb"if \(\$CFG->bootstraphash === hash_local_config_cache\(\) "
    rb"&& !defined\('SYSCONTEXTID'\)\) \{\n"
    rb"    define\('SYSCONTEXTID', \d+\);\n\}\n")

MOODLE_GENERATED: tuple[Generated, ...] = (
    # cache/classes/config_writer.php config_save() (4.1-4.4; core_cache\config_writer in
    # 4.5+): "$CFG->dataroot/muc/config.php", written as config.php.tmp and renamed.
    Generated("MUC configuration", re.compile(r"muc/config\.php(?:\.tmp)?"), _data(
        rb"<\?php defined\('MOODLE_INTERNAL'\) \|\| die\(\);\n \$configuration = ",
        rb";")),
    # lib/classes/component.php init() and get_cache_content():
    # "$CFG->cachedir/core_component.php" (through core_component.php.tmp).
    Generated("component cache", re.compile(r"cache/core_component\.php(?:\.tmp)?"),
              _data(rb"<\?php\n\$cache = ", rb";\n")),
    Generated("bootstrap config cache", re.compile(
        r"(?:cache|localcache)/bootstrap\.php|cache/bootstrap\.php\.tmp[0-9a-f]{13}"),
        _BOOTSTRAP),
    # lib/classes/router.php configure_caching() (4.5+): Slim's route cache file
    # "$CFG->cachedir/routes.<sha1(basepath)>.cache", which Slim\Routing\Dispatcher hands
    # to FastRoute's cachedDispatcher() (lib/nikic/fast-route src/functions.php):
    # '<?php return ' . var_export($dispatchData, true) . ';'
    Generated("router cache", re.compile(r"cache/routes\.[0-9a-f]{40}\.cache"),
              _data(rb"<\?php return ", rb";")),
    # lib/classes/output/renderer_base.php get_mustache(): the cache directory is
    # make_localcache_directory("mustache/$themerev/$themename"); Mustache's
    # FilesystemCache writes "<class>.php" (through tempnam(dir, "<class>.php")), the class
    # named "__Mustache_" . md5(...) by Mustache_Engine::getTemplateClassName(), and
    # Mustache_Compiler's KLASS template opens "<?php\n\nclass %s extends Mustache_Template
    # \n{" (mustache.php 3: "\Mustache\Template") and ends "}\n".
    Generated("compiled Mustache template", re.compile(
        r"localcache/mustache/-?\d+/[a-z0-9_]+/(?P<name>__Mustache_[0-9a-f]{32})\.php"
        r"(?:[A-Za-z0-9]{6})?"),
        _code(rb"<\?php\n\nclass (?P<name>__Mustache_[0-9a-f]{32}) extends "
              rb"(?:Mustache_Template|\\Mustache\\Template)\n\{\n")),
    # lib/classes/di.php create_container() (4.4+): outside developer debugging,
    # enableCompilation(make_localcache_directory('di')): PHP-DI's Compiler::compile()
    # writes "CompiledContainer.php" (through tempnam(dir, 'swap-compile')) from
    # src/Compiler/Template.php prefixed with "<?php\n". The template's line ends
    # "extends <?php echo ...; ?>" and PHP drops the newline right after "?>", so the
    # brace follows on the same line: "extends DI\CompiledContainer{" (seen on 5.1).
    Generated("compiled DI container", re.compile(
        r"localcache/di/(?:CompiledContainer\.php|swap-compile[A-Za-z0-9]{6})"),
        _code(rb"<\?php\n/\*\*\n \* This class has been auto-generated by PHP-DI\.\n \*/\n"
              rb"class CompiledContainer extends \\?DI\\CompiledContainer\n?\{\n"
              rb"    const METHOD_MAPPING = array \(\n")),
    # lib/setup.php: $CFG->langotherroot = "$CFG->dataroot/lang" holds installed language
    # packs (tool_langimport, from download.moodle.org: AMOS-exported string files) and
    # $CFG->langlocalroot the "<lang>_local" customisations written by
    # admin/tool/customlang/locallib.php customlang_utils::dump_strings().
    Generated("language strings", re.compile(
        r"lang/[a-z]{2,3}(?:_[a-z0-9]+)*/[a-z0-9_]+\.php"), _LANG),
)


def recognise(path: str, generated: tuple[Generated, ...]) -> tuple[Generated,
                                                                     re.Match[str]] | None:
    """The generated-file entry whose place and name ``path`` has (its shape unchecked)."""
    for entry in generated:
        if (where := entry.path.fullmatch(path)) is not None:
            return entry, where
    return None


def sniff_cost(size: int) -> int:
    """Bytes read_ends() reads of a file of ``size`` bytes (charged to the I/O budget)."""
    return size if size <= WHOLE_BYTES else HEAD_BYTES + TAIL_BYTES
