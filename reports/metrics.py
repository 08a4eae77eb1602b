"""Prometheus metrics (placeholder)."""
