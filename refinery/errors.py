"""The error hierarchy. Every message names the file, line or key at fault."""


class RefineryError(Exception):
    """Base class for errors a user can act on."""


class RecipeError(RefineryError):
    """The recipe is malformed; raised before anything runs."""


class IngestError(RefineryError):
    """Ore cannot be read at all (a record-level problem is quarantined instead)."""


class PublishError(RefineryError):
    """A version could not be published (another publisher holds the lock, or the output is unusable)."""


class VerifyError(RefineryError):
    """A published file no longer matches its manifest."""


class NotFoundError(RefineryError):
    """No such dataset, version or record."""


class TuningError(RefineryError):
    """A machine setting (REFINERY_WORKERS, REFINERY_DUCKDB_MEMORY) DuckDB or the engine cannot use."""
