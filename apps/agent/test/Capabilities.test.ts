import { describe, expect, it } from "vitest"
import { holdsCapability, missingCapability } from "../src/Capabilities.ts"

describe("capabilities", () => {
  it("reads NET_ADMIN (bit 12) from a CapEff mask", () => {
    expect(holdsCapability("000001fffeffffff", 12n)).toBe(true)
    expect(holdsCapability("000001fffeffefff", 12n)).toBe(false)
    expect(holdsCapability("0000000000001000", 12n)).toBe(true)
  })

  it("names what is missing, and says nothing when it cannot tell", () => {
    expect(missingCapability(() => "Name:\tnode\nCapEff:\t0000000000001000\n")).toBeUndefined()
    expect(missingCapability(() => "Name:\tnode\nCapEff:\t00000000a80425fb\n")).toContain("NET_ADMIN")
    expect(missingCapability(() => "Name:\tnode\n")).toBeUndefined()
    expect(
      missingCapability(() => {
        throw new Error("no /proc")
      })
    ).toBeUndefined()
  })
})
