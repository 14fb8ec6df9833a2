"""Messages of an export, read and never written: an mbox file, or a folder (a Maildir, or any tree of message
files such as a mail client's export).

Files are only ever opened for reading ('rb'): not through `mailbox.mbox`, which opens an mbox for update and
may take locks, nor `mailbox.Maildir`, which moves messages from new/ to cur/ when asked for flags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from emailbot.domain import RawMessage

# A message file starts with a header line ("Name: value"), or with an mbox "From " line.
_HEADER_START = re.compile(rb"^(From |[!-9;-~]+:)")
_MBOX_SEPARATOR = b"From "
_SKIPPED_FOLDERS = frozenset({"tmp"})  # a Maildir's tmp/ holds deliveries in progress
_SNIFF_BYTES = 200


class ReplaySourceError(Exception):
    """The path is not something replay can read."""


def read_messages(path: Path) -> Iterator[RawMessage]:
    """Every message under `path`, in a stable order; source ids are the relative path or `mbox:<n>`."""
    if path.is_dir():
        yield from _folder(path)
    elif path.is_file():
        yield from _mbox(path)
    else:
        raise ReplaySourceError(f"{path} is neither an mbox file nor a folder of messages")


def count_messages(path: Path) -> int:
    return sum(1 for _ in (_message_files(path) if path.is_dir() else _mbox_starts(path)))


def _folder(root: Path) -> Iterator[RawMessage]:
    for file in _message_files(root):
        try:
            raw = file.read_bytes()
        except OSError as exc:  # stop with the file named rather than report on part of the export
            raise ReplaySourceError(f"cannot read {file}: {exc.strerror or exc}") from exc
        yield RawMessage(source_id=file.relative_to(root).as_posix(), raw=raw)


def _message_files(root: Path) -> Iterator[Path]:
    """Message files in name order; hidden entries (Maildir++ folders such as .Sent, whose mail is the mailbox's
    own) and tmp/ are left out, and so is anything that does not start like a message (README, index.csv)."""
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(d for d in folders if not d.startswith(".") and d not in _SKIPPED_FOLDERS)
        for name in sorted(files):
            file = Path(folder) / name
            if not name.startswith(".") and _looks_like_a_message(file):
                yield file


def _looks_like_a_message(file: Path) -> bool:
    try:
        with file.open("rb") as handle:
            start = handle.read(_SNIFF_BYTES).lstrip(b"\r\n")
    except OSError:
        return False
    return bool(_HEADER_START.match(start))


def _mbox(path: Path) -> Iterator[RawMessage]:
    """mboxo/mboxrd: a message starts at a "From " line after a blank line (or at the top); ">From " lines that
    quote one are unquoted (one level, as mboxrd writes them)."""
    number = 0
    current: list[bytes] = []
    previous_blank = True
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(_MBOX_SEPARATOR) and previous_blank:
                if current:
                    number += 1
                    yield _mbox_message(number, current)
                current = []
            else:
                current.append(line[1:] if re.match(rb"^>+From ", line) else line)
            previous_blank = line in (b"\n", b"\r\n")
    if current and any(part.strip() for part in current):
        yield _mbox_message(number + 1, current)


def _mbox_message(number: int, lines: list[bytes]) -> RawMessage:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line that separates messages belongs to the file, not the message
    return RawMessage(source_id=f"mbox:{number}", raw=b"".join(lines))


def _mbox_starts(path: Path) -> Iterator[int]:
    previous_blank = True
    with path.open("rb") as handle:
        for number, line in enumerate(handle):
            if line.startswith(_MBOX_SEPARATOR) and previous_blank:
                yield number
            previous_blank = line in (b"\n", b"\r\n")
