/**
 * A scenario (`rdma-emu run SCENARIO`) as load-scenario.ts hands it over:
 * schema-valid, references checked, defaults filled. The JSON form is
 * src/scenario/scenario.schema.json; the README has the reference.
 */
import type { FabricConfig, LogLevel, Policy, ServerConfig } from '../config/defaults.ts'
import type { FileMapping } from '../../fabric/node-message-types.ts'

/** Fields every step may carry. */
export interface StepBase {
  /** Run the step only under these policies (default: all). */
  when?: Policy[]
  /** A comment, shown nowhere but the file. */
  note?: string
  /** Start at this time (ms from the start of the steps), on the timeline, instead of in turn. */
  at?: number
}

/** netem's impairments of one direction of a link (fabric/netem.ts has their meaning). */
export interface NetemSpec {
  delay?: { ms: number; jitterMs?: number; correlation?: number; distribution?: 'uniform' | 'normal' | 'pareto' | 'paretonormal' }
  loss?: { probability: number; correlation?: number } | { gemodel: { p: number; r?: number; h?: number; k?: number } }
  duplicate?: { probability: number }
  reorder?: { probability: number; depth?: number }
  corrupt?: { probability: number }
  rate?: { bytesPerSec: number }
}

/** The operations of a mixed traffic stream, by weight. */
export interface OpMix {
  write?: number
  read?: number
  fetchAdd?: number
  cmpSwap?: number
  send?: number
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
  | {
    do: 'registerFile'; as: string; client: string; server: string; file: string; offset: number; bytes?: number; access: AccessName[]; odp: boolean; fallback: 'none' | 'odp'
    /** The mmap(2) the MR stands for: 'shared' (MAP_SHARED, the default) or 'private' (MAP_PRIVATE: a writable one pins copy-on-write copies). */
    mapping: FileMapping
  }
  | { do: 'registerMemory'; as: string; server: string; bytes: number; fill: number; access: AccessName[]; odp: boolean }
  | { do: 'deregister'; mr: string }
  | {
    do: 'traffic'; id: string; client: string; mr: string; op: 'write' | 'read' | 'mixed' | 'fetchAdd' | 'cmpSwap'; size: number; window: number
    count?: number; durationMs?: number; offset: number; span?: number; background: boolean; qp?: ConnectSettings
    /** Record a history and write unique values (mixed and atomic streams always). */
    checked: boolean; mix?: OpMix; atomicOffset?: number; atomicWords: number; flushEvery?: number; reconnect: boolean; seed?: number
  }
  | { do: 'wait'; traffic?: string }
  | { do: 'stop'; traffic: string }
  | { do: 'sleep'; ms: number }
  | { do: 'faults'; nodes?: string[]; drop: number; duplicate: number; reorder: number; seed: number }
  | { do: 'verify'; server: string; file?: string; mr?: string; offset: number; length?: number; fill: number }
  | ({ do: 'netem'; id: string; from?: string[]; to?: string[]; seed?: number; durationMs?: number } & NetemSpec)
  | { do: 'partition'; id: string; between?: [string[], string[]]; isolate?: string; oneWay: boolean; durationMs?: number }
  | { do: 'dropMessages'; id: string; messages: string[]; from?: string[]; to?: string[]; probability: number; delayMs?: number; seed?: number; durationMs?: number }
  | { do: 'heal'; fault?: string }
  | { do: 'kill' | 'resume' | 'restart' | 'stopNode'; node: string }
  | { do: 'pause'; id: string; node: string; durationMs?: number }
  | { do: 'storageFault'; id: string; server: string; fsync?: 'EIO'; flush?: 'EIO'; enospc?: boolean; durationMs?: number }
  | { do: 'fsync'; server: string; file: string }
)

/** The steps that start a fault (the fault log's entries; heal ends them). */
export const FAULT_KINDS = ['netem', 'partition', 'dropMessages', 'kill', 'pause', 'restart', 'stopNode', 'storageFault', 'faults'] as const

export type StepKind = Step['do']
export type StepOf<K extends StepKind> = Extract<Step, { do: K }>

export type AccessName = 'localWrite' | 'remoteWrite' | 'remoteRead' | 'remoteAtomic' | 'flushGlobal' | 'flushPersistent'

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
  /** The run's seed (faults and mixes without their own derive theirs from it). */
  seed: number
  checks: { permitCorruption: Policy[]; allowErrors: string[] }
  report: { intervalMs: number }
}
