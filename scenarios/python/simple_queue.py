"""simple-queue: a SimpleQueue carries items both ways between the parent and a child, in order;
empty() is True once everything was got."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(requests, replies):
    while True:
        item = requests.get()
        if item is None:
            break
        replies.put(item * 10)
    replies.put("done")


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    requests, replies = ctx.SimpleQueue(), ctx.SimpleQueue()
    print(f"empty at first: {requests.empty()}", flush=True)
    p = ctx.Process(target=child, args=(requests, replies))
    p.start()
    for i in range(1, 6):
        requests.put(i)
    requests.put(None)
    got = []
    while (item := replies.get()) != "done":
        got.append(item)
    p.join()
    print(f"replies: {got}", flush=True)
    print(f"empty after: {requests.empty()} {replies.empty()}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
