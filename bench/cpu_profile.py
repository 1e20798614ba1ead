"""Where the local stack's CPU goes while it serves authorizations: a py-spy profile, by category.

The stack runs as `payments local up` in its own process, as every bench starts it; py-spy samples
it from outside. Only a measured window is recorded: the stack is started, warmed up (50
authorizations), given its intents, and left until its CPU is quiet; then py-spy attaches (`record
--pid`), `--requests` authorizations go over HTTP at concurrency 1 (one keep-alive connection,
`bench/authorize.py`'s client), and the recording stops once the stack is quiet again, so the
asynchronous work they started (stream and queue consumers) counts too. Start-up, warm-up and the
intents' creation are never sampled. Yama's usual setting lets a process attach only to its
descendants: the stack is launched through `launcher.TRACEABLE`, which allows it. A shorter
recording of the quiet stack before the window gives the background (pollers, servers): the "idle"
column, its CPU over as long as the window lasted, per authorization (not taken off the table).

What a sample weighs. py-spy leaves idle threads out by their OS state, and a thread woken from a
wait or a lock, waiting for the GIL or for a core of this shared machine, counts as running at the
place it waits. Sampling every running thread (`--all-running`), 100 authorizations said 101 ms of
CPU each, after leaving out 1,914 samples in a wait, where /proc said 68, and charged the log lock,
`uuid4` (which gives the GIL up) and the DynamoDB shim's lock with their waiting. So only the thread
holding the GIL is sampled (`--gil`: 51 ms against /proc's 53 in a run like it). Samples say where a
thread's time goes, /proc how much: each thread's CPU time over the window
(/proc/<pid>/task/<tid>/stat) is shared among its samples, so the tables are in CPU seconds (threads
that ended during the window share what the process used beyond its living ones), and work done
with the GIL released (socket I/O) is charged to the Python work around it. `--nonblocking`: py-spy's
default pauses the stack at each sample, and counted the quiet stack's waiting threads as running
(1,380 ms of samples a second against 90 ms of CPU). Stacks read as they changed are dropped and
counted, as are samples whose innermost frame is a wait (`_WAITS`).

A sample goes to the category of its innermost frame that has one, walking outwards. Standard
library frames (json, re, copy, threading, socket, ...) and small helper libraries (dateutil,
jmespath, xmltodict, jinja2, ...) have none: they are charged to their caller. http/client.py is the
HTTP client, http/server.py and socketserver.py the HTTP server; werkzeug and Flask are moto's when
moto's application is further out on the stack (its routing), the HTTP server otherwise. A second
table groups the CPU by thread (the front door's request threads, pollers, asynchronous workers).

Recipes for anything else (`--classify` weighs each sample 1/rate s, having no /proc figures):
- any command: `.venv/bin/py-spy record --format raw --function --threads --full-filenames --gil
  --nonblocking -o out.txt -- .venv/bin/python -m payments.cli local up` (Ctrl-C writes the file;
  `--format speedscope` for https://speedscope.app), then `bench/cpu_profile.py --classify out.txt
  --rate 100`;
- a bench while it runs (the refund file, say): `BENCH_TRACEABLE=1 .venv/bin/python bench/refunds.py
  --rows 5000 &`, then `.venv/bin/py-spy record --pid "$(pgrep -n -f 'payments.cli local up')" -d 15
  --format raw --function --threads --full-filenames --gil --nonblocking -o refunds.txt` and
  `bench/cpu_profile.py --classify refunds.txt --rate 100`;
- a flame graph: the raw file this writes is collapsed stacks (flamegraph.pl, inferno, speedscope).

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from authorize import create_intents, run
from launcher import TRACEABLE, launch

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "artifacts" / "profile"
WARM_UP = 50
QUIET_CORES = 0.3  # the stack counts as quiet below this share of one core (idle, it uses about 0.12)
QUIET_INTERVAL = 1.0
QUIET_TIMEOUT = 120.0

HTTP_SERVER = "HTTP server"
HTTP_CLIENT = "HTTP client"
TRANSPORT = "in-process transport"
SERDE = "botocore: serialise, parse"
SIGNING = "botocore: sign"
BOTO = "botocore, boto3: other"
MOTO = "moto"
SHIMS = "our shims, call counting"
HANDLERS = "handlers"
GATEWAY = "sandbox gateway"
POLLERS = "invoker, pollers, workers"
OTHER = "other"
CATEGORIES = (
    HTTP_SERVER,
    HTTP_CLIENT,
    TRANSPORT,
    SERDE,
    SIGNING,
    BOTO,
    MOTO,
    SHIMS,
    HANDLERS,
    GATEWAY,
    POLLERS,
    OTHER,
)
_WEB = "werkzeug or flask"  # moto's or the server's, by what is further out

_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve().as_posix() + "/"
_STDLIB_CATEGORY = {
    "http/client.py": HTTP_CLIENT,
    "http/server.py": HTTP_SERVER,
    "socketserver.py": HTTP_SERVER,
}
# Libraries that work for whoever calls them: charged to the caller, as the standard library is.
_HELPERS = frozenset(
    {"dateutil", "jmespath", "xmltodict", "jinja2", "markupsafe", "six", "typing_extensions", "yaml"}
)
_PACKAGE_CATEGORY = {
    "urllib3": HTTP_CLIENT,
    "requests": HTTP_CLIENT,
    "werkzeug": _WEB,
    "flask": _WEB,
    "flask_cors": _WEB,
    "blinker": _WEB,
    "boto3": BOTO,
    "s3transfer": BOTO,
    "moto": MOTO,
    "aws_lambda_powertools": HANDLERS,
    "pydantic": HANDLERS,
    "pydantic_core": HANDLERS,
    "babel": HANDLERS,
}
_BOTOCORE_FILES = {
    "serialize.py": SERDE,
    "parsers.py": SERDE,
    "validate.py": SERDE,
    "auth.py": SIGNING,
    "signers.py": SIGNING,
}
_LOCAL_FILES = {
    "frontdoor.py": HTTP_SERVER,
    "in_process.py": TRANSPORT,
    "moto_patches.py": SHIMS,
    "lambda_routing.py": SHIMS,
    "emulator.py": SHIMS,
    "chaos.py": SHIMS,
    "invoker.py": POLLERS,
    "event_sources.py": POLLERS,
    "log_lines.py": POLLERS,
}
# Where a thread blocks (innermost frame): a sample there is a thread woken and not yet running, which
# the OS reports as running. Left out of every table (and counted); its thread's CPU goes to the rest.
_WAITS = frozenset(
    {
        ("threading.py", "Condition.wait"),
        ("threading.py", "Condition._acquire_restore"),
        ("threading.py", "Event.wait"),
        ("threading.py", "Thread.join"),
        ("threading.py", "Thread._wait_for_tstate_lock"),
        ("selectors.py", "_PollLikeSelector.select"),
        ("selectors.py", "SelectSelector.select"),
        ("socket.py", "SocketIO.readinto"),
        ("socket.py", "socket.accept"),
        ("logging/__init__.py", "Handler.acquire"),
    }
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \((?P<tid>\d+)\)(?:: (?P<name>.*))?$")
_PYSPY_SUMMARY = re.compile(r"Samples: (\d+) Errors: (\d+)")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str  # shortened: relative to the standard library, site-packages or src/
    where: str  # "stdlib", "package", "ours" or "other"
    category: str | None  # None: charged to the caller

    @property
    def label(self) -> str:
        return f"{self.function} ({self.file})"


def _frame(text: str, cache: dict[str, Frame]) -> Frame:
    if text in cache:
        return cache[text]
    found = _FRAME.match(text)
    function, path = (found.group("function"), found.group("file")) if found else (text, "")
    category: str | None
    if path == "<string>":  # code made at run time (a dataclass's __init__, a namedtuple's methods)
        frame = Frame(function, path, "stdlib", None)
    elif path.startswith("<frozen") or (path.startswith(_STDLIB) and "/site-packages/" not in path):
        short = path.removeprefix(_STDLIB)
        frame = Frame(function, short, "stdlib", _STDLIB_CATEGORY.get(short))
    elif "/site-packages/" in path:
        short = path.rsplit("/site-packages/", 1)[1]
        package = short.split("/", 1)[0].removesuffix(".py")
        if package in _HELPERS:
            category = None
        elif package == "botocore":
            category = _BOTOCORE_FILES.get(short.rsplit("/", 1)[-1], BOTO)
        else:
            category = _PACKAGE_CATEGORY.get(package, OTHER)
        frame = Frame(function, short, "package", category)
    elif "/src/payments/" in path:
        short = "payments/" + path.rsplit("/src/payments/", 1)[1]
        name = short.rsplit("/", 1)[-1]
        if short.startswith("payments/local/"):
            category = SHIMS if name.endswith("_shim.py") else _LOCAL_FILES.get(name, OTHER)
        elif short.startswith("payments/gateway/"):
            category = GATEWAY
        else:  # functions, service, domain, adapters, bootstrap, settings: what a handler runs
            category = HANDLERS
        frame = Frame(function, short, "ours", category)
    else:
        frame = Frame(function, path, "other", OTHER)
    cache[text] = frame
    return frame


def classify(frames: list[Frame]) -> str:
    """The category of the innermost frame that has one (frames outermost first)."""
    for depth in range(len(frames) - 1, -1, -1):
        category = frames[depth].category
        if category == _WEB:
            return MOTO if any(frame.category == MOTO for frame in frames[:depth]) else HTTP_SERVER
        if category is not None:
            return category
    return OTHER


def thread_role(name: str, frames: list[Frame]) -> str:
    """Who the thread works for: a request thread by its server, a named thread by its name."""
    files = {frame.file for frame in frames}
    if "socketserver.py" in files:
        if "payments/local/frontdoor.py" in files:
            return "front door requests"
        if "werkzeug/serving.py" in files:
            return "emulator requests (HTTP)"
        if any(file.startswith("payments/gateway/") for file in files):
            return "sandbox gateway requests"
    if name.startswith(("sqs-", "stream-", "poller-")):
        return f"{name.split('-', 1)[0]} pollers"
    return re.sub(r"[-_ ]?\d+", "", name.split(" (", 1)[0]) or "unnamed"


@dataclass
class Sampled:
    """One stack of a py-spy raw file and how many samples found it."""

    thread: int
    name: str
    frames: list[Frame]
    samples: int


def read_raw(path: Path) -> tuple[list[Sampled], int]:
    """A py-spy raw file (collapsed stacks, with `--threads` and `--full-filenames`): its stacks, and
    the samples left out as waits."""
    cache: dict[str, Frame] = {}
    stacks = []
    waiting = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        texts = stack.split(";")
        thread = _THREAD.match(texts[0])
        if thread:
            texts = texts[1:]
        tid = int(thread.group("tid")) if thread else 0
        name = (thread.group("name") or "") if thread else ""
        frames = [_frame(text, cache) for text in texts]
        if frames and (frames[-1].file, frames[-1].function) in _WAITS:
            waiting += int(count)
            continue
        stacks.append(Sampled(tid, name, frames, int(count)))
    return stacks, waiting


@dataclass
class Profile:
    """CPU seconds by category, by thread role and by innermost function outside the standard library."""

    samples: int
    cpu: float
    categories: Counter[str]  # samples
    category_cpu: defaultdict[str, float]
    thread_cpu: defaultdict[str, float]
    innermost_cpu: defaultdict[str, float]


def profile_of(stacks: list[Sampled], weights: dict[int, float], default_weight: float) -> Profile:
    """Each sample weighs its thread's CPU seconds per sample (`default_weight`: 1 / rate)."""
    profile = Profile(0, 0.0, Counter(), defaultdict(float), defaultdict(float), defaultdict(float))
    for stack in stacks:
        cpu = stack.samples * weights.get(stack.thread, default_weight)
        category = classify(stack.frames)
        inner = next((frame for frame in reversed(stack.frames) if frame.where != "stdlib"), None)
        profile.samples += stack.samples
        profile.cpu += cpu
        profile.categories[category] += stack.samples
        profile.category_cpu[category] += cpu
        profile.thread_cpu[thread_role(stack.name, stack.frames)] += cpu
        profile.innermost_cpu[inner.label if inner else "(standard library only)"] += cpu
    return profile


