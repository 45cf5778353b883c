"""Hand-built zip archives for the hostile-file tests: any member, method, flag or size."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Member:
    """One zip member as written: ``data`` is the bytes stored in the archive (compressed or
    not); ``size`` and ``crc`` are what the headers declare (by default those of ``data``)."""

    name: str
    data: bytes
    method: int = zipfile.ZIP_STORED
    size: int | None = None
    crc: int | None = None
    flags: int = 0

    def declared_size(self) -> int:
        return len(self.data) if self.size is None else self.size

    def declared_crc(self) -> int:
        return zlib.crc32(self.data) if self.crc is None else self.crc


def write_zip(path: Path, members: list[Member]) -> None:
    """Write ``members`` as a zip archive, exactly as declared (no zip64)."""
    body = bytearray()
    central = bytearray()
    for member in members:
        name = member.name.encode("utf-8")
        fields = (20, member.flags, member.method, 0, 0x21, member.declared_crc(),
                  len(member.data), member.declared_size(), len(name))  # fmt: skip
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name + member.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0,
                               offset) + name  # fmt: skip
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0
    )
    path.write_bytes(bytes(body + central + end))


def members_of(path: Path) -> list[Member]:
    """The members of a zip archive plugnet wrote, as stored."""
    with zipfile.ZipFile(path) as archive:
        return [Member(info.filename, archive.read(info)) for info in archive.infolist()]


def npy(array: Any) -> bytes:
    """``array`` as ``.npy`` bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    """Just the ``.npy`` header declaring ``shape`` and ``dtype``, without the data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def with_member(members: list[Member], name: str, **changes: Any) -> list[Member]:
    """``members`` with the member ``name`` changed (its data, method, size, crc or flags)."""
    assert any(m.name == name for m in members), name
    return [replace(m, **changes) if m.name == name else m for m in members]
