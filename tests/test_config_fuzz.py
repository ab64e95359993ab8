"""Issue #11: property-based tests over the config schema (hypothesis).

Any TOML-shaped document (nested tables, arrays and scalars: huge numbers, NaN and inf,
datetimes, unicode, reference-shaped strings, deep nesting, wrong types) gives either a
valid config or a ConfigError whose every problem line names a path; never another
exception. The documents are built from the real key names of the pydantic models,
walked from VigilConfig down (checks by type, receivers by type, route trees), so the
fuzzer reaches the deep sections and not only the top-level "unknown key" rule.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import json
import re
import tomllib
import typing
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from checks.registry import CHECK_TYPES
from monitor.app.config import ConfigError, VigilConfig, config_from_data, parse_config

MAX_DEPTH = 5  # model tables nested deeper than this get arbitrary values instead

SPECIAL_STRINGS = [
    "", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e309", "-1e309", "0", "-1", "1.5",
    "5m", "0s", "-1s", "500ms", "2d", "1h30m", "9" * 40 + "s", "true", "null",
    "${NOPE}", "${cred:token}", "${cred:../x}", "${cred:}", "${file:}", "${}", "$$", "${",
    "http://x", "https://lms.example.org", "http://", "ftp://x", "//x", "a=b", "lms=~\"p.*\"",
    "severity", "Europe/Berlin", "Mars/Olympus", "UTC", "2027-01-20T22:00",
    "FREQ=WEEKLY;BYDAY=MO", "monday:friday", "09:00-17:00", "prod", "log", "\x00", "\u202e",
    "😀", "é" * 70, "a" * 300, "../../etc/passwd", "/", ".", "..",
]
HUGE_INTS = [2**63, -(2**63) - 1, 10**100, -(10**100), 2**31, 0, -1, 65536]

scalars = st.one_of(
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(SPECIAL_STRINGS),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.times(),
)
keys = st.one_of(st.text(max_size=10), st.sampled_from(["type", "name", "url", "lms", "checks"]))


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"k": value}
    return value


deep = st.builds(_nest, scalars, st.integers(1, 120), st.booleans())
garbage = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=10,
) | deep


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(model for model in _models_in(arg) if model not in found)
    return found


def _container(annotation: Any) -> type | None:
    """list, dict or None (a table): the first container around the models."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return list
    if origin is dict:
        return dict
    for arg in typing.get_args(annotation):
        if _models_in(arg):
            return _container(arg)
    return None


