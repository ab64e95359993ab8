"""The application shell: config loading, daemon wiring, scheduler and runner, metrics
exporter, CLI (cli/), HTTP API and pages (web/), demo (demo/). It sits on top of every
other layer and nothing imports it."""
