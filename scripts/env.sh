# Sourced, not run: the project's own Node 24 and pnpm first on PATH.
_kl_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_kl_root/.tools/node/bin:$_kl_root/.tools/pnpm/bin:$_kl_root/node_modules/.bin:$PATH:$_kl_root/.tools/kubectl"
export TURBO_TELEMETRY_DISABLED=1
unset _kl_root
