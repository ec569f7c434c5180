"""The ``folder`` endpoint: JSON Lines files out, JSON / JSON Lines files in.

optsync's mark lives in ``<folder>/.optsync-mark.json``. Temporary files are dotfiles ending in
``.tmp`` (``out/<entity>/.<time>-<run>.jsonl.tmp``, ``.optsync-mark.json.tmp``); those a killed
pass left behind are removed by the next pass of the company (:meth:`FolderEndpoint.remove_leftovers`).
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from stat import S_ISREG
from typing import IO, Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from optsync import clock
from optsync.decimals import MAX_NUMBER_CHARS
from optsync.endpoints.base import Endpoint, EndpointMark, Export, Inbound, Status, builtin_kind
from optsync.endpoints.records import (
    MalformedRecord,
    inbound_label,
    inbound_record,
    outbound_json,
    show,
)
from optsync.entities import ENTITIES
from optsync.errors import Unreachable
from optsync.secrets import exception_text, first_line

MARK_FILE = ".optsync-mark.json"
# optsync's own temporary names, and only those, are ever removed as leftovers.
OUT_TMP = re.compile(r"^\.\d{8}T\d{6}\.\d{6}Z-(\d+)\.jsonl\.tmp$")
MARK_TMP = MARK_FILE + ".tmp"

# Limits of what an inbox file may be; beyond them a file or record is rejected, never read.
MIB = 1024 * 1024
MAX_FILE_BYTES = 64 * MIB  # one inbox file
MAX_RECORD_BYTES = 16 * MIB  # one record: a .json file or one line of a .jsonl file
MAX_DEPTH = 32  # objects and arrays within each other (a document needs 3)
PARTIAL_LINE_WAIT = 3600  # seconds a .jsonl may end in a cut line before that line is rejected
NAME_MAX = 255  # bytes of a file name (UTF-8) on the usual file systems
ERROR_SUFFIX = ".error.txt"

# One record as read from a file: where it is ("b.jsonl:3"), its typed record (or the raw object
# of a malformed one), and why it cannot be imported.
Parsed = tuple[str, Mapping[str, Any] | None, str | None]

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


def _folder(name: str | None) -> str:
    """An entity's folder under ``out/`` or ``in/`` (the endpoint checked it has one)."""
    assert name is not None
    return name


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
        end = f"-{number}{path.suffix}"
        candidate = path.with_name(_cut(path.stem, NAME_MAX - len(end.encode())) + end)
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
    seen: tuple[int, int] | None = None  # (size, mtime in ns) when the read began
    waiting: bool = False  # its last line is still being written: the file stays in in/


