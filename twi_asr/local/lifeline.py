"""Worker processes that end when the local stack's process ends, however it ends.

A clean stop shuts the worker pools down (``LocalFunction.stop``, ``ContainerInvoker.stop``);
a SIGKILL or a crash of the stack runs no code at all, and a pool worker waiting for its next
task would wait forever: its task queue's pipe never reaches end-of-file, because the worker
holds a copy of the writing end itself. So every worker calls ``exit_with_parent`` first.

It watches the sentinel that ``multiprocessing`` gives every spawned child: a pipe whose other
end only the parent holds, readable once the parent has exited, for any reason. Chosen over
Linux's ``PR_SET_PDEATHSIG``, which fires when the *thread* that started the child ends (the
pools start workers from whichever thread submits first, such as an SQS poller) and exists on
Linux only; and over polling ``os.getppid()``, which costs a wake-up a second and a delay.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading

EXIT_STATUS = 70  # EX_SOFTWARE: the worker did not finish its work


def exit_with_parent() -> None:
    """In a ``multiprocessing`` child: exit as soon as the parent process has exited."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return  # not a multiprocessing child

    def watch() -> None:
        parent.join()  # returns when the sentinel reads end-of-file: the parent has exited
        print(f"the local stack's process {parent.pid} has exited: this worker exits", file=sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_STATUS)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
