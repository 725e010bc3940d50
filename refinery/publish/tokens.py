"""Token counts per document, with a named tokenizer: the recipe's `tokenizer.json` (any Hugging Face
`tokenizers` model), or, when it names none, a byte-level BPE trained from the version's refined text (training
is deterministic: the same text gives the same tokenizer). The tokenizer is stored in the version, so its counts
can be reproduced; counts of versions with trained tokenizers are comparable only within a version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from refinery.records import ROW_GROUP_ROWS, parquet_batches

EOS = "<|endoftext|>"  # the end-of-document token, for packed shards (publish/packed.py)
TRAIN_DOCUMENTS = 200_000  # a trained tokenizer sees at most this many documents, spread over the version


def trained(refined: Path, vocab_size: int) -> str:
    """A byte-level BPE (as GPT-2's) trained on the refined text, with GPT-2's end-of-document token; its JSON."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=alphabet, special_tokens=[EOS], show_progress=False
    )
    tokenizer.train_from_iterator(_sample(refined), trainer)
    return tokenizer.to_str()


def _sample(refined: Path) -> Iterator[str]:
    """Every k-th document's text, in order: at most TRAIN_DOCUMENTS, from all over the version."""
    every = max(pl.scan_parquet(refined).select(pl.len()).collect().item() // TRAIN_DOCUMENTS, 1)
    at = 0
    for batch in parquet_batches(refined, ROW_GROUP_ROWS, ["text"]):
        yield from batch.with_row_index("i", offset=at).filter(pl.col("i") % every == 0).get_column("text")
        at += batch.height


def with_tokens(tokenizer_json: str, frame: pl.DataFrame) -> pl.DataFrame:
    """`n_tokens` of every document's text (encoded in Rust, on every core)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    encoded = tokenizer.encode_batch_fast(frame.get_column("text").to_list(), add_special_tokens=False)
    return frame.with_columns(n_tokens=pl.Series([len(e.ids) for e in encoded], dtype=pl.Int64))


def token_totals(parts: list[Path], has_split: bool) -> dict:
    """Tokens in total and by source, language (and split), read back from the written parts."""
    columns = ["source", "lang", "license", *(["split"] if has_split else [])]
    rows = pl.scan_parquet(parts).select("n_tokens", *columns).collect()  # one read: small columns
    totals = {"total": rows.get_column("n_tokens").sum()}
    for column in columns:
        by = rows.group_by(column).agg(pl.col("n_tokens").sum()).sort(column)
        totals[f"by_{column}"] = {str(k): v for k, v in by.iter_rows()}
    return totals
