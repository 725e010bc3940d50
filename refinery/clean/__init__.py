"""Clean: repair and normalize text, redact personal data, identify language, compute quality signals and
reject what fails the filters. See `clean`."""

from refinery.clean.stage import CleanResult, clean

__all__ = ["CleanResult", "clean"]
