"""
Saving that never leaves a partial file under the final name, and loading that names a partial file.

:func:`atomic_write` writes to a temporary file in the destination's folder, flushes and fsyncs it, then ``os.replace``
s it onto the final name (and fsyncs the folder): at every moment the final name holds either the previous complete
file or the new complete file, whether the process is killed, the machine loses power or the disk fills up during the
save. :func:`check_zip_complete` and :func:`check_pickle_complete` turn a truncated or corrupted file (written by
something else, or damaged since) into an :class:`IncompleteFileError` that names it.
"""

import contextlib
import hashlib
import os
import pathlib
import pickletools
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO

TEMPORARY_MARK = ".tmp-"
"""Part of every temporary file's name: ``.<final name>.tmp-<pid>-<random>``."""

PathOrFile = str | os.PathLike | IO[bytes]


class IncompleteFileError(ValueError):
    """A saved file is truncated or corrupted: cut short while it was written, or damaged since."""


def incomplete_file_error(path: str | os.PathLike, reason: object, hint: str = "") -> IncompleteFileError:
    """:return: the error for an incomplete ``path``, saying why it is rejected and what to do"""
    return IncompleteFileError(
        f"{path} is incomplete or corrupted ({reason}): it was probably cut short by a kill, a power loss or a full disk "
        f"while it was written by a program that does not save atomically, or damaged since. {hint or 'Use an earlier copy.'}"
    )


def temporary_name(path: pathlib.Path) -> pathlib.Path:
    """:return: a new name for the temporary file of ``path``, hidden, in the same folder (so ``os.replace`` is atomic)"""
    return path.with_name(f".{path.name}{TEMPORARY_MARK}{os.getpid()}-{os.urandom(4).hex()}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """
    Write the file ``path`` atomically: yield a binary file to write it in (a temporary file next to ``path``; the
    body may close it), then flush and fsync it, ``os.replace`` it onto ``path`` and fsync the folder.

    If the body or the write fails, the temporary file is removed and ``path`` is left as it was. An ``OSError`` of the
    file system (``ENOSPC`` when the disk is full, ``EDQUOT``, ``EIO``, ...) is raised again as an ``OSError`` with the
    same ``errno`` that names ``path`` and says that it was left intact.

    :param path: the final name (its folder is created if needed)
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        # os.open with mode 0o666 gives the file the permissions of a plain open() (umask applies), unlike mkstemp
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            yield file
            closed_by_body = file.closed  # SB3's writers close the file they are given
            if not closed_by_body:
                file.flush()
                os.fsync(file.fileno())
        if closed_by_body:
            _fsync(temporary, os.O_RDONLY)  # fsync flushes the file's data whatever handle it is called on
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.errno is not None:
            raise OSError(
                error.errno, f"{os.strerror(error.errno)}, while saving {path}: it was left as it was", str(path)
            ) from error
        raise
    with contextlib.suppress(OSError):  # some systems (Windows) cannot open a folder; the file is in place all the same
        _fsync(path.parent, os.O_RDONLY)


def _fsync(path: str | os.PathLike, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_path(path: str | os.PathLike, suffix: str) -> pathlib.Path:
    """:return: the file SB3 writes for ``path``: ``path`` itself, or ``path.<suffix>`` when ``path`` has no suffix"""
    path = pathlib.Path(path)
    return path.with_name(f"{path.name}.{suffix}") if path.suffix == "" else path


def load_path(path: str | os.PathLike, suffix: str) -> pathlib.Path:
    """:return: the file SB3 reads for ``path``: ``path`` itself if it exists, else ``path.<suffix>``"""
    path = pathlib.Path(path)
    return path if path.exists() else path.with_name(f"{path.name}.{suffix}")


def save_atomically(path: PathOrFile, suffix: str, write: Callable[[PathOrFile], None]) -> None:
    """
    ``write(file)`` through :func:`atomic_write` when ``path`` is a path (completed with ``suffix`` as SB3 does);
    ``write(path)`` as it is when ``path`` is a file object (SB3's behaviour: the caller owns that file).
    """
    if isinstance(path, str | os.PathLike):
        with atomic_write(save_path(path, suffix)) as file:
            write(file)
    else:
        write(path)


def check_zip_complete(path: str | os.PathLike, hint: Callable[[pathlib.Path], str] | None = None) -> None:
    """
    :param hint: called on failure: what to use instead of ``path`` (e.g. an earlier checkpoint), for the message
    :raises IncompleteFileError: when the zip file ``path`` is truncated (also where what is left of it reads as a zip
        stored inside it) or a member fails its CRC check (it reads the whole file)
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
            first_offset = min((member.header_offset for member in archive.infolist()), default=0)
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise incomplete_file_error(path, f"not a complete zip file: {error}", _hint(path, hint)) from error
    if first_offset != 0:
        # zipfile reads the last central directory it finds: in a cut SB3 file, that of a zip inside a member (torch's)
        reason = (
            f"its zip directory starts {first_offset} bytes into the file: what is left is a zip inside one of its members"
        )
        raise incomplete_file_error(path, reason, _hint(path, hint))
    if bad_member is not None:
        raise incomplete_file_error(path, f"its member {bad_member} fails its CRC check", _hint(path, hint))


def check_pickle_complete(path: str | os.PathLike, hint: Callable[[pathlib.Path], str] | None = None) -> None:
    """
    :param hint: called on failure: what to use instead of ``path``, for the message
    :raises IncompleteFileError: when the pickle ``path`` ends before its STOP opcode or holds an invalid opcode
        (it reads the opcodes without building any object; damage inside array data is not detected)
    """
    last = None
    try:
        with open(path, "rb") as file:
            for opcode, _, _ in pickletools.genops(file):
                last = opcode.name
    except ValueError as error:  # genops: unknown opcode, or fewer bytes than an opcode announces
        raise incomplete_file_error(path, f"not a complete pickle: {error}", _hint(path, hint)) from error
    if last != "STOP":
        raise incomplete_file_error(path, "not a complete pickle: it ends before its STOP opcode", _hint(path, hint))


def _hint(path: str | os.PathLike, hint: Callable[[pathlib.Path], str] | None) -> str:
    return hint(pathlib.Path(path)) if hint is not None else ""


def sha256_of(path: str | os.PathLike) -> str:
    """:return: the SHA-256 of the file ``path``, hexadecimal"""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
