"""The version store: where published versions live, and how they get there durably. `layout` (LATEST, PINS,
versions, manifests), `lock` (one writer per dataset), `commit` (a temporary folder fsynced and renamed into
place, then LATEST), `remote` (upload with a conditional LATEST, restore from object storage), `prune`.

Publishing assembles a version and commits it here; the catalog reads here and pins and prunes under the same
lock. Neither imports the other."""
