"""Observability: logs, metrics, the attempt record, the audit trail, health and request ids."""
