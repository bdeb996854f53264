// Events counted where they happen, by code that holds no handle on the
// daemon's stats (an op handler choosing a kind of reply). Process-wide: a
// daemon process serves one mount.
export const events = {
  /**
   * LOOKUPs answered "no such name" as a cacheable negative entry. The
   * kernel answers repeats of the same name itself until negative_timeout
   * runs out, so this counts misses that the kernel will then cache.
   */
  negativeEntries: 0,
}
