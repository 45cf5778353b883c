"""Chunks of samples small enough to stay in cache between the NumPy operations on them.

batch_norm and the pools walk a batch a chunk of samples at a time: an array a chunk's
operation has just written (x − μ, the window columns, y) is still in the L2 or L3 cache for
the next operation that reads it.
"""

from __future__ import annotations

# About how many bytes of an array one chunk of samples holds.
CHUNK_BYTES = 1 << 20


def sample_chunks(samples: int, sample_bytes: int) -> list[slice]:
    """Slices of ``samples`` samples of ``sample_bytes`` each, about :data:`CHUNK_BYTES` a
    slice and at least one sample; one (empty) slice for no samples."""
    step = max(1, CHUNK_BYTES // max(sample_bytes, 1))
    return [slice(start, start + step) for start in range(0, max(samples, 1), step)]
