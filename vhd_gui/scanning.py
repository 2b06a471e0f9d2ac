"""Finding the images and videos in a folder (no decoding: see :mod:`vhd_gui.media`).

Kept apart from the media module, which loads NumPy, Pillow and PyAV, so that a scan can run in
a small helper process of its own (:class:`FolderScan`): a window listing 100,000 files spent
seconds of Python's lock walking them, and every repaint of the window waited for that lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO

from vhd_gui.filenames import to_key

IMAGE_EXTS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
VIDEO_EXTS: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm"})

#: How a program asks for the scan helper: ``PROGRAM --scan-folder FOLDER`` (not a subcommand).
SCAN_HELPER_FLAG = "--scan-folder"
FIRST_BATCH = 200  # files in the first batch: the list shows something at once
BATCH = 500
#: A folder with up to this many media files is walked in this process (no helper to start);
#: past it the helper walks the folder.
IN_PROCESS_FILES = 2000

#: The app's own folder inside a project folder (store, caches); never scanned.
APP_DIR_NAME = ".vhd-annotator"


class MediaError(Exception):
    """A media file we can't use. ``str(e)`` is ``"<path>: <reason>"`` on one line."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the library said
        # A name that is not UTF-8 is shown escaped, so the message can go to a store or a terminal.
        super().__init__(f"{to_key(self.path)}: {self.reason}")


@dataclass(frozen=True)
class MediaFile:
    fs_path: str  # the real file's name (a name that is not UTF-8 keeps its bytes, see vhd_gui.filenames)
    rel: str  # POSIX path relative to the scanned root, as a key: valid text, escaped if need be
    kind: str  # 'image' | 'video'
    size: int
    mtime: float

    @property
    def path(self) -> Path:
        """The real file. Made when asked: a scan of 100,000 files that built a Path for each
        spent a third of its time (and of Python's lock, which the window shares) parsing them."""
        return Path(self.fs_path)


def _sort_key(entry: os.DirEntry[str]) -> tuple[str, str]:
    return (entry.name.casefold(), entry.name)


def scan(root: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Iterator[MediaFile]:
    """Yield every image and video under ``root``, depth first, as they are found.

    Within a folder, entries come in case-insensitive name order and a subfolder's contents
    come where the subfolder's name sorts, so the whole sequence is ordered by path. Skipped:
    names starting with a dot (hidden files and folders, which includes the app's own
    ``.vhd-annotator/``), non-media files, broken links, and subfolders that can't be read.
    Symlinked *files* are listed; symlinked *folders* are entered only with
    ``follow_symlinks=True`` (each real folder once, so link loops end).

    A name that is not valid UTF-8 is listed like any other: ``path`` opens it and ``rel`` is
    its escaped key (:func:`vhd_gui.filenames.to_key`).

    Raises MediaError (on the first ``next()``) if ``root`` is missing or not a folder.
    """
    root_path = Path(root).absolute()
    if not root_path.is_dir():
        if root_path.exists():
            raise MediaError(root_path, "not a folder")
        raise MediaError(root_path, "folder not found")
    try:
        top = os.scandir(root_path)
    except OSError as e:
        raise MediaError(root_path, f"cannot read the folder: {e.strerror or e}") from None

    seen: set[tuple[int, int]] = set()
    if follow_symlinks:
        st = root_path.stat()
        seen.add((st.st_dev, st.st_ino))

    # A stack of (sorted entries, position, rel prefix) instead of recursion.
    with top:
        first = sorted(top, key=_sort_key)
    stack: list[tuple[list[os.DirEntry[str]], int, str]] = [(first, 0, "")]
    image_exts, video_exts = IMAGE_EXTS, VIDEO_EXTS
    while stack:
        entries, i, prefix = stack[-1]
        if i >= len(entries):
            stack.pop()
            continue
        stack[-1] = (entries, i + 1, prefix)
        entry = entries[i]
        name = entry.name
        if name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=follow_symlinks):
                if follow_symlinks:
                    st = entry.stat()
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                try:
                    with os.scandir(entry.path) as it:
                        children = sorted(it, key=_sort_key)
                except OSError:
                    continue  # unreadable or vanished subfolder: not fatal
                stack.append((children, 0, f"{prefix}{name}/"))
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix in image_exts:
                kind = "image"
            elif suffix in video_exts:
                kind = "video"
            else:
                continue
            if not entry.is_file():  # follows a file symlink; False for broken links
                continue
            st = entry.stat()
        except OSError:
            continue  # vanished or unreadable entry
        yield MediaFile(entry.path, to_key(prefix + name), kind, st.st_size, st.st_mtime)


def _batches(files: Iterator[MediaFile]) -> Iterator[list[MediaFile]]:
    size = FIRST_BATCH
    while batch := list(islice(files, size)):
        yield batch
        size = BATCH


