"""Read a TensorFlow tensor-bundle checkpoint with the standard library and numpy.

A bundle is two files: ``<prefix>.index``, a LevelDB-format SSTable whose keys are variable names
and whose values are ``BundleEntryProto`` messages (dtype, shape, shard, offset, size, crc32c), and
``<prefix>.data-00000-of-00001``, the raw little-endian tensor bytes. The empty key holds a
``BundleHeaderProto`` (shard count, endianness, version).

References: LevelDB ``doc/table_format.md``; TensorFlow ``core/protobuf/tensor_bundle.proto`` and
``core/util/tensor_bundle/tensor_bundle.cc``. Blocks may be snappy-compressed (trailer type 1);
raw snappy decoding is implemented below (:func:`snappy_decompress`), so no extra package is needed.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from songlens.errors import ModelError

__all__ = ["read_checkpoint", "read_index", "snappy_decompress", "TensorEntry"]

log = logging.getLogger(__name__)

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48
_BLOCK_TRAILER_LEN = 5  # 1 byte compression type + 4 byte masked crc32c

#: TensorFlow ``DataType`` enum → numpy little-endian dtype (the ones a model checkpoint uses).
_DTYPES: dict[int, str] = {
    1: "<f4",  # DT_FLOAT
    2: "<f8",  # DT_DOUBLE
    3: "<i4",  # DT_INT32
    4: "|u1",  # DT_UINT8
    5: "<i2",  # DT_INT16
    6: "|i1",  # DT_INT8
    9: "<i8",  # DT_INT64
    10: "|b1",  # DT_BOOL
    17: "<u2",  # DT_UINT16
    19: "<f2",  # DT_HALF
    22: "<u4",  # DT_UINT32
    23: "<u8",  # DT_UINT64
}


class TensorEntry:
    """One ``BundleEntryProto``: where a tensor lives in the data file and what it looks like."""

    __slots__ = ("dtype", "shape", "shard_id", "offset", "size", "crc32c", "has_slices")

    def __init__(self) -> None:
        self.dtype = 0
        self.shape: tuple[int, ...] = ()
        self.shard_id = 0
        self.offset = 0
        self.size = 0
        self.crc32c: int | None = None
        self.has_slices = False

    def __repr__(self) -> str:
        return (f"TensorEntry(dtype={self.dtype}, shape={self.shape}, shard={self.shard_id}, "
                f"offset={self.offset}, size={self.size})")


# --------------------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ModelError("truncated varint in checkpoint index")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ModelError("varint longer than 64 bits in checkpoint index")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Decode one protobuf message into ``(field_number, wire_type, value)`` triples."""
    out: list[tuple[int, int, int | bytes]] = []
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
            out.append((num, wt, val))
        elif wt == 1:
            out.append((num, wt, int.from_bytes(buf[pos:pos + 8], "little")))
            pos += 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            out.append((num, wt, bytes(buf[pos:pos + ln])))
            pos += ln
        elif wt == 5:
            out.append((num, wt, int.from_bytes(buf[pos:pos + 4], "little")))
            pos += 4
        else:
            raise ModelError(f"unsupported protobuf wire type {wt} in checkpoint index")
    return out


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims: list[int] = []
    for num, _, val in _fields(buf):
        if num == 2:  # TensorShapeProto.dim
            size = 0
            for dnum, _, dval in _fields(val):  # type: ignore[arg-type]
                if dnum == 1:
                    size = int(dval)  # type: ignore[arg-type]
                    if size >= 1 << 63:
                        size -= 1 << 64
            dims.append(size)
        elif num == 3 and val:  # unknown_rank
            raise ModelError("checkpoint tensor has unknown rank")
    return tuple(dims)


#: BundleEntryProto's integer fields: field number → TensorEntry attribute.
_ENTRY_INTS = {1: "dtype", 3: "shard_id", 4: "offset", 5: "size", 6: "crc32c"}


def _parse_entry(buf: bytes) -> TensorEntry:
    e = TensorEntry()
    for num, _, val in _fields(buf):
        if num in _ENTRY_INTS:
            setattr(e, _ENTRY_INTS[num], int(val))  # type: ignore[arg-type]
        elif num == 2:
            e.shape = _parse_shape(val)  # type: ignore[arg-type]
        elif num == 7:
            e.has_slices = True
    return e


# --------------------------------------------------------------------------- snappy


def snappy_decompress(data: bytes) -> bytes:
    """Decode one raw snappy block (the format LevelDB uses for compressed table blocks)."""
    expected, pos = _varint(data, 0)
    out = bytearray()
    n = len(data)
    while pos < n:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(data[pos:pos + nb], "little")
                pos += nb
            ln += 1
            out += data[pos:pos + ln]
            pos += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | data[pos]
            pos += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        if off == 0 or off > len(out):
            raise ModelError(f"corrupt snappy block: copy offset {off} beyond {len(out)} bytes")
        start = len(out) - off
        for i in range(ln):  # copies may overlap their own output
            out.append(out[start + i])
    if len(out) != expected:
        raise ModelError(f"corrupt snappy block: {len(out)} bytes decoded, {expected} declared")
    return bytes(out)


