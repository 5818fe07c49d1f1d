"""Social Warehouse: a daily warehouse pipeline for social-media marketing analytics."""

__version__ = "0.1.0"
