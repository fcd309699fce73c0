export declare class NetworkGuardError extends Error {
  readonly code: "ERR_NETWORK_GUARD"
  readonly target: string
  constructor(target: string)
}

export declare const isLoopback: (host: string | undefined | null) => boolean

export interface Attempt {
  /** "connect host:port" or "resolve host". */
  readonly target: string
  readonly allowed: boolean
}

export declare const installNetworkGuard: (onAttempt: (attempt: Attempt) => void) => void
