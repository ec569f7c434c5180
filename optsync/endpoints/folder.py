"""The ``folder`` endpoint: JSON Lines files out, JSON / JSON Lines files in.

optsync's mark lives in ``<folder>/.optsync-mark.json``. Temporary files are dotfiles ending in
``.tmp`` (``out/<entity>/.<time>-<run>.jsonl.tmp``, ``.optsync-mark.json.tmp``); those a killed
pass left behind are removed by the next pass of the company (:meth:`FolderEndpoint.remove_leftovers`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from optsync.endpoints.base import Endpoint, EndpointMark, Export, Inbound, Status
from optsync.endpoints.records import (
    ENTITY_KEYS,
    MalformedRecord,
    inbound_label,
    inbound_record,
    outbound_json,
)
from optsync.errors import Unreachable

MARK_FILE = ".optsync-mark.json"
# optsync's own temporary names, and only those, are ever removed as leftovers.
OUT_TMP = re.compile(r"^\.\d{8}T\d{6}\.\d{6}Z-(\d+)\.jsonl\.tmp$")
MARK_TMP = MARK_FILE + ".tmp"

log = logging.getLogger(__name__)


def folder_path(target: str) -> Path:
    """The folder of a target: a path, or a ``file://`` URL."""
    target = target.strip()
    if target[:7].lower() == "file://":
        parsed = urlparse(target)
        path = url2pathname(unquote(parsed.path))
        if parsed.netloc and parsed.netloc != "localhost":
            path = f"//{parsed.netloc}{path}"  # a UNC share
        return Path(path)
    return Path(target).expanduser()


def dump_line(obj: Mapping[str, Any]) -> str:
    """One JSON Lines line (UTF-8 text, no ASCII escaping), newline included."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _fsync_dir(path: Path) -> None:
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _free_name(path: Path) -> Path:
    """The path, or the first ``name-2.ext``, ``name-3.ext``... that does not exist yet."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


@dataclass(frozen=True, slots=True)
class FileRef:
    """Where an inbound record came from: its file and its position in it."""

    path: Path
    index: int


@dataclass
class _InboxFile:
    """What a pass knows about one inbox file: its records, their marks, whether it was read through."""

    path: Path
    where: list[str] = field(default_factory=list)  # per record: "a.json" or "b.jsonl:3"
    labels: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # read errors, rejected unless marked
    marks: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    complete: bool = False


