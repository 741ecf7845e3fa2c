"""The import pipeline: records validated, planned and written with provenance, importers run
over files and folders, twins derived, and the runs that were interrupted found again."""
