"""
One torch thread per test process when pytest-xdist runs the tests in several (README's command, ``-n auto``): the
workers share the machine's cores, and two processes with two threads each on two cores thrash. The subprocesses a test
starts (the zoo's command lines) inherit it through ``OMP_NUM_THREADS``.
"""

import os

import torch as th

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    th.set_num_threads(1)
