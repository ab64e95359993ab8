"""Vigil's kernel (monitor/kernel), check state (monitor/state) and application shell
(monitor/app: wiring, scheduler, CLI, HTTP, pages, demo). See ARCHITECTURE.md."""

__version__ = "0.1.0"
