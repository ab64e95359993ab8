"""Vigil's kernel: the types and services every layer stands on.

Result types, the clock, durations and strict settings models, the SQLite database with
per-domain migrations, and metric declarations. The kernel imports nothing of Vigil
(contract in .importlinter); checks, check state, alerting and the application shell
import it.
"""
