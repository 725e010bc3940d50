"""The data-parallel loader over Parquet files of small row groups: equal rows per rank, no overlap, the union is
the split (less the remainder), a new order each epoch, and an exact mid-epoch resume."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from refinery.loader import Loader


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for f in range(3):
        n = 40 + 11 * f
        frame = pl.DataFrame(
            {"doc_id": [f"d{f}-{i}" for i in range(n)], "split": rng.choice(["train", "test"], n, p=[0.8, 0.2])}
        )
        paths.append(tmp_path / f"part-{f}.parquet")
        frame.write_parquet(paths[-1], row_group_size=7)  # many units
    return paths


def _ids(loader: Loader) -> list[str]:
    return [d for batch in loader for d in batch.get_column("doc_id")]


def test_ranks_get_equal_disjoint_shares_of_the_split(files):
    train = set(pl.read_parquet(files).filter(pl.col("split") == "train").get_column("doc_id"))
    for world in (1, 2, 3):
        shares = [_ids(Loader(files, "train", rank=r, world_size=world, batch_size=8)) for r in range(world)]
        assert len({len(s) for s in shares}) == 1, world  # equal: no rank waits for another
        union = [d for s in shares for d in s]
        assert len(union) == len(set(union))  # no overlap
        assert set(union) <= train and len(train) - len(union) == len(train) % world  # only the remainder left


def test_the_order_is_seeded_and_changes_every_epoch(files):
    first = _ids(Loader(files, "train", seed=1, epoch=0))
    assert first == _ids(Loader(files, "train", seed=1, epoch=0))
    assert first != _ids(Loader(files, "train", seed=1, epoch=1)) and set(first) == set(
        _ids(Loader(files, "train", seed=1, epoch=1))
    )
    assert first != sorted(first)  # shuffled across row groups and files, not read in order


def test_a_resumed_loader_yields_exactly_the_rest_of_the_epoch(files):
    whole = _ids(Loader(files, None, rank=1, world_size=2, seed=4, epoch=2, batch_size=5))
    running = Loader(files, None, rank=1, world_size=2, seed=4, epoch=2, batch_size=5)
    taken = []
    for batch in running:
        taken += batch.get_column("doc_id").to_list()
        if len(taken) >= 23:
            break
    state = running.state_dict()
    resumed = Loader(files, None, rank=1, world_size=2, seed=4, epoch=0, batch_size=5)
    resumed.load_state_dict(state)
    assert taken + _ids(resumed) == whole
    with pytest.raises(ValueError, match="another seed"):
        Loader(files, None, seed=5, world_size=2, rank=1).load_state_dict(state)


def test_the_hf_adapter_yields_the_same_rows_in_the_same_order(files):
    loader = Loader(files, "train", rank=1, world_size=2, seed=2, batch_size=6)
    expected = _ids(Loader(files, "train", rank=1, world_size=2, seed=2, batch_size=6))
    assert [row["doc_id"] for row in loader.to_hf()] == expected


def test_the_torch_adapter_with_two_ranks_of_two_workers_gives_each_row_of_the_split_once(files):
    """Under PyTorch's DataLoader (2 ranks x 2 worker processes), the union is the split less the remainder, no row
    comes twice, every rank gets as many rows as the other, and each rank's rows are its loader's rows."""
    torch = pytest.importorskip("torch")
    split = {d for f in files for d, s in pl.read_parquet(f).select("doc_id", "split").iter_rows() if s == "train"}
    per_rank = []
    for rank in range(2):
        loader = Loader(files, "train", rank=rank, world_size=2, seed=4, batch_size=5, columns=["doc_id"])
        workers = torch.utils.data.DataLoader(
            loader.to_torch(), batch_size=None, num_workers=2, multiprocessing_context="spawn"
        )
        batches = list(workers)
        assert all(set(b) == {"doc_id"} and 0 < len(b["doc_id"]) <= 5 for b in batches)
        per_rank.append([d for b in batches for d in b["doc_id"]])
        assert sorted(per_rank[-1]) == sorted(_ids(Loader(files, "train", rank=rank, world_size=2, seed=4)))
    assert len(per_rank[0]) == len(per_rank[1]) == len(split) // 2
    both = per_rank[0] + per_rank[1]
    assert len(set(both)) == len(both) and set(both) <= split and len(split) - len(both) == len(split) % 2
