//! Unit tests of the redb backend.
