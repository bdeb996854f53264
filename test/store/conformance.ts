// The ObjectStore conformance suite: every store implementation runs it
// (juicefs testStorage). The cases live in conformance/, one concern each.
// A store without stable ids or hard links (S3) is held only to what its
// capabilities promise.
import type { Test } from 'tap'
import { dataTests } from './conformance/data.ts'
import type { StoreFactory } from './conformance/helpers.ts'
import { namespaceTests } from './conformance/namespace.ts'
import { renameTests } from './conformance/rename.ts'
import { sharedTests } from './conformance/shared.ts'

export type { StoreFactory, StoreFixture } from './conformance/helpers.ts'

/**
 * Run the suite as subtests of `t`. `makeStore` returns a fresh, empty
 * store per subtest, a way to open a second instance on it, and a cleanup.
 */
export function conformance (t: Test, name: string, makeStore: StoreFactory): void {
  t.test(`${name} conforms to ObjectStore`, async t => {
    namespaceTests(t, makeStore)
    renameTests(t, makeStore)
    dataTests(t, makeStore)
    sharedTests(t, makeStore)
  })
}
