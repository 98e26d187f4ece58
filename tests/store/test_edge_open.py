"""Why an embedded collection does not open, said truthfully."""

from __future__ import annotations

import pytest

from songlens.errors import ConfigError, StoreBusy
from songlens.store import CollectionSpec
from songlens.store.edge import EdgeStore

SPEC = CollectionSpec(name="c", key_field="k", dense={"audio": 4, "text": 3})


def test_a_store_held_by_another_process_is_busy_not_a_dimension_change(tmp_path):
    first = EdgeStore(tmp_path)
    first.ensure_collection(SPEC)
    try:
        with pytest.raises(StoreBusy, match="open in another process") as info:
            EdgeStore(tmp_path).ensure_collection(SPEC)
        assert "sizes" not in info.value.message and info.value.code == "store_busy"
    finally:
        first.close()
    again = EdgeStore(tmp_path)  # once the holder closes, it opens
    again.ensure_collection(SPEC)
    again.close()


def test_other_vector_sizes_are_named(tmp_path):
    store = EdgeStore(tmp_path)
    store.ensure_collection(SPEC)
    store.close()
    other = CollectionSpec(name="c", key_field="k", dense={"audio": 5, "text": 3})
    with pytest.raises(ConfigError, match="audio 4 there, 5 now") as info:
        EdgeStore(tmp_path).ensure_collection(other)
    assert "text 3 there" not in info.value.message  # only what changed is named
