//! Tests and benchmarks of `possim-models` live in `tests/` and `benches/`; this library is empty.
