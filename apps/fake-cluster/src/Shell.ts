import { Namespaces } from "@kubelan/netlink"
import { Effect } from "effect"
import { execa } from "execa"

/** Runs a command; throws with its command line and stderr when it fails (unless allowed). */
export const sh = async (file: string, args: ReadonlyArray<string>, options: { allowFailure?: boolean; input?: string } = {}) => {
  const result = await execa(file, args, { reject: false, ...(options.input === undefined ? {} : { input: options.input }) })
  if (result.exitCode !== 0 && options.allowFailure !== true)
    throw new Error(`${file} ${args.join(" ")}: ${result.stderr || `exit ${result.exitCode}`}`)
  return result
}

export const listNetns = (): Promise<ReadonlyArray<string>> => Effect.runPromise(Namespaces.list)

/** Kills what runs inside a namespace, then deletes it. */
export const removeNetns = (name: string): Promise<void> => Effect.runPromise(Namespaces.remove(name))
