"""CRM CSV exports -> landing ``crm`` Parquet partitions (CONTRACT §1), exactly once.

CRMs export CSV with their own headers (Salesforce ``LastModifiedDate``, HubSpot
``Date entered "Customer" (Lifecycle Stage)``), a byte-order mark, quoted commas and dates in
several formats. ``ingest/crm_mapping.yml`` (committed) says which header is which contract
column and which date formats to accept; this module applies it.

An export is written to ``<landing>/crm/date=YYYY-MM-DD/hour=HH/crm-<hash>.parquet``, the hour
being when the export was received (the file's modification time, so the same file always
lands in the same place). Exactly once: a marker per imported content hash is kept under
``<landing>/crm/_imported/`` (not Parquet, so the loader ignores it); a second copy of the
same export is recognised and skipped. A malformed export raises ``MalformedExport`` with a
reason naming the line or column; nothing is written for it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from ingest.errors import WebfunnelError

MAPPING_FILE = Path(__file__).with_name("crm_mapping.yml")
COLUMNS = ("email", "demo_at", "trial_at", "customer_at", "updated_at")
MARKERS = "_imported"
_HEADER_JUNK = re.compile(r"[^a-z0-9]+")


class MalformedExport(WebfunnelError):
    """The export cannot be converted; the message is the reason."""


@dataclass
class ImportResult:
    source: Path
    content_hash: str
    rows: int
    landed: Path | None  # None: nothing to land (already imported, or no data rows)
    already_imported: bool = False

    def line(self) -> str:
        if self.already_imported:
            return f"{self.source.name}: already imported as {self.landed}"
        if self.landed is None:
            return f"{self.source.name}: no data rows, nothing landed"
        return f"{self.source.name}: {self.rows} contacts landed in {self.landed}"


def _normalise_header(name: str) -> str:
    return _HEADER_JUNK.sub("", name.replace("\ufeff", "").lower())


@lru_cache(maxsize=4)
def load_mapping(path: Path = MAPPING_FILE) -> tuple[dict[str, str], tuple[str, ...]]:
    """(normalised header -> contract column, date formats) from the mapping file."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    headers: dict[str, str] = {}
    for column, aliases in raw["columns"].items():
        if column not in COLUMNS:
            raise WebfunnelError(f"{path}: unknown contract column {column!r}")
        for alias in [column, *aliases]:
            headers[_normalise_header(str(alias))] = column
    return headers, tuple(raw["date_formats"])


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")  # strips a UTF-8 byte-order mark
    except UnicodeDecodeError as exc:
        raise MalformedExport(
            f"not UTF-8 text (byte {exc.start}): export the CSV as UTF-8"
        ) from None


def parse_timestamp(value: str, formats: tuple[str, ...]) -> datetime | None:
    """Text in one of the mapping's formats as naive UTC; None for empty; ValueError else."""
    text = value.strip()
    if not text:
        return None
    if text.isdigit() and len(text) == 13:
        return datetime.fromtimestamp(int(text) / 1000, UTC).replace(tzinfo=None)
    text = re.sub(r"Z$", "+00:00", text)
    for fmt in formats:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    raise ValueError(text)


def convert(data: bytes, mapping_file: Path = MAPPING_FILE) -> list[dict]:
    """The rows of one export as contract records; MalformedExport when it cannot be."""
    headers, formats = load_mapping(mapping_file)
    text = _decode(data)
    if not text.strip():
        raise MalformedExport("empty file")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise MalformedExport(f"unreadable CSV header: {exc}") from None
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        column = headers.get(_normalise_header(name))
        if column is None:
            continue  # extra columns are allowed and ignored
        if column in positions:
            raise MalformedExport(
                f"two columns map to {column}: {header[positions[column]]!r} and {name!r}"
            )
        positions[column] = index
    missing = [column for column in COLUMNS if column not in positions]
    if missing:
        raise MalformedExport(
            f"no column for {', '.join(missing)} (headers: {', '.join(header)}); "
            f"add the CRM's header to {mapping_file.name}"
        )
    records = []
    try:
        for fields in reader:
            line = reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(header):
                raise MalformedExport(
                    f"line {line} has {len(fields)} fields, the header has {len(header)} "
                    "(an unquoted comma?)"
                )
            record: dict = {"email": fields[positions["email"]].strip().lower()}
            for column in COLUMNS[1:]:
                value = fields[positions[column]]
                try:
                    record[column] = parse_timestamp(value, formats)
                except ValueError:
                    raise MalformedExport(
                        f"line {line}: {header[positions[column]]} {value.strip()!r} is not a "
                        f"date in a known format (see date_formats in {mapping_file.name})"
                    ) from None
            if record["updated_at"] is None:
                raise MalformedExport(f"line {line}: empty {header[positions['updated_at']]}")
            records.append(record)
    except csv.Error as exc:
        raise MalformedExport(f"line {reader.line_num}: {exc}") from None
    return records


