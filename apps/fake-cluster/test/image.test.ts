import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { agentNodeFlags } from "../src/Paths.ts"

describe("the kubelan container", () => {
  it("runs the bundle with the node options of deploy/Dockerfile, as a real pod's container would", () => {
    const dockerfile = readFileSync(join(import.meta.dirname, "../../../deploy/Dockerfile"), "utf8")
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? "[]") as Array<string>
    expect(entrypoint.slice(1, -1)).toEqual(agentNodeFlags)
  })
})
