"""Reference solutions, generated from the source notebooks (`python -m autograder export`)."""
