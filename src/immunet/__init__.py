"""immunet: a national vaccination platform that is private by construction."""

__version__ = "0.1.0"
