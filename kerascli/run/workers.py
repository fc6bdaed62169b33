"""`kerascli train --workers N`: N local worker processes for MultiWorkerMirroredStrategy, each
with a TF_CONFIG (free local ports). Worker 0, the chief, writes the run on the launcher's stdout
and stderr; the others' stderr is relayed (`[worker i] `), their runs go to temporary folders.
One fails: all stop; after a crash (a signal, exit 1) all start again, up to `max_restarts` times."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kerascli.run.distribute import WORKER_DIR
from kerascli.run.rundir import Terminated
from kerascli.run.runs import LAUNCHED_BY
from kerascli.spec.distribute_spec import CLUSTER_KEYS, DistributeSpec
from kerascli.spec.models import Spec

CHIEF = 0
GRACE_S = 10.0  # SIGTERM, then SIGKILL after this long
LINGER_S = 60.0  # how long the other workers may take once the chief has succeeded
POLL_S = 0.05
MULTI_WORKER = "distribute.strategy=multi_worker"
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)
_LOCK = threading.Lock()  # one line at a time on stderr

WorkerCommand = Callable[[int], Sequence[str]]
"""Worker i's command line (its argv), for i = 0 .. N-1."""


def refusal(spec: Spec, environ: Mapping[str, str]) -> str | None:
    """Why `--workers` cannot train `spec` in this environment, in one line; None if it can."""
    if environ.get("TF_CONFIG"):
        return "TF_CONFIG is set, but --workers makes its own cluster: unset TF_CONFIG"
    distribute = spec.distribute or DistributeSpec()
    if distribute.strategy not in ("default", "multi_worker"):
        return (
            f"--workers trains with distribute.strategy multi_worker, but the spec says "
            f"{distribute.strategy!r} (remove it or --set {MULTI_WORKER})"
        )
    for key in CLUSTER_KEYS:
        if getattr(distribute, key) is not None:
            return f"the spec gives distribute.{key}: --workers makes its own cluster"
    return None


def kerascli_train(chief: Sequence[str], others: Sequence[str]) -> WorkerCommand:
    """Worker i's `python -m kerascli` command: the chief's words (i = 0) or the others',
    then `--set distribute.strategy=multi_worker`."""

    def argv(index: int) -> list[str]:
        words = chief if index == CHIEF else others
        return [sys.executable, "-m", "kerascli", *words, "--set", MULTI_WORKER]

    return argv


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    threads: list[threading.Thread] = field(default_factory=list)
    stdout: list[bytes] = field(default_factory=list)  # the chief's, when held


@dataclass
class _Outcome:
    code: int  # the launcher's exit code
    crashed: bool = False  # a signal or exit 1: worth a restart
    message: str = ""  # why it failed
    stdout: str = ""  # the chief's stdout, when held


def launch_workers(
    command: WorkerCommand,
    workers: int,
    max_restarts: int = 0,
    *,
    hold_stdout: Callable[[str], None] | None = None,
    grace: float = GRACE_S,
    linger: float = LINGER_S,
) -> int:
    """Run `command(i)` for workers i = 0 .. `workers`-1 (0 the chief) and return the exit
    code: the chief's, or the first failed worker's (1 for one a signal killed).

    Ctrl-C and SIGTERM are passed on to the workers, then re-raised (`KeyboardInterrupt`,
    `Terminated`). `hold_stdout`: keep the chief's stdout and give the last attempt's to it
    (`--json`: one document; the failure's own when the chief printed none).
    """
    if workers < 1 or max_restarts < 0:
        raise ValueError(f"workers must be >= 1 and max_restarts >= 0: {workers}, {max_restarts}")
    unset = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the CLI sets its own
    with (
        tempfile.TemporaryDirectory(prefix="kerascli-workers-", ignore_cleanup_errors=True) as root,
        _handlers({signal.SIGTERM: _terminated} if unset else {}),  # workers not left behind
    ):
        restarts = 0
        while True:
            folder = Path(root) / f"attempt-{restarts}"
            outcome = _attempt(command, workers, folder, bool(hold_stdout), grace, linger)
            if not outcome.crashed or restarts >= max_restarts:
                break
            restarts += 1
            _say(f"restarting the {workers} workers (restart {restarts} of {max_restarts})")
    if hold_stdout is not None:  # the chief's document; or, if it printed none, the failure's
        failure = {"ok": False, "errors": [{"message": outcome.message}]}
        told = outcome.stdout or outcome.code == 0
        hold_stdout(outcome.stdout if told else json.dumps(failure, indent=2) + "\n")
    return outcome.code


def free_ports(count: int) -> tuple[list[int], list[socket.socket]]:
    """`count` distinct free local ports, and the sockets that hold them until closed."""
    sockets = [socket.socket() for _ in range(count)]  # IPv4, TCP
    for sock in sockets:
        sock.bind(("localhost", 0))
    return [s.getsockname()[1] for s in sockets], sockets


