"""Timings run with freed memory kept by glibc's malloc (run/allocator.py): a fresh array of a
size freed before touches no new pages, so a timing measures the work, not page faults."""

import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from jacchain.run.allocator import keep_freed_memory
from jacchain.run.timing import time_call

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")


def faults_of(function):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    function()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@glibc
def test_a_timed_call_allocating_fresh_arrays_faults_no_pages_in():
    def fresh():
        np.ones(2**20)  # 8 MiB: above glibc's default mmap threshold, freed at once

    time_call(fresh, repeats=3)  # the first timing keeps freed memory from then on
    assert keep_freed_memory()
    assert faults_of(lambda: [fresh() for _ in range(10)]) < 100  # 2,048 pages a call otherwise


@glibc
def test_the_allocator_is_left_alone_when_asked():
    code = "from jacchain.run.allocator import keep_freed_memory; print(keep_freed_memory())"
    for value, expected in (("0", "False"), ("1", "True")):
        env = os.environ | {"JACCHAIN_KEEP_FREED": value}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert result.stdout.strip() == expected
