import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    globalSetup: ["../../packages/netlink/src/testing/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernel tests share the machine's two cores; files run one after another.
    fileParallelism: false
  }
})
