import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import * as Namespaces from "../Namespaces.ts"

/** Every namespace any test run makes starts with this. */
export const testFamilyPrefix = "kltest-"

/**
 * This run's namespaces start with this: the global setup picks the run id and the test
 * workers inherit it, so a run checks (and removes) only its own leftovers, never those of a
 * run beside it.
 */
export const testPrefix = `${testFamilyPrefix}${process.env.KUBELAN_TEST_RUN ?? "solo"}-`

export const listNamespaces = (): Promise<ReadonlyArray<string>> => Effect.runPromise(Namespaces.list)

/** A unique prefix per fixture, so parallel or crashed runs never collide. */
export const uniquePrefix = (purpose: string) => `${testPrefix}${purpose}-${randomBytes(3).toString("hex")}`

/** Kills every process inside the namespace, then deletes it; missing namespaces are fine. */
export const removeNamespace = (name: string): Promise<void> => Effect.runPromise(Namespaces.remove(name))

export const removeNamespacesWithPrefix = (prefix: string): Promise<number> => Effect.runPromise(Namespaces.removeWithPrefix(prefix))
