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
    """The segmenter (or its runner), with the sampler checked before every inference, whichever of
    ``segmenter.infer`` and ``segmenter.runner.infer`` the benchmark loop calls."""

    def __init__(self, target, sampler):
        self._target = target
        self._sampler = sampler

    def infer(self, *args, **kwargs):
        self._sampler.check()
        return self._target.infer(*args, **kwargs)

    @property
    def runner(self):
        return Watched(self._target.runner, self._sampler)

    def __getattr__(self, name):
        return getattr(self._target, name)
