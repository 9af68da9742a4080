"""Which dataset files a tenant may have the eval service read.

Under each dataset root ``R`` (``RAGPLANE_EVAL_DATASET_DIRS``), ``R/<tenant>/...`` belongs to that tenant and
files directly in ``R`` are shared by all tenants (the SQuAD dev set the CLI fetches lives there). A file is
judged by its resolved path, symlinks followed, before it is opened, so ``..``, absolute paths and links cannot
leave the caller's folder, and a refusal says nothing about whether the file exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ragplane.runtime.errors import InvalidArgument

FIELD = "dataset_path"


class DatasetAccess:
    """The dataset files one tenant may read, and the size cap they must fit."""

    def __init__(self, roots: Sequence[str], tenant: str, max_bytes: int) -> None:
        self.roots = [Path(root).resolve() for root in roots]
        self.tenant = tenant
        self.max_bytes = max_bytes

    def resolve(self, raw: str) -> Path:
        """The file ``raw`` names: an absolute path, or a name looked up in the tenant's folders, then shared.

        Raises:
            InvalidArgument: naming dataset_path (outside the tenant's folders, missing, or over the size cap).
        """
        if not raw:
            raise InvalidArgument(FIELD, "must not be empty")
        path = Path(raw)
        if path.is_absolute():
            return self.check(path, repr(raw))
        for root in self.roots:
            for candidate in (root / self.tenant / path, root / path):
                if self._allowed(candidate.resolve()) and candidate.resolve().is_file():
                    return self.check(candidate, repr(raw))
        # Checked again so that a name escaping the folders is refused as such, not reported missing.
        return self.check(self.roots[0] / self.tenant / path, repr(raw))

    def check(self, path: Path, label: str) -> Path:
        """``path`` resolved, once it is known to be the tenant's (or shared), an existing file and small enough.

        Args:
            path: the file to read.
            label: how the message names it (what the caller gave, never the resolved server path).

        Raises:
            InvalidArgument: naming dataset_path.
        """
        resolved = path.resolve()
        if not self._allowed(resolved):
            raise InvalidArgument(
                FIELD,
                f"{label} is outside the dataset folders of tenant {self.tenant!r} (give a file of its folder "
                "in RAGPLANE_EVAL_DATASET_DIRS, or a shared file)",
            )
        if not resolved.is_file():
            raise InvalidArgument(FIELD, f"no such dataset file: {label}")
        size = resolved.stat().st_size
        if size > self.max_bytes:
            raise InvalidArgument(
                FIELD, f"{label} is {size} bytes, over RAGPLANE_EVAL_DATASET_MAX_BYTES ({self.max_bytes})"
            )
        return resolved

    def name(self, resolved: Path) -> str:
        """How ``resolved`` (a path ``check`` returned) is named to the tenant: relative to its folder, or the shared
        file's name, never the server's path."""
        for root in self.roots:
            if resolved.is_relative_to(root / self.tenant):
                return str(resolved.relative_to(root / self.tenant))
        return resolved.name

    def _allowed(self, resolved: Path) -> bool:
        for root in self.roots:
            if resolved.is_relative_to(root):
                parts = resolved.relative_to(root).parts
                if len(parts) == 1 or (len(parts) > 1 and parts[0] == self.tenant):
                    return True
        return False
