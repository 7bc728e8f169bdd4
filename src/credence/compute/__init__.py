"""Compute backends: the compiled policy run over a population, and incremental state.

Backends: DuckDB, PostgreSQL and Spark behind one interface, `batch.score_batch(policies,
source, known_at, ...)` returning a `BatchResult`; `incremental.score_incremental` keeps state
between runs and answers with the same result.
"""