def run_scan_helper(folder: str) -> int:
    """The helper process: the media files under ``folder`` as JSON lines on standard output,
    ``{"found": [[fs_path, rel, kind, size, mtime], ...]}`` per batch, then ``{"done": N}``, or
    ``{"error": reason}`` (exit 1) when the folder cannot be read. ASCII only (``json`` escapes
    the rest, a name that is not UTF-8 included), so the locale never matters."""
    out = sys.stdout
    total = 0
    try:
        for batch in _batches(scan(folder)):
            out.write(json.dumps({"found": [[m.fs_path, m.rel, m.kind, m.size, m.mtime] for m in batch]}) + "\n")
            out.flush()
            total += len(batch)
    except MediaError as exc:
        out.write(json.dumps({"error": exc.reason}) + "\n")
        out.flush()
        return 1
    except BrokenPipeError:  # the window stopped listening (another folder, or it closed)
        return 0
    out.write(json.dumps({"done": total}) + "\n")
    out.flush()
    return 0


class FolderScan:
    """The media files under ``root`` in batches, in :func:`scan`'s order, as a window lists
    them: :meth:`next_batch` until it gives an empty list. Call it from one thread at a time;
    :meth:`close` may come from any thread.

    The first ``in_process`` files (:data:`IN_PROCESS_FILES`) are walked here. A bigger folder
    is then walked by a helper process (``command`` followed by :data:`SCAN_HELPER_FLAG` and the
    folder), whose batches arrive through a pipe: walking a file costs Python a few microseconds under its
    lock, and on 100,000 files that lock, shared with the window's thread, made every repaint
    wait. Files given already are not given twice. Should the helper fail to start or die, the
    walk goes on here, and says so in ``fallback``.
    """

    def __init__(self, root: str | os.PathLike[str], command: Sequence[str] | None, *, in_process: int = IN_PROCESS_FILES) -> None:
        self.root = os.path.abspath(root)
        self._in_process = in_process
        self._command = list(command) if command is not None else None
        self._local: Iterator[list[MediaFile]] | None = _batches(scan(self.root))
        self._local_full = True  # the walk here may have more to give
        self._given: set[str] = set()
        self._helper: subprocess.Popen[str] | None = None
        self._said: IO[bytes] | None = None  # the helper's stderr
        self._closed = False
        self.fallback = ""  # why the helper was not used, when it was meant to be

    @property
    def in_helper(self) -> bool:
        return self._helper is not None

    def next_batch(self) -> list[MediaFile]:
        """The next files found (at most a batch); empty when the walk is done or closed.
        Raises MediaError when ``root`` cannot be read."""
        while not self._closed:
            if self._local is not None:
                if self._local_full and len(self._given) >= self._in_process and self._command is not None and self._start_helper():
                    continue
                found = next(self._local, None)
                self._local_full = found is not None and len(found) in (FIRST_BATCH, BATCH)  # a short one was the last
                if found is None:
                    self._local = None
                    return []
            elif self._helper is not None:
                found = self._read_helper()
                if found is None:
                    continue  # done, closed, or gone (and then the walk goes on here)
            else:
                return []
            batch = [m for m in found if m.rel not in self._given]
            self._given.update(m.rel for m in batch)
            if batch:
                return batch
        return []

    def _start_helper(self) -> bool:
        assert self._command is not None
        try:
            # What it says on stderr goes to a file, read if it stops early: a pipe nobody reads
            # could fill up and stall it.
            self._said = tempfile.TemporaryFile()
            self._helper = subprocess.Popen(
                [*self._command, SCAN_HELPER_FLAG, self.root],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._said, text=True, encoding="ascii", errors="replace",
            )
        except OSError as exc:
            self._command = None
            self.fallback = f"the scan helper could not start ({exc}); the folder is walked in the window's process"
            return False
        self._local = None
        return True

    def _read_helper(self) -> list[MediaFile] | None:
        """One batch from the helper; None once it has finished (or was closed, or is gone)."""
        helper = self._helper
        assert helper is not None and helper.stdout is not None
        line = helper.stdout.readline()
        try:
            message = json.loads(line) if line else {}
        except ValueError:
            message = {}
        if isinstance(message, dict) and "found" in message:
            return [MediaFile(*entry) for entry in message["found"]]
        self._helper = None
        if helper.poll() is None:
            helper.kill()
        helper.wait()
        if helper.stdout is not None:
            helper.stdout.close()
        said = ""
        if self._said is not None:
            self._said.seek(0)
            said = self._said.read().decode("utf-8", "replace")
            self._said.close()
            self._said = None
        if self._closed or (isinstance(message, dict) and "done" in message):
            return None
        if isinstance(message, dict) and "error" in message:
            raise MediaError(self.root, str(message["error"]))
        # Gone without saying it was done (killed, out of memory): walk on here, skipping what came.
        detail = " ".join(said.split()[-30:]) or f"exit status {helper.returncode}"
        self.fallback = f"the scan helper stopped early ({detail}); the rest of the folder is walked in the window's process"
        self._command = None
        self._local = _batches(scan(self.root))
        return None

    def close(self) -> None:
        """Stop the walk: the helper (if any) is ended; :meth:`next_batch` gives nothing more."""
        self._closed = True
        helper = self._helper
        if helper is not None and helper.poll() is None:
            helper.kill()
