"""Validated ``[[alerts.predict]]`` rules: which gauge to forecast, and when to fire.

Loaded with the rest of ``[alerts]`` (alerts/config.py); alerts/history.py records the
watched gauges, alerts/predict.py fits them and judges each rule's levels. A rule fires
a level when the forecast reaches the threshold within the level's horizon AND the
current value is already past the level's gate (node-mixin practice), so a disk that
is 90 % free and filling slowly never pages.

Quantities (threshold, gate values) are plain numbers in the metric's base unit, or
carry a unit: ``%`` (of the rule's ``reference`` gauge), durations (``s m h d w``)
or bytes (``KB MB GB TB``, ``KiB MiB GiB TiB``).

Which gauges checks return is the checks' business, and alerting never imports a check
family: the shell passes their names in the validation context when it loads the config
(``context={GAUGES_CONTEXT: names}``, monitor/app/config.py). A rule validated without
that context (a test, the shipped defaults) is not checked against them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from monitor.kernel.spec import Duration, PositiveDuration, StrictModel

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*([A-Za-z%]*)\s*$")
_GATE = re.compile(r"^\s*(<=|>=|<|>)\s*(.+)$")
_UNITS = {
    "": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
    "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40,
}
_LABEL_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number in the metric's base unit, or (percent=True) a fraction of the reference."""

    value: float
    percent: bool = False

    def resolve(self, reference: float | None) -> float | None:
        """The absolute value; None when a percentage has no reference to apply to."""
        if not self.percent:
            return self.value
        return None if reference is None else self.value * reference

    def __str__(self) -> str:
        return f"{_short(self.value * 100)}%" if self.percent else _short(self.value)


def _short(number: float) -> str:
    """Shortest text that parses back to the same number (``1e+10``, not ``1.07374e+10``)."""
    text = f"{number:g}"
    return text if float(text) == number else repr(number)


def parse_quantity(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a number or a string such as \"40%\", \"10GiB\" or \"14d\"")
    if isinstance(value, int | float):
        return Quantity(float(value))
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match:
            number, unit = float(match.group(1)), match.group(2)
            if unit == "%":
                return Quantity(number / 100, percent=True)
            if unit in _UNITS:
                return Quantity(number * _UNITS[unit])
            raise ValueError(f"unknown unit {unit!r} (use %, s, m, h, d, w, KB..TB, KiB..TiB)")
    raise ValueError(f"{value!r} is not a quantity (use e.g. 0, \"40%\", \"10GiB\", \"14d\")")


@dataclass(frozen=True, slots=True)
class Gate:
    """``< 40%``: the current value must already be past this for a level to fire."""

    op: str
    bound: Quantity

    def passes(self, current: float, reference: float | None) -> bool | None:
        """None when the gate is a percentage and the reference is unknown (or zero)."""
        limit = self.bound.resolve(reference)
        if limit is None or (self.bound.percent and not reference):
            return None
        return {"<": current < limit, "<=": current <= limit,
                ">": current > limit, ">=": current >= limit}[self.op]

    def __str__(self) -> str:
        return f"{self.op} {self.bound}"


def parse_gate(value: Any) -> Gate:
    if isinstance(value, Gate):
        return value
    match = _GATE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a gate (use e.g. \"< 40%\" or \">= 1000\")")
    return Gate(match.group(1), parse_quantity(match.group(2)))


# Dumped as the text they were parsed from, so a dumped config validates again.
QuantityField = Annotated[Quantity, PlainValidator(parse_quantity), PlainSerializer(str),
                          WithJsonSchema({"type": ["number", "string"]})]
GateField = Annotated[Gate, PlainValidator(parse_gate), PlainSerializer(str),
                      WithJsonSchema({"type": "string"})]
# Validation context key: the names of the gauges checks return. Only those can be
# forecast (the history recorder sees nothing else).
GAUGES_CONTEXT = "check_gauges"


def _forecastable(value: str, info: ValidationInfo) -> str:
    gauges = (info.context or {}).get(GAUGES_CONTEXT)
    if gauges is not None and value not in gauges:
        raise ValueError(f"{value!r} is not a gauge that checks return "
                         "(see the METRICS each check module declares)")
    return value


class PredictLevel(StrictModel):
    gate: GateField | None = None  # None: the forecast alone decides
    horizon: PositiveDuration
    severity: Literal["warning", "critical"]


