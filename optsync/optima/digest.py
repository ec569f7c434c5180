"""The digest of a fingerprint's aggregates, as the driver returned them.

Without SQLAlchemy, so that the quiet check of a pass (:mod:`optsync.sync.quiet`) computes
the same digest from the same SQL as the pass itself (:mod:`optsync.optima.fingerprint`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def rows_digest(results: Iterable[list]) -> str:
    """One digest of several queries' rows (tuples of driver values), in order."""
    digest = hashlib.blake2b(digest_size=16)
    for rows in results:
        for row in rows:
            digest.update(repr(tuple(row)).encode())
    return "fp:" + digest.hexdigest()
