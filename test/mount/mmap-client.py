# What a data loader does with mmap, as mmap.test.ts's steps: Python's
# mmap module is what numpy.memmap, safetensors and Arrow's memory-mapped
# files come down to. Each step prints one line for the test to compare.
import hashlib
import mmap
import sys

MiB = 1 << 20


def sha(b):
    return hashlib.sha256(b).hexdigest()


def read_all(path):
    """The whole file through a read-only shared map."""
    with open(path, 'rb') as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            print(sha(m[:]))


def read_at(path, offset, length):
    """A few bytes from the middle, as a tensor's slice of a large file."""
    with open(path, 'rb') as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            print(m[offset:offset + length].hex())


def write_at(m, offsets, text):
    for off in offsets:
        m[off:off + len(text)] = text


def poke(path, offsets, text, sync):
    """Write `text` at each offset through a shared map; msync (MS_SYNC) or not."""
    with open(path, 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0)
        write_at(m, offsets, text)
        if sync:
            m.flush()
        m.close()
    print('ok')


def poke_hold(path, offsets, text):
    """Write through a shared map and keep map and descriptor open until a
    line on stdin: no msync, no close, so only the kernel's flusher can
    write the dirty pages meanwhile (a long-running trainer's state file)."""
    with open(path, 'r+b') as f:
        m = mmap.mmap(f.fileno(), 0)
        write_at(m, offsets, text)
        print('mapped', flush=True)
        sys.stdin.readline()
        m.close()
    print('ok')


def poke_private(path, offset, text):
    """A private map's writes are the process's own, never the file's."""
    with open(path, 'r+b') as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as m:
            m[offset:offset + len(text)] = text
            print(m[offset:offset + len(text)].decode())


def memmap_new(path, size, seed):
    """numpy.memmap(mode='w+'): a new file grown by a byte at its end, mapped, filled, flushed."""
    with open(path, 'w+b') as f:
        f.seek(size - 1)
        f.write(b'\0')
        f.flush()
        with mmap.mmap(f.fileno(), size) as m:
            data = pattern(size, seed)
            m[:] = data
            m.flush()
    print(sha(data))


def pattern(size, seed):
    block = hashlib.sha256(seed.encode()).digest() * (MiB // 32)
    return (block * (size // len(block) + 1))[:size]


step = sys.argv[1]
args = sys.argv[2:]
if step == 'read-all':
    read_all(args[0])
elif step == 'read-at':
    read_at(args[0], int(args[1]), int(args[2]))
elif step == 'poke':
    poke(args[0], [int(o) for o in args[1].split(',')], args[2].encode(), args[3] == 'sync')
elif step == 'poke-hold':
    poke_hold(args[0], [int(o) for o in args[1].split(',')], args[2].encode())
elif step == 'poke-private':
    poke_private(args[0], int(args[1]), args[2].encode())
elif step == 'memmap-new':
    memmap_new(args[0], int(args[1]), args[2])
elif step == 'pattern':
    sys.stdout.buffer.write(pattern(int(args[0]), args[1]))
else:
    sys.exit(f'mmap-client: no step {step}')
