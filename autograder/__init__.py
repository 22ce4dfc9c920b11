"""Grading package of the course Deep Learning from the Foundations."""
