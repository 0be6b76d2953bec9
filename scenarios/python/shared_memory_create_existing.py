"""shared-memory-create-existing: creating a segment under a name that exists, in the parent or in
a child, fails with AlreadyExists and leaves the existing segment untouched."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def create_again(name):
    try:
        other = shared_memory.SharedMemory(name=name, create=True, size=16)
        print("child create with the same name: ok", flush=True)
        other.close()
        other.unlink()
    except FileExistsError:
        print("child create with the same name: AlreadyExists", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    shm = shared_memory.SharedMemory(create=True, size=16)
    shm.buf[:3] = b"old"
    try:
        other = shared_memory.SharedMemory(name=shm.name, create=True, size=16)
        print("create with the same name: ok", flush=True)
        other.close()
    except FileExistsError:
        print("create with the same name: AlreadyExists", flush=True)
    p = ctx.Process(target=create_again, args=(shm.name,))
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    print(f"segment untouched: {bytes(shm.buf[:3]).decode()}", flush=True)
    shm.close()
    shm.unlink()
