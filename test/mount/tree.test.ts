// Directory trees: creating deep paths and removing whole trees.
import t from 'tap'
import { dropCaches, mountObjfs, mountTier, q, shOk } from './harness.ts'

if (mountTier(t)) {
  t.test('directory trees', async t => {
    const m = await mountObjfs(t)
    const M = q(m.mountpoint)

    t.test('mkdir -p of a 40-level tree', async t => {
      const rel = Array.from({ length: 40 }, (_, i) => `level${String(i).padStart(2, '0')}`).join('/')
      await shOk(`mkdir -p ${M}/deep/${rel}`)
      await shOk(`echo bottom > ${M}/deep/${rel}/leaf`)
      // Again on an existing path: every component exists, nothing fails.
      await shOk(`mkdir -p ${M}/deep/${rel}`)
      await dropCaches()
      t.equal(await shOk(`find ${M}/deep -mindepth 1 -type d | wc -l`), '40\n', '40 directories, one per level')
      t.equal(await shOk(`cat ${M}/deep/${rel}/leaf`), 'bottom\n', 'the file at the bottom reads back')
      t.equal(await shOk(`cd ${M}/deep/${rel} && cat ./leaf && cd ../../.. && pwd`),
        `bottom\n${m.mountpoint}/deep/${rel.split('/').slice(0, 37).join('/')}\n`, 'relative paths walk up and down')
    })

    t.test('rm -r of a tree', async t => {
      await shOk(`
        mkdir ${M}/rmtree && cd ${M}/rmtree
        mkdir -p gone/a/b/c gone/d/e gone/empty keep
        for d in gone gone/a gone/a/b gone/a/b/c gone/d gone/d/e; do
          for i in $(seq 1 25); do echo "$d $i" > "$d/file$i"; done
        done
        head -c 3000000 /dev/urandom > gone/a/b/big
        ln -s ../a gone/d/link-to-a
        ln gone/file1 gone/d/hard1
        echo stays > keep/file
      `)
      t.equal(await shOk(`find ${M}/rmtree/gone | wc -l`), '160\n', 'the tree is complete before removal')
      const R = `${M}/rmtree`
      await shOk(`rm -r ${R}/gone`, { timeoutMs: 120_000 })
      t.equal(await shOk(`test ! -e ${R}/gone && ls -A ${R}`), 'keep\n', 'only the tree is gone')
      await dropCaches()
      t.equal(await shOk(`test ! -e ${R}/gone && ls -A ${R}`), 'keep\n', 'still gone with cold caches')
      t.equal(await shOk(`cat ${R}/keep/file`), 'stays\n')
      // The name is free again, as a file this time.
      t.equal(await shOk(`echo again > ${R}/gone && cat ${R}/gone && rm ${R}/gone && ls -A ${R}`), 'again\nkeep\n')
    })
  })
}
