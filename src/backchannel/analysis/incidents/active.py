"""The active activities, indexed: a new one is checked against all without a full scan.

The index is a Shapely STRtree of boxes in degrees that hold each footprint widened by
the warning distance (two boxes for one that crosses the antimeridian).  A check asks
the tree for the activities whose boxes meet the new one's, and decides each candidate
exactly (``meet``).  Boxes only ever hold more than the footprint, so the index finds
exactly what a check against every activity finds (``brute_force``; the tests and the
benchmark compare the two).  The tree is rebuilt, once, on the first check after the
set changed.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import STRtree

from .meet import Activity, Meeting, in_height, in_time, meet


class ActiveSet:
    def __init__(self, warning_m: float) -> None:
        self.warning_m = warning_m
        self._by_key: dict[str, Activity] = {}
        self._tree: STRtree | None = None
        self._owners: list[str] = []

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
            other = self._by_key[key]
            if in_time(activity, other) and in_height(activity, other):
                meeting = meet(activity, other, self.warning_m)
                if meeting is not None:
                    found.append(meeting)
        return sorted(found, key=_order)

    def candidates(self, activity: Activity) -> list[str]:
        tree = self._built()
        boxes = [shapely.box(*b) for b in activity.area.bounds()]  # the stored ones are widened
        if tree is None:
            return []
        hits = np.unique(np.concatenate([tree.query(b) for b in boxes]))
        keys = {self._owners[i] for i in hits}
        keys.discard(activity.key)
        return sorted(keys)

    def _built(self) -> STRtree | None:
        if self._tree is None and self._by_key:
            boxes, owners = [], []
            for key, activity in self._by_key.items():
                for b in activity.area.bounds(self.warning_m):
                    boxes.append(shapely.box(*b))
                    owners.append(key)
            self._tree, self._owners = STRtree(boxes), owners
        return self._tree


def brute_force(activity: Activity, actives: list[Activity], warning_m: float) -> list[Meeting]:
    """The same check against every activity, one by one (for the tests and the benchmark)."""
    found = [m for other in actives if (m := meet(activity, other, warning_m)) is not None]
    return sorted(found, key=_order)


def _order(m: Meeting) -> tuple[str, str]:
    return (m.first[0], m.second[0])
