"""pool-unserializable: an argument or a result that cannot be pickled fails that task with
Serialization, and the pool goes on."""
import multiprocessing
import pickle
import sys
import threading


def identity(x):
    return x


def make_lock(_):
    return threading.Lock()


def square(x):
    return x * x


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        try:
            pool.apply(identity, (threading.Lock(),))
            print("argument: ok", flush=True)
        except (pickle.PicklingError, TypeError, AttributeError):
            print("argument: Serialization", flush=True)
        try:
            pool.apply(make_lock, (0,))
            print("result: ok", flush=True)
        except multiprocessing.pool.MaybeEncodingError:
            print("result: Serialization", flush=True)
        print(f"apply after: {pool.apply(square, (3,))}", flush=True)
