"""Batch generation jobs: a job file expanded into items, run against servers or in process,
written atomically and recorded in a JSONL manifest so a re-run completes what is missing."""
