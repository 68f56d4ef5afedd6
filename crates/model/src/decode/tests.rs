//! Unit tests for the decoder internals; the user-facing tables live in `tests/`.