def _attempt(
    command: WorkerCommand,
    workers: int,
    folder: Path,
    hold_stdout: bool,
    grace: float,
    linger: float,
) -> _Outcome:
    """Start all the workers on fresh ports and watch them until the run ends."""
    folder.mkdir()
    ports, sockets = free_ports(workers)
    addresses = [f"localhost:{port}" for port in ports]
    started: list[_Worker] = []
    for stream in (sys.stdout, sys.stderr):  # what the launcher said comes first
        stream.flush()
    for sock in sockets:
        sock.close()
    held: list[int] = []  # Ctrl-C, SIGTERM while starting: after, so no worker is missed
    try:
        with _handlers(dict.fromkeys(INTERRUPTS, lambda signum, frame: held.append(signum))):
            for index in range(workers):
                env = _environment(addresses, index, folder)
                started.append(_start(list(command(index)), index, env, hold_stdout))
        if held:
            signal.raise_signal(held[0])
        outcome = _watch(started, linger)
    except KeyboardInterrupt as exc:
        _stop(started, signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT, grace)
        raise
    finally:
        _stop(started, signal.SIGTERM, grace)
        for worker in started:
            for thread in worker.threads:
                thread.join(timeout=5)
    outcome.stdout = b"".join(started[CHIEF].stdout).decode(errors="replace")
    return outcome


def _environment(addresses: list[str], index: int, folder: Path) -> dict[str, str]:
    """Worker `index`'s environment: TF_CONFIG, unbuffered output, its run's folder."""
    config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
    env = {**os.environ, "TF_CONFIG": json.dumps(config), "PYTHONUNBUFFERED": "1"}
    env.setdefault(LAUNCHED_BY, " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))
    env.pop(WORKER_DIR, None)
    if index != CHIEF:
        worker_dir = folder / f"worker-{index}"
        worker_dir.mkdir()
        env[WORKER_DIR] = str(worker_dir)
    return env


def _start(argv: list[str], index: int, env: dict[str, str], hold_stdout: bool) -> _Worker:
    """Start one worker: the chief on the launcher's stdout and stderr (its stdout held if
    asked), another with its stdout dropped and its stderr relayed."""
    chief = index == CHIEF
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(subprocess.PIPE if hold_stdout else None) if chief else subprocess.DEVNULL,
        stderr=None if chief else subprocess.PIPE,
        start_new_session=os.name == "posix",  # Ctrl-C reaches it once: from the launcher
    )
    worker = _Worker(index, process)
    for read, stream, into in (
        (_hold, process.stdout, worker.stdout),
        (_relay, process.stderr, f"[worker {index}] "),
    ):
        if stream is not None:
            worker.threads.append(threading.Thread(target=read, args=(stream, into), daemon=True))
            worker.threads[-1].start()
    return worker


def _hold(stream: IO[bytes], chunks: list[bytes]) -> None:
    with stream:
        chunks.append(stream.read())


def _relay(stream: IO[bytes], prefix: str) -> None:
    with stream:
        for raw in iter(stream.readline, b""):
            _say(prefix + raw.decode(errors="replace").rstrip("\r\n"))


def _say(line: str) -> None:
    with _LOCK:
        print(line, file=sys.stderr, flush=True)


def _watch(workers: list[_Worker], linger: float) -> _Outcome:
    """Wait until a worker fails (the others are then stopped) or the chief succeeds."""
    while True:
        codes = [worker.process.poll() for worker in workers]
        if codes[CHIEF] == 0:
            _await_others(workers, linger)
            return _Outcome(0)
        failed = [(code, index) for index, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            code, index = min(failed)  # a signal (< 0) first: more likely the cause
            message = f"worker {index} {describe(code)}"
            _say(f"{message}: stopping the other workers" if len(workers) > 1 else message)
            crashed = code < 0 or code == 1
            return _Outcome(1 if code < 0 else code, crashed, message)  # a signal: a failure
        time.sleep(POLL_S)


def _await_others(workers: list[_Worker], linger: float) -> None:
    """The chief succeeded: give the others `linger` seconds to end."""
    deadline = time.monotonic() + linger
    while time.monotonic() < deadline and any(w.process.poll() is None for w in workers):
        time.sleep(POLL_S)
    for worker in workers:
        code = worker.process.poll()
        if code is None:
            _say(f"warning: worker {worker.index} still runs {linger:g} s after the chief: stopped")
        elif code != 0:
            _say(f"warning: worker {worker.index} {describe(code)} after the chief succeeded")


def describe(code: int) -> str:
    """`exited with code 1`, `exited with code -9 (SIGKILL)`."""
    name = f" ({signal.Signals(-code).name})" if -code in signal.valid_signals() else ""
    return f"exited with code {code}{name}"


def _stop(workers: list[_Worker], signum: int, grace: float) -> None:
    """Send `signum` to the workers still running; SIGKILL those left after `grace` s."""
    running = [w for w in workers if w.process.poll() is None]
    for worker in running:
        _signal(worker.process, signum)
    deadline = time.monotonic() + grace
    try:
        for worker in running:
            worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:  # also after a second Ctrl-C
        for worker in running:
            if worker.process.poll() is None:
                _signal(worker.process, signal.SIGKILL)
                worker.process.wait()


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal a worker and whatever it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


@contextlib.contextmanager
def _handlers(handlers: dict[signal.Signals, Any]) -> Iterator[None]:
    """These signal handlers while the block runs (on the main thread: only it has any)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: not set from Python, cannot be put back
                signal.signal(signum, handler)


def _terminated(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the launcher
    raise Terminated()
