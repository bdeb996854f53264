// objfs serve: the serving process a keeper starts (hidden: never typed by hand).
import type { Argv } from 'yargs'

export const command = 'serve <mountpoint>'
export const describe = false

export function builder (y: Argv): Argv {
  return y.positional('mountpoint', { type: 'string' })
}

export async function handler (): Promise<void> {
  const { runServing } = await import('../keeper/serve.ts')
  await runServing()
}
