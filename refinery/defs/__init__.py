"""The Dagster layer: wires the pure stages into assets, checks, schedules and sensors, one group per recipe."""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # notices for Dagster's developers, not for operators
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