class FolderEndpoint(Endpoint):
    """A folder shared with the application: ``out/<entity>/*.jsonl`` and ``in/<entity>/*.json[l]``."""

    kind = "folder"

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.root = folder_path(target)
        self._files: dict[str, dict[Path, _InboxFile]] = {}

    @classmethod
    def accepts(cls, target: str) -> bool:
        """Paths and ``file://`` URLs."""
        lowered = target.strip().lower()
        if lowered.startswith("file://"):
            return True
        return "://" not in lowered and not lowered.startswith("odbc:")

    def check(self) -> None:
        """Raise Unreachable unless the folder exists and is writable."""
        if not self.root.is_dir():
            raise Unreachable(
                f"the folder endpoint {self.root} does not exist",
                "Create the folder, or check that its share is mounted",
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise Unreachable(
                f"the folder endpoint {self.root} is not writable",
                "Give the user running optsync write access to it",
            )

    # --- optsync's mark and leftovers --------------------------------------------------------

    @property
    def mark_path(self) -> Path:
        return self.root / MARK_FILE

    def read_marks(self) -> dict[str, EndpointMark]:
        """The marks in ``.optsync-mark.json``; {} when it is missing or unreadable (damaged)."""
        try:
            data = json.loads(self.mark_path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("the mark file %s cannot be read (%s); taken as missing",
                        self.mark_path, exc)
            return {}
        marks: dict[str, EndpointMark] = {}
        items = data.get("marks") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else ():
            try:
                mark = EndpointMark.from_json(item) if isinstance(item, dict) else None
            except ValueError:
                mark = None
            if mark is not None:
                marks[mark.identity] = mark
        return marks

    def write_mark(self, mark: EndpointMark) -> None:
        """Replace the mark of its identity in ``.optsync-mark.json`` (written aside, renamed)."""
        self.check()
        marks = self.read_marks()
        marks[mark.identity] = mark
        body = {"optsync_mark": 1,
                "marks": [m.as_json() for _, m in sorted(marks.items())]}
        tmp = self.root / MARK_TMP
        with open(tmp, "w", encoding="utf-8", newline="\n") as out:
            out.write(json.dumps(body, ensure_ascii=False, indent=1) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.mark_path)
        _fsync_dir(self.root)

    def holds_data(self) -> bool:
        """Whether an ``out`` folder exists (an earlier optsync exported here)."""
        return (self.root / "out").is_dir()

    def remove_leftovers(self, older_than: float, keep_runs: set[int]) -> list[str]:
        """Remove optsync's temporary files older than ``older_than`` (none of ``keep_runs``)."""
        candidates: list[tuple[Path, int | None]] = [(self.root / MARK_TMP, None)]
        out = self.root / "out"
        if out.is_dir():
            for folder in sorted(p for p in out.iterdir() if p.is_dir()):
                for path in sorted(folder.iterdir()):
                    found = OUT_TMP.match(path.name)
                    if found:
                        candidates.append((path, int(found.group(1))))
        removed: list[str] = []
        for path, run_id in candidates:
            if run_id is not None and run_id in keep_runs:
                continue
            try:
                if not path.is_file() or path.stat().st_mtime >= older_than:
                    continue
                path.unlink()
            except OSError:
                continue  # gone meanwhile, or not ours to remove: left alone
            removed.append(path.relative_to(self.root).as_posix())
        return removed

    # --- export ---------------------------------------------------------------------------

    def _export(self, entity: str, run_id: int) -> Export:
        self.check()
        return FolderExport(self.root / "out" / entity, entity, run_id)

    # --- import ---------------------------------------------------------------------------

    def _inbox(self, entity: str) -> Iterator[Inbound]:
        self.check()
        folder = self.root / "in" / entity
        if not folder.is_dir():
            return
        names = sorted(
            p.name
            for p in folder.iterdir()
            if not p.name.startswith(".")
            and p.suffix.lower() in (".json", ".jsonl")
            and p.is_file()
        )
        tracked = self._files.setdefault(entity, {})
        for name in names:
            state = tracked[folder / name] = _InboxFile(folder / name)
            yield from self._read(entity, state)
            state.complete = True

    def _read(self, entity: str, state: _InboxFile) -> Iterator[Inbound]:
        path = state.path
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            return  # taken away by the application meanwhile
        except (OSError, UnicodeDecodeError) as exc:
            yield self._offer(entity, state, path.name, None, f"cannot read the file: {exc}")
            return
        if path.suffix.lower() == ".jsonl":
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    yield self._parse(entity, state, f"{path.name}:{number}", line)
            return
        yield from self._parse_document(entity, state, text)

    def _parse_document(self, entity: str, state: _InboxFile, text: str) -> Iterator[Inbound]:
        name = state.path.name
        try:
            data = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield self._offer(entity, state, name, None, f"invalid JSON: {exc}")
            return
        if isinstance(data, list):  # tolerated: an array of records
            for number, item in enumerate(data, start=1):
                yield self._typed(entity, state, f"{name}[{number}]", item)
        else:
            yield self._typed(entity, state, name, data)

    def _parse(self, entity: str, state: _InboxFile, where: str, line: str) -> Inbound:
        try:
            data = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            return self._offer(entity, state, where, None, f"invalid JSON: {exc}")
        return self._typed(entity, state, where, data)

    def _typed(self, entity: str, state: _InboxFile, where: str, data: Any) -> Inbound:
        try:
            record = inbound_record(entity, data)
        except MalformedRecord as exc:
            raw = data if isinstance(data, Mapping) else None
            return self._offer(entity, state, where, raw, str(exc))
        return self._offer(entity, state, where, record, None)

    def _offer(
        self,
        entity: str,
        state: _InboxFile,
        where: str,
        record: Mapping[str, Any] | None,
        error: str | None,
    ) -> Inbound:
        index = len(state.where)
        name = inbound_label(entity, record) if record is not None else None
        label = f"{name} ({where})" if name else where
        state.where.append(where)
        state.labels.append(label)
        if error is not None:
            state.errors[index] = error
            record = None
        return Inbound(
            ref=FileRef(state.path, index),
            record=dict(record) if record is not None else None,
            error=error,
            label=label,
        )

    def _mark(
        self,
        entity: str,
        inbound: Inbound,
        status: Status,
        erp_id: int | None,
        erp_number: str | None,
        error: str | None,
    ) -> None:
        """Remember the record's outcome; its file moves at finish_inbox once all are marked."""
        ref: FileRef = inbound.ref
        state = self._files.get(entity, {}).get(ref.path)
        if state is None:
            raise ValueError(f"{inbound.label}: not offered by this endpoint's inbox({entity!r})")
        state.marks[ref.index] = (status, error or state.errors.get(ref.index))

    def finish_inbox(self, entity: str) -> None:
        """Move every fully marked file to ``done/``, or to ``failed/`` with its ``.error.txt``."""
        tracked = self._files.get(entity, {})
        for path, state in list(tracked.items()):
            for index, error in state.errors.items():
                state.marks.setdefault(index, ("rejected", error))
            if not state.complete or len(state.marks) < len(state.where):
                continue  # read partly or marked partly: offered again next pass
            del tracked[path]
            if not path.exists():
                continue
            rejected = [
                (i, reason)
                for i, (status, reason) in sorted(state.marks.items())
                if status == "rejected"
            ]
            target = _free_name(path.parent / ("failed" if rejected else "done") / path.name)
            target.parent.mkdir(exist_ok=True)
            if rejected:
                report = [f"{path.name}: {len(rejected)} of {len(state.where)} record(s) rejected"]
                report += [f"{state.labels[i]}: {reason or 'rejected'}" for i, reason in rejected]
                error_file = target.with_name(target.name + ".error.txt")
                error_file.write_text("\n".join(report) + "\n", encoding="utf-8")
            os.replace(path, target)


class FolderExport(Export):
    """Records streamed to ``.<time>-<run>.jsonl.tmp``, fsync'd and renamed when the block ends."""

    def __init__(self, folder: Path, entity: str, run_id: int) -> None:
        super().__init__(entity, run_id)
        self.folder = folder
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.name = f"{stamp}-{run_id}.jsonl"
        self.tmp = folder / f".{self.name}.tmp"
        self.path: Path | None = None  # the committed file, when there was a record
        self._file: IO[str] | None = None

    def _out(self) -> IO[str]:
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file = open(self.tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        return self._file

    def _upsert(self, records: Sequence[Mapping[str, Any]]) -> None:
        out = self._out()
        out.writelines(dump_line(outbound_json(self.entity, r, "upsert")) for r in records)

    def _delete(self, keys: Sequence[tuple[Any, ...]]) -> None:
        names = ENTITY_KEYS[self.entity]
        out = self._out()
        out.writelines(
            dump_line(outbound_json(self.entity, dict(zip(names, key)), "delete")) for key in keys
        )

    def commit(self) -> None:
        """Flush, fsync and rename the file to its final name (nothing when nothing was sent)."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        target = _free_name(self.folder / self.name)
        os.replace(self.tmp, target)
        _fsync_dir(self.folder)
        self.path = target

    def discard(self) -> None:
        """Close and remove the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.tmp.unlink(missing_ok=True)
