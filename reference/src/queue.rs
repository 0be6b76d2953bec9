//! Queues between processes (CPython's `multiprocessing.queues`): arriving with issue #3.
