"""nbgrader's options for this course (nbgrader reads this file from the course root)."""
import os

from autograder.limits import time_scale
from autograder.nbgrader_pipelines import (CLEAR_SOLUTIONS_STUB, autograde_preprocessors,
                                          generate_assignment_preprocessors, generate_feedback_preprocessors,
                                          sanitize_preprocessors)

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "dl-foundations"
# The course root is the folder of this file, absolute (nbgrader warns three times about a relative one).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Stubs raise NotImplementedError naming the exercise (the solution cell's grade_id).
c.ClearSolutions.code_stub = {"python": CLEAR_SOLUTIONS_STUB}
c.GenerateAssignment.preprocessors = generate_assignment_preprocessors()
# Autograde: after the kernel ran the notebook, the isolated grader's verdict becomes each test cell's
# outcome (the kernel runs learner code, so what happens in it is not trusted).
c.Autograde.autograde_preprocessors = autograde_preprocessors()
# Report only real edits of test cells (nbgrader #1961 warns about every cell with hidden tests).
c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
# Feedback shows each hidden check's message but not the hidden test code.
c.GenerateFeedback.preprocessors = generate_feedback_preprocessors()

# Measured on a 2-core CPU, the slowest cell of 01_matmul (the timing table) takes 3.2 s and the
# whole solution notebook 11 s; 60 s per cell leaves room for slow-but-correct code and stops an
# infinite loop in a learner's function within a minute per test cell.
c.Execute.timeout = max(1, round(60 * time_scale()))
# Any stderr output zeroes an nbgrader test cell, so a harmless torch warning from a learner's
# (correct) code would cost points: the kernel prints warnings on stdout, and errors as one line.
c.Execute.extra_arguments = [
    "--IPKernelApp.exec_lines=['from autograder.kernel import configure_grading_kernel', 'configure_grading_kernel()']",
]
