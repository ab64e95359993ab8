"""HTTP: the server, /metrics, health, the JSON API with its OpenAPI document, and pages."""
