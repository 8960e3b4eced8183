"""Parquet bytes to a frame, within decoded-size limits: nothing is decoded blindly.

A Parquet file can be tiny and decode to gigabytes: one long string stored once in a dictionary
page and referenced by every row (a dictionary bomb), or one huge string cell. Every frame the lab
reads (cache entries, bundle members) goes through :func:`read_frame`, which checks, in order:

1. the footer, before any page is read: at most :data:`MAX_FOOTER_BYTES` of footer and
   :data:`MAX_ROW_GROUPS` row groups; every column chunk compressed with a codec the lab writes
   (:data:`CODECS`: uncompressed or snappy, whose output is at most ~22x its input); the column
   chunks' uncompressed sizes summed at most :data:`MAX_DECODED_BYTES`; fixed-width columns
   (numbers, booleans) sized exactly from the row count;
2. string and binary columns, read in their compact dictionary form (the dictionary once, one
   integer per row) and never expanded until their decoded size (the sum over rows of the length of
   the dictionary value each row points to) and their longest value are known: at most
   :data:`MAX_STRING_BYTES` in one cell and :data:`MAX_DECODED_BYTES` for the whole frame;
3. only then are the string columns expanded and the frame built.

A footer that understates its sizes cannot get past step 2: the compact read allocates what the
pages really hold (bounded by the codec's ratio), and the decoded size is computed from the data.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MAX_DECODED_BYTES = 512 * 2**20  # one frame, as Arrow holds it once decoded
MAX_STRING_BYTES = 2**20  # one string or binary cell
MAX_FOOTER_BYTES = 8 * 2**20
MAX_ROW_GROUPS = 10_000
CODECS = ("UNCOMPRESSED", "SNAPPY")  # what pyarrow writes for the lab (snappy by default)
_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8}


class DecodeRefused(ValueError):
    """Parquet bytes whose decoded frame would be over a limit, or that use a codec the lab does not
    write; the message is one line."""


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n / 2**10:,.1f} KiB"


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or (pa.types.is_large_binary(kind))
    )


def check_footer(meta: pq.FileMetaData) -> int:
    """Step 1 (the footer only); returns the exact decoded bytes of the fixed-width top-level columns."""
    if meta.serialized_size > MAX_FOOTER_BYTES:
        raise DecodeRefused(
            f"its Parquet footer is {_mib(meta.serialized_size)} (at most {_mib(MAX_FOOTER_BYTES)})"
        )
    if meta.num_row_groups > MAX_ROW_GROUPS:
        raise DecodeRefused(f"it has {meta.num_row_groups:,} row groups (at most {MAX_ROW_GROUPS:,})")
    claimed = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.compression not in CODECS:
                raise DecodeRefused(
                    f"column {chunk.path_in_schema!r} is compressed with {chunk.compression} "
                    f"(the lab reads {' or '.join(CODECS)})"
                )
            claimed += max(int(chunk.total_uncompressed_size), 0)
    if claimed > MAX_DECODED_BYTES:
        raise DecodeRefused(f"its pages unpack to {_mib(claimed)} (at most {_mib(MAX_DECODED_BYTES)})")
    fixed = 0
    parquet_schema = meta.schema
    for i in range(len(parquet_schema)):
        column = parquet_schema.column(i)
        if column.max_repetition_level == 0 and column.physical_type in _WIDTH:
            fixed += meta.num_rows * _WIDTH[column.physical_type]
        elif column.max_repetition_level == 0 and column.physical_type == "FIXED_LEN_BYTE_ARRAY":
            fixed += meta.num_rows * max(int(column.length or 0), 0)
    _check_total(fixed)
    return fixed


def _check_total(decoded: float) -> None:
    if decoded > MAX_DECODED_BYTES:
        raise DecodeRefused(f"it decodes to {_mib(decoded)} (at most {_mib(MAX_DECODED_BYTES)} per result)")


def _text_size(name: str, column: pa.ChunkedArray) -> int:
    """Step 2 for one column read as a dictionary: decoded bytes (values + offsets), after checking
    the longest value; nothing is expanded."""
    total, longest = 0, 0
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):  # read as is (a nested or odd column)
            total += chunk.nbytes
            continue
        lengths = pc.binary_length(chunk.dictionary)
        if len(lengths) == 0:
            continue
        longest = max(longest, int(pc.max(lengths).as_py() or 0))
        used = pc.take(lengths, chunk.indices)
        total += int(pc.sum(used).as_py() or 0) + 8 * len(chunk)
        if longest > MAX_STRING_BYTES:  # the longest dictionary value may be unused: check rows
            longest = int(pc.max(used).as_py() or 0)
            if longest > MAX_STRING_BYTES:
                raise DecodeRefused(
                    f"it holds a string of {_mib(longest)} in column {name!r} "
                    f"(at most {_mib(MAX_STRING_BYTES)} per cell)"
                )
    return total


def check_storable(table: pa.Table) -> None:
    """Refuse (:class:`DecodeRefused`) a table that :func:`read_table` would refuse once stored."""
    _check_total(table.nbytes)
    for field in table.schema:
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if _is_text(kind):
            column = table.column(field.name)
            values = (
                column
                if not pa.types.is_dictionary(field.type)
                else pa.chunked_array([c.dictionary for c in column.chunks], type=kind)
            )
            longest = int(pc.max(pc.binary_length(values)).as_py() or 0) if len(values) else 0
            if longest > MAX_STRING_BYTES:
                raise DecodeRefused(
                    f"it holds a string of {_mib(longest)} in column {field.name!r} "
                    f"(at most {_mib(MAX_STRING_BYTES)} per cell)"
                )


def read_table(data: bytes) -> pa.Table:
    """The Arrow table in Parquet ``data``, after the checks of the module docstring.

    Raises :class:`DecodeRefused` for a limit, and pyarrow's own errors for damaged bytes.
    """
    plain = pq.ParquetFile(pa.BufferReader(data))
    schema = plain.schema_arrow
    decoded = check_footer(plain.metadata)
    texts = [f.name for f in schema if _is_text(f.type)]
    coded = [f.name for f in schema if pa.types.is_dictionary(f.type) and _is_text(f.type.value_type)]
    # One thread: the lab's frames are small, and pyarrow's pool cost more than the reading (a
    # 465-entry import: 1.5 s of to_pandas with threads, 0.3 s without, on a busy 2-core machine).
    compact = pq.ParquetFile(pa.BufferReader(data), metadata=plain.metadata, read_dictionary=texts).read(
        use_threads=False
    )
    for field in schema:
        column = compact.column(field.name)
        if field.name in texts:
            decoded += _text_size(field.name, column)  # as it will be once expanded
        elif field.name in coded:  # stays a dictionary (a pandas categorical): its cells are checked
            _text_size(field.name, column)
            decoded += column.nbytes
        elif not (pa.types.is_primitive(field.type) and field.type.bit_width):
            decoded += column.nbytes  # nested or other: as read
    _check_total(decoded)
    for name in texts:
        index = compact.schema.get_field_index(name)
        compact = compact.set_column(
            index, schema.field(name), compact.column(name).cast(schema.field(name).type)
        )
    return compact.replace_schema_metadata(schema.metadata)


def read_frame(data: bytes) -> pd.DataFrame:
    """The frame stored in Parquet ``data`` (see :func:`read_table`)."""
    return read_table(data).to_pandas(use_threads=False)
