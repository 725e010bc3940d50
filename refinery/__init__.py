"""Refinery: turn raw text ore into versioned, validated, AI-ready Parquet datasets."""

__version__ = "0.1.0"
