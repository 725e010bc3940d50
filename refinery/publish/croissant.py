"""`croissant.json`: the version described in MLCommons Croissant 1.0 (schema.org's Dataset, its Parquet parts as
one file set, and the refined rows as a record set whose fields are the columns, with their descriptions), so that
Croissant tools (`mlcroissant`, TFDS, Hugging Face) load the version without refinery."""

from __future__ import annotations

import polars as pl

from refinery.records import COLUMN_DOCS

# Croissant 1.0's JSON-LD context, as the specification and mlcroissant write it
CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
TYPES = {"String": "sc:Text", "Boolean": "sc:Boolean", "Float32": "sc:Float", "Float64": "sc:Float"}


def _data_type(dtype: pl.DataType) -> str | None:
    """Croissant's type of a Polars column; None for one it has no scalar type for (lists, structs)."""
    if dtype.is_integer():
        return "sc:Integer"
    return TYPES.get(str(dtype.base_type()))


def croissant(manifest: dict, schema: dict[str, pl.DataType]) -> dict:
    """The Croissant description of a version: its refined parts, as `manifest` lists them, and `schema`'s
    columns as the fields of the `refined` record set."""
    licenses = sorted({s["license"] for s in manifest["sources"] if s["license"]})
    fields = [
        {
            "@type": "cr:Field",
            "@id": f"refined/{name}",
            "name": name,
            "description": COLUMN_DOCS.get(name, ""),
            "dataType": kind,
            "source": {"fileSet": {"@id": "refined-parts"}, "extract": {"column": name}},
        }
        for name, dtype in schema.items()
        if (kind := _data_type(dtype))
    ]
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": manifest["dataset"],
        "description": manifest["recipe"].get("description") or f"{manifest['dataset']}, refined by refinery",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "citeAs": f"{manifest['dataset']}@{manifest['version']} (content sha256 {manifest['content_hash']})",
        "creator": {"@type": "sc:Organization", "name": "refinery"},
        "datePublished": manifest["created_at"][:10],
        "license": licenses or ["unknown"],
        "identifier": manifest["version"],
        "version": manifest["release"],
        "distribution": [
            {
                "@type": "cr:FileSet",
                "@id": "refined-parts",
                "name": "refined-parts",
                "description": "The refined rows: Parquet parts (sha256 of each in manifest.json).",
                "encodingFormat": "application/x-parquet",
                "includes": "part-*.parquet",
            }
        ],
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "refined",
                "name": "refined",
                "description": f"{manifest['counts']['refined']} refined documents, one per row.",
                "key": {"@id": "refined/doc_id"},
                "field": fields,
            }
        ],
    }
