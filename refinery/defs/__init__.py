"""The Dagster layer: wires the pure stages into assets, checks, schedules and sensors, one group per recipe."""
