/**
 * A scenario (`rdma-emu run SCENARIO`) as load-scenario.ts hands it over:
 * schema-valid, references checked, defaults filled. The JSON form is
 * src/scenario/scenario.schema.json; the README has the reference.
 */
import type { FabricConfig, LogLevel, Policy, ServerConfig } from '../config/defaults.ts'

/** Fields every step may carry. */
interface StepBase {
  /** Run the step only under these policies (default: all). */
  when?: Policy[]
  /** A comment, shown nowhere but the file. */
  note?: string
}

export interface ConnectSettings {
  mtu?: number
  timeout?: number
  retryCnt?: number
  rnrRetry?: number
}

export type Step = StepBase & (
  | { do: 'createFile'; server: string; file: string; bytes: number; fill: number; dax: boolean }
  | { do: 'writeFile'; server: string; file: string; offset: number; bytes: number; fill: number }
  | { do: 'truncate'; server: string; file: string; size: number; timeoutMs: number }
  | { do: 'punch'; server: string; file: string; offset: number; length: number; timeoutMs: number }
  | { do: 'unlink'; server: string; file: string; timeoutMs: number }
  | { do: 'lease'; client: string; server: string; file: string }
  | { do: 'unlease'; client: string; server: string; file: string }
  | { do: 'leaseMode'; client: string; mode: 'comply' | 'ignore' }
  | { do: 'registerFile'; as: string; client: string; server: string; file: string; offset: number; bytes?: number; access: AccessName[]; odp: boolean; fallback: 'none' | 'odp' }
  | { do: 'registerMemory'; as: string; server: string; bytes: number; fill: number; access: AccessName[]; odp: boolean }
  | { do: 'deregister'; mr: string }
  | { do: 'traffic'; id: string; client: string; mr: string; op: 'write' | 'read'; size: number; window: number; count?: number; durationMs?: number; offset: number; span?: number; background: boolean; qp?: ConnectSettings }
  | { do: 'wait'; traffic?: string }
  | { do: 'stop'; traffic: string }
  | { do: 'sleep'; ms: number }
  | { do: 'faults'; nodes?: string[]; drop: number; duplicate: number; reorder: number; seed: number }
  | { do: 'verify'; server: string; file?: string; mr?: string; offset: number; length?: number; fill: number }
)

export type StepKind = Step['do']
export type StepOf<K extends StepKind> = Extract<Step, { do: K }>

export type AccessName = 'localWrite' | 'remoteWrite' | 'remoteRead' | 'remoteAtomic'

export type CompareOp = '==' | '!=' | '>' | '>=' | '<' | '<='

export interface Expectation {
  /** Policies it applies to; '*' = every run. */
  policies: Policy[] | '*'
  metric: string
  op: CompareOp
  value: number | string
  /** Why the policy promises this (printed when it breaks). */
  why?: string
}

/** Settings a scenario lays over the configuration (every server node gets `server`). */
export interface ClusterOverrides {
  timeScale?: number
  logLevel?: LogLevel
  fabric?: Partial<FabricConfig>
  server?: Partial<Omit<ServerConfig, 'policy'>>
}

export interface Scenario {
  name: string
  description?: string
  /** Absolute path of the file it came from. */
  file: string
  cluster: ClusterOverrides
  /** One run per policy, in this order. */
  policies: Policy[]
  steps: Step[]
  expect: Expectation[]
  /** Node ids the steps name (the runs start only these). */
  nodes: string[]
}
