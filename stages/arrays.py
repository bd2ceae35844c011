""".npy files written row by row and read by rows, with plain file IO instead of memory maps.

A memory-mapped file counts every page the process has touched in its resident memory, so
the stages' RSS would grow with the dataset although those pages are the kernel's cache to
drop. Writing rows with `write`/`pwrite` and reading them with `pread` keeps the data in the
page cache and out of the process: memory stays bounded by a chunk or a batch whatever the
data size.
The files are ordinary .npy files: `np.load` reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.lib import format as npy

from stages.errors import PipelineError


HEADER_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}


@dataclass(frozen=True)
class RowSlots:
    """The rows of a `RowWriter`'s file, for any process to fill by position (see `put`)."""

    path: Path
    offset: int
    dtype: np.dtype
    row_shape: tuple[int, ...]
    rows: int

    @property
    def row_bytes(self) -> int:
        return self.dtype.itemsize * int(np.prod(self.row_shape, dtype=np.int64))

    def put(self, start: int, rows: np.ndarray) -> None:
        """Write `rows` as rows `start`, `start + 1`, … of the file."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape or not 0 <= start <= start + len(rows) <= self.rows:
            raise ValueError(f"{self.path}: rows of shape {rows.shape} do not fit {(self.rows, *self.row_shape)} at {start}")
        data, position = memoryview(rows).cast("B"), self.offset + start * self.row_bytes
        fd = os.open(self.path, os.O_WRONLY)
        try:
            while data:
                written = os.pwrite(fd, data, position)
                data, position = data[written:], position + written
        finally:
            os.close(fd)


class RowWriter:
    """A .npy file of `shape` filled by appending rows in order, or by position through
    `slots` from other processes; complete only when closed with every row counted."""

    def __init__(self, path: Path, dtype: np.dtype | type, shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape = Path(path), np.dtype(dtype), tuple(shape)
        self.written = 0
        with open(self.path, "wb") as file:
            header = {"descr": npy.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
            npy.write_array_header_1_0(file, header)
            self.slots = RowSlots(self.path, file.tell(), self.dtype, self.shape[1:], self.shape[0])
            file.truncate(self.slots.offset + self.slots.row_bytes * self.shape[0])

    def write(self, rows: np.ndarray) -> None:
        """Append `rows` (any number of them, each of the file's row shape)."""
        self.slots.put(self.written, rows)
        self.written += len(rows)

    def filled(self, count: int) -> None:
        """Count `count` rows as written through `slots`."""
        self.written += count

    def close(self) -> None:
        """Finish the file; fewer rows than its shape promises is an error."""
        if self.written != self.shape[0]:
            raise ValueError(f"{self.path}: {self.written} rows written of {self.shape[0]}")

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()


class Rows:
    """A .npy file's rows, read on demand; the file stays open until the object is dropped."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as file:
            try:
                read_header = HEADER_READERS[npy.read_magic(file)]
                self.shape, fortran_order, self.dtype = read_header(file)
            except (KeyError, ValueError) as error:
                raise PipelineError(f"{self.path}: not a .npy array ({error})") from None
            self.offset = file.tell()
        if fortran_order or not self.shape:
            raise PipelineError(f"{self.path}: expected a C-ordered array of rows, found shape {self.shape}")
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self.fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __del__(self) -> None:
        if hasattr(self, "fd"):
            os.close(self.fd)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """The rows at `indices`, in that order; each run of consecutive rows is one read."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"{self.path}: row index out of range 0..{len(self) - 1}")
        out = np.empty((len(indices), *self.shape[1:]), dtype=self.dtype)
        flat = out.view(np.uint8).reshape(len(indices), self.row_bytes)
        breaks = np.flatnonzero(np.diff(indices) != 1) + 1
        for start, end in zip(np.r_[0, breaks], np.r_[breaks, len(indices)]) if len(indices) else ():
            buffer = flat[start:end].reshape(-1)
            read = os.preadv(self.fd, [buffer], self.offset + int(indices[start]) * self.row_bytes)
            if read != buffer.nbytes:
                raise PipelineError(f"{self.path}: truncated (row {indices[start]} onwards unreadable)")
        return out