def _plausible_leaf(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of roughly the declared type, so some documents get past the first rule."""
    options: list[st.SearchStrategy[Any]] = []
    for arg in [annotation, *typing.get_args(annotation)]:
        if typing.get_origin(arg) is typing.Literal:
            options.append(st.sampled_from(typing.get_args(arg)))
        elif arg is bool:
            options.append(st.booleans())
        elif arg is int:
            options.append(st.integers(-5, 100_000) | st.sampled_from(HUGE_INTS))
        elif arg is float:
            options.append(st.floats(-10, 1e6) | st.sampled_from(["30s", "5m", "1h", "-1s"]))
        elif arg in (str, Path):
            options.append(st.sampled_from(SPECIAL_STRINGS) | st.text(max_size=12))
        elif isinstance(arg, type) and issubclass(arg, enum.Enum):
            options.append(st.sampled_from([member.value for member in arg]))
        elif typing.get_origin(arg) in (list, tuple):
            item = typing.get_args(arg)[0] if typing.get_args(arg) else Any
            options.append(st.lists(_plausible_leaf(item), max_size=3))
        elif typing.get_origin(arg) is dict:
            options.append(st.dictionaries(st.text(max_size=8), _plausible_leaf(
                typing.get_args(arg)[1]), max_size=3))
    return st.one_of(*options) if options else garbage


def _field_value(annotation: Any, depth: int) -> st.SearchStrategy[Any]:
    models = _models_in(annotation)
    if not models or depth > MAX_DEPTH:
        return st.one_of(_plausible_leaf(annotation), _plausible_leaf(annotation), garbage)
    one = st.one_of(*(_table(model, depth + 1) for model in models))
    shape = _container(annotation)
    if shape is list:
        nested = st.lists(one, min_size=1, max_size=3) | st.just([])
    elif shape is dict:
        check_names = st.sampled_from(list(CHECK_TYPES)) | st.text(max_size=8)
        nested = st.dictionaries(check_names, one, min_size=1, max_size=3) | st.just({})
    else:
        nested = one
    return st.one_of(nested, nested, nested, garbage)


_tables: dict[tuple[type[BaseModel], int], st.SearchStrategy[dict[str, Any]]] = {}


def _table(model: type[BaseModel], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """A table with a random few of ``model``'s own keys (a discriminating ``type``
    Literal always set), now and then an unknown key."""
    if (model, depth) not in _tables:
        fields = model.model_fields
        fixed: dict[str, st.SearchStrategy[Any]] = {}
        type_field = fields.get("type")
        if type_field is not None and typing.get_origin(type_field.annotation) is typing.Literal:
            fixed["type"] = st.sampled_from(typing.get_args(type_field.annotation))
        elif model.__name__.endswith("Spec") and model in {s for s, _ in CHECK_TYPES.values()}:
            fixed["type"] = st.sampled_from([n for n, (s, _) in CHECK_TYPES.items() if s is model])
        optional = {name: st.deferred(lambda a=f.annotation: _field_value(a, depth))
                    for name, f in fields.items() if name not in fixed}
        # Structural keys (tables of further models) often, leaves a few at a time: deep
        # documents with few wrong leaves, so that some are valid and the rest fail late.
        chance = {name: 70 if _models_in(fields[name].annotation) else
                  max(5, min(50, 300 // max(1, len(optional)))) for name in optional}
        extra = st.dictionaries(st.text(min_size=1, max_size=8), garbage, max_size=1)

        @st.composite
        def table(draw: st.DrawFn) -> dict[str, Any]:
            data = {key: draw(value) for key, value in fixed.items()}
            for key, value in optional.items():
                if draw(st.integers(0, 99)) < chance[key]:
                    data[key] = draw(value)
            if draw(st.integers(0, 9)) == 0:
                data.update(draw(extra))
            return data

        _tables[(model, depth)] = table()
    return _tables[(model, depth)]


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        children = [(k, v) for k, v in value.items()]
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        return [path]
    return [path, *(p for k, v in children for p in _leaf_paths(v, (*path, k)))]


# Valid documents to mutate one place at a time: deep, and valid until the mutation.
ROOT = Path(__file__).resolve().parent.parent
BASES = [tomllib.loads((ROOT / "examples" / name).read_text())
         for name in ("generic.toml", "moodle.toml")]
BASES.append(tomllib.loads('''
[alerts.route]
receiver = "log"
routes = [{matchers = ["severity=page"], receiver = "log", mute_time_intervals = ["night"]}]
[[alerts.time_intervals]]
name = "night"
time_intervals = [{times = [{start_time = "22:00", end_time = "23:59"}]}]
[[alerts.escalations]]
name = "e"
levels = [{after = "5m", receivers = ["log"]}]
[[lms]]
name = "a"
url = "https://a.example"
[lms.checks.http]
depends_on = ["tls"]
[lms.checks.tls]
[[maintenance]]
name = "w"
lms = "a"
start = "2027-01-20T22:00"
duration = "2h"
timezone = "Europe/Berlin"
'''))


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_leaf_paths(document)[1:]))
        *parents, last = path
        holder: Any = document
        for key in parents:
            holder = holder[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete":
            del holder[last]
        elif action == "add" and isinstance(holder[last], dict):
            holder[last][draw(keys)] = draw(garbage)
        else:
            holder[last] = draw(scalars | garbage)
    return document


documents = st.one_of(
    _table(VigilConfig, 0), _table(VigilConfig, 0), mutated(), mutated(),
    st.dictionaries(keys, garbage, max_size=4),
)

TOTALS: Counter[str] = Counter()


ROOT_SEGMENT = re.compile(r'([A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*")(?=[.\[]|: )')


def _assert_names_paths(raw: dict[str, Any], problems: list[str]) -> None:
    """Each line is ``path: rule`` and its path starts at a key of the document (bare,
    or quoted as TOML quotes it)."""
    assert problems
    for problem in problems:
        match = ROOT_SEGMENT.match(problem)
        assert match and ": " in problem[match.end():], problem
        root = match.group(1)
        assert (json.loads(root) if root.startswith('"') else root) in raw, problem


# derandomize: CI runs the same 1,000 documents every time (a failure is reproducible);
# explore further locally with a random seed (derandomize=False, more examples).
@settings(max_examples=1000, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(documents, st.booleans())
def check_one_document(raw: dict[str, Any], validate_mode: bool) -> None:
    unchecked: list[str] | None = [] if validate_mode else None
    sites = raw.get("lms")
    if isinstance(sites, list) and any(isinstance(site, dict) and site.get("checks")
                                       for site in sites):
        TOTALS["with check tables"] += 1
    alerts = raw.get("alerts")
    if isinstance(alerts, dict) and (alerts.get("receivers") or alerts.get("route")):
        TOTALS["with receivers or routes"] += 1
    try:
        config = config_from_data(raw, env={}, unchecked=unchecked)
    except ConfigError as exc:
        _assert_names_paths(raw, exc.problems)
        TOTALS["rejected"] += 1
    else:
        assert isinstance(config, VigilConfig)
        TOTALS["valid"] += 1


def test_any_toml_shaped_document_is_a_config_or_a_config_error_naming_paths() -> None:
    TOTALS.clear()
    check_one_document()
    total = TOTALS["valid"] + TOTALS["rejected"]
    print(f"\nconfig fuzz: {total} generated configs, {TOTALS['valid']} valid, "
          f"{TOTALS['rejected']} rejected, 0 tracebacks ({TOTALS['with check tables']} "
          f"with check tables, {TOTALS['with receivers or routes']} with receivers or routes)")
    assert total >= 1000
    # The strategies follow the models' keys: a good share reaches the deep sections.
    assert TOTALS["with check tables"] >= total // 10
    assert TOTALS["with receivers or routes"] >= total // 10


def test_a_document_nested_beyond_the_parser_is_a_config_error() -> None:
    for text in ("a = " + "[" * 2000 + "]" * 2000, "a = " + "{b = " * 600 + "1" + "}" * 600):
        try:
            parse_config(text, env={})
        except ConfigError as exc:
            assert len(exc.problems) == 1
        else:  # pragma: no cover
            raise AssertionError("accepted")


def test_a_document_nested_deeper_than_a_config_needs_names_the_path() -> None:
    try:
        config_from_data({"lms": [_nest(1, 100, as_list=False)]}, env={})
    except ConfigError as exc:
        [problem] = exc.problems
        assert problem.startswith("lms[0].k.k.k") and "nested more than 64 levels" in problem
    else:  # pragma: no cover
        raise AssertionError("accepted")


