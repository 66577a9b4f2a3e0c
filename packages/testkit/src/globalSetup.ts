import { listNamespaces, removeNamespacesWithPrefix, testPrefix } from "./Namespaces.ts"

/**
 * Vitest global setup for suites that touch the kernel: they must run as root, and they must
 * leave no network namespace behind. Leftovers are removed and then fail the run.
 */
export const setup = () => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests create network namespaces and VXLAN links: run them as root")
}

export const teardown = async () => {
  const left = (await listNamespaces()).filter((name) => name.startsWith(testPrefix))
  if (left.length > 0) {
    await removeNamespacesWithPrefix(testPrefix)
    throw new Error(`the suite left network namespaces behind: ${left.join(", ")}`)
  }
}
