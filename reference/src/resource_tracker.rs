//! The resource tracker (CPython's `multiprocessing.resource_tracker`): arriving with issue #3.
