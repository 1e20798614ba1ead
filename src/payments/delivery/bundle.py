"""Reproducible Lambda bundles: the same files give byte-identical zips.

Entries are written in sorted order with a fixed timestamp (1980-01-01, the zip format's epoch), fixed
permissions and no host metadata, so a bundle's hash depends on its contents alone; CloudFormation then
updates a function only when its code really changed.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)
FILE_MODE: Final = 0o644 << 16
SKIPPED: Final = frozenset({"__pycache__", ".DS_Store"})
LAMBDA_ZIPPED_LIMIT_MB: Final = 50  # a direct upload; through S3 only the unzipped limit holds
LAMBDA_UNZIPPED_LIMIT_MB: Final = 250  # the function and all its layers


def bundle_files(root: Path, *, prefix: str = "") -> list[tuple[str, Path]]:
    """(name in the zip, file) for every file under `root`, sorted, caches left out."""
    entries = []
    for path in root.rglob("*"):
        if path.is_file() and not SKIPPED & set(path.relative_to(root).parts) and path.suffix != ".pyc":
            entries.append((prefix + path.relative_to(root).as_posix(), path))
    return sorted(entries)


def write_zip(entries: Iterable[tuple[str, Path]], target: Path) -> str:
    """Write the entries deterministically; the zip's SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = FILE_MODE
            info.create_system = 3  # Unix, whatever builds it
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def unzipped_mb(entries: Iterable[tuple[str, Path]]) -> float:
    return sum(path.stat().st_size for _, path in entries) / 2**20
