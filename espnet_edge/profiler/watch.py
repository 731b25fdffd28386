"""A profiled run keeps an eye on its sampler while it waits: settling, the idle baseline and every
inference of the measured phase check ``sampler.check()`` (profiler/samplers.py), so a tegrastats that
fell silent while alive, exited or whose reader failed stops the run within a moment, with one error
line, instead of after --idle and --duration with the GPU clock still pinned (the pin restores it as
the error passes)."""

import time


def checked(points, sampler):
    """``points`` (the callable wait_settled polls), checking the sampler on every call."""
    def read():
        sampler.check()
        return points()
    return read


def sleep(seconds, sampler, step=0.1):
    """time.sleep(``seconds``), checking the sampler every ``step`` seconds."""
    deadline = time.time() + seconds
    while True:
        sampler.check()
        left = deadline - time.time()
        if left <= 0:
            return
        time.sleep(min(step, left))


class Watched(object):
    """The segmenter, with the sampler checked before every inference (run_benchmark calls infer)."""

    def __init__(self, segmenter, sampler):
        self._segmenter = segmenter
        self._sampler = sampler

    def infer(self, batch):
        self._sampler.check()
        return self._segmenter.infer(batch)

    def __getattr__(self, name):
        return getattr(self._segmenter, name)