def _marker(landing: Path, content_hash: str) -> Path:
    return landing / "crm" / MARKERS / f"{content_hash}.json"


def received_hour(path: Path) -> datetime:
    """The UTC hour the export was received: its modification time, floored."""
    moment = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return moment.replace(minute=0, second=0, microsecond=0)


def import_export(
    path: Path,
    landing: Path,
    received_at: datetime | None = None,
    mapping_file: Path = MAPPING_FILE,
) -> ImportResult:
    """Convert one CSV export into a landing ``crm`` partition, once per content."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WebfunnelError(f"cannot read {path}: {exc.strerror}") from exc
    content_hash = hashlib.sha256(data).hexdigest()
    marker = _marker(landing, content_hash)
    if marker.exists():
        previous = json.loads(marker.read_text())
        landed = Path(previous["landed"]) if previous.get("landed") else None
        return ImportResult(path, content_hash, previous.get("rows", 0), landed, True)
    records = convert(data, mapping_file)
    hour = received_at or received_hour(path)
    hour = hour.replace(minute=0, second=0, microsecond=0)
    landed = None
    if records:
        folder = landing / "crm" / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        landed = folder / f"crm-{content_hash[:16]}.parquet"
        schema = pa.schema(
            [("email", pa.string())] + [(name, pa.timestamp("us")) for name in COLUMNS[1:]]
        )
        temporary = folder / f".{landed.name}.tmp"  # dot-files are not batches yet
        pq.write_table(pa.Table.from_pylist(records, schema=schema), temporary)
        os.replace(temporary, landed)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "source": str(path),
                "rows": len(records),
                "landed": str(landed) if landed else None,
                "partition": hour.isoformat(),
            }
        )
    )
    return ImportResult(path, content_hash, len(records), landed)


@dataclass
class DropFolderResult:
    imported: list[str]
    duplicates: list[str]
    rejected: dict[str, str]


def import_drop_folder(drop: Path, landing: Path) -> DropFolderResult:
    """Import every ``*.csv`` in the drop folder; move each to ``imported/`` or, with a
    ``.reason`` file beside it, to ``rejected/``. Safe to re-run at any point."""
    result = DropFolderResult([], [], {})
    if not drop.is_dir():
        return result
    for path in sorted(drop.glob("*.csv")):
        try:
            outcome = import_export(path, landing)
        except MalformedExport as exc:
            rejected = drop / "rejected"
            rejected.mkdir(exist_ok=True)
            (rejected / (path.name + ".reason")).write_text(str(exc) + "\n", encoding="utf-8")
            os.replace(path, rejected / path.name)
            result.rejected[path.name] = str(exc)
            continue
        done = drop / "imported"
        done.mkdir(exist_ok=True)
        os.replace(path, done / path.name)
        (result.duplicates if outcome.already_imported else result.imported).append(path.name)
    return result


def drop_folder() -> Path:
    """``$WEBFUNNEL_CRM_DROP``, default ``data/crm-drop``."""
    return Path(os.environ.get("WEBFUNNEL_CRM_DROP") or "data/crm-drop").absolute()


__all__ = [
    "MalformedExport",
    "ImportResult",
    "convert",
    "import_export",
    "import_drop_folder",
    "drop_folder",
    "parse_timestamp",
    "received_hour",
]
