"""Output sets that are written together or not at all; a lock per output prefix; checks of
the output paths before any work. No Scipion import (the run layer, the command line and the
protocols use it alike).

A run's outputs (maps, text files, the JSON summary, the ChimeraX scene and its
``*_display.mrc`` copies) form one *set*:

1. Before computing, :func:`check_outputs` refuses (one :class:`InputError` line) an output
   path that is an input (same real path or same file: symlinks, ``./a`` and ``a``, hard
   links), two outputs on one path, a path that is a folder or lies under a regular file, and
   a folder that cannot be written (a probe file is created and removed; read-only mounts
   and permissions alike).
2. :func:`hold` takes the prefix's lock ``<folder>/.<name>.locspiral-lock`` (``flock``: the
   kernel drops it when its process dies, so a lock left by a killed run never blocks) and
   then :func:`recover`\\ s what an interrupted earlier run on that prefix left.
3. :class:`OutputSet` writes every file to a temporary name beside its final path
   (``.<file name>.<pid>-<random>.locspiral-tmp``), listed beforehand in a journal
   ``<folder>/.<name>.locspiral-journal``. Only when all of them are complete is the journal
   switched to "commit" (the commit point) and the files renamed into place, the JSON last;
   then the journal is removed. Ctrl-C and SIGTERM are held during the renames.

What the next run on the prefix finds after a process was killed (kill -9, a crash) and
does first: a journal in state "staging" -> the new set was incomplete: its temporaries are
removed, the old outputs were never touched; "commit" -> the new set is complete (its files
were fsynced before the commit point): the renames are finished; "rollback" -> the old set
is restored from its hard-linked backups. Between the kill and that next run the folder can
show new and old files side by side, each one complete (a rename is atomic). A write that
fails (disk full, quota, read-only remount, any OSError) removes every temporary and leaves
the old outputs byte-identical (:class:`OutputError`, one line); after the commit point a
failed rename puts the old files back from their backups.

Test-only fault hook: the environment variable ``LOCSPIRAL_TEST_FAULT=<step>:<action>``
(several, comma-separated) acts at a named step: ``stage:<output name>`` (after that file's
temporary is written), ``backup:<output name>`` (after the old file's backup link was made,
before the commit point), ``journal`` (after the commit point), ``commit:<output name>``
(after that file was renamed into place), ``done`` (after the last rename),
``rollback:<output name>`` (after that file was restored, when a rename failed after the
commit point),
``start`` (lock held, before computing), ``probe`` (the writability probe). Actions:
``kill`` (SIGKILL to itself), ``sigint`` (Ctrl-C), ``sleep<seconds>``, or an errno name
(``ENOSPC``, ``EDQUOT``, ``EROFS``, ``EIO``, ...) raised as that OSError. Never set it
outside tests.
"""
import contextlib
import contextvars
import errno
import json
import os
import re
import signal
import stat
import threading
import time
import uuid

from .core import mrcio
from .core.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: exclusive-create lock files instead
    fcntl = None

FAULT_ENV = "LOCSPIRAL_TEST_FAULT"
LOCK_SUFFIX = ".locspiral-lock"
JOURNAL_SUFFIX = ".locspiral-journal"
TEMP_SUFFIX = ".locspiral-tmp"
BACKUP_SUFFIX = ".locspiral-old"
NOTHING_WRITTEN = "nothing was written (existing outputs are unchanged)"
NO_FLOCK = tuple(getattr(errno, name) for name in ("ENOLCK", "ENOTSUP", "EOPNOTSUPP",
                                                    "EINVAL", "ENOSYS") if hasattr(errno, name))


class OutputError(InputError, OSError):
    """Writing failed (disk full, quota, read-only, I/O error): one line; nothing of the
    set was written. The command line exits 1 for it (2 is for bad input). Also an OSError,
    so callers that caught the disk's error still catch it."""


