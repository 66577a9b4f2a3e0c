import { defineConfig } from "vitest/config"

// The tests wait up to 15 s for a condition (CI runs every package's tests at once on two
// cores): the test's own timeout must not end them first.
export default defineConfig({ test: { testTimeout: 30_000 } })
