"""openline: run voice agents and monitor every deployment and every call."""

__version__ = "0.1.0"
