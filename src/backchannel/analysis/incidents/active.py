"""The active activities, indexed: a new one is checked against all without a full scan.

The index is a Shapely STRtree of boxes in degrees that hold each footprint widened by
the warning distance (two boxes for one that crosses the antimeridian).  A check asks
the tree for the activities whose boxes meet the new one's, and decides each candidate
exactly (``meet``).  Boxes only ever hold more than the footprint, so the index finds
exactly what a check against every activity finds (``brute_force``; the tests and the
benchmark compare the two).  Beside the tree, arrays of every activity's window and
band rule out, in one vectorised step, the candidates that do not meet the new one in
time or in height, so that only those that may are decided one by one.  The tree and
the arrays are rebuilt, once, on the first check after the set changed.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import STRtree

from .meet import Activity, Meeting, band, meet


class ActiveSet:
    def __init__(self, warning_m: float) -> None:
        self.warning_m = warning_m
        self._by_key: dict[str, Activity] = {}
        self._tree: STRtree | None = None
        self._keys: list[str] = []  # the activities, in the arrays' order
        self._owner = np.zeros(0, dtype=np.int64)  # each box's activity
        self._windows = np.zeros((0, 4))  # start, end, floor, ceiling

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, activity: Activity) -> None:
        """Add (or replace: a new version) an activity."""
        self._by_key[activity.key] = activity
        self._tree = None

    def remove(self, key: str) -> None:
        if self._by_key.pop(key, None) is not None:
            self._tree = None

    def check(self, activity: Activity) -> list[Meeting]:
        """Every active activity the new one would meet (itself excepted), by key."""
        found = []
        for key in self.candidates(activity):
            meeting = meet(activity, self._by_key[key], self.warning_m)
            if meeting is not None:
                found.append(meeting)
        return sorted(found, key=_order)

    def candidates(self, activity: Activity) -> list[str]:
        """The activities whose boxes meet the new one's and that meet it in time and
        height: a superset of those it meets."""
        tree = self._built()
        if tree is None:
            return []
        boxes = [shapely.box(*b) for b in activity.area.bounds()]  # the stored ones are widened
        near = np.unique(self._owner[np.concatenate([tree.query(b) for b in boxes])])
        start, end, floor, ceiling = self._windows[near].T
        low, high = band(activity)
        meets = (np.maximum(start, activity.start) < np.minimum(end, activity.end)) & (
            np.maximum(floor, low) <= np.minimum(ceiling, high)
        )
        keys = {self._keys[i] for i in near[meets]}
        keys.discard(activity.key)
        return sorted(keys)

    def _built(self) -> STRtree | None:
        if self._tree is None and self._by_key:
            boxes, owner = [], []
            self._keys = list(self._by_key)
            for i, key in enumerate(self._keys):
                for b in self._by_key[key].area.bounds(self.warning_m):
                    boxes.append(shapely.box(*b))
                    owner.append(i)
            self._tree, self._owner = STRtree(boxes), np.array(owner, dtype=np.int64)
            self._windows = np.array(
                [(a.start, a.end, *band(a)) for a in self._by_key.values()], dtype=float
            )
        return self._tree


def brute_force(activity: Activity, actives: list[Activity], warning_m: float) -> list[Meeting]:
    """The same check against every activity, one by one (for the tests and the benchmark)."""
    found = [m for other in actives if (m := meet(activity, other, warning_m)) is not None]
    return sorted(found, key=_order)


def _order(m: Meeting) -> tuple[str, str]:
    return (m.first[0], m.second[0])
