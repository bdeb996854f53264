// The dirty budget must never stall: once it is spent, writers wait for
// room, which only a stored block makes, and those writers may be all the
// requests there are: no flush or fsync comes to store the buffered blocks.
// Found by the load test (test/mount/load.test.ts): 16 clients writing
// partial blocks filled the budget exactly, and the mount hung with nothing
// in flight (the reader also paused then; it no longer does).
import t from 'tap'
import { Coalescer } from '../../src/blocks/coalesce.ts'
import { Inode } from '../../src/inode/table.ts'
import type { BlockWrite, ObjectAttr, ObjectId, Timespec } from '../../src/store/types.ts'

const BS = 16
const T0 = { sec: 1_700_000_000, nsec: 0 }
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }

const attrOf = (id: ObjectId, size: number, mtime: Timespec = T0): ObjectAttr =>
  ({ id, ino: 2, mode: 0o100644, nlink: 1, uid: 0, gid: 0, size, rdev: 0, atime: T0, mtime, ctime: T0 })

t.test('partial blocks that fill the budget exactly are stored without another request', async t => {
  const stored: number[] = []
  const io = {
    readBlock: async (): Promise<Uint8Array | null> => null,
    writeBlocks: async (id: ObjectId, blocks: BlockWrite[], minSize: number, mtime: Timespec): Promise<ObjectAttr> => {
      stored.push(...blocks.map(b => b.index))
      return attrOf(id, minSize, mtime)
    },
  }
  const c = new Coalescer(io, BS, 4 * BS, { settled: () => {} })
  const file = new Inode(2, attrOf('f' as ObjectId, 0))
  // One byte into each of four blocks: none is full, so none is stored by the write itself.
  for (let i = 0; i < 4; i++) await c.write(file, i * BS, new Uint8Array([i + 1]))
  t.equal(c.dirtyBytes, 4 * BS, 'the budget is spent')
  // A fifth block needs room: nothing but this write is there to make it.
  await c.write(file, 4 * BS, new Uint8Array([5]))
  t.ok(stored.length > 0, `the coldest blocks went to the store on their own (${stored.join(', ')})`)
  await settle()
  t.ok(c.dirtyBytes + BS <= 4 * BS, `${c.dirtyBytes} bytes still buffered: room for another block`)
})
