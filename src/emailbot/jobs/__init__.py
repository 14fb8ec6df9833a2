"""The work queue, the worker and the schedule."""
