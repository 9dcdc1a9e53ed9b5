//! Closed value sets of the domain.