def thread_weights(
    stacks: list[Sampled], before: CpuTimes, after: CpuTimes
) -> tuple[dict[int, float], float]:
    """CPU seconds per sample of each thread, from its own CPU time over the recording; and the CPU
    of threads that ran but were never sampled running (left out of every table).

    A thread that ended before the recording did has no CPU time left to read: what the process used
    beyond its living threads is shared among the samples of those that ended."""
    per_thread = Counter[int]()
    for stack in stacks:
        per_thread[stack.thread] += stack.samples
    used = {tid: after.threads[tid] - before.threads.get(tid, 0.0) for tid in after.threads}
    ended = {tid for tid in per_thread if tid not in after.threads}
    ended_cpu = max(0.0, after.process - before.process - sum(used.values()))
    ended_samples = sum(per_thread[tid] for tid in ended)
    weights = {tid: used[tid] / samples for tid, samples in per_thread.items() if tid in used}
    if ended_samples:
        weights |= dict.fromkeys(ended, ended_cpu / ended_samples)
    unsampled = sum(cpu for tid, cpu in used.items() if tid not in per_thread)
    if not ended_samples:
        unsampled += ended_cpu
    return weights, unsampled


# -- the stack and py-spy ------------------------------------------------------------------------------


@dataclass
class CpuTimes:
    """A process's CPU seconds (user + system) so far: in all, and per living thread."""

    process: float
    threads: dict[int, float]

    @classmethod
    def read(cls, pid: int) -> CpuTimes:
        threads = {}
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                threads[int(task.name)] = _cpu_seconds(task / "stat")
            except OSError:  # ended since the listing
                continue
        return cls(_cpu_seconds(Path(f"/proc/{pid}/stat")), threads)


