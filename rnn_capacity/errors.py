"""User-facing errors and the one-line error convention shared by every command-line tool.

Bad input (a missing file, an out-of-range option) should read as one short line, not a
traceback: library code raises :class:`UsageError`, and :func:`cli_main` turns it into
``error: <message>`` on stderr and exit status 2 (the status argparse uses for bad usage).
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

__all__ = [
    "ArgumentParser",
    "UsageError",
    "check_directory",
    "path_exists",
    "cli_main",
    "ensure_directory",
    "one_line",
    "write_failed",
]


#: The errors of a disk that cannot take more (full, over quota, read-only, too large).
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO})


class UsageError(ValueError):
    """Bad user input: the CLI prints str(exc) as one line 'error: ...' to stderr and exits 2."""


def one_line(text: object) -> str:
    """Collapse ``text`` (e.g. a wrapped exception's message) to a single line."""
    return " ".join(str(text).split())


def write_failed(exc: OSError, where: object, kept: str, then: str) -> int:
    """The one line of a command whose write failed (a full disk, say), and its exit
    status, 1: ``error: cannot write in <where> (<why>); <kept>: free space, then <then>``."""
    sys.stderr.write(
        f"error: cannot write in {where} ({one_line(exc)}); {kept}: free space, then {then}\n"
    )
    return 1


def is_utf8(text: str) -> bool:
    """Whether ``text`` (e.g. a path from the command line) encodes as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_exists(path: str | os.PathLike, what: str, kind: str = "any") -> bool:
    """Whether ``path`` exists (``kind``: "any", "file" or "dir"); a path the system
    refuses to look at (a name too long, a loop of links) is bad input, not a traceback."""
    path = Path(path)
    try:
        return {"any": path.exists, "file": path.is_file, "dir": path.is_dir}[kind]()
    except OSError as exc:
        raise UsageError(f"{what} {str(path)[:80]}...: {exc.strerror or exc}") from None


def check_directory(path: str | os.PathLike, what: str) -> None:
    """Refuse ``path`` unless it is, or could be created as, a writable directory; creates
    nothing (so two paths can both be checked before either is made)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path} exists and is not a directory")
    existing = next(a for a in (path, *path.absolute().parents) if a.exists())
    if not existing.is_dir():
        raise UsageError(f"cannot create {what} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path} is not writable ({existing})")


def ensure_directory(path: str | os.PathLike, what: str) -> Path:
    """Create ``path`` (and its parents) if needed; a path that cannot be a writable
    directory is bad input, reported before anything is written."""
    path = Path(path)
    check_directory(path, what)  # what is made here is the caller's, hence writable
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. under /proc, which claims to be writable
        raise UsageError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    return path


_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)\s*(?:<[^>]*>)?`")


def plain_text(text: str) -> str:
    """reST inline markup as a terminal shows it: ``:func:`~a.b.c``` is ``c``,
    ````code```` is ``code``, ``**bold**`` is ``bold``."""
    text = _ROLE.sub(
        lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1), text
    )
    return text.replace("``", "").replace("**", "")


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` that reports bad usage as exactly one line.

    argparse normally prints the usage synopsis before the message; callers and scripts
    that parse stderr want a single ``error: <prog>: <message>`` line instead. Subparsers
    created with ``add_subparsers()`` inherit this class, so they behave the same.
    """

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {one_line(message)}\n")
        sys.exit(2)

    def format_help(self) -> str:
        """argparse's help, its reST markup (docstrings give the descriptions) as plain
        text."""
        return plain_text(super().format_help())

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, and every text or path argument must be valid UTF-8: the package
        records paths and values in JSON and TensorBoard, which cannot hold the stray
        bytes (``surrogateescape``) of a name in another encoding."""
        parsed, extra = super().parse_known_args(args, namespace)
        for dest, value in vars(parsed).items():
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, str | Path) and not is_utf8(str(item)):
                    raw = os.fsencode(str(item))
                    flag = "--" + dest.replace("_", "-")
                    self.error(f"{flag}: {raw!r} is not valid UTF-8: use a UTF-8 name")
        return parsed, extra


def cli_main(
    main: Callable[[Sequence[str] | None], int | None],
) -> Callable[[Sequence[str] | None], int | None]:
    """Wrap a ``main(argv)`` so that a :class:`UsageError` exits 2 with one stderr line.

    Use as a decorator; the wrapped function keeps its signature, so tests may call it
    with an argument list. An ``OSError`` of a full disk (:data:`DISK_ERRORS`) is one line
    and exit status 1. Any other exception still shows its traceback: it is a bug, not
    bad input.
    """

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int | None:
        hook = threading.excepthook
        threading.excepthook = functools.partial(_thread_hook, hook)
        try:
            return main(argv)
        except UsageError as exc:
            sys.stderr.write(f"error: {one_line(exc)}\n")
            sys.exit(2)
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                raise  # not the machine's state: a bug, with its traceback
            # A full disk (or quota, or a read-only remount) where the command had no
            # more specific word: files are written atomically, so what is finished stays.
            where = f" {exc.filename}" if exc.filename else ""
            sys.stderr.write(
                f"error: cannot write{where} ({exc.strerror or one_line(exc)}); files "
                "finished before are kept: free space, then run the same command again\n"
            )
            sys.exit(1)
        finally:
            threading.excepthook = hook

    return wrapper


def _thread_hook(default, args) -> None:
    """A full disk in a writer thread (TensorBoard's event writer) is raised again by the
    thread's next write in the main thread, which reports it in one line: no traceback
    from the thread as well."""
    if isinstance(args.exc_value, OSError) and args.exc_value.errno in DISK_ERRORS:
        return
    default(args)
