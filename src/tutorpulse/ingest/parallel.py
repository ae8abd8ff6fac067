"""Parse a large input file in a helper process while the importing process writes.

Validating a record (pydantic, row building, content hash) and preparing its row for the
driver cost about as much as writing it, and need no database. For a file big enough to repay
starting a process, a helper (``python -m tutorpulse.ingest.parallel``) reads, validates and
prepares the file chunk by chunk and streams the parsed chunks back over its stdout, while the
importer does the database work of the chunk before: two cores instead of one. The pipe's
buffer bounds how far the helper runs ahead, so memory stays at a few chunks whatever the
file size. Small files, and machines with one core, are parsed in-process by the very same
functions.

The helper only reads the file: every database check, every write and every commit stay in
the importing process, in the order of the file. Frames are length-prefixed pickles between
two processes of the same installation (never from elsewhere).
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Dialect

from tutorpulse.db.engine import make_engine
from tutorpulse.errors import TutorpulseError
from tutorpulse.ingest import bulk
from tutorpulse.ingest.parsing import ParsedChunk, parse_records
from tutorpulse.ingest.readers import UnreadableFileError, read_file
from tutorpulse.ingest.rows import TABLES
from tutorpulse.privacy import crypto

# Below this size, starting a helper (~0.5 s of imports) costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
# A frame: a mark, the length of the pickle (little-endian), the pickle.
_FRAME_MARK = b"TPF1"
_HEADER_BYTES = 12
NO_DIALECT = "-"


class ParseHelperError(TutorpulseError):
    """The helper process failed (the import stops; what was committed stays)."""


def parse_file(
    kind: str, path: Path, *, source: str, chunk_size: int, dialect: Dialect
) -> Iterator[ParsedChunk]:
    """The parsed chunks of one file, in file order, rows prepared for ``dialect``'s driver
    wherever ``bulk`` has a fast path for it; see the module docstring."""
    prepare = bulk.preparer(dialect, TABLES[kind])
    if path.stat().st_size < PARALLEL_MIN_BYTES or _usable_cores() < 2:
        records = read_file(path, kind)
        yield from parse_records(
            kind, records, source=source, chunk_size=chunk_size, prepare=prepare
        )
        return
    portable = bulk.portable_dialect(dialect)
    for chunk in _parse_in_helper(kind, path, source, chunk_size, portable):
        if prepare is not None and portable is None:
            prepare([candidate.row for candidate in chunk.candidates])  # not done by the helper
        yield chunk


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ----------------------------------------------------------- importer side
def _parse_in_helper(
    kind: str, path: Path, source: str, chunk_size: int, dialect: str | None
) -> Iterator[ParsedChunk]:
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            _helper_command(kind, path, source, chunk_size, dialect),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=_helper_environment(),
        )
        # The helper encrypts PII and hashes emails while preparing rows: it must use this
        # process's keys (which may come from settings other than the environment's). Through
        # the pipe rather than the environment, so the keys never show in a process listing.
        assert process.stdin is not None
        try:
            with process.stdin as keys:
                keys.write(pickle.dumps(crypto.keyring().material(), pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            pass  # the helper died at start; reading its output reports why
        stream = process.stdout
        assert stream is not None
        finished = False
        unreadable: str | None = None
        try:
            while not finished:
                tag, body = _receive(stream)
                if tag == "chunk":
                    yield body
                elif tag == "unreadable":
                    unreadable = body  # raised once the helper has finished cleanly
                elif tag == "done":
                    finished = True
                else:
                    raise _helper_failed(process, errors)
        finally:
            # Stopped early (an error, or the consumer gave up): the helper's work is moot.
            if not finished and process.poll() is None:
                process.kill()
            stream.close()
            process.wait()
    if unreadable is not None:
        raise UnreadableFileError(unreadable)


def _helper_command(
    kind: str, path: Path, source: str, chunk_size: int, dialect: str | None
) -> list[str]:
    arguments = [kind, str(path), source, str(chunk_size), dialect or NO_DIALECT]
    return [sys.executable, "-m", "tutorpulse.ingest.parallel", *arguments]


def _helper_environment() -> dict[str, str]:
    # The helper must import this very installation, wherever the importer found it.
    package_root = str(Path(__file__).resolve().parents[2])
    environment = dict(os.environ)
    paths = [package_root, *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


def _receive(stream: IO[bytes]) -> tuple[str, Any]:
    header = stream.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES:
        return "eof", None
    if not header.startswith(_FRAME_MARK):
        # Something else wrote to the helper's output: never unpickle what is not a frame.
        raise ParseHelperError("the parsing helper's output is corrupt (not a frame)")
    body = stream.read(int.from_bytes(header[len(_FRAME_MARK) :], "little"))
    message: tuple[str, Any] = pickle.loads(body)
    return message


def _helper_failed(process: subprocess.Popen[bytes], errors: IO[bytes]) -> ParseHelperError:
    code = process.wait()
    errors.seek(0)
    detail = errors.read().decode("utf-8", "replace").strip().splitlines()
    last = detail[-1] if detail else "no error output"
    return ParseHelperError(f"the parsing helper process stopped (exit code {code}): {last}")


# ------------------------------------------------------------- helper side
def _send(stream: IO[bytes], message: tuple[str, Any]) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME_MARK + len(body).to_bytes(_HEADER_BYTES - len(_FRAME_MARK), "little"))
    stream.write(body)
    stream.flush()


def _helper_main(argv: Sequence[str]) -> int:
    kind, path, source, chunk_size, dialect = argv
    crypto.install(crypto.PiiKeyring(*pickle.loads(sys.stdin.buffer.read())))
    prepare = None
    if dialect != NO_DIALECT:
        # The same dialect as the importer's engine, built without connecting anywhere.
        prepare = bulk.preparer(make_engine(f"{dialect}://").dialect, TABLES[kind])
    # A short-lived process that allocates millions of acyclic objects: the cyclic GC
    # would only re-scan them, so it runs rarely here.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    # Frames go to the original stdout; anything else printed here goes to stderr.
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    records = read_file(Path(path), kind)
    chunks = parse_records(
        kind,
        records,
        source=source,
        chunk_size=int(chunk_size),
        prepare=prepare,
        refer_to=str(Path(path).resolve()),
    )
    try:
        try:
            for chunk in chunks:
                _send(stream, ("chunk", chunk))
        except UnreadableFileError as exc:
            _send(stream, ("unreadable", str(exc)))
        _send(stream, ("done", None))
    except BrokenPipeError:
        return 1  # the importer stopped reading; nothing left to do
    return 0


if __name__ == "__main__":
    raise SystemExit(_helper_main(sys.argv[1:]))
