"""pool-unserializable: an argument or a result no serializer can encode (its reduction raises)
fails that task with Serialization, and the pool goes on."""
import multiprocessing
import multiprocessing.pool
import sys

from _support import Unserializable, kind


def identity(x):
    return x


def make_unserializable(_):
    return Unserializable()


def square(x):
    return x * x


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        try:
            pool.apply(identity, (Unserializable(),))
            print("argument: ok", flush=True)
        except Exception as e:
            print(f"argument: {kind(e)}", flush=True)
        try:
            pool.apply(make_unserializable, (0,))
            print("result: ok", flush=True)
        except multiprocessing.pool.MaybeEncodingError:
            print("result: Serialization", flush=True)
        print(f"apply after: {pool.apply(square, (3,))}", flush=True)
