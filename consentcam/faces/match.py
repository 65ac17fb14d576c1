"""Vectorised nearest-person matching of face encodings against enrolled templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_THRESHOLD", "Match", "Matcher"]

#: Euclidean distance at or below which a face counts as the same person.
DEFAULT_THRESHOLD: Final = 0.5
# float32 squared distances are accurate to ~1e-5 for unit-scale encodings; persons within this
# much of the runner-up are re-checked in float64 so the reported ranking and distances are exact.
_REFINE_EPS: Final = 1e-3


@dataclass(frozen=True, slots=True)
class Match:
    """Result of matching one face.

    person_id: the closest person if their distance is within the threshold, else None.
    distance: distance to the closest person's closest template (None if nobody is enrolled).
    second_distance: distance to the closest *different* person (None if only one person).
    gap: second_distance - distance (None if only one person); small gaps mean look-alikes.
    """

    person_id: int | None
    distance: float | None
    second_distance: float | None
    gap: float | None


_NO_MATCH: Final = Match(None, None, None, None)


class Matcher:
    """Nearest-person search over all templates of all enrolled people (brute force, numpy)."""

    def __init__(
        self,
        templates: npt.ArrayLike,
        person_ids: Sequence[int],
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        arr = np.asarray(templates, dtype=np.float64)
        if arr.size == 0:
            arr = arr.reshape(0, 128)
        if arr.ndim != 2:
            raise ValueError(f"templates must be a 2-d array, got shape {arr.shape}")
        ids = np.asarray(list(person_ids), dtype=np.int64)
        if ids.shape[0] != arr.shape[0]:
            raise ValueError(f"{arr.shape[0]} templates but {ids.shape[0]} person ids")
        if not np.isfinite(arr).all():
            raise ValueError("templates contain NaN or infinity")
        self.threshold = float(threshold)
        order = np.argsort(ids, kind="stable")
        self._ids_sorted = ids[order]
        self._t64 = np.ascontiguousarray(arr[order])
        self._t32 = self._t64.astype(np.float32)
        self._norms32 = np.einsum("ij,ij->i", self._t32, self._t32)
        if len(ids):
            starts = np.flatnonzero(np.r_[True, self._ids_sorted[1:] != self._ids_sorted[:-1]])
        else:
            starts = np.empty(0, dtype=np.int64)
        self._starts = starts
        self._ends = np.r_[starts[1:], len(ids)].astype(np.int64)
        self._persons = self._ids_sorted[starts]

    @property
    def dim(self) -> int:
        """Length of an encoding (128 for dlib)."""
        return int(self._t64.shape[1])

    def __len__(self) -> int:
        return int(self._t64.shape[0])

    @property
    def person_count(self) -> int:
        """Number of distinct enrolled people."""
        return int(self._persons.shape[0])

    def match(self, encoding: npt.ArrayLike) -> Match:
        """Best person for one encoding."""
        return self.match_many(np.asarray(encoding, dtype=np.float64).reshape(1, -1))[0]

    def match_many(self, encodings: npt.ArrayLike) -> list[Match]:
        """Best person for each row of a (k, dim) array."""
        queries = np.asarray(encodings, dtype=np.float64)
        if queries.ndim == 1:
            queries = queries.reshape(1, -1)
        if queries.shape[0] == 0:
            return []
        if self.person_count == 0:
            return [_NO_MATCH] * queries.shape[0]
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"expected encodings of length {self.dim}, got shape {queries.shape}")
        q32 = queries.astype(np.float32)
        d2 = q32 @ self._t32.T
        d2 *= -2.0
        d2 += self._norms32[None, :]
        d2 += np.einsum("ij,ij->i", q32, q32)[:, None]
        per_person = np.minimum.reduceat(d2, self._starts, axis=1)  # (k, persons)
        return [self._finish(queries[row], per_person[row]) for row in range(queries.shape[0])]

    def _exact_person_distance(self, query: npt.NDArray[np.float64], person_index: int) -> float:
        block = self._t64[self._starts[person_index] : self._ends[person_index]]
        return float(np.sqrt(((block - query) ** 2).sum(axis=1)).min())

    def _finish(self, query: npt.NDArray[np.float64], approx: npt.NDArray[np.float32]) -> Match:
        count = approx.shape[0]
        if count == 1:
            best = self._exact_person_distance(query, 0)
            pid = int(self._persons[0]) if best <= self.threshold else None
            return Match(pid, best, None, None)
        two = np.argpartition(approx, 1)[:2]
        runner_up = float(approx[two].max())
        candidates = np.flatnonzero(approx <= runner_up + _REFINE_EPS)
        exact = sorted((self._exact_person_distance(query, int(i)), int(i)) for i in candidates)
        (best, best_i), (second, _) = exact[0], exact[1]
        pid = int(self._persons[best_i]) if best <= self.threshold else None
        return Match(pid, best, second, second - best)