class FileChanged(Exception):
    """An inbox file changed between the start of its read and its move."""


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
        return builtin_kind(target) == "folder"

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
        return FolderExport(self.root / "out" / _folder(ENTITIES[entity].out_folder), entity, run_id)

    # --- import ---------------------------------------------------------------------------

    def _inbox(self, entity: str) -> Iterator[Inbound]:
        self.check()
        folder = self.root / "in" / _folder(ENTITIES[entity].in_folder)
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
        """The file's records, read up to the size it had when its read began.

        Every record is parsed before the first is offered, so that two documents of the file
        with one external id are known before either reaches Optima.
        """
        path = state.path
        try:
            # non-blocking: a FIFO put in the file's place meanwhile never stalls the pass
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if not S_ISREG(stat.st_mode):
                    return  # no longer a regular file: skipped like any other
                state.seen = (stat.st_size, stat.st_mtime_ns)
                if stat.st_size > MAX_FILE_BYTES:
                    raise _TooLarge(stat.st_size)
                data = handle.read(stat.st_size)  # what was appended meanwhile waits
        except FileNotFoundError:
            return  # taken away by the application meanwhile
        except _TooLarge as exc:
            yield self._offer(entity, state, path.name, None,
                              f"the file holds {exc.size:,} bytes, more than optsync reads in one "
                              f"file ({MAX_FILE_BYTES // MIB} MiB): split it")
            return
        except OSError as exc:
            state.seen = _signature(path)  # unreadable (no permission): filed in failed/
            yield self._offer(entity, state, path.name, None,
                              f"cannot read the file: {exc.strerror or type(exc).__name__}")
            return
        if not data and not self._stale(state):
            state.waiting = True  # just created, nothing written yet: not filed empty
            return
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        if path.suffix.lower() == ".jsonl":
            parsed: Iterable[Parsed] = self._parse_lines(entity, state, data)
        else:
            parsed = self._parse_document(entity, path.name, data)
        if ENTITIES[entity].inbound_lines:
            parsed = _pair_duplicates(list(parsed))
        for where, record, error in parsed:
            yield self._offer(entity, state, where, record, error)

    def _parse_lines(
        self, entity: str, state: _InboxFile, data: bytes
    ) -> Iterator[Parsed]:
        name = state.path.name
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a line still being written
        if tail.strip():
            try:
                _load(tail)  # a complete record that merely lacks its newline is read
                lines.append(tail)
            except (_Refused, UnicodeDecodeError, ValueError):
                if not self._stale(state):
                    state.waiting = True  # cut mid-line: the rest comes with the next pass
                else:
                    lines.append(tail)  # abandoned for an hour: read, and rejected, as it is
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield self._parse_one(entity, f"{name}:{number}", line)

    @staticmethod
    def _stale(state: _InboxFile) -> bool:
        assert state.seen is not None
        return time.time() - state.seen[1] / 1e9 > PARTIAL_LINE_WAIT

    def _parse_document(
        self, entity: str, name: str, data: bytes
    ) -> Iterator[Parsed]:
        try:
            value = _load(data)
        except (_Refused, UnicodeDecodeError, ValueError) as exc:
            yield name, None, _why(exc)
            return
        if isinstance(value, list):  # tolerated: an array of records
            for number, item in enumerate(value, start=1):
                yield self._typed(entity, f"{name}[{number}]", item)
        else:
            yield self._typed(entity, name, value)

    def _parse_one(
        self, entity: str, where: str, line: bytes
    ) -> Parsed:
        try:
            value = _load(line)
        except (_Refused, UnicodeDecodeError, ValueError) as exc:
            return where, None, _why(exc)
        return self._typed(entity, where, value)

    @staticmethod
    def _typed(
        entity: str, where: str, data: Any
    ) -> Parsed:
        try:
            return where, inbound_record(entity, data), None
        except MalformedRecord as exc:
            return where, data if isinstance(data, Mapping) else None, str(exc)
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            # whatever a record holds, only this record fails
            return where, None, f"the record cannot be read: {exception_text(exc)}"

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
        """Move every fully marked file to ``done/``, or to ``failed/`` with its ``.error.txt``.

        A file that changed since its read began (appended to, rewritten) or whose last line
        is still being written stays in ``in/``: the next pass reads it again, and Optima
        recognises what it already holds. Files that cannot be moved (``done`` is a file, no
        permission) stay too; they are all named in one :class:`~optsync.errors.Unreachable`
        raised after every other file was handled.
        """
        tracked = self._files.get(entity, {})
        problems: list[str] = []
        for path, state in list(tracked.items()):
            for index, error in state.errors.items():
                state.marks.setdefault(index, ("rejected", error))
            if not state.complete or len(state.marks) < len(state.where):
                continue  # read partly or marked partly: offered again next pass
            del tracked[path]
            if state.waiting:
                continue  # its last line is still being written
            try:
                self._settle(state)
            except FileChanged:
                continue
            except OSError as exc:
                problems.append(_os_problem(path, exc))
        if problems:
            folder = _folder(ENTITIES[entity].in_folder)
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise Unreachable(
                f"the folder endpoint {self.root} cannot file its {entity} inbox: "
                + "; ".join(problems[:3]) + more,
                f"Make in/{folder}/done and in/{folder}/failed folders the user "
                "running optsync can write to; the files stay in in/ and what they hold that is "
                "in Optima already is recognised on the next pass",
            )

    def _settle(self, state: _InboxFile) -> None:
        """Move one file to done/ or failed/ (with its error file), unless it changed."""
        path = state.path
        if _signature(path) != state.seen:
            raise FileChanged(path)
        rejected = [
            (i, reason)
            for i, (status, reason) in sorted(state.marks.items())
            if status == "rejected"
        ]
        folder = path.parent / ("failed" if rejected else "done")
        if not folder.is_dir():
            try:
                folder.mkdir()
            except FileExistsError:
                raise NotADirectoryError(
                    errno.ENOTDIR, "a file, not a folder", str(folder)) from None
        target = _free_name(folder / path.name)
        error_file: Path | None = None
        if rejected:
            report = [f"{path.name}: {len(rejected)} of {len(state.where)} record(s) rejected"]
            report += [f"{state.labels[i]}: {reason or 'rejected'}" for i, reason in rejected]
            error_file = _write_error_file(target, "\n".join(report) + "\n")
        try:
            os.replace(path, target)
        except OSError:
            if error_file is not None:
                error_file.unlink(missing_ok=True)
            raise
        if _signature(target) != state.seen and not path.exists():
            # a writer appended between the check and the move: back for the next pass
            os.replace(target, path)
            if error_file is not None:
                error_file.unlink(missing_ok=True)
            raise FileChanged(path)


