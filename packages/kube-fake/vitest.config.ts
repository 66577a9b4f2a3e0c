import { defineConfig } from "vitest/config"

// The real kubectl runs in these tests: with a cold cache it downloads and parses the OpenAPI v3
// documents first, which takes seconds on a loaded CI machine.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000 } })