class PredictRule(StrictModel):
    """One ``[[alerts.predict]]`` table; it yields the synthetic check ``predict_<name>``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,47}$")
    metric: str
    # Exact matches on the sample's labels (e.g. mountpoint) and on "lms" / "check".
    labels: dict[str, str] = Field(default_factory=dict)
    window: PositiveDuration = 6 * 3600.0
    threshold: QuantityField = Quantity(0.0)
    direction: Literal["falling", "rising"] = "falling"
    # A gauge with the same labels (e.g. the filesystem size) that "%" values refer to.
    reference: str | None = None
    levels: list[PredictLevel] = Field(min_length=1)
    # A series needs this many points spanning this long before it is forecast.
    min_points: int = Field(default=5, ge=2)
    min_span: Annotated[Duration, Field(ge=0)] | None = None  # None: a quarter of the window
    # How the summary names a series: {label} is replaced by the sample's label value.
    subject: str | None = None

    @field_validator("metric", "reference")
    @classmethod
    def _is_a_check_gauge(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _forecastable(value, info)

    @model_validator(mode="after")
    def _percentages_have_a_reference(self) -> PredictRule:
        errors: list[tuple[tuple[int | str, ...], Any, str]] = []
        if self.reference is None and self.threshold.percent:
            errors.append((("threshold",), str(self.threshold), "a percentage needs `reference`"))
        for index, level in enumerate(self.levels):
            if self.reference is None and level.gate is not None and level.gate.bound.percent:
                errors.append((("levels", index, "gate"), str(level.gate),
                               "a percentage gate needs the rule's `reference`"))
        if self.min_span is not None and self.min_span > self.window:
            errors.append((("min_span",), self.min_span, f"must be <= window ({self.window:g}s)"))
        if errors:
            _raise_at(*errors)
        return self

    @property
    def check_name(self) -> str:
        return f"predict_{self.name}"

    @property
    def required_span(self) -> float:
        return self.window / 4 if self.min_span is None else self.min_span

    def matches(self, lms: str, check: str, labels: Mapping[str, str]) -> bool:
        scope = {**labels, "lms": lms, "check": check}
        return all(scope.get(key) == value for key, value in self.labels.items())

    def describe(self, labels: Mapping[str, str]) -> str:
        if self.subject is None:
            inner = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            return f"{self.metric}{{{inner}}}" if inner else self.metric
        return _LABEL_REF.sub(lambda m: labels.get(m.group(1), m.group(0)), self.subject)


def _raise_at(*errors: tuple[tuple[int | str, ...], Any, str]) -> None:
    """Raise (loc, input, message) errors at their own paths, e.g. ``levels[1].gate``."""
    raise ValidationError.from_exception_data("predict", [InitErrorDetails(
        type="value_error", loc=loc, input=value, ctx={"error": ValueError(message)},
    ) for loc, value, message in errors])


def _unique_names(value: Any, handler: ValidatorFunctionWrapHandler) -> list[PredictRule]:
    rules: list[PredictRule] = handler(value)
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            _raise_at(((index, "name"), rule.name, f"duplicate rule name {rule.name!r}"))
        seen.add(rule.name)
    return rules


PredictRules = Annotated[list[PredictRule], WrapValidator(_unique_names)]

_FILLING_UP = [
    {"gate": "< 40%", "horizon": "24h", "severity": "warning"},
    {"gate": "< 20%", "horizon": "4h", "severity": "critical"},
]


def default_predict_rules() -> list[PredictRule]:
    """Shipped when ``[[alerts.predict]]`` is absent (``predict = []`` turns them off).

    disk_space / disk_inodes: node-mixin's NodeFilesystemSpaceFillingUp and
    FilesFillingUp on the ``system`` check's filesystems. tls_cert_expiry: the
    certificate's remaining lifetime from the ``tls`` check, forecast like any gauge
    so its time to expiry sits next to the others.
    """
    return [
        PredictRule(name="disk_space", metric="lms_system_filesystem_avail_bytes",
                    reference="lms_system_filesystem_size_bytes", subject="disk {mountpoint}",
                    levels=[PredictLevel.model_validate(level) for level in _FILLING_UP]),
        PredictRule(name="disk_inodes", metric="lms_system_filesystem_files_free",
                    reference="lms_system_filesystem_files",
                    subject="inodes on {mountpoint}",
                    levels=[PredictLevel.model_validate(level) for level in _FILLING_UP]),
        PredictRule(name="tls_cert_expiry", metric="lms_tls_cert_expiry_seconds",
                    subject="TLS certificate",
                    levels=[PredictLevel(horizon=14 * 86400.0, severity="warning"),
                            PredictLevel(horizon=3 * 86400.0, severity="critical")]),
    ]
