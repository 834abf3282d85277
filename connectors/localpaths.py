"""Local paths resolved through their symlinks, cached only while still true.

Resolving a path stats every component, and planning resolves each data file (to check
it lies inside its domain's storage roots), so resolutions are cached.  A cache kept for
the life of the process went stale: a published product's ``current`` symlink is switched
by every refresh, so a long-lived process (``duckmesh serve``, a notebook) kept reading
the first version, then failed once it was pruned — and a data file swapped for a symlink
to another domain's data would have kept its old, inside-the-roots answer.  So each
entry remembers the identity of what the path reached when it was resolved, and is used
only while one ``lstat`` of the path still reaches the same thing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_MAX_ENTRIES = 65536
_cache: dict[str, tuple[tuple[int, int, int, int], Path]] = {}
_lock = threading.Lock()


def _identity(path: str) -> tuple[int, int, int, int] | None:
    """What ``path`` reaches now: device, inode, type and change time of its last
    component (not followed).  A symlink switched by rename, a file replaced by a
    symlink or a directory above either swapped for another changes it: the inode, or
    for a reused inode number, the change time of the new object."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mode, st.st_ctime_ns)


def real_path(path: Path) -> Path:
    """``path`` (absolute) with every symlink followed, as ``Path.resolve`` gives it."""
    key = str(path)
    now = _identity(key)
    if now is not None:
        hit = _cache.get(key)
        if hit is not None and hit[0] == now:
            return hit[1]
    resolved = path.resolve()
    if now is not None and _identity(key) == now:
        # Unchanged while resolving: the answer belongs to that identity.
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                _cache.clear()
            _cache[key] = (now, resolved)
    return resolved


def clear() -> None:
    """Forget every resolution (the warm worker starts each command without them)."""
    with _lock:
        _cache.clear()
