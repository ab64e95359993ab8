"""Vigil's daemon core: CLI, config, scheduler, state store, metrics, HTTP API, demo."""

__version__ = "0.1.0"
