"""Forecasting jobs: point-in-time features, the win-probability model, revenue ranges."""
