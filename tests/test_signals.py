"""The shared signal helpers behave as the long-running commands rely on."""

import os
import signal

import pytest

from espnet_edge.utils.signals import StopFlag, ignore_interrupts, signals_as_interrupt

# the tests signal this process: Python's default handlers, whatever the launcher ignored
pytestmark = pytest.mark.usefixtures("default_signals")


def test_stop_flag_first_signal_asks_second_interrupts():
    before = signal.getsignal(signal.SIGTERM)
    flag = StopFlag()
    restore = flag.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.signal == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigterm_as_keyboard_interrupt_inside_the_block_only():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with signals_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_ignore_interrupts_until_restored():
    restore = ignore_interrupts()
    try:
        os.kill(os.getpid(), signal.SIGINT)  # ignored: nothing raised
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