def error_file_name(name: str) -> str:
    """``<name>.error.txt``; when that exceeds the file system's 255 bytes (UTF-8), the name
    cut short and a hash of the whole name: ``<start of name>~<10 hex digits>.error.txt``."""
    full = name + ERROR_SUFFIX
    if len(full.encode("utf-8")) <= NAME_MAX:
        return full
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    room = NAME_MAX - len(ERROR_SUFFIX) - 1 - len(digest)
    return f"{_cut(name, room)}~{digest}{ERROR_SUFFIX}"


def _write_error_file(target: Path, report: str) -> Path:
    """Write the report beside ``target`` (written aside, renamed); the error file's path.

    A file system that takes shorter names than 255 bytes gets ``<hash>.error.txt``; the
    report's first line names the file either way."""
    name = error_file_name(target.name)
    for candidate in (name, hashlib.sha256(target.name.encode()).hexdigest()[:16] + ERROR_SUFFIX):
        error_file = target.with_name(candidate)
        tmp = target.with_name("." + _cut(candidate, NAME_MAX - 5) + ".tmp")
        try:
            tmp.write_text(report, encoding="utf-8")
            os.replace(tmp, error_file)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG and candidate == name:
                continue
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        return error_file
    raise AssertionError("unreachable")


def _cut(name: str, size: int) -> str:
    """The start of ``name`` that fits ``size`` bytes of UTF-8, never cutting a character."""
    return name.encode("utf-8")[:size].decode("utf-8", errors="ignore")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns)


def _os_problem(path: Path, exc: OSError) -> str:
    where = exc.filename or path
    return f"{path.name} not moved ({where}: {exc.strerror or type(exc).__name__})"


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class _Refused(ValueError):
    """JSON optsync does not read: beyond its limits, or not standard JSON."""


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text):,} characters (at most {MAX_NUMBER_CHARS})")
    try:
        return Decimal(text)
    except ArithmeticError:
        raise _Refused(f"the number {text} is out of range") from None


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number of {len(text):,} characters (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows")


def _load(data: bytes) -> Any:
    """One JSON value, read with optsync's limits; _Refused / ValueError when it cannot be."""
    if len(data) > MAX_RECORD_BYTES:
        raise _Refused(f"{len(data):,} bytes, more than optsync reads as one record "
                       f"({MAX_RECORD_BYTES // MIB} MiB)")
    text = data.decode("utf-8")
    try:
        value = json.loads(
            text, parse_float=_decimal, parse_int=_integer, parse_constant=_constant
        )
    except RecursionError:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels") from None
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        todo.extend((child, level + 1) for child in item)
    return deepest


def _why(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start + 1})"
    return f"invalid JSON: {first_line(exc)}"


def _pair_duplicates(parsed: list[Parsed]) -> list[Parsed]:
    """Documents of one file sharing an external id: identical ones stay (Optima takes the first
    and finds the later ones already imported); conflicting ones are all rejected, each naming
    the others."""
    by_id: dict[str, list[int]] = {}
    for position, (_, record, error) in enumerate(parsed):
        if error is None and record is not None:
            by_id.setdefault(str(record["external_id"]).strip(), []).append(position)
    for external_id, positions in by_id.items():
        if len(positions) < 2:
            continue
        first = _comparable(parsed[positions[0]][1])
        if all(_comparable(parsed[p][1]) == first for p in positions[1:]):
            continue
        for position in positions:
            where, record, _ = parsed[position]
            others = ", ".join(parsed[p][0] for p in positions if p != position)
            parsed[position] = (
                where, record,
                f"external_id {show(external_id)} is also at {others} with different content; "
                "a document is imported once, so all of them are rejected: keep one",
            )
    return parsed


def _comparable(record: Mapping[str, Any] | None) -> Any:
    return None if record is None else {k: v for k, v in record.items() if k != "id"}


class FolderExport(Export):
    """Records streamed to ``.<time>-<run>.jsonl.tmp``, fsync'd and renamed when the block ends."""

    def __init__(self, folder: Path, entity: str, run_id: int) -> None:
        super().__init__(entity, run_id)
        self.folder = folder
        stamp = clock.now().strftime("%Y%m%dT%H%M%S.%fZ")
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
        names = ENTITIES[self.entity].key
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