# -- test-only fault hook -------------------------------------------------------------------
def fault(step, path=None):
    """Act on ``LOCSPIRAL_TEST_FAULT`` at ``step`` (see the module docstring); a no-op
    unless that variable names this step."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        where, _, action = item.strip().rpartition(":")
        if where != step:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # let the handler run here, at this step
        elif action.startswith("sleep"):
            time.sleep(float(action[5:] or 1.0))
        elif action.isupper() and isinstance(getattr(errno, action, None), int):
            code = getattr(errno, action)
            raise OSError(code, os.strerror(code), path)
        else:
            raise ValueError(f"{FAULT_ENV}: unknown action {action!r} at {step!r}")


# -- paths ----------------------------------------------------------------------------------
def _key(path):
    return os.path.abspath(os.fspath(path))


def _same(a, b):
    """Same file: equal real paths, or (both existing) the same inode."""
    if os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b)):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def hidden_beside(anchor, suffix):
    """``<folder>/.<name><suffix>`` for the prefix ``anchor`` (``out/run`` ->
    ``out/.run.locspiral-lock``)."""
    folder, name = os.path.split(_key(anchor))
    return os.path.join(folder, f".{name or 'locspiral'}{suffix}")


SYSTEM_FOLDERS = ("/dev", "/proc", "/sys")
# A set's temporary is ".<file name>.<pid>-<8 hex><TEMP_SUFFIX>" (its backup the same
# length): up to this many bytes more than the file's own name (pids have up to 7 digits).
TEMP_NAME_EXTRA = len(".") + len(".") + 7 + 1 + 8 + max(len(TEMP_SUFFIX), len(BACKUP_SUFFIX))


def _check_name_length(name, what, path, folder):
    """Refuse, before any work, a file name whose temporary would be too long for the
    file system (it would fail only when the set is written, after the computation)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    base = os.path.basename(_key(path))
    size = len(os.fsencode(base)) + TEMP_NAME_EXTRA
    if limit and size > limit:
        raise InputError(f"cannot write the {name} {what} {path}: its name is too long for "
                         f"this file system ({len(os.fsencode(base))} bytes; the output set "
                         f"stages it under a name {TEMP_NAME_EXTRA} bytes longer, at most "
                         f"{limit}); choose a shorter --output prefix or path")


def _is_system_folder(folder):
    real = os.path.realpath(folder)
    return os.name == "posix" and any(real == top or real.startswith(top + "/")
                                      for top in SYSTEM_FOLDERS)


