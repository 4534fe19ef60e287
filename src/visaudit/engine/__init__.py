"""Planning, running and storing jobs."""
