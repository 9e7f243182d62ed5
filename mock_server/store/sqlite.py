"""The state file (`--state-file`): SQLite, written in one transaction per unit of work.

Reads are served from memory (`store/state.py` loads the file on start), so lookups cost the same
as without a file; each commit is one transaction over every table, so a change is on disk whole
or not at all before its answer leaves. With WAL and `synchronous=NORMAL` a committed change
survives the process being killed (a power cut may lose the last transactions;
`durability="full"` closes that gap at a cost).

The file holds a format version (`meta.schema_version`): older files are migrated on open, newer
ones refused. One process at a time: an exclusive lock on the file itself (`lock.py`).
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..domain.allocations import Allocation
from ..domain.call_model import CallRecord
from ..domain.changes import Changeset, RuntimeState, StoreUnavailable
from ..domain.deliveries import Delivery
from . import rows
from .lock import StateFileError, take_lock

SCHEMA_VERSION = 2
logger = logging.getLogger("exomock")

_TABLES = (
    "CREATE TABLE IF NOT EXISTS allocations (tenant_id TEXT NOT NULL, id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (tenant_id, id))",
    "CREATE TABLE IF NOT EXISTS calls (sid TEXT PRIMARY KEY, tenant_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS callbacks (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " tenant_id TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
)


@dataclass
class Snapshot:
    """Everything a state file holds, in the order it was first written."""

    allocations: list[Allocation] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    runtime: RuntimeState = field(default_factory=RuntimeState)
    # How many times the file was opened before this time.
    starts: int = 0


class StateFile:
    """Opening reads and checks, and writes nothing: a file refused is left as it was. The
    first write is `begin`, once the whole state has been read and found sound."""

    def __init__(self, path: str | Path, *, durability: str = "normal") -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StateFileError(f"state file {self.path} is a directory")
        if not self.path.parent.is_dir():
            raise StateFileError(
                f"state file {self.path}: folder {self.path.parent} does not exist"
            )
        self._durability = durability
        self._lock = threading.Lock()
        self._holder = take_lock(self.path)
        try:
            # Read-only until `begin`: closing it never writes (SQLite folds its WAL into the
            # file when a connection that may write closes), so a refused file stays as it was.
            self._db = sqlite3.connect(
                f"file:{quote(str(self.path.resolve()))}?mode=ro",
                uri=True, check_same_thread=False, isolation_level=None,
            )
        except sqlite3.Error as exc:
            self._holder.release()
            raise StateFileError(f"state file {self.path} cannot be opened: {exc}") from None
        try:
            self.version = self._version()
        except BaseException:
            self.close()
            raise
        self._seq = {"allocations": 0, "calls": 0, "callbacks": 0}
        self._migrated_calls: list[CallRecord] = []

    # -- opening --------------------------------------------------------------------------------

    def _version(self) -> int | None:
        """The file's format, None for a new (empty) file; refuses a file of another kind or of
        a newer format."""
        try:
            tables = self._tables()
            if not tables:
                others = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if others:
                    raise StateFileError(
                        f"{self.path} is not an exomock state file (it has no tables but other "
                        "objects); give another path"
                    )
                return None
            if not {"meta", "allocations"} <= tables:
                raise StateFileError(
                    f"{self.path} is not an exomock state file (it has tables "
                    f"{', '.join(sorted(tables))[:200]}); give another path"
                )
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            found = row.fetchone()
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"state file {self.path} is not readable: {exc}") from None
        version = found[0] if found else None
        if not (isinstance(version, str) and version.isdigit() and len(version) < 6):
            raise StateFileError(f"{self.path} has no readable format version")
        if int(version) > SCHEMA_VERSION:
            raise StateFileError(
                f"{self.path} is in format {version}, written by a newer exomock; this one reads "
                f"formats up to {SCHEMA_VERSION}"
            )
        return int(version)

    def _tables(self) -> set[str]:
        return {
            n for (n,) in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }

    def load(self) -> Snapshot:
        """Everything in the file (format 1 read as it was written); nothing is written."""
        snapshot = Snapshot()
        if self.version is None:
            return snapshot
        table = "meta"
        try:
            with self._lock:
                db = self._db
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                snapshot.starts = int(meta.get("starts", "0"))
                if "runtime" in meta:
                    snapshot.runtime = RuntimeState.from_json(json.loads(meta["runtime"]))
                table = "allocations"
                for tenant_id, allocation_id, seq, body in db.execute(
                    "SELECT tenant_id, id, seq, body FROM allocations ORDER BY seq"
                ):
                    snapshot.allocations.append(
                        rows.decode_allocation(tenant_id, allocation_id, body)
                    )
                    self._seq["allocations"] = max(self._seq["allocations"], seq)
                table = "calls"
                snapshot.calls = self._read_calls()
                self._seq["calls"] = max((c.seq for c in snapshot.calls), default=0)
                table = "callbacks"
                if "callbacks" in self._tables():
                    for seq, body in db.execute("SELECT seq, body FROM callbacks ORDER BY seq"):
                        snapshot.deliveries.append(rows.decode_delivery(body))
                        self._seq["callbacks"] = max(self._seq["callbacks"], seq)
        except sqlite3.DatabaseError as exc:
            raise StateFileError(f"state file {self.path} is not readable: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            detail = f"{type(exc).__name__}: {exc}"[:200]
            raise StateFileError(
                f"state file {self.path} has an unreadable row in {table} ({detail})"
            ) from None
        if self.version == 1:
            self._migrated_calls = snapshot.calls
        return snapshot

    def _read_calls(self) -> list[CallRecord]:
        if "calls" not in self._tables():
            return []
        if self.version != 1:
            return [
                rows.decode_call(body)
                for (body,) in self._db.execute("SELECT body FROM calls ORDER BY seq")
            ]
        # Format 1 pickled them, in the order made; only the call classes may be read.
        calls = []
        for seq, (sid, body) in enumerate(
            self._db.execute("SELECT sid, body FROM calls ORDER BY rowid").fetchall(), start=1
        ):
            try:
                call = _CallUnpickler(io.BytesIO(body)).load()
            except Exception as exc:
                raise StateFileError(
                    f"{self.path}: call {sid} of format 1 cannot be read: {exc}"[:300]
                ) from None
            if not isinstance(call, CallRecord):
                raise StateFileError(f"{self.path}: call {sid} of format 1 is not a call")
            call.seq = seq
            calls.append(call)
        return calls

    def begin(self, starts: int) -> None:
        """Makes the file ready for writing, once what `load` read was found sound: a new
        file gets its tables, an older format is migrated; counts this start (`starts` came
        before it)."""
        try:
            with self._lock:
                self._db.close()
                self._db = db = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    f"PRAGMA synchronous={'FULL' if self._durability == 'full' else 'NORMAL'}"
                )
                with _transaction(db):
                    if self.version is None:
                        for statement in _TABLES:
                            db.execute(statement)
                        db.execute(
                            "INSERT INTO meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),),
                        )
                    elif self.version == 1:
                        self._migrate_from_1(db)
                    db.execute(
                        "INSERT INTO meta VALUES ('starts', ?) ON CONFLICT(key)"
                        " DO UPDATE SET value = excluded.value",
                        (str(starts + 1),),
                    )
        except sqlite3.Error as exc:
            raise StateFileError(f"state file {self.path} cannot be written: {exc}") from None
        self.version = SCHEMA_VERSION

    def _migrate_from_1(self, db: sqlite3.Connection) -> None:
        """Format 1 kept calls pickled and callbacks without their tenant: rewritten as JSON
        (in `begin`'s transaction)."""
        tables = self._tables()
        callbacks = []
        if "callbacks" in tables:
            callbacks = db.execute("SELECT id, seq, body FROM callbacks").fetchall()
            db.execute("DROP TABLE callbacks")
        if "calls" in tables:
            db.execute("DROP TABLE calls")
        for statement in _TABLES:
            db.execute(statement)
        db.executemany(
            "INSERT INTO calls VALUES (?, ?, ?, ?)",
            [(c.sid, c.tenant_id, c.seq, rows.encode_call(c)) for c in self._migrated_calls],
        )
        db.executemany(
            "INSERT INTO callbacks VALUES (?, ?, ?, ?)",
            [
                (delivery_id, seq, json.loads(body).get("tenant_id", ""), body)
                for delivery_id, seq, body in callbacks
            ],
        )
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
        )
        self._migrated_calls = []
        logger.info("state file %s migrated from format 1 to %d", self.path, SCHEMA_VERSION)

    # -- writing --------------------------------------------------------------------------------

    def write(self, changes: Changeset, evicted: list[str] | None = None) -> None:
        """Writes the whole changeset in one transaction, dropping the `evicted` callbacks;
        StoreUnavailable (nothing written) when any step fails."""
        with self._lock:
            seq = dict(self._seq)
            try:
                with _transaction(self._db):
                    self._write(changes, seq)
                    if evicted:
                        self._db.executemany(
                            "DELETE FROM callbacks WHERE id = ?", [(i,) for i in evicted]
                        )
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"the state file could not be written: {exc}") from exc
            self._seq = seq

    def _write(self, changes: Changeset, seq: dict[str, int]) -> None:
        db = self._db
        for tenant_id in changes.resets:
            for name in ("allocations", "calls", "callbacks"):
                if tenant_id is None:
                    db.execute(f"DELETE FROM {name}")
                else:
                    db.execute(f"DELETE FROM {name} WHERE tenant_id = ?", (tenant_id,))
        if changes.allocations:
            db.executemany(
                "INSERT INTO allocations VALUES (?, ?, ?, ?) ON CONFLICT(tenant_id, id)"
                " DO UPDATE SET body = excluded.body",
                [
                    (a.tenant_id, a.id, _next(seq, "allocations"), rows.encode_allocation(a))
                    for a in changes.allocations.values()
                ],
            )
        if changes.calls:
            db.executemany(
                "INSERT INTO calls VALUES (?, ?, ?, ?) ON CONFLICT(sid)"
                " DO UPDATE SET body = excluded.body",
                [
                    (c.sid, c.tenant_id, c.seq, rows.encode_call(c))
                    for c in changes.calls.values()
                ],
            )
        if changes.deliveries:
            db.executemany(
                "INSERT OR REPLACE INTO callbacks VALUES (?, ?, ?, ?)",
                [
                    (d.id, _next(seq, "callbacks"), d.tenant_id, rows.encode_delivery(d))
                    for d in changes.deliveries
                ],
            )
        if changes.runtime is not None:
            db.execute(
                "INSERT INTO meta VALUES ('runtime', ?) ON CONFLICT(key)"
                " DO UPDATE SET value = excluded.value",
                (json.dumps(changes.runtime.as_json()),),
            )

    def update_delivery(self, delivery: Delivery) -> None:
        """Keeps a delivery's new attempt or outcome. A failure is logged, not raised: the
        delivery goes on, and a restart resumes it from what the file last had."""
        try:
            with self._lock:
                self._db.execute(
                    "UPDATE callbacks SET body = ? WHERE id = ?",
                    (rows.encode_delivery(delivery), delivery.id),
                )
        except sqlite3.Error as exc:
            logger.warning("state file: delivery %s not recorded: %s", delivery.id, exc)

    def drop_deliveries(self, ids: list[str]) -> None:
        """Forgets callbacks the log no longer keeps (logged, not raised, when it fails: the
        next start drops them again)."""
        try:
            with self._lock, _transaction(self._db):
                self._db.executemany("DELETE FROM callbacks WHERE id = ?", [(i,) for i in ids])
        except sqlite3.Error as exc:
            logger.warning("state file: %d ended callbacks not dropped: %s", len(ids), exc)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._holder.release()


def _next(seq: dict[str, int], table: str) -> int:
    seq[table] += 1
    return seq[table]


class _transaction:
    """BEGIN ... COMMIT, or ROLLBACK when anything in between raised."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")


class _CallUnpickler(pickle.Unpickler):
    """Reads format-1 call rows: only the call classes, nothing else a pickle could name."""

    def find_class(self, module: str, name: str) -> Any:
        from ..domain import call_model

        # Format 1 named them by the module they were in then.
        allowed = {
            ("mock_server.domain.calls", "CallRecord"): call_model.CallRecord,
            ("mock_server.domain.calls", "Leg"): call_model.Leg,
            ("mock_server.domain.calls", "Script"): call_model.Script,
        }
        found = allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a state file")
        return found