def _cpu_seconds(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid: int) -> float:
    """Until the process uses less than QUIET_CORES over an interval; the seconds waited."""
    started = time.monotonic()
    before = CpuTimes.read(pid).process
    while time.monotonic() - started < QUIET_TIMEOUT:
        time.sleep(QUIET_INTERVAL)
        now = CpuTimes.read(pid).process
        if now - before < QUIET_CORES * QUIET_INTERVAL:
            break
        before = now
    return time.monotonic() - started


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.is_file():
        return str(beside)
    raise SystemExit("py-spy is not installed in this environment: `make venv` installs the dev extras")


class Recording:
    """py-spy attached to a running process, writing collapsed stacks when stopped; the process's CPU
    times read as sampling starts and as it stops."""

    def __init__(self, pid: int, output: Path, *, rate: int, gil: bool) -> None:
        self.pid, self.output, self.rate = pid, output, rate
        command = [
            py_spy(),
            *("record", "--pid", str(pid), "--format", "raw", "--output", str(output)),
            *("--rate", str(rate), "--function", "--threads", "--full-filenames", "--nonblocking"),
            *(["--gil"] if gil else []),
        ]
        self._process = subprocess.Popen(  # noqa: S603 (py-spy from this environment)
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self._process.stdout is not None
        self._said: list[str] = []
        for line in self._process.stdout:  # sampling has begun once it says so
            self._said.append(line)
            if "Sampling process" in line:
                break
        else:
            self._process.wait()
            raise SystemExit("py-spy could not attach to the stack:\n" + "".join(self._said))
        self.started = time.monotonic()
        self.before = CpuTimes.read(pid)

    def stop(self) -> Recorded:
        """Ctrl-C: py-spy writes its file."""
        after = CpuTimes.read(self.pid)
        seconds = time.monotonic() - self.started
        self._process.send_signal(signal.SIGINT)
        rest, _ = self._process.communicate(timeout=60)
        said = "".join(self._said) + rest
        found = _PYSPY_SUMMARY.search(said)
        if self._process.returncode or not found or not self.output.is_file():
            raise SystemExit("py-spy did not write its file:\n" + said)
        stacks, waiting = read_raw(self.output)
        weights, unsampled = thread_weights(stacks, self.before, after)
        return Recorded(
            profile_of(stacks, weights, 1 / self.rate),
            seconds=seconds,
            cpu=after.process - self.before.process,
            unsampled_cpu=unsampled,
            errors=int(found.group(2)),
            waiting=waiting,
        )


@dataclass
class Recorded:
    profile: Profile
    seconds: float
    cpu: float  # the process's CPU seconds over the recording, from /proc
    unsampled_cpu: float  # CPU of threads never sampled running
    errors: int  # samples py-spy could not read
    waiting: int  # samples of a thread in a wait (_WAITS), left out


# -- the report ----------------------------------------------------------------------------------------


def print_table(
    profile: Profile, *, units: int, idle: Recorded | None = None, seconds: float = 0
) -> dict[str, dict[str, float]]:
    """Samples, share of CPU and ms of CPU per unit (an authorization) by category; with `idle`, what
    the quiet stack spent in each category over as long as `seconds`, per unit."""
    per = units or 1
    header = f"\n{'category':<28} {'samples':>8} {'CPU share':>10} {'ms/unit':>8}"
    print(header + ("  idle ms/unit" if idle else ""))
    figures: dict[str, dict[str, float]] = {}
    for category in CATEGORIES:
        cpu = profile.category_cpu.get(category, 0.0)
        share = cpu / profile.cpu if profile.cpu else 0.0
        row = (
            f"{category:<28} {profile.categories.get(category, 0):>8} {share:>10.1%} {cpu / per * 1000:>8.2f}"
        )
        figures[category] = {"samples": profile.categories.get(category, 0), "cpu_share": round(share, 4)}
        if units:
            figures[category]["ms_per_authorization"] = round(cpu / per * 1000, 3)
        if idle is not None:
            background = idle.profile.category_cpu.get(category, 0.0) / idle.seconds * seconds
            row += f"  {background / per * 1000:>13.2f}"
            figures[category]["idle_ms_per_authorization"] = round(background / per * 1000, 3)
        print(row)
    total = f"{'total':<28} {profile.samples:>8} {1:>10.0%} {profile.cpu / per * 1000:>8.2f}"
    if idle is not None:
        total += f"  {idle.profile.cpu / idle.seconds * seconds / per * 1000:>13.2f}"
    print(total)
    return figures


def print_cpu(title: str, cpu: dict[str, float], total: float, limit: int) -> None:
    print(f"\n{title}")
    for label, seconds in sorted(cpu.items(), key=lambda item: -item[1])[:limit]:
        print(f"  {seconds * 1000:>8.0f} ms {seconds / max(total, 1e-9):>6.1%}  {label}")


def classify_file(path: Path, rate: int, units: int) -> None:
    """The tables of a raw file recorded elsewhere: each sample is 1 / rate s of CPU."""
    stacks, waiting = read_raw(path)
    profile = profile_of(stacks, {}, 1 / rate)
    print(
        f"{path}: {profile.samples} samples at {rate} Hz = {profile.cpu:.1f} s of sampled CPU "
        f"({waiting} more in a wait, left out)"
    )
    figures = print_table(profile, units=units)
    print_cpu("by thread", profile.thread_cpu, profile.cpu, 12)
    print_cpu("innermost functions outside the standard library", profile.innermost_cpu, profile.cpu, 15)
    print(
        json.dumps({"bench": "profile", "file": str(path), "samples": profile.samples, "categories": figures})
    )


def git_head() -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%h"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="authorizations in the measured window")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="the quiet stack's recording")
    parser.add_argument(
        "--all-running", action="store_true", help="sample every running thread, not only the GIL's"
    )
    parser.add_argument("--classify", type=Path, help="only print the tables of this raw py-spy file")
    args = parser.parse_args()
    if args.classify:
        classify_file(args.classify, args.rate, args.requests if "--requests" in sys.argv else 0)
        return

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    window_file, idle_file = OUT_DIR / "authorize-window.txt", OUT_DIR / "authorize-idle.txt"
    print("starting payments local up ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT, wrapper=TRACEABLE)
    pid = stack.process.pid
    try:
        base = stack.api
        print("warming up ...", file=sys.stderr, flush=True)
        run(base, create_intents(base, WARM_UP), 1)
        print(f"creating {args.requests} intents ...", file=sys.stderr, flush=True)
        ids = create_intents(base, args.requests)
        wait_quiet(pid)
        print(f"recording the quiet stack for {args.idle_seconds:g} s ...", file=sys.stderr, flush=True)
        recording = Recording(pid, idle_file, rate=args.rate, gil=not args.all_running)
        time.sleep(args.idle_seconds)
        idle = recording.stop()
        wait_quiet(pid)
        recording = Recording(pid, window_file, rate=args.rate, gil=not args.all_running)
        latency = run(base, ids, 1)
        requests_seconds = time.monotonic() - recording.started
        tail_seconds = wait_quiet(pid)
        window = recording.stop()
    finally:
        stack.stop()

    requests, profile = len(ids), window.profile
    sampled_ms = profile.samples / args.rate / requests * 1000
    print(
        f"\nthe stack's CPU per authorization over HTTP (concurrency 1, {requests} requests, "
        f"git {git_head()})"
    )
    print(
        f"window {window.seconds:.1f} s: {requests_seconds:.1f} s of requests, then {tail_seconds:.1f} s "
        f"until quiet; p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms while profiled"
    )
    print(
        f"CPU per authorization {window.cpu / requests * 1000:.1f} ms (/proc); the samples alone would say "
        f"{sampled_ms:.1f} ms ({profile.samples} at {args.rate} Hz; {window.waiting} more in a wait and "
        f"{window.errors} unreadable, left out); "
        f"threads never sampled running {window.unsampled_cpu / requests * 1000:.2f} ms"
    )
    figures = print_table(profile, units=requests, idle=idle, seconds=window.seconds)
    idle_ms_per_s = idle.cpu / idle.seconds * 1000
    print(f"(idle ms/unit: the quiet stack's CPU, {idle_ms_per_s:.0f} ms a second, over the window's length)")
    print_cpu("by thread", profile.thread_cpu, profile.cpu, 12)
    print_cpu("innermost functions outside the standard library", profile.innermost_cpu, profile.cpu, 15)
    print(f"\ncollapsed stacks (flamegraph.pl, inferno, speedscope): {window_file}")
    print(
        json.dumps(
            {
                "bench": "profile",
                "requests": requests,
                "rate": args.rate,
                "gil_only": not args.all_running,
                "git": git_head(),
                "samples": profile.samples,
                "unreadable_samples": window.errors,
                "waiting_samples": window.waiting,
                "window_s": round(window.seconds, 2),
                "tail_s": round(tail_seconds, 2),
                "cpu_ms_per_authorization": round(window.cpu / requests * 1000, 2),
                "sampled_ms_per_authorization": round(sampled_ms, 2),
                "idle_cpu_ms_per_s": round(idle_ms_per_s, 1),
                "p50_ms": latency["p50_ms"],
                "p99_ms": latency["p99_ms"],
                "categories": figures,
                "threads_ms_per_authorization": {
                    role: round(cpu / requests * 1000, 2) for role, cpu in profile.thread_cpu.items()
                },
                "raw": str(window_file),
            }
        )
    )


if __name__ == "__main__":
    main()
