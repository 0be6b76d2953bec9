"""unknown-context: get_context() with an unknown method name fails with UnknownContext, message
`cannot find context for 'nope'`."""
import multiprocessing

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


if __name__ == '__main__':
    try:
        multiprocessing.get_context('nope')
        print("get_context: ok", flush=True)
    except ValueError as e:
        print("get_context: UnknownContext", flush=True)
        print(f"message: {e}", flush=True)
