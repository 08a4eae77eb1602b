"""Capacity: CPU, memory and storage used and allocated per department against quota, with forecasts."""
