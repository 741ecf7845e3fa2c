"""Samples beside the graph: one Parquet dataset per channel (`datasets`), and the live
samples of a channel in append-only segments (`segments`)."""
