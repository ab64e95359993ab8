"""A generated tree shaped like a Moodle 5.1 code tree, for bench/integrity.py.

Not a benchmark itself. Moodle 5.1 (MOODLE_501_STABLE) moved the web root to ``public/``
(MDL-83424): the plugins sit below it (``public/mod/quiz/classes/output/...``), with
composer files and a few scripts beside it. A release tree holds about 30,500 files and
320 MB: mostly small PHP (classes, lang strings, db, tests), mustache templates and
AMD modules (src, minified build and its source map), pix (SVG, PNG), then vendored
libraries whose directories go deeper (YUI, PhpSpreadsheet, the AWS SDK, TCPDF with its
fonts, TinyMCE, H5P) and a few large files: minified bundles, source maps, fonts, the
npm lock file. Sizes are lognormal per kind of file, scaled so that the tree comes to the
size asked; the layout and sizes come from a seeded RNG (the same tree every run).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

# Plugin types (directory below public/) and how many plugins of each a release ships.
PLUGIN_TYPES = (
    ("mod", 22), ("admin/tool", 32), ("blocks", 40), ("question/type", 20),
    ("question/behaviour", 9), ("question/bank", 10), ("auth", 11), ("enrol", 13),
    ("report", 16), ("filter", 20), ("repository", 14), ("availability/condition", 6),
    ("theme", 2), ("course/format", 5), ("grade/report", 7), ("grade/export", 5),
    ("mod/assign/submission", 3), ("mod/assign/feedback", 4), ("mod/quiz/report", 4),
    ("mod/quiz/accessrule", 8), ("mod/workshop/form", 4), ("lib/editor/tiny/plugins", 14),
    ("ai/provider", 3), ("ai/placement", 2), ("message/output", 4), ("media/player", 5),
    ("dataformat", 6), ("customfield/field", 6), ("payment/gateway", 1), ("cache/stores", 4),
    ("contentbank/contenttype", 1), ("communication/provider", 2), ("search/engine", 2),
    ("webservice", 3), ("portfolio", 5),
)
# Core subsystems: plugin-shaped directories of their own, larger.
SUBSYSTEMS = ("lib", "course", "user", "admin", "backup", "grade", "question", "calendar",
              "competency", "badges", "cohort", "completion", "group", "login", "message",
              "my", "h5p", "reportbuilder", "search", "tag", "files", "ai", "analytics",
              "privacy", "rating", "comment", "notes", "mnet", "webservice", "contentbank")
# Subdirectories of a plugin, with their share of its files and the kind of file.
PLUGIN_DIRS = (
    ("", 6, "php"), ("classes", 10, "php"), ("classes/output", 4, "php"),
    ("classes/external", 4, "php"), ("classes/privacy", 1, "php"),
    ("classes/local/{x}", 4, "php"), ("classes/form", 2, "php"), ("classes/event", 3, "php"),
    ("classes/task", 1, "php"), ("db", 3, "php"), ("lang/en", 1, "lang"),
    ("templates", 6, "mustache"), ("templates/local/{x}", 2, "mustache"),
    ("amd/src", 4, "js"), ("amd/src/local/{x}", 2, "js"), ("amd/build", 4, "minjs"),
    ("amd/build", 4, "map"), ("pix", 5, "pix"), ("tests", 8, "php"),
    ("tests/behat", 3, "feature"), ("tests/generator", 1, "php"), ("tests/fixtures", 2, "any"),
    ("backup/moodle2", 1, "php"), ("styles", 1, "css"), ("yui/src/{x}/js", 1, "js"),
)
# Vendored libraries: (directory, share of the files, kind, depth below the directory).
VENDORED = (
    ("lib/yuilib/3.18.1", 9.0, "js", 2), ("lib/phpspreadsheet/phpspreadsheet/src", 3.0,
                                              "php", 4),
    ("lib/aws-sdk/src", 4.0, "php", 3), ("lib/google/src/Google", 1.5, "php", 4),
    ("lib/tcpdf", 0.5, "php", 1), ("lib/h5p/js", 0.5, "js", 2),
    ("lib/editor/tiny/js/tinymce", 1.2, "minjs", 3), ("lib/php-jwt/src", 0.1, "php", 1),
    ("lib/horde/framework/Horde", 2.0, "php", 4), ("lib/pear", 0.6, "php", 3),
    ("lib/maxmind", 0.3, "php", 4), ("lib/mustache/src/Mustache", 0.4, "php", 3),
    ("lib/html2text", 0.1, "php", 2), ("lib/requirejs", 0.05, "minjs", 1),
    ("theme/boost/scss/bootstrap", 1.0, "scss", 2), ("theme/boost/scss/fontawesome", 0.2,
                                                      "scss", 1),
    ("lib/jquery/ui-1.13.2", 0.6, "js", 3), ("lib/ltiprovider/src", 0.3, "php", 3),
)
# Kind -> (extensions, lognormal mu, sigma): medians from e^mu (3 KB for PHP, ...).
KINDS = {
    "php": ((".php",), 8.0, 1.0), "lang": ((".php",), 8.8, 1.3),
    "mustache": ((".mustache",), 7.4, 0.9), "js": ((".js",), 8.3, 1.1),
    "minjs": ((".min.js",), 7.6, 1.2), "map": ((".min.js.map",), 8.9, 1.1),
    "pix": ((".svg", ".svg", ".png", ".gif"), 6.8, 1.0), "feature": ((".feature",), 7.8, 0.8),
    "any": ((".php", ".txt", ".json", ".xml", ".csv", ".png"), 7.5, 1.4),
    "css": ((".css",), 7.5, 1.0), "scss": ((".scss",), 7.6, 1.0),
}
BINARY = (".png", ".gif", ".woff", ".woff2", ".ttf", ".eot", ".z", ".jpg")
# Few and large: (path pattern, count, smallest, largest bytes).
LARGE = (
    ("npm-shrinkwrap.json", 1, 700_000, 900_000),
    ("public/lib/editor/tiny/js/tinymce/tinymce{n}.min.js", 3, 400_000, 1_200_000),
    ("public/lib/amd/build/bundle{n}.min.js.map", 40, 300_000, 2_500_000),
    ("public/lib/tcpdf/fonts/font{n}.z", 60, 20_000, 700_000),
    ("public/lib/fonts/fa-{n}.woff2", 6, 100_000, 300_000),
    ("public/lib/fonts/fa-{n}.ttf", 6, 200_000, 1_200_000),
    ("public/lib/h5p/fonts/h5p-core-{n}.woff", 4, 60_000, 200_000),
    ("public/theme/boost/pix/screenshot{n}.jpg", 6, 200_000, 900_000),
    ("public/lib/jquery/jquery-3.7.{n}.min.js", 2, 80_000, 90_000),
    ("public/lib/pdfjs/build/pdf{n}.worker.min.js", 4, 900_000, 3_000_000),
    ("public/lib/yuilib/3.18.1/yui-nodejs/yui-nodejs{n}.js", 4, 300_000, 700_000),
    ("public/lib/yuilib/3.18.1/{n}/big-debug.js", 150, 100_000, 300_000),
    ("public/lib/phpspreadsheet/phpspreadsheet/src/PhpSpreadsheet/Calculation/"
     "locale/big{n}.php", 30, 100_000, 600_000),
)
ROOT_FILES = ("composer.json", "composer.lock", "config-dist.php", "package.json",
              "Gruntfile.js", "README.md", "admin/cli/install.php", "phpunit.xml.dist",
              "public/index.php", "public/version.php", "public/config.php",
              "public/lib/setup.php", "public/lib/moodlelib.php", "public/lib/weblib.php")
WORDS = ("moodle", "course", "user", "context", "renderer", "output", "external", "helper",
         "manager", "api", "form", "event", "task", "grade", "attempt", "submission", "local",
         "privacy", "provider", "table", "filter", "export", "report", "condition", "setting")


@dataclass(frozen=True)
class Generated:
    files: int
    total: int
    max_depth: int
    median: int


def generate(root: Path, files: int, megabytes: int, seed: int = 20261207) -> Generated:
    rnd = random.Random(seed)
    pool = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz_(){};=$ \n\t.,'\"->0123456789")
                 for _ in range(1 << 17))
    sized: list[tuple[str, float, str]] = []  # (path, raw size, kind)
    large = [(pattern.format(n=n), rnd.uniform(lo, hi)) for pattern, count, lo, hi in LARGE
             for n in range(count)]
    small = files - len(large) - len(ROOT_FILES)
    for path in ROOT_FILES:
        sized.append((path, rnd.lognormvariate(9.0, 1.0), "php"))
    for path, kind in _layout(rnd, small):
        exts, mu, sigma = KINDS[kind]
        sized.append((path + rnd.choice(exts), rnd.lognormvariate(mu, sigma), kind))
    fixed = sum(size for _, size in large)
    scale = max(0.05, (megabytes * 1e6 - fixed) / sum(s for _, s, _ in sized))
    total, depth, sizes = 0, 0, []
    for path, size in [*((p, s * scale) for p, s, _ in sized), *large]:
        n = max(1, int(size))
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(BINARY):
            target.write_bytes(rnd.randbytes(n))
        else:
            head = b"<?php\n" if path.endswith(".php") else b""
            start = rnd.randrange(len(pool))
            body = (pool[start:] + pool) * (n // len(pool) + 1)
            target.write_bytes((head + body)[:n])
        total += n
        sizes.append(n)
        depth = max(depth, path.count("/") + 1)
    sizes.sort()
    return Generated(len(sizes), total, depth, sizes[len(sizes) // 2])


def _layout(rnd: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` (path without extension, kind): plugins, subsystems, vendored trees."""
    plugins = [f"{kind}/{_word(rnd)}{i}" for kind, n in PLUGIN_TYPES for i in range(n)]
    weights = [1.0] * len(plugins) + [8.0] * len(SUBSYSTEMS)
    plugins += list(SUBSYSTEMS)
    vendored_share = 0.22  # of the small files, in vendored libraries
    vendored = int(count * vendored_share)
    out: list[tuple[str, str]] = []
    dir_weights = [w for _, w, _ in PLUGIN_DIRS]
    for n in range(count - vendored):
        plugin = rnd.choices(plugins, weights)[0]
        sub, _, kind = rnd.choices(PLUGIN_DIRS, dir_weights)[0]
        sub = sub.format(x=rnd.choice(WORDS[:3]))
        out.append((f"public/{plugin}/{sub}/{_word(rnd)}_{n}".replace("//", "/"), kind))
    shares = [share for _, share, _, _ in VENDORED]
    for n in range(vendored):
        base, _, kind, depth = rnd.choices(VENDORED, shares)[0]
        parts = [rnd.choice(WORDS[:4]).capitalize() for _ in range(rnd.randint(1, depth))]
        out.append((f"public/{base}/{'/'.join(parts)}/{_word(rnd)}{n}", kind))
    return out


def _word(rnd: random.Random) -> str:
    return rnd.choice(WORDS)
