import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    globalSetup: ["../../packages/netlink/src/testing/globalSetup.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false
  }
})
