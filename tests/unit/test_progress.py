"""Long commands show how far and how fast: redrawn in place on a terminal, a line now and then in a log."""

from __future__ import annotations

import io

from payments.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_says_how_far_how_fast_and_how_long_is_left() -> None:
    clock = Clock()
    progress = Progress("settled", 200, out=io.StringIO(), clock=clock)
    clock.now += 10
    progress.update(50)
    assert progress.render("(failed 1)") == (
        "settled [#######-----------------------] 50/200 25% 5.0/s ETA 30 s (failed 1)"
    )
    progress.update(200)
    assert progress.render().endswith("200/200 100% 20.0/s")  # no ETA once done


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out, clock = Terminal(), Clock()
    progress = Progress("resources", 3, out=out, clock=clock)
    for done in (1, 2, 3):
        clock.now += 1
        progress.update(done)
    progress.finish()
    text = out.getvalue()
    assert text.count("\r") == 4
    assert text.count("\n") == 1  # the finished line only
    assert "3/3 100%" in text.rsplit("\r", 1)[1]


def test_a_log_gets_a_line_every_few_seconds_and_the_last_state() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress("checkouts", 100, out=out, every_seconds=5, clock=clock)
    for done in range(1, 101):
        clock.now += 0.5  # 50 s in all
        progress.update(done)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert 10 <= len(lines) <= 12  # one per 5 s, not one per update
    assert lines[-1].startswith("checkouts [##############################] 100/100 100%")


def test_nothing_to_do_is_still_a_line_and_never_a_division_by_zero() -> None:
    out = io.StringIO()
    progress = Progress("rows", 0, out=out)
    progress.finish()
    assert out.getvalue() == "rows [------------------------------] 0/0 0% 0.0/s\n"
