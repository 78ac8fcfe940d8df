//! Given/when/then tests of the evaluation-session aggregate.
