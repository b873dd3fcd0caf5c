"""Match request ids of predictions and feedback exactly, without a string hash table.

Arrow's string hashing (``dictionary_encode`` / ``index_in``) runs on one thread and is
slow once millions of distinct ids overflow every cache (benchmarks/README.md). Here
each id is hashed to 64 bits by NumPy passes over 8-byte words of its bytes, in blocks
that stay in cache; both sides' hashes, each carrying its position in the low bits, are
sorted together (one SIMD sort of plain integers, no argsort), so equal ids meet in
runs. A run's ids are then *compared byte for byte* with the run's first feedback id:
the hash only proposes matches, equality decides, so the result is exact whatever the
hash collides on. Runs where a comparison fails (distinct ids whose truncated hashes
met) are redone exactly with Arrow on their few ids.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

_U = np.uint64
_K1, _K2, _K3 = _U(0x9E3779B97F4A7C15), _U(0xBF58476D1CE4E5B9), _U(0x94D049BB133111EB)
_ONES = _U(0xFFFFFFFFFFFFFFFF)
#: Ids hashed / compared per NumPy pass (small enough for the temporaries to stay in L2).
BLOCK = 1 << 15
#: Sorted keys scanned per block when finding runs of equal hashes.
_SORTED_BLOCK = 1 << 17
#: Predicted ids copied to words at a time (one group of chunks of about this many).
_GROUP_ROWS = 1 << 20
#: Threads hashing / comparing blocks side by side.
_THREADS = min(2, os.cpu_count() or 1)


@dataclass
class Strings:
    """The bytes of a string column as 8-byte words, and where each value lies.

    ``words`` holds every value's bytes (chunk after chunk) and zero padding beyond the
    longest value; value ``i`` is bytes ``offsets[i]:offsets[i + 1]``. ``valid`` tells
    which values are not null (None when none is).
    """

    words: NDArray[np.uint64]
    offsets: NDArray[Any]
    valid: NDArray[np.bool_] | None
    longest: int

    @property
    def size(self) -> int:
        """Number of values."""
        return int(self.offsets.size - 1)

    @classmethod
    def from_arrow(cls, column: Any) -> Strings:
        """From a pyarrow (chunked) string or large_string array."""
        import pyarrow as pa

        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        views = []
        for ch in chunks:
            if pa.types.is_dictionary(ch.type):
                ch = ch.cast(ch.type.value_type)
            if not (pa.types.is_string(ch.type) or pa.types.is_large_string(ch.type)):
                raise TypeError(f"request ids must be strings, got {ch.type}")
            bufs = ch.buffers()
            dt = np.dtype(np.int64 if pa.types.is_large_string(ch.type) else np.int32)
            off = np.frombuffer(
                bufs[1], dtype=dt, count=len(ch) + 1, offset=ch.offset * dt.itemsize
            )
            views.append((ch, off, bufs[2]))
        total = sum(int(off[-1]) - int(off[0]) for _, off, _ in views)
        n = sum(len(ch) for ch, _, _ in views)
        offsets: NDArray[Any] = np.zeros(n + 1, dtype=np.int32 if total < 2**31 - 8 else np.int64)
        longest = 0
        for ch, off, _ in views:
            if len(ch):
                longest = max(longest, int(np.diff(off).max()))
        words = np.zeros(total // 8 + longest // 8 + 3, dtype=np.uint64)
        raw = words.view(np.uint8)
        at = row = 0
        valid = None
        for ch, off, data in views:
            lo, hi = int(off[0]), int(off[-1])
            if hi > lo:
                raw[at : at + hi - lo] = np.frombuffer(data, dtype=np.uint8, count=hi)[lo:]
            np.subtract(
                off[1:], lo - at, out=offsets[row + 1 : row + 1 + len(ch)], casting="unsafe"
            )
            if ch.null_count:
                if valid is None:
                    valid = np.ones(n, dtype=bool)
                valid[row : row + len(ch)] = np.asarray(
                    ch.is_valid().to_numpy(zero_copy_only=False), dtype=bool
                )
            at += hi - lo
            row += len(ch)
        return cls(words, offsets, valid, longest)


#: MASKS[k] keeps the low k bytes of a little-endian word.
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _words(
    words: NDArray[np.uint64], starts: NDArray[Any], lens: NDArray[Any], longest: int
) -> Iterator[tuple[NDArray[np.uint64], NDArray[Any]]]:
    """Successive 8-byte words of the values (zero past their end) and bytes left before."""
    q = starts >> 3
    rem = lens
    if not (starts & 7).any():  # every value starts on a word (fixed-width ids often do)
        for _ in range(0, longest, 8):
            w = words[q]
            if int(rem.min()) < 8:
                w &= _MASKS[np.clip(rem, 0, 8)]
            yield w, rem
            q = q + 1
            rem = rem - 8
        return
    shift = ((starts & 7) << 3).astype(np.uint64)
    back = _U(64) - shift  # a shift by 64 gives 0 in NumPy: aligned values need no `hi`
    lo = words[q]
    for _ in range(0, longest, 8):
        q += 1
        hi = words[q]
        w = lo >> shift
        w |= hi << back
        if int(rem.min()) < 8:
            w &= _MASKS[np.clip(rem, 0, 8)]
        yield w, rem
        lo = hi
        rem = rem - 8


def _blocks(n: int, work: Callable[[int, int], None]) -> None:
    """Run ``work(lo, hi)`` over ``BLOCK``-sized ranges of ``0..n``, on a few threads.

    NumPy releases the GIL inside each pass, so two threads use two cores; every block
    writes its own slice of the output.
    """
    spans = [(lo, min(lo + BLOCK, n)) for lo in range(0, n, BLOCK)]
    if _THREADS < 2 or len(spans) < 8:
        for lo, hi in spans:
            work(lo, hi)
        return
    from concurrent.futures import ThreadPoolExecutor

    def run(part: list[tuple[int, int]]) -> None:
        for lo, hi in part:
            work(lo, hi)

    step = -(-len(spans) // _THREADS)
    with ThreadPoolExecutor(_THREADS) as pool:
        for f in [pool.submit(run, spans[k : k + step]) for k in range(0, len(spans), step)]:
            f.result()


def hash64(
    s: Strings, out: NDArray[np.uint64] | None = None, *, tag: int = 0, bits: int = 0
) -> NDArray[np.uint64]:
    """A 64-bit hash of each value (of its length and bytes; nulls: any value).

    With ``bits``, the low ``bits`` bits of each hash are replaced by the value's
    position plus ``tag`` (so sorting the hashes also sorts positions within ties).
    """
    res = np.empty(s.size, dtype=np.uint64) if out is None else out
    keep = ~_U((1 << bits) - 1)

    def work(lo: int, hi: int) -> None:
        starts = s.offsets[lo : hi + 1]
        lens = np.diff(starts)
        h = lens.astype(np.uint64) * _K1
        for w, rem in _words(s.words, starts[:-1], lens, int(lens.max(initial=0))):
            g = h ^ w
            g *= _K2
            g ^= g >> _U(29)
            if int(rem.min()) > 0:
                h = g
            else:  # values that ended already keep their hash
                np.copyto(h, g, where=rem > 0)
        h ^= h >> _U(30)
        h *= _K2
        h ^= h >> _U(27)
        h *= _K3
        h ^= h >> _U(31)
        if bits:
            h &= keep
            h |= np.arange(tag + lo, tag + hi, dtype=np.uint64)
        res[lo:hi] = h

    _blocks(s.size, work)
    return res


def equal_pairs(
    a: Strings, ia: NDArray[Any] | None, b: Strings, ib: NDArray[Any]
) -> NDArray[np.bool_]:
    """Whether value ``a[ia[k]]`` equals value ``b[ib[k]]``, byte for byte, for each k.

    ``ia=None`` stands for every value of ``a`` in order.
    """
    n = a.size if ia is None else ia.size
    out = np.empty(n, dtype=bool)

    def work(lo: int, hi: int) -> None:
        if ia is None:
            ends = a.offsets[lo : hi + 1]
            sa, la = ends[:-1], np.diff(ends)
        else:
            i = ia[lo:hi]
            sa = a.offsets[i]
            la = a.offsets[i + 1] - sa
        j = ib[lo:hi]
        sb = b.offsets[j]
        eq = la == (b.offsets[j + 1] - sb)
        la = np.where(eq, la, 0)  # lengths differ: unequal already (and stay in bounds)
        longest = int(la.max(initial=0))
        for (wa, _), (wb, _) in zip(
            _words(a.words, sa, la, longest), _words(b.words, sb, la, longest), strict=True
        ):
            eq &= wa == wb
        out[lo:hi] = eq

    _blocks(n, work)
    return out


def _exact_codes(
    pred: Any, fb: Any, pred_idx: NDArray[np.int64], fb_idx: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Codes of a few ids by Arrow's exact hashing, as in :func:`match_ids`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(fb.take(pa.array(fb_idx)))
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    idx = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    _, first = np.unique(idx, return_index=True)  # the dictionary is in order of appearance
    code = fb_idx[first]
    found = pc.index_in(pred.take(pa.array(pred_idx)), value_set=enc.dictionary)
    pr = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return code[idx], np.where(pr >= 0, code[np.maximum(pr, 0)], -1)


def _groups(column: Any) -> list[Any]:
    """The chunks of a (chunked) array gathered into groups of about ``_GROUP_ROWS``."""
    import pyarrow as pa

    if not isinstance(column, pa.ChunkedArray):
        return [column]
    out, pending, size = [], [], 0
    for ch in column.chunks:
        pending.append(ch)
        size += len(ch)
        if size >= _GROUP_ROWS:
            out.append(pa.chunked_array(pending, type=column.type))
            pending, size = [], 0
    if pending or not out:
        out.append(pa.chunked_array(pending, type=column.type))
    return out


def match_ids(pred_ids: Any, fb_ids: Any) -> tuple[NDArray[Any], NDArray[Any]]:
    """Code every request id by the position of its first feedback row.

    Parameters
    ----------
    pred_ids, fb_ids : pyarrow (chunked) string arrays
        Request ids of the predicted rows and of the feedback rows.

    Returns
    -------
    fb_code : ndarray of int32 (int64 beyond 2**31 ids)
        For each feedback row, the position of the first feedback row with the same id
        (-1 for a null id).
    pred_code : ndarray, same dtype
        For each predicted row, the position of the first feedback row with its id, or -1
        when no feedback row has it.

    Examples
    --------
    >>> import pyarrow as pa
    >>> fb, pred = match_ids(pa.array(["b", "x", "a"]), pa.array(["a", "b", "a"]))
    >>> fb.tolist(), pred.tolist()
    ([0, 1, 0], [1, -1, 0])
    """
    f = Strings.from_arrow(fb_ids)
    groups = _groups(pred_ids)  # the predictions' ids are read a group of chunks at a time
    n, m = sum(len(g) for g in groups), f.size
    if m == 0:
        return np.zeros(0, dtype=np.int32), np.full(n, -1, dtype=np.int32)
    total = m + n
    bits = max(1, (total - 1).bit_length())
    itype = np.int32 if total < 2**31 else np.int64
    keys = np.empty(total, dtype=np.uint64)  # feedback first: a run's leader is feedback
    hash64(f, keys[:m], tag=0, bits=bits)
    valid = None if f.valid is None else np.concatenate([f.valid, np.ones(n, dtype=bool)])
    at = m
    for g in groups:
        p = Strings.from_arrow(g)
        hash64(p, keys[at : at + p.size], tag=at, bits=bits)
        if p.valid is not None:
            if valid is None:
                valid = np.ones(total, dtype=bool)
            valid[at : at + p.size] = p.valid
        at += p.size
    del p
    nulls = valid is not None
    if valid is not None:  # null ids match nothing
        keys = keys[valid]
    keys.sort()
    # one pass over the sorted keys, block by block: runs of equal hash bits, each
    # entry's run leader (the run's first entry: its first feedback row, if any)
    code: NDArray[Any] = np.full(total, -1, dtype=itype) if nulls else np.empty(total, itype)
    mask, shift = (1 << bits) - 1, _U(bits)
    dup_pos: list[NDArray[Any]] = []
    dup_lead: list[NDArray[Any]] = []

    def scan(part: NDArray[np.uint64]) -> None:
        prev_hash, prev_lead = None, -1
        for lo in range(0, part.size, _SORTED_BLOCK):
            kb = part[lo : lo + _SORTED_BLOCK]
            pos: NDArray[Any] = kb.astype(itype)  # low bits: position (feedback < m)
            pos &= mask
            hb = kb >> shift
            first = np.empty(kb.size, dtype=bool)
            first[0] = prev_hash is None or hb[0] != prev_hash
            np.not_equal(hb[1:], hb[:-1], out=first[1:])
            leaders = np.concatenate([np.array([prev_lead], dtype=itype), pos[first]])
            lead = leaders[np.cumsum(first)]  # before the block's first run: carried
            code[pos] = lead
            d = np.flatnonzero(~first & (pos < m))  # repeated feedback ids (or collisions)
            if d.size:
                dup_pos.append(pos[d])
                dup_lead.append(lead[d])
            prev_hash, prev_lead = hb[-1], int(lead[-1])

    # split where a run starts, so that each part is scanned on its own thread
    cuts = [0, keys.size]
    if _THREADS > 1 and keys.size > 4 * _SORTED_BLOCK:
        mid = int(keys[keys.size // 2] >> shift) << bits
        cuts.insert(1, int(np.searchsorted(keys, _U(mid), side="left")))
    parts = [keys[a:b] for a, b in itertools.pairwise(cuts)]
    if len(parts) == 1:
        scan(keys)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(parts)) as pool:
            for job in [pool.submit(scan, part) for part in parts]:
                job.result()
    del parts
    del keys
    bad = np.zeros(m, dtype=bool)  # leaders whose run holds different ids
    # every other id of a feedback-led run must equal its leader, byte for byte
    if dup_pos:
        dp, dl = np.concatenate(dup_pos), np.concatenate(dup_lead)
        bad[dl[~equal_pairs(f, dp, f, dl)]] = True
    fb_code, pred_code = code[:m], code[m:]
    led = pred_code < m
    if nulls:
        led &= pred_code >= 0
    rows = None if led.all() else np.flatnonzero(led)  # predictions with a candidate
    at = 0
    for g in groups:  # in prediction order: one side reads sequentially
        p = Strings.from_arrow(g)
        if rows is None:
            to = pred_code[at : at + p.size]
            bad[to[~equal_pairs(p, None, f, to)]] = True
        else:
            r = rows[np.searchsorted(rows, at) : np.searchsorted(rows, at + p.size)]
            to = pred_code[r]
            bad[to[~equal_pairs(p, r - at, f, to)]] = True
        at += p.size
    if rows is not None:
        pred_code[~led] = -1
    if bad.any():  # exact, for the few ids whose runs held different ids
        fb_bad = np.flatnonzero(bad[np.maximum(fb_code, 0)] & (fb_code >= 0))
        pr_bad = np.flatnonzero(bad[np.maximum(pred_code, 0)] & (pred_code >= 0))
        fb_code[fb_bad], pred_code[pr_bad] = _exact_codes(pred_ids, fb_ids, pr_bad, fb_bad)
    return fb_code, pred_code
