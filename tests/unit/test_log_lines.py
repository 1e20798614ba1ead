"""The local stack's stdout: lines printed at once from many threads come out whole, never mixed."""

from __future__ import annotations

import io
import json
import threading
import time

from payments.local.log_lines import WholeLines


class YieldingStream(io.StringIO):
    """A stream that lets other threads run on every write, as a pipe to a busy reader does."""

    def write(self, text: str) -> int:
        time.sleep(0)
        return super().write(text)


def test_lines_printed_from_many_threads_at_once_each_come_out_whole() -> None:
    # Given one shared stream, and threads printing JSON lines as functions do (line, then newline)
    sink = YieldingStream()
    out = WholeLines(sink)
    start = threading.Barrier(8)

    def emit(thread: int) -> None:
        start.wait()
        for number in range(300):
            print(json.dumps({"thread": thread, "n": number, "pad": "x" * 50}), file=out)  # type: ignore[call-overload]

    threads = [threading.Thread(target=emit, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every line is one whole JSON object, and none is lost
    lines = sink.getvalue().splitlines()
    assert len(lines) == 8 * 300
    assert sorted((o["thread"], o["n"]) for o in map(json.loads, lines)) == [
        (t, n) for t in range(8) for n in range(300)
    ]


def test_a_partial_line_waits_for_its_newline_or_a_flush() -> None:
    sink = io.StringIO()
    out = WholeLines(sink)
    out.write("  .. creating")
    assert sink.getvalue() == ""
    out.write(" tables\nnext")
    assert sink.getvalue() == "  .. creating tables\n"
    out.flush()
    assert sink.getvalue() == "  .. creating tables\nnext"
