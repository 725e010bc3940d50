"""One asset graph per recipe: ore → ingested → deduplicated → cleaned → [blocking checks] → published."""

from refinery.defs.refine.factory import recipe_definitions

__all__ = ["recipe_definitions"]
