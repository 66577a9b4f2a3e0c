import { randomBytes } from "node:crypto"

/**
 * Vitest global setup for suites that touch the kernel: they must run as root, and they must
 * leave no network namespace behind. Leftovers are removed and then fail the run.
 */
export const setup = () => {
  if (process.getuid?.() !== 0) throw new Error("kernel tests create network namespaces and VXLAN links: run them as root")
  process.env.KUBELAN_TEST_RUN = randomBytes(2).toString("hex")
}

export const teardown = async () => {
  // Imported here: the prefix is fixed when the module loads, after setup chose the run id.
  const { listNamespaces, removeNamespacesWithPrefix, testPrefix } = await import("./TestNamespaces.ts")
  const left = (await listNamespaces()).filter((name) => name.startsWith(testPrefix))
  if (left.length > 0) {
    await removeNamespacesWithPrefix(testPrefix)
    throw new Error(`the suite left network namespaces behind: ${left.join(", ")}`)
  }
}
