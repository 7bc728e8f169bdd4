"""Subject ids for many national ids at once, each HMAC computed once per run."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from credence.store.keys import Keys


class Pseudonyms:
    """Subject ids (:meth:`Keys.subject_id`) for many national ids, each computed once per run.

    The HMAC of ``cryptography`` is keyed once and copied per id: a copy skips the key
    schedule, and costs about half of the standard ``hmac`` module's copy or one-shot
    ``hmac.digest`` (whose Python wrapper dominates for ids this short). The first id is
    checked against the store's own function (``hmac.digest``), so the two can never differ
    silently.
    """

    def __init__(self, keys: Keys) -> None:
        import pyarrow as pa

        self.keys = keys
        self.keyed = hmac.HMAC(keys.subject, hashes.SHA256())
        self.ready = self._hmac("0") == keys.subject_id("0")
        # National ids hashed so far in this run, and their subject ids (same order).
        self.nids = pa.array([], pa.string())
        self.sids = pa.array([], pa.string())

    def _hmac(self, national_id: str) -> str:
        mac = self.keyed.copy()
        mac.update(national_id.encode())
        return mac.finalize().hex()

    def many(self, distinct: Any) -> tuple[Any, list[str]]:
        """The subject ids of distinct national ids (Arrow), and those first asked for here.

        The known ones are found by an Arrow hash join (no Python object per id; a dict look-up
        per id cost more than the HMAC itself), and only the new ones are hashed.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        where = pc.index_in(distinct, value_set=self.nids)
        missing = pc.is_null(where)
        found = pc.take(self.sids, where)
        if not pc.any(missing).as_py():
            return found, []
        unknown = pc.filter(distinct, missing)
        subject_id = self._hmac if self.ready else self.keys.subject_id
        new = [subject_id(nid) for nid in unknown.to_pylist()]
        hashed = pa.array(new, pa.string())
        # Past the cap an id is hashed (and reported new) again: harmless, the subjects are
        # written with INSERT OR IGNORE / ON CONFLICT DO NOTHING.
        if len(self.nids) < 2_000_000:
            self.nids = pa.concat_arrays([self.nids, unknown])
            self.sids = pa.concat_arrays([self.sids, hashed])
        return pc.replace_with_mask(found, missing, hashed), new
