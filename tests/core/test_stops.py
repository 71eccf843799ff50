"""dann_core.stops in-process: what the stop-signal handler does in and out of a training loop."""
from __future__ import annotations

import os
import signal
import sys

import pytest

from dann_core import stops

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def send(number: int) -> None:
    """Signal this process (Python runs the handler before the next line)."""
    os.kill(os.getpid(), number)


def test_outside_a_loop_a_stop_raises_at_once_and_handlers_are_restored():
    before = {number: signal.getsignal(number) for number in stops.STOP_SIGNALS}
    with stops.handled():
        with pytest.raises(KeyboardInterrupt):
            send(signal.SIGTERM)
    assert {number: signal.getsignal(number) for number in stops.STOP_SIGNALS} == before


def test_inside_a_loop_a_stop_is_recorded_and_raised_where_the_loop_checks():
    with stops.handled():
        with pytest.raises(KeyboardInterrupt):
            with stops.polled():
                send(signal.SIGTERM)
                send(signal.SIGHUP)  # a repeated TERM/HUP (a launcher passing the group's stop on) waits too
                assert stops.requested() == signal.SIGTERM
                stops.check()
                pytest.fail("check() did not raise")
        assert stops.requested() is None


def test_a_second_ctrl_c_raises_at_once():
    with stops.handled():
        with stops.polled():
            send(signal.SIGINT)
            with pytest.raises(KeyboardInterrupt):
                send(signal.SIGINT)
            stops._requested.clear()


def test_a_stop_after_the_last_check_raises_when_the_loop_ends():
    with stops.handled():
        with pytest.raises(KeyboardInterrupt):
            with stops.polled():
                send(signal.SIGTERM)


def test_a_loop_without_dann_s_handler_replaces_pythons_default_ctrl_c_for_its_duration():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        with stops.polled():
            assert signal.getsignal(signal.SIGINT) is stops.handler
            send(signal.SIGINT)
            stops.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        with stops.handled():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            send(signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_dataloader_worker_ignores_the_stop_signals_and_discards_one_sent_while_it_started():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: started with the signals blocked, as stops.blocked() starts it
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, stops.STOP_SIGNALS)
            os.kill(os.getpid(), signal.SIGTERM)  # pending while it starts
            stops.worker_init(0)
            os.kill(os.getpid(), signal.SIGINT)
            os.write(write, b"alive")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 5) == b"alive" and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