# --------------------------------------------------------------------------- SSTable


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    if offset + size + _BLOCK_TRAILER_LEN > len(table):
        raise ModelError(f"checkpoint index block at {offset}+{size} runs past the end of the file")
    block = table[offset:offset + size]
    kind = table[offset + size]
    if kind == 0:
        return block
    if kind == 1:
        return snappy_decompress(block)
    raise ModelError(f"checkpoint index block uses compression type {kind}; only none (0) and "
                     "snappy (1) are supported")


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of one block, undoing LevelDB's key prefix compression."""
    if len(block) < 4:
        raise ModelError("checkpoint index block is shorter than its restart count")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise ModelError(f"checkpoint index block declares {num_restarts} restart points; too many")
    out: list[tuple[bytes, bytes]] = []
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        vlen, pos = _varint(block, pos)
        if shared > len(key):
            raise ModelError("corrupt checkpoint index: shared key prefix longer than last key")
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        out.append((key, block[pos:pos + vlen]))
        pos += vlen
    return out


def read_index(index_path: str | Path) -> tuple[dict[str, TensorEntry], int]:
    """Parse a bundle's ``.index`` file.

    Returns
    -------
    entries : dict[str, TensorEntry]
        Variable name → where its bytes are.
    num_shards : int
        From the bundle header.
    """
    p = Path(index_path)
    try:
        table = p.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read checkpoint index {str(p)!r}: {exc}") from exc
    if len(table) < _FOOTER_LEN:
        raise ModelError(f"{str(p)!r} is too short to be a checkpoint index ({len(table)} bytes)")
    footer = table[-_FOOTER_LEN:]
    magic = struct.unpack_from("<Q", footer, _FOOTER_LEN - 8)[0]
    if magic != _TABLE_MAGIC:
        raise ModelError(f"{str(p)!r} is not a LevelDB table (bad magic {magic:#x})")
    pos = 0
    _meta_off, pos = _varint(footer, pos)
    _meta_size, pos = _varint(footer, pos)
    idx_off, pos = _varint(footer, pos)
    idx_size, pos = _varint(footer, pos)

    entries: dict[str, TensorEntry] = {}
    num_shards = 1
    for _, handle in _block_entries(_read_block(table, idx_off, idx_size)):
        off, hp = _varint(handle, 0)
        size, _ = _varint(handle, hp)
        for key, value in _block_entries(_read_block(table, off, size)):
            if key == b"":  # BundleHeaderProto
                for num, _, val in _fields(value):
                    if num == 1:
                        num_shards = int(val)  # type: ignore[arg-type]
                    elif num == 2 and val:
                        raise ModelError("checkpoint is big-endian; only little-endian is read")
                continue
            entries[key.decode("utf-8")] = _parse_entry(value)
    return entries, num_shards


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Read every tensor of a checkpoint.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint prefix: ``<prefix>.index`` and ``<prefix>.data-0000i-of-0000n`` must exist.
        For musicnn's wheel the prefix is the model folder plus ``/`` (files named ``.index``).

    Returns
    -------
    dict[str, np.ndarray]
        Variable name → array (native byte order, read-only copies are not shared with the file).

    Raises
    ------
    ModelError
        Missing files, a corrupt index, or an unsupported dtype / sliced tensor.
    """
    prefix = str(prefix)
    entries, num_shards = read_index(prefix + ".index")
    shards: dict[int, bytes] = {}
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if e.has_slices:
            raise ModelError(f"checkpoint variable {name!r} is partitioned (slices unsupported)")
        if e.dtype not in _DTYPES:
            raise ModelError(f"checkpoint variable {name!r} has unsupported dtype enum {e.dtype}; "
                             f"supported: {sorted(_DTYPES)}")
        if e.shard_id not in shards:
            path = f"{prefix}.data-{e.shard_id:05d}-of-{num_shards:05d}"
            try:
                shards[e.shard_id] = Path(path).read_bytes()
            except OSError as exc:
                raise ModelError(f"cannot read checkpoint data {path!r}: {exc}") from exc
        data = shards[e.shard_id]
        dt = np.dtype(_DTYPES[e.dtype])
        count = int(np.prod(e.shape, dtype=np.int64)) if e.shape else 1
        if count * dt.itemsize != e.size or e.offset + e.size > len(data):
            raise ModelError(f"checkpoint variable {name!r}: shape {e.shape} x {dt} does not fit "
                             f"{e.size} bytes at offset {e.offset}")
        arr = np.frombuffer(data, dtype=dt, count=count, offset=e.offset).reshape(e.shape)
        out[name] = arr.astype(dt.newbyteorder("="), copy=True)
    log.debug("read %d tensors from checkpoint %s", len(out), prefix)
    return out
