import { defineConfig } from "vitest/config"

// kube-apiserver starts in seconds on an idle machine and in tens of them on a loaded CI one.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 180_000 } })
