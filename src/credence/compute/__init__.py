"""Compute backends: the compiled policy run over a whole population, and incremental state.

One interface: a `batch.BatchSource` (record files, or the store's tables, on a DuckDB,
PostgreSQL or Spark connection from `batch.connect`) and `batch.score_batch(policy, source,
as_of, known_at)`, which answers a `batch.BatchResult` whatever the backend;
`incremental.score_incremental` keeps the assessments in a folder between runs and rescores
only what changed. `analytics` computes the auditors' figures with the same plan.
"""
