//! Shared memory (CPython's `multiprocessing.shared_memory` and `sharedctypes`): arriving with issue #3.
