"""Where nbgrader's grading kernel starts: `python -m autograder.kernel_launcher <kernel command>`.

Autograde runs each submission in a Jupyter kernel, for its outputs and feedback. This launcher puts
that kernel in the workers' file-system sandbox (sandbox.sandbox_kernel) while it is still one
thread, then becomes the kernel: the notebook cannot write outside its folder, delete the gradebook
or read the course's private files, whatever Python or C code it runs. Inside, the kernel's start-up
(kernel.configure_grading_kernel) adds the limits and the audit hook.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# The grading kernel's temporary folder, made (and removed) by autograde; a private tmpfs inside.
KERNEL_SCRATCH_ENV = "AUTOGRADER_KERNEL_SCRATCH"


def main(command: list[str]) -> None:
    from autograder.hidden import kernel_secret_paths
    from autograder.sandbox import Limits, sandbox_kernel

    if not command:
        sys.exit("usage: python -m autograder.kernel_launcher <kernel command ...>")
    folder = Path.cwd().resolve()
    scratch = os.environ.get(KERNEL_SCRATCH_ENV) or tempfile.mkdtemp(prefix="grading-kernel-")
    isolation = sandbox_kernel(kernel_secret_paths(folder), folder, Path(scratch), Limits())
    os.chdir(folder)  # the folder's new (writable) mount, not the old directory entry
    for note in isolation.notes:
        print(f"grading kernel: {note}", file=sys.stderr)
    os.environ.update({KERNEL_SCRATCH_ENV: scratch, "TMPDIR": scratch, "IPYTHONDIR": os.path.join(scratch, ".ipython"),
                       "MPLCONFIGDIR": os.path.join(scratch, ".matplotlib")})
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