def _existing_ancestor(folder):
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def _probe(folder):
    """Create and remove a file in ``folder``: the honest test of writability (access(2)
    is wrong for root, ACLs and some network mounts)."""
    path = os.path.join(folder, f".locspiral-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    fault("probe", path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.remove(path)


def check_outputs(outputs, inputs=None, what="output"):
    """Refuse, before any work, output paths that cannot be written or would destroy an
    input: ``outputs`` {name: path}, ``inputs`` {label: path} (None entries skipped)."""
    inputs = {k: v for k, v in (inputs or {}).items() if v}
    outputs = {k: os.fspath(v) for k, v in outputs.items() if v}
    seen = {}
    for name, path in outputs.items():
        for label, source in inputs.items():
            if _same(path, source):
                raise InputError(f"the {name} {what} {path} is the input {label} "
                                 f"({os.fspath(source)}); writing it would destroy the input: "
                                 "choose another --output prefix or path")
        real = os.path.normcase(os.path.realpath(path))
        if real in seen:
            raise InputError(f"the {name} {what} {path} is also the {seen[real][0]} {what} "
                             f"({seen[real][1]}); give them different paths")
        seen[real] = (name, path)
    probed = set()
    for name, path in outputs.items():
        if os.path.isdir(path):
            raise InputError(f"cannot write the {name} {what} {path}: it is a folder; give a "
                             "file path")
        if path.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
            # "--json out/" means a folder; written as a file named "out" it would surprise
            raise InputError(f"cannot write the {name} {what} {path}: a path ending in "
                             f"{path[-1]} names a folder; give a file path")
        if os.path.exists(path) and not os.path.isfile(path):
            # A FIFO or a device: the set's rename would replace it by a plain file.
            raise InputError(f"cannot write the {name} {what} {path}: it is not a regular "
                             "file (a FIFO, socket or device); give a file path")
        folder = os.path.dirname(_key(path))
        if _is_system_folder(folder):
            raise InputError(f"cannot write the {name} {what} {path}: {folder} holds the "
                             "system's devices or processes (/dev/stdout and the like would "
                             "be replaced, not written to); give a file path")
        existing = _existing_ancestor(folder)
        if not os.path.isdir(existing):
            raise InputError(f"cannot write the {name} {what} {path}: {existing} is a file, "
                             "not a folder; choose another path")
        _check_name_length(name, what, path, existing)
        if existing in probed:
            continue
        try:
            _probe(existing)
        except OSError as exc:
            raise InputError(f"cannot write the {name} {what} {path}: the folder {existing} "
                             f"is not writable ({exc.strerror or exc}); choose a writable "
                             "place") from None
        probed.add(existing)


# -- lock -----------------------------------------------------------------------------------
def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _read_pid(path):
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class PrefixLock:
    """An exclusive lock on an output prefix (``<folder>/.<name>.locspiral-lock``, holding
    the pid). ``flock`` is released by the kernel when its process dies, so a killed run
    never blocks the next; the file is removed on release."""

    def __init__(self, anchor):
        self.anchor = os.fspath(anchor)
        self.path = hidden_beside(anchor, LOCK_SUFFIX)
        self.fd = None
        self.folders = []

    def _refuse(self):
        pid = _read_pid(self.path)
        who = f"(pid {pid}) " if pid else ""
        raise InputError(f"another locspiral-em run {who}is writing outputs with the prefix "
                         f"{self.anchor}; wait for it to finish or choose another --output "
                         "prefix")

    def acquire(self):
        self.folders = []
        try:
            self.folders = _make_folders(os.path.dirname(self.path))
            use_flock = fcntl is not None
            while self.fd is None:
                if not use_flock:
                    self._acquire_exclusive()
                    continue
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        self._refuse()
                    if exc.errno in NO_FLOCK:  # a mount without locks: pid files instead
                        use_flock = False
                        continue
                    raise
                # The previous holder removes the file on release: if it did so between our
                # open and flock, this lock is on a name nobody else sees; take it again.
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
        except OSError as exc:
            _remove_folders(self.folders)
            raise InputError(f"cannot lock the output prefix {self.anchor} ({self.path}): "
                             f"{exc.strerror or exc}; choose a writable place") from None
        except BaseException:
            _remove_folders(self.folders)
            raise
        return self

    def _acquire_exclusive(self):
        """Without flock (not POSIX, or a mount without locks): create the file exclusively;
        one holding the pid of a dead process (or none) is stale and removed."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _read_pid(self.path)
            if pid is not None and _alive(pid):
                self._refuse()
            _remove(self.path)  # a dead process's lock
            return
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self):
        if self.fd is None:
            return
        try:
            os.remove(self.path)  # before unlocking: a waiting run re-checks the name
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        _remove_folders(self.folders)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _make_folders(folder):
    """Create ``folder`` and missing parents; return those created, deepest first."""
    created = []
    folder = _key(folder)
    while not os.path.isdir(folder):
        created.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    made = []
    try:
        for path in reversed(created):
            try:
                os.mkdir(path)
                made.append(path)
            except FileExistsError:
                pass
    except BaseException:
        _remove_folders(list(reversed(made)))
        raise
    return list(reversed(made))


def _remove_folders(folders):
    for path in folders:  # deepest first; only while empty (another run may use them)
        try:
            os.rmdir(path)
        except OSError:
            break


# -- the run's scope: lock, anchor, what was committed ---------------------------------------
class _Scope:
    def __init__(self, log):
        self.log = log or (lambda line: None)
        self.stack = contextlib.ExitStack()
        self.anchor = None


_SCOPE = contextvars.ContextVar("locspiral_output_scope", default=None)
_ACTIVE = contextvars.ContextVar("locspiral_output_set", default=None)
_COMMITTED = []  # files of the last set committed by this process (the CLI's Ctrl-C line)


def committed():
    """Paths of the set most recently committed in this process ([] after a new run
    started and before its commit)."""
    return list(_COMMITTED)


def forget_committed():
    """A new command starts: nothing of it is written yet."""
    del _COMMITTED[:]


@contextlib.contextmanager
def run_scope(log=None):
    """One run: the lock taken by :func:`hold` is released when the scope ends."""
    scope = _Scope(log)
    token = _SCOPE.set(scope)
    del _COMMITTED[:]
    try:
        with scope.stack:
            yield scope
    finally:
        _SCOPE.reset(token)


def hold(anchor, log=None):
    """Lock the prefix ``anchor`` for the current :func:`run_scope` (or until the process
    ends when there is none), then recover what an interrupted run on it left."""
    scope = _SCOPE.get()
    lock = PrefixLock(anchor).acquire()
    if scope is not None:
        scope.stack.callback(lock.release)
        scope.anchor = os.fspath(anchor)
        log = log or scope.log
    try:
        recover(anchor, log)
    except OSError as exc:
        raise OutputError(f"cannot clean up after an interrupted earlier run on {anchor}: "
                          f"{exc.strerror or exc} ({exc.filename}); its journal "
                          f"{hidden_beside(anchor, JOURNAL_SUFFIX)} says what is left") from None
    fault("start")
    return lock


def current_anchor():
    scope = _SCOPE.get()
    return scope.anchor if scope is not None else None


# -- journal and recovery -------------------------------------------------------------------
def _write_journal(path, state, entries, folders):
    """Replace the journal atomically (and durably: it decides what the next run does)."""
    data = {"version": 1, "pid": os.getpid(), "state": state, "folders": folders,
            "entries": [dict(e) for e in entries]}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            _fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _sync_folder(os.path.dirname(path))


def _fsync(fd):
    """fsync, except where the file system has none (some FUSE and network mounts say
    EINVAL or ENOTSUP): the data is then as safe as that file system makes it."""
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


def _sync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _backup_name(temp):
    """The hard-linked backup of the file a temporary replaces (None for a name that is
    not a set's temporary)."""
    if not temp.endswith(TEMP_SUFFIX):
        return None
    return temp[:-len(TEMP_SUFFIX)] + BACKUP_SUFFIX


def recover(anchor, log=None):
    """Finish or undo what an interrupted run on the prefix ``anchor`` left (call with its
    lock held). Returns the journal's state, or None when there was nothing to do."""
    log = log or (lambda line: None)
    journal = hidden_beside(anchor, JOURNAL_SUFFIX)
    folder, base = os.path.split(journal)
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in names:  # a journal being replaced when the process died
        if name.startswith(base + ".") and name.endswith(".tmp"):
            _remove(os.path.join(folder, name))
    _remove_stray_temporaries(folder, names, log)
    if not os.path.exists(journal):
        return None
    try:
        with open(journal, encoding="utf-8") as handle:
            data = json.load(handle)
        state, entries = data["state"], data["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        _remove(journal)
        log(f"removed an unreadable output journal {journal}")
        return None
    if state == "commit":  # the new set was complete: finish the renames
        for e in entries:
            if os.path.exists(e["temp"]):
                os.replace(e["temp"], e["final"])
        log(f"finished writing the outputs of an earlier run on {anchor} that was "
            "interrupted while putting them in place")
    elif state == "rollback":  # put the old set back
        for e in entries:
            if e.get("backup") and os.path.exists(e["backup"]):
                os.replace(e["backup"], e["final"])
            elif not e.get("had_old") and not os.path.exists(e["temp"]):
                _remove(e["final"])
        log(f"restored the earlier outputs on {anchor}: a run was interrupted while "
            "undoing its incomplete outputs")
    else:  # staging: the new set never was complete; the old one is untouched
        log(f"removed the temporary files of an earlier run on {anchor} that was "
            "interrupted before its outputs were complete (its outputs were not written)")
    for e in entries:
        _remove(e["temp"])
        # Killed while making the backups, before the commit point: the journal (still
        # "staging") names none, but they have their set names; the old files are in place.
        for backup in {e.get("backup"), _backup_name(e["temp"])} - {None}:
            _remove(backup)
    _remove(journal)
    _remove_folders(sorted(data.get("folders") or [], key=len, reverse=True))
    return state


# ``core.write_maps`` (and, before output sets, every run) stages a map as ``tempfile.mkstemp``
# names it: ``.tmp-`` + 8 characters of tempfile's alphabet + ``.mrc`` (or ``.txt``). A
# killed write leaves one behind, with no journal naming it. Its name is random, so the
# only safe sign that no write is still filling it is its age: an hour without a change
# (writing a map takes seconds; the file's time moves while it is written).
STRAY_TEMPORARY = re.compile(r"^\.tmp-[a-z0-9_]{8}\.(mrc|txt)$")
STRAY_AGE_S = 3600.0


def _remove_stray_temporaries(folder, names, log):
    """Remove the stray ``.tmp-XXXXXXXX.mrc|txt`` files of interrupted writes older than
    ``STRAY_AGE_S`` in an output folder, and say so."""
    now = time.time()
    removed = []
    for name in sorted(names):
        if not STRAY_TEMPORARY.match(name):
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STRAY_AGE_S:
                os.remove(path)
                removed.append(name)
        except OSError:
            continue  # gone already, or not ours to remove: leave it
    if removed:
        log(f"removed {len(removed)} temporary file(s) older than an hour left in {folder} "
            f"by an interrupted write: {', '.join(removed)}")
    return removed


# -- signals ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _signals_held():
    """Hold Ctrl-C and SIGTERM (main thread only) and deliver them afterwards: a set is
    never left half renamed by a signal Python can catch."""
    caught = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
        except (ValueError, OSError):
            pass
    try:
        yield caught
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    for sig in caught:
        handler = old.get(sig)
        if sig == signal.SIGINT and handler is signal.default_int_handler:
            raise KeyboardInterrupt
        if callable(handler):
            handler(sig, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), sig)


# -- the set ----------------------------------------------------------------------------------
class OutputSet:
    """Files staged beside their final paths and committed together.

        with OutputSet("out/run", {"map": "out/run_map.mrc", "json": "out/run.json"}) as s:
            s.write_map("out/run_map.mrc", data, 1.06)
            s.write_text("out/run.json", lambda handle: handle.write("{}"))
            s.commit()

    Leaving the block without :meth:`commit` (an exception, Ctrl-C) removes every
    temporary; nothing of the set is written. Writes to a path not announced are added to
    the set. While :meth:`active`, :func:`write_map`/:func:`write_text_file` and
    :func:`source` of this module go through the set (the ChimeraX scene writes that way).
    """

    def __init__(self, anchor, planned=(), order_last=("json",)):
        self.anchor = os.fspath(anchor)
        self.journal = hidden_beside(anchor, JOURNAL_SUFFIX)
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.entries = {}   # final (abs) -> entry dict
        self.order_last = tuple(order_last)
        self.written = set()
        self.folders = []
        self.state = None
        for name, path in dict(planned).items():
            if path:
                self._entry(path, name)

    # entries
    def _entry(self, path, name=None):
        final = _key(path)
        if final not in self.entries:
            folder, base = os.path.split(final)
            self.entries[final] = {
                "name": name or os.path.splitext(base)[0], "final": final,
                "temp": os.path.join(folder, f".{base}.{self.token}{TEMP_SUFFIX}"),
                "backup": None, "had_old": False, "shown": os.fspath(path)}
            if self.state == "staging":
                self._make_folders(folder)
                _write_journal(self.journal, "staging", self.entries.values(), self.folders)
        return self.entries[final]

    def _make_folders(self, folder):
        for path in _make_folders(folder):
            self.folders.append(path)

    def begin(self):
        self.folders = []
        self.state = "staging"
        try:
            self._make_folders(os.path.dirname(self.journal))
            for final in self.entries:
                self._make_folders(os.path.dirname(final))
            _write_journal(self.journal, "staging", self.entries.values(), self.folders)
        except BaseException as exc:  # no __exit__ when __enter__ fails: clean up here
            self._abort()
            if isinstance(exc, OSError):
                raise self._error(exc, self.journal) from None
            raise
        return self

    def __enter__(self):
        if self.state is None:
            self.begin()
        return self

    def __exit__(self, kind, exc, tb):
        if self.state == "staging":
            with _signals_held():
                self._abort()
            if isinstance(exc, OSError):
                raise self._error(exc) from None
        return False

    @contextlib.contextmanager
    def active(self):
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def owns(self, path):
        return _key(path) in self.entries

    def source(self, path):
        """Where a file of the set can be read now (its temporary once written)."""
        e = self.entries.get(_key(path))
        return e["temp"] if e is not None and e["final"] in self.written else os.fspath(path)

    # writing
    def _staged(self, path, write):
        if self.state != "staging":
            raise RuntimeError("the output set is not open for writing")
        e = self._entry(path)
        if os.path.isdir(e["final"]):
            raise InputError(f"cannot write {path}: it is a folder")
        _remove(e["temp"])
        try:
            write(e["temp"])
        except OSError as exc:
            raise self._error(exc, e["final"]) from None
        self.written.add(e["final"])
        fault(f"stage:{e['name']}", e["final"])

    def write_map(self, path, data, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
        self._staged(path, lambda tmp: mrcio.write_mrc(tmp, data, voxel_size, origin, nstart))

    def write_maps(self, items, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
        for path, data in items:
            self.write_map(path, data, voxel_size, origin, nstart)

    def write_text(self, path, write):
        """``write(handle)`` writes the text of ``path`` (UTF-8)."""
        def go(tmp):
            with open(tmp, "w", encoding="utf-8") as handle:
                write(handle)
        self._staged(path, go)

    def _error(self, exc, final=None):
        if isinstance(exc, OutputError):
            return exc
        where = self._final_of(final or exc.filename or "an output")
        return OutputError(f"cannot write {where}: {exc.strerror or exc}; {NOTHING_WRITTEN}")

    def _final_of(self, path):
        """The path a user gave for a file of the set (its temporary's too)."""
        for e in self.entries.values():
            if os.fspath(path) in (e["temp"], e["final"]):
                return e["shown"]
        return os.fspath(path)

    # commit / abort
    def _order(self):
        last = [e for e in self.entries.values() if e["name"] in self.order_last]
        first = [e for e in self.entries.values() if e["name"] not in self.order_last]
        return [e for e in first + last if e["final"] in self.written]

    def commit(self):
        """Put every written file in place together (the JSON last); the announced files
        never written are dropped from the set."""
        with _signals_held():
            entries = self._order()
            try:
                for e in entries:  # durable before the commit point
                    fd = os.open(e["temp"], os.O_RDONLY)
                    try:
                        _fsync(fd)
                    finally:
                        os.close(fd)
                    e["had_old"] = os.path.lexists(e["final"])
                    if e["had_old"]:
                        e["backup"] = _backup_name(e["temp"])
                        try:
                            # a second name for the old file, no copy (a symlink stays one)
                            os.link(e["final"], e["backup"], follow_symlinks=False)
                        except OSError:
                            e["backup"] = None
                        fault(f"backup:{e['name']}", e["final"])
                for folder in {os.path.dirname(e["final"]) for e in entries}:
                    _sync_folder(folder)
                _write_journal(self.journal, "commit", entries, self.folders)
            except OSError as exc:
                self._abort()
                raise self._error(exc) from None
            self.state = "commit"
            fault("journal")
            done = []
            try:
                for e in entries:
                    os.replace(e["temp"], e["final"])
                    done.append(e)
                    fault(f"commit:{e['name']}", e["final"])
            except OSError as exc:
                self._undo(entries, done, exc)
            fault("done")
            for e in entries:
                if e["backup"]:
                    _remove(e["backup"])
            for folder in {os.path.dirname(e["final"]) for e in entries}:
                _sync_folder(folder)
            _remove(self.journal)
            self.state = "done"
            _COMMITTED[:] = [e["final"] for e in entries]
        return [e["final"] for e in entries]

    def _undo(self, entries, done, exc):
        """A rename failed after the commit point: restore the old set when every replaced
        file has its backup, else leave the journal for the next run to finish."""
        if any(e["had_old"] and not e["backup"] for e in done):
            raise OutputError(f"cannot put {self._final_of(exc.filename or '')} in place: "
                              f"{exc.strerror or exc}; the next run on {self.anchor} "
                              "finishes writing the set") from None
        try:
            _write_journal(self.journal, "rollback", entries, self.folders)
            for e in done:
                if e["backup"]:
                    os.replace(e["backup"], e["final"])
                else:
                    _remove(e["final"])
                fault(f"rollback:{e['name']}", e["final"])
            for e in entries:
                _remove(e["temp"])
                if e["backup"]:
                    _remove(e["backup"])
            _remove(self.journal)
        except OSError:
            raise OutputError(f"cannot write {self._final_of(exc.filename or '')}: "
                              f"{exc.strerror or exc}; the earlier outputs are restored by "
                              f"the next run on {self.anchor}") from None
        _remove_folders(sorted(self.folders, key=len, reverse=True))
        self.state = "aborted"
        raise OutputError(f"cannot write {self._final_of(exc.filename or '')}: "
                          f"{exc.strerror or exc}; {NOTHING_WRITTEN}") from None

    def _abort(self):
        for e in self.entries.values():
            _remove(e["temp"])
            if e["backup"]:
                _remove(e["backup"])
        _remove(self.journal)
        # deepest first (created parents-first)
        _remove_folders(sorted(self.folders, key=len, reverse=True))
        self.state = "aborted"


# -- writes that go through the active set -----------------------------------------------------
def active():
    return _ACTIVE.get()


def source(path):
    """The file to read for ``path``: the active set's temporary when it holds it."""
    s = _ACTIVE.get()
    return s.source(path) if s is not None else os.fspath(path)


def write_map(path, data, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    """Into the active set when there is one, else atomically on its own."""
    s = _ACTIVE.get()
    if s is not None:
        s.write_map(path, data, voxel_size, origin, nstart)
    else:
        mrcio.write_map(path, data, voxel_size, origin, nstart)


def write_text_file(path, text):
    """``text`` to ``path``: into the active set, else atomically on its own."""
    s = _ACTIVE.get()
    if s is not None:
        s.write_text(path, lambda handle: handle.write(text))
        return
    write_alone(path, lambda handle: handle.write(text))


def write_alone(path, write):
    """One text file (``write(handle)``) as a set of its own: locked, recovered after an
    interrupted earlier write of it, staged and renamed into place."""
    anchor = os.fspath(path)
    with PrefixLock(anchor):
        recover(anchor)
        with OutputSet(anchor, {"text": path}) as one:
            one.write_text(path, write)
            one.commit()
