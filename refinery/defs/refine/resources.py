"""Resources: what differs between environments, not between recipes. Visible on each run's page in the UI."""

import dagster as dg

from refinery.tuning import Tuning


class TuningResource(dg.ConfigurableResource):
    """How hard a run works on this machine; defaults from REFINERY_WORKERS (else the cores this process may
    use) and REFINERY_DUCKDB_MEMORY (else 512MB)."""

    workers: int
    duckdb_memory: str

    @classmethod
    def from_env(cls) -> "TuningResource":
        tuning = Tuning.from_env()
        return cls(workers=tuning.workers, duckdb_memory=tuning.duckdb_memory)

    def tuning(self) -> Tuning:
        return Tuning(self.workers, self.duckdb_memory)
