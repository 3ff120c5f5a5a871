/**
 * The numbers of libsrt's headers that Atoll uses, named after their C
 * names: an object's keys are the C names without the prefix that
 * {@link C_PREFIXES} gives, a plain number's name is its C name.
 * `ffi/structs_test.ts` compiles every export of this module against the
 * installed headers, so a constant cannot be added here unchecked.
 *
 * @module
 */

/** `SRT_SOCKOPT` (`SRTO_*`): the socket options Atoll and its bench set or read. */
export const SrtOption = {
  SNDSYN: 1,
  RCVSYN: 2,
  RENDEZVOUS: 12,
  MAXBW: 16,
  LATENCY: 23,
  INPUTBW: 24,
  OHEADBW: 25,
  PASSPHRASE: 26,
  PBKEYLEN: 27,
  KMSTATE: 28,
  CONNTIMEO: 36,
  RCVLATENCY: 43,
  STREAMID: 46,
  TRANSTYPE: 50,
  PEERIDLETIMEO: 55,
} as const;

/** One of {@link SrtOption}. */
export type SrtOption = typeof SrtOption[keyof typeof SrtOption];

/** `SRT_SOCKSTATUS` (`SRTS_*`). */
export const SrtState = {
  INIT: 1,
  OPENED: 2,
  LISTENING: 3,
  CONNECTING: 4,
  CONNECTED: 5,
  BROKEN: 6,
  CLOSING: 7,
  CLOSED: 8,
  NONEXIST: 9,
} as const;

/** `SRT_ERRNO` (`SRT_E*`): the error codes Atoll branches on. */
export const SrtErrno = {
  ECONNSETUP: 1000,
  ECONNREJ: 1002,
  ECONNLOST: 2001,
  ENOCONN: 2002,
  EINVPARAM: 5003,
  EINVSOCK: 5004,
  EASYNCSND: 6001,
  EASYNCRCV: 6002,
  ETIMEOUT: 6003,
} as const;

/** `SRT_KM_STATE` (`SRT_KM_S_*`), as SRTO_KMSTATE reports it. */
export const SrtKmState = {
  UNSECURED: 0,
  SECURED: 2,
} as const;

/** `SRT_EPOLL_OPT`: readable (or a connection to accept). */
export const SRT_EPOLL_IN = 1;
/** `SRT_EPOLL_OPT`: writable (or connected). */
export const SRT_EPOLL_OUT = 4;
/** `SRT_EPOLL_OPT`: broken or closed. */
export const SRT_EPOLL_ERR = 8;
/** `SRT_TRANSTYPE`: live mode. */
export const SRTT_LIVE = 0;
/** What `srt_create_socket` and `srt_accept` return on failure. */
export const SRT_INVALID_SOCK = -1;
/** What a fallible call returns on failure. */
export const SRT_ERROR = -1;
/** `SRT_REJECT_REASON`: no reason recorded (or the socket is already gone). */
export const SRT_REJ_UNKNOWN = 0;
/** `SRT_REJECT_REASON`: the handshake timed out (SRTO_CONNTIMEO). */
export const SRT_REJ_TIMEOUT = 16;
/** `access_control.h`: unexpected internal server error. */
export const SRT_REJX_ISE = 1500;

/** The C prefix of each object above: `SrtOption.LATENCY` is `SRTO_LATENCY`. */
export const C_PREFIXES = {
  SrtOption: "SRTO_",
  SrtState: "SRTS_",
  SrtErrno: "SRT_",
  SrtKmState: "SRT_KM_S_",
} as const;

const OPTION_NAMES = new Map<number, string>(
  Object.entries(SrtOption).map(([name, value]) => [value, `${C_PREFIXES.SrtOption}${name}`]),
);

/** The C name of a socket option, for messages: `SRTO_LATENCY`. */
export function srtOptionName(option: SrtOption): string {
  return OPTION_NAMES.get(option) ?? `SRT_SOCKOPT ${option}`;
}
