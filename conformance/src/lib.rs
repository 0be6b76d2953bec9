//! The conformance suite (its catalog, trace format and runner arrive with issue #4).
