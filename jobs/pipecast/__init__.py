"""pipecast: nightly sales-pipeline analytics and forecasting."""

__version__ = "0.1.0"
