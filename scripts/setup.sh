#!/usr/bin/env bash
# Installs what Atoll needs on Debian/Ubuntu, then Deno from npm into toolchain/ (linked as ./deno).
#   scripts/setup.sh          runtime: libsrt
#   scripts/setup.sh --test   also the test peers and tools: ffmpeg, srt-tools, libsrt headers, a C compiler,
#                             promtool (from prometheus) to check /metrics, and chromium for the dashboard
#                             test, driven by playwright-core from toolchain/ (which never downloads a browser)
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libsrt1.5-openssl)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(ffmpeg srt-tools libsrt-openssl-dev gcc libc6-dev prometheus chromium)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm pins (Deno, and playwright-core for the dashboard test) live in toolchain/, away from the
# project root, where Deno would otherwise read package.json and try to resolve them as dependencies.
if [[ ! -x toolchain/node_modules/deno/deno || ! -f toolchain/node_modules/playwright-core/package.json ]]; then
  echo "setup: installing Deno and playwright-core from npm" >&2
  # deno@2.9.6 pins its platform binary exactly; npm cannot lock the other platforms' ones.
  # The dashboard test drives Debian's chromium: playwright must not fetch browsers of its own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix toolchain --no-package-lock --no-audit --no-fund --loglevel=error
fi
ln -sf toolchain/node_modules/deno/deno deno
./deno --version | head -1 >&2
