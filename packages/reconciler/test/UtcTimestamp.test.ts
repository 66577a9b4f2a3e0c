import { fc, fuzz } from "@kubelan/testkit"
import { describe, expect, it } from "vitest"
import { httpDate, utcTimestamp } from "../src/UtcTimestamp.ts"

describe("utcTimestamp", () => {
  it("prints what toISOString prints, around leap days, century rules and the epoch", () => {
    for (const text of [
      "1970-01-01T00:00:00.000Z",
      "1969-12-31T23:59:59.999Z",
      "2000-02-29T12:34:56.789Z",
      "2100-03-01T00:00:00.001Z",
      "2024-02-29T23:59:59.999Z",
      "2026-12-02T15:04:05.123Z",
      "9999-12-31T23:59:59.999Z"
    ])
      expect(utcTimestamp(Date.parse(text))).toBe(text)
  })

  it("agrees with toISOString for any time from 1970 to 9999", () =>
    fuzz(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (millis) => utcTimestamp(millis) === new Date(millis).toISOString()),
      2000
    ))

  it("prints the HTTP Date header as toUTCString does", () =>
    fuzz(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (millis) => httpDate(millis) === new Date(millis).toUTCString()),
      2000
    ))
})
