"""Validated ``[alerts]`` settings: thresholds, policy, routing, receivers, predictions.

Loaded once with the rest of the config (monitor/app/config.py); the engine, service,
dispatcher and notifiers receive these frozen models and never re-validate. Receiver
specs and retry settings are declared in alerts/receiver_specs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from alerts.history import HistorySettings
from alerts.policy import (
    DependencySettings,
    ExamSignal,
    FlappingSettings,
    SeverityRule,
)
from alerts.predict_rules import PredictRules, default_predict_rules
from alerts.receiver_specs import (
    AnyReceiverSpec,
    LogReceiverSpec,
    ReceiverSpec,
    RetrySettings,
    http_url,
    without_union_tags,
)
from alerts.routing import EscalationPolicy, RouteSpec, routing_name_errors
from alerts.slo import SloSettings
from alerts.time_intervals import NamedTimeInterval
from monitor.kernel.spec import PositiveDuration, StrictModel


def _default_severity_rules() -> list[SeverityRule]:
    return [SeverityRule(check_type=["slo"], status=["CRITICAL"], severity="page")]


def _default_receivers() -> list[AnyReceiverSpec]:
    return [LogReceiverSpec(name="log")]


class AlertingConfig(StrictModel):
    """The ``[alerts]`` table. Check specs may override the two thresholds."""

    failure_threshold: int = Field(default=3, ge=1)
    success_threshold: int = Field(default=2, ge=1)
    unknown_is_failure: bool = True
    # A check failing softly (not firing yet) without its own retry_interval runs again
    # after interval x this ratio; 0 = wait the full interval.
    soft_retry_ratio: float = Field(default=0.2, ge=0.0, lt=1.0)
    send_resolved: bool = True
    base_url: str | None = None
    templates_dir: Path | None = None
    retry: RetrySettings = Field(default_factory=RetrySettings)
    receivers: list[ReceiverSpec] = Field(default_factory=_default_receivers)
    # Alert policy (alerts/policy.py): severity rules, exam raise, flapping, dependencies.
    grafana_url: str | None = None
    # Default: an SLO fast burn (CRITICAL) pages, as in the SRE workbook; a list given in
    # the config replaces the defaults.
    severity_rules: list[SeverityRule] = Field(default_factory=_default_severity_rules)
    exam_signal: ExamSignal = Field(default_factory=ExamSignal)
    flapping: FlappingSettings = Field(default_factory=FlappingSettings)
    dependencies: DependencySettings = Field(default_factory=DependencySettings)
    # Routing (alerts/routing.py, alerts/router.py): route tree, time intervals, escalation.
    route: RouteSpec = Field(default_factory=RouteSpec)
    time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    escalations: list[EscalationPolicy] = Field(default_factory=list)
    # Predictive rules and the availability SLO (alerts/predict.py, alerts/slo.py,
    # alerts/history.py), judged every evaluation_interval as synthetic checks.
    predict: PredictRules = Field(default_factory=default_predict_rules)
    slo: SloSettings = Field(default_factory=SloSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    evaluation_interval: PositiveDuration = 60.0
    # Delivered notifications older than this are pruned from the outbox (hourly), and
    # routed alert events (alert_transitions) as old with them.
    outbox_retention: PositiveDuration = 30 * 86400.0

    @field_validator("base_url", "grafana_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value).rstrip("/")

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value

    @field_validator("receivers", mode="wrap")
    @classmethod
    def _receivers_valid_and_unique(
        cls, value: Any, handler: ValidatorFunctionWrapHandler
    ) -> list[AnyReceiverSpec]:
        try:
            receivers: list[AnyReceiverSpec] = handler(value)
        except ValidationError as exc:
            raise without_union_tags(exc) from None
        if not receivers:
            # Alerts with nowhere to go would be silently lost; the log is always there.
            return _default_receivers()
        seen: set[str] = set()
        duplicates: list[InitErrorDetails] = []  # every one, not just the first
        for index, spec in enumerate(receivers):
            if spec.name in seen:
                error = ValueError(f"duplicate receiver name {spec.name!r}")
                duplicates.append(InitErrorDetails(
                    type="value_error", loc=(index, "name"), input=spec.name,
                    ctx={"error": error},
                ))
            seen.add(spec.name)
        if duplicates:
            raise ValidationError.from_exception_data("receivers", duplicates)
        return receivers

    @model_validator(mode="after")
    def _routing_names_exist(self) -> AlertingConfig:
        errors = routing_name_errors(self)
        if errors:
            raise ValidationError.from_exception_data("alerts", [InitErrorDetails(
                type="value_error", loc=loc, input=None, ctx={"error": ValueError(message)},
            ) for loc, message in errors])
        return self

    def receiver(self, name: str) -> AnyReceiverSpec | None:
        return next((spec for spec in self.receivers if spec.name == name), None)

    def sends_resolved(self, spec: AnyReceiverSpec) -> bool:
        return self.send_resolved if spec.send_resolved is None else spec.send_resolved
