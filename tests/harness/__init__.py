"""Test and demo helpers: synthetic incidents with known truth, and a real local Prometheus to load them into."""
