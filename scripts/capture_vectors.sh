#!/bin/bash
# Captures the SRT test vectors in src/protocol/testdata/ from srt-live-transmit
# (libsrt) on loopback, through the recording relay scripts/capture_handshake.ts.
# Every process is bounded by `timeout`; run from the repository root.
set -euo pipefail
out=src/protocol/testdata
deno=${DENO:-deno}

# A caller sending three 1316-byte datagrams of 0x47 to a listener through the relay.
# capture NAME RELAY_PORT LISTENER_PORT COUNT LISTENER_QUERY CALLER_QUERY [HOST]
capture() {
  local name=$1 relay=$2 listener=$3 count=$4 listener_query=$5 caller_query=$6 host=${7:-127.0.0.1}
  local h=$host
  [[ $host == *:* ]] && h="[$host]"
  "$deno" run --allow-net --allow-write="$out/$name.json" scripts/capture_handshake.ts \
    --listen "$h:$relay" --upstream "$h:$listener" --count "$count" --seconds 3 \
    --out "$out/$name.json" &
  local relay_pid=$!
  timeout 4 srt-live-transmit -q "srt://$h:$listener?mode=listener$listener_query" file://con \
    > /dev/null &
  local listener_pid=$!
  sleep 0.8
  timeout 2.5 srt-live-transmit -q "udp://127.0.0.1:$((relay + 2))" \
    "srt://$h:$relay?mode=caller$caller_query" &
  local caller_pid=$!
  sleep 0.5
  for _ in 1 2 3; do
    head -c 1316 /dev/zero | tr '\0' 'G' > "/dev/udp/127.0.0.1/$((relay + 2))"
    sleep 0.05
  done
  wait "$caller_pid" "$listener_pid" || true # both end by timeout
  wait "$relay_pid"
}

capture ipv4 47011 47012 15 "" ""
capture ipv4_passphrase 47021 47022 4 "&passphrase=0123456789abc" "&passphrase=0123456789abc"
capture ipv4_pbkeylen32 47031 47032 4 "&passphrase=0123456789abc&pbkeylen=32" \
  "&passphrase=0123456789abc&pbkeylen=32"
capture ipv6 47041 47042 4 "" "" ::1
# A wrong passphrase: the listener answers the conclusion with a rejection.
capture ipv4_wrong_passphrase 47061 47062 4 "&passphrase=0123456789abc" "&passphrase=wrongwrongwrong"
# Stream ids in the conclusion's SID extension: after HSREQ, and before KMREQ.
capture ipv4_stream_id 47071 47072 4 "" "&streamid=#!::r=live/cam1,m=publish"
capture ipv4_passphrase_stream_id 47081 47082 4 "&passphrase=0123456789abc" \
  "&passphrase=0123456789abc&streamid=publish:live/cam12"

# A rendezvous peer's first two wave-a-hands, recorded and not answered.
"$deno" run --allow-net --allow-write="$out/ipv4_rendezvous.json" scripts/capture_handshake.ts \
  --listen 127.0.0.1:47051 --count 2 --seconds 2 --out "$out/ipv4_rendezvous.json" &
relay_pid=$!
sleep 0.8
timeout 1.5 srt-live-transmit -q udp://127.0.0.1:47053 \
  "srt://127.0.0.1:47051?mode=rendezvous&port=47052" || true
wait "$relay_pid"
