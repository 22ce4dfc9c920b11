"""nbgrader's options for this course (nbgrader reads this file from the course root)."""
from autograder.nbgrader_pipelines import (CLEAR_SOLUTIONS_STUB, generate_assignment_preprocessors,
                                          generate_feedback_preprocessors)

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "dl-foundations"
c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Stubs raise NotImplementedError naming the exercise (the solution cell's grade_id).
c.ClearSolutions.code_stub = {"python": CLEAR_SOLUTIONS_STUB}
c.GenerateAssignment.preprocessors = generate_assignment_preprocessors()
# Feedback shows each hidden check's message but not the hidden test code.
c.GenerateFeedback.preprocessors = generate_feedback_preprocessors()

# The slowest cell of a lesson (01_matmul: the timing table, ~5 s; a hidden timing check ~5 s)
# stays far below this; an infinite loop in a learner's code is cut off here.
c.Execute.timeout = 120
c.ExecutePreprocessor.timeout = 120
# Keep going after a failing cell, so one broken exercise costs only its own points.
c.Execute.allow_errors = True
# Any stderr output zeroes an nbgrader test cell, so a harmless torch warning from a learner's
# (correct) code would cost points: the kernel prints warnings on stdout, and errors as one line.
c.Execute.extra_arguments = [
    "--IPKernelApp.exec_lines=['from autograder.kernel import configure_grading_kernel', 'configure_grading_kernel()']",
]
