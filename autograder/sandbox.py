"""Operating-system isolation of a grading worker: namespaces, an unprivileged user, limits, a private directory.

Applied in the forked child before any learner code runs. What could be applied is returned, so
that a result can say how it was isolated; on a machine without namespaces the worker still runs
in its own process under limits, and the audit guard (guard.py) refuses network and file access.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER = 0x00020000, 0x40000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 38, 4, 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading process (per process; CPU seconds restart in each fork)."""

    memory_bytes: int = 4096 * MiB     # address space added to what torch already maps
    cpu_seconds: int = 600
    file_bytes: int = 64 * MiB
    open_files: int = 256
    processes: int = 256               # tasks beyond those its user already runs, threads included
    workdir_bytes: int = 256 * MiB


@dataclass
class Isolation:
    """What the sandbox managed to apply."""

    network: bool = False
    filesystem: bool = False
    user: str = "unchanged"   # "no capabilities" once every capability is dropped
    notes: list[str] = field(default_factory=list)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _enter_namespaces(libc: ctypes.CDLL, iso: Isolation, network: bool = True) -> None:
    """A new mount namespace, and network namespace unless `network` is False: as root directly, else
    inside a new user namespace."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | (CLONE_NEWNET if network else 0)
    try:
        _check(libc.unshare(flags), "unshare")
    except OSError:
        _check(libc.unshare(CLONE_NEWUSER | flags), "unshare (user namespace)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        iso.notes.append("user namespace")
    iso.network = network
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")


def _hide(libc: ctypes.CDLL, paths: list[Path], workdir: Path, limits: Limits) -> None:
    """The whole file system read-only; an empty, unreadable tmpfs over every hidden folder, /dev/null
    over every hidden file; a private, size-limited tmpfs as the working directory and /dev/shm."""
    _check(libc.mount(b"/", b"/", None, MS_BIND | MS_REC, None), "bind /")
    _check(libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), "remount / read-only")
    if os.path.isdir("/dev/shm"):
        _check(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=1m"), "private /dev/shm")
    for path in paths:
        if path.is_dir():
            _check(libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                              b"size=4k,mode=000"), f"hide {path}")
        elif path.exists():
            _check(libc.mount(b"/dev/null", os.fsencode(path), None, MS_BIND, None), f"hide {path}")
    _check(libc.mount(b"tmpfs", os.fsencode(workdir), b"tmpfs", MS_NOSUID | MS_NODEV,
                      f"size={limits.workdir_bytes},mode=0700".encode()), "mount the working directory")


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """No capabilities left, not even in the bounding set: the file system stays read-only, limits
    cannot be raised and the process-count limit applies (the kernel exempts privileged processes)."""
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.capset(header, data), "drop capabilities")


def _tasks_of_this_user() -> int:
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def set_limits(limits: Limits) -> None:
    """Resource limits: address space, CPU time, file size, open files, processes, no core dumps."""
    def cap(which: int, value: int, hard_value: int | None = None) -> None:
        _soft, hard = resource.getrlimit(which)
        hard_value = value if hard_value is None else hard_value
        if hard != resource.RLIM_INFINITY:
            value, hard_value = min(value, hard), min(hard_value, hard)
        resource.setrlimit(which, (value, hard_value))
    # Memory: each process may map `memory_bytes` beyond what it has now; the hard limit leaves room
    # for an exercise process to get its own allowance on top of what the notebook kept (see below).
    vm = _vm_size()
    cap(resource.RLIMIT_AS, vm + limits.memory_bytes, vm + 2 * limits.memory_bytes)
    cap(resource.RLIMIT_CPU, limits.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, limits.file_bytes)
    cap(resource.RLIMIT_NOFILE, limits.open_files)
    cap(resource.RLIMIT_NPROC, _tasks_of_this_user() + limits.processes)
    cap(resource.RLIMIT_CORE, 0)
    # A write past the file-size limit then fails with an error instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


# glibc's mallopt parameters
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory(libc: ctypes.CDLL | None = None) -> None:
    """Let malloc reuse the memory a notebook frees instead of handing it back to the kernel: blocks up
    to 32 MB (an MNIST batch's activations) come from the heap, and the heap is not trimmed. Otherwise
    every large tensor is a fresh mapping whose pages fault in one by one: measured on 02_init, 45% fewer
    page faults and 0.4 s less per notebook. (Where malloc is not glibc's, mallopt is absent or a no-op.)"""
    mallopt = getattr(libc or _libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, 32 << 20)
        mallopt(M_TRIM_THRESHOLD, 1 << 30)
        mallopt(M_TOP_PAD, 64 << 20)


def renew_memory_allowance(limits: Limits) -> None:
    """In a forked exercise process: `memory_bytes` beyond what it inherited, within the hard limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = _vm_size() + limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def enter_sandbox(hidden: list[Path], workdir: Path, keep_fds: list[int], limits: Limits,
                  use_namespaces: bool = True) -> Isolation:
    """Isolate this (freshly forked) process; returns what was applied."""
    iso = Isolation()
    os.setsid()  # its own process group: the supervisor can stop it and anything it started at once
    libc = _libc()
    if use_namespaces:
        try:
            _enter_namespaces(libc, iso)
            _hide(libc, hidden, workdir, limits)
            iso.filesystem = True
        except OSError as err:
            iso.notes.append(f"no namespaces ({err.strerror}): network and files guarded in-process only")
    else:
        iso.notes.append("namespaces turned off: network and files guarded in-process only")
    os.chdir(workdir)
    _give_up_privileges(libc, iso)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    set_limits(limits)
    keep_freed_memory(libc)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for low, high in _gaps(sorted(set(keep_fds) | {devnull}), 3):
        os.closerange(low, high)
    return iso


def _give_up_privileges(libc: ctypes.CDLL, iso: Isolation) -> None:
    """No capabilities, and no way to gain privileges again (setuid programs, file capabilities)."""
    try:
        _drop_capabilities(libc)
        iso.user = "no capabilities"
    except OSError as err:
        iso.notes.append(f"capabilities kept ({err.strerror})")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def sandbox_kernel(hidden: list[Path], folder: Path, scratch: Path, limits: Limits) -> Isolation:
    """Isolate nbgrader's grading kernel before it starts (the process must still be single-threaded).

    The file system as in a worker: read-only, the hidden paths covered, a private size-limited tmpfs
    at `scratch`; `folder`, where nbgrader runs the notebook, stays writable. The kernel keeps the
    network namespace, since it speaks to nbgrader over local TCP; the audit hook refuses sockets to
    the notebook's code.
    """
    iso = Isolation()
    libc = _libc()
    try:
        _enter_namespaces(libc, iso, network=False)
        # Bound before / is made read-only: a bind mount inherits its source's read-only flag.
        _check(libc.mount(os.fsencode(folder), os.fsencode(folder), None, MS_BIND | MS_REC, None),
               "keep the notebook's folder writable")
        _hide(libc, hidden, scratch, limits)
        iso.filesystem = True
    except OSError as err:
        iso.notes.append(f"no mount namespace ({err.strerror}): files guarded in-process only")
    _give_up_privileges(libc, iso)
    return iso


def _gaps(kept: list[int], start: int) -> list[tuple[int, int]]:
    """Ranges of descriptors from `start` up that are not in `kept` (closerange takes half-open ranges)."""
    ranges, low = [], start
    for fd in kept:
        if fd >= low:
            ranges.append((low, fd))
            low = fd + 1
    ranges.append((low, 65536))
    return ranges
