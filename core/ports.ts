/**
 * The interfaces between services and the adapters behind them. Services
 * depend on these, never on storage/ directly; main.ts picks the adapters.
 */
import type { ApiKey, Role } from './domain/api-key.ts';
import type { Command, CommandMessage, CommandStatus } from './domain/command.ts';
import type { DeadLetter, DeadLetterReason, NewDeadLetter } from './domain/dead-letter.ts';
import type { Device, DeviceStatus, RegisterDevice, UpdateDevice } from './domain/device.ts';
import type { DeviceType } from './domain/device-type.ts';
import type { DeviceEvent, NewDeviceEvent } from './domain/event.ts';
import type { ModelCard } from './domain/model-card.ts';
import type { Diagnosis, DiagnosisStatus } from './domain/diagnosis.ts';
import type { RecalibrateRequest, Recalibration } from './domain/recalibration.ts';
import type { RuleSet, Severity } from './domain/rule.ts';
import type { AggregateFn, MetricValue, Point, TelemetryRow } from './domain/telemetry.ts';
import type { DevicePublishKind } from './topics.ts';

export interface TelemetryQuery {
  deviceId: string;
  /** Device type = InfluxDB measurement. */
  type: string;
  /** Metrics to return; all when omitted. */
  metrics?: string[];
  /** Inclusive start, epoch ms. */
  from: number;
  /** Exclusive end, epoch ms. */
  to: number;
  /** Window length in ms; raw samples when omitted. */
  every?: number;
  /** Aggregate per window; `mean` when `every` is set and fn is not. */
  fn?: AggregateFn;
  /** Max rows, oldest first. */
  limit: number;
}

export interface TelemetryStore {
  readonly kind: 'influx' | 'embedded';
  init(): Promise<void>;
  /**
   * Writes points; resolves once the store has accepted them. Writing the
   * same (device, ts) again overwrites those metrics, as InfluxDB does.
   */
  write(points: readonly Point[]): Promise<void>;
  query(q: TelemetryQuery): Promise<TelemetryRow[]>;
  /** Latest value of each metric of a device within the lookback window. */
  latest(deviceId: string, type: string, lookbackMs?: number): Promise<{ ts: string; values: Record<string, MetricValue> } | null>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface DeviceWithSecret {
  device: Device;
  secret: string;
}

export interface DeviceAuthRecord {
  id: string;
  type: string;
  model: string | null;
  site: string | null;
  status: DeviceStatus;
  secretHash: string;
}

export interface DeviceFilter {
  type?: string;
  status?: DeviceStatus;
  site?: string;
  online?: boolean;
  limit: number;
  offset: number;
}

export interface DeadLetterFilter {
  deviceId?: string;
  reason?: DeadLetterReason;
  from?: number;
  to?: number;
  limit: number;
}

/** An anomaly model registered through the api (it replaces the shipped one of its type). */
export interface ModelRecord {
  type: string;
  modelId: string;
  card: ModelCard;
  /** Counts registrations of the type; the scorer reloads when it changes. */
  version: number;
  updatedAt: string;
}

export interface ModelStore {
  /** Inserts or replaces the type's model (card.type), bumping its version. */
  putModel(m: { card: ModelCard; anomalyOnnx: Uint8Array; classifierOnnx: Uint8Array | null }): Promise<ModelRecord>;
  getModel(type: string): Promise<ModelRecord | null>;
  getModelBlobs(type: string): Promise<(ModelRecord & { anomalyOnnx: Uint8Array; classifierOnnx: Uint8Array | null }) | null>;
  listModels(): Promise<ModelRecord[]>;
  /** Cheap poll for the scorer: each registered type and its version. */
  listModelVersions(): Promise<Array<{ type: string; version: number }>>;
  deleteModel(type: string): Promise<boolean>;
}

/** One device's checkpointed diagnosis state: the rule engine's ('rules') or the anomaly model's ('model'). */
export interface DiagnosisStateRecord {
  deviceId: string;
  part: 'rules' | 'model';
  /** What the bytes belong to (a compiled rule set, a model version): restored only into the same. */
  key: string;
  state: Uint8Array;
}

export interface DiagnosisStateStore {
  /** Upserts checkpoints (one per device and part). */
  saveDiagnosisStates(items: readonly DiagnosisStateRecord[]): Promise<void>;
  loadDiagnosisStates(deviceIds: readonly string[]): Promise<DiagnosisStateRecord[]>;
  /** The active devices with a rule-engine checkpoint, and their type, model and site (resumed at start, so one silent since is seen to be). */
  listCheckpointedDevices(): Promise<Array<{ deviceId: string; type: string; model: string | null; site: string | null }>>;
  deleteDiagnosisStates(deviceIds: readonly string[]): Promise<void>;

  /** Records a recalibration request (pending until the diagnosis service applies it). */
  requestRecalibration(deviceId: string, req: RecalibrateRequest): Promise<Recalibration>;
  /** Pending requests, oldest first. */
  pendingRecalibrations(limit: number): Promise<Recalibration[]>;
  /** Marks a request applied, with the diagnoses it cleared; false when it was not pending. */
  finishRecalibration(id: string, appliedAt: number, resolved: readonly string[]): Promise<boolean>;
  /** A device's requests, newest first. */
  listRecalibrations(deviceId: string, limit: number): Promise<Recalibration[]>;
}

export interface OpsStore extends ModelStore, DiagnosisStateStore {
  readonly kind: 'pglite' | 'postgres';
  init(): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;

  // device types
  upsertDeviceType(t: DeviceType): Promise<void>;
  /** Throws deviceTypeExists when the name is taken. */
  createDeviceType(t: DeviceType): Promise<DeviceType>;
  getDeviceType(name: string): Promise<DeviceType | null>;
  listDeviceTypes(): Promise<DeviceType[]>;

  // devices
  /** Registers devices atomically, generating ids where missing; throws deviceExists / deviceTypeNotFound. */
  registerDevices(input: RegisterDevice[], idPrefix?: string): Promise<DeviceWithSecret[]>;
  getDevice(id: string): Promise<Device | null>;
  getDeviceAuth(id: string): Promise<DeviceAuthRecord | null>;
  listDevices(filter: DeviceFilter): Promise<{ items: Device[]; total: number }>;
  updateDevice(id: string, patch: UpdateDevice): Promise<Device | null>;
  rotateDeviceSecret(id: string): Promise<string | null>;
  setPresence(id: string, online: boolean, at: number): Promise<void>;
  touchLastSeen(entries: ReadonlyArray<{ id: string; at: number }>): Promise<void>;
  /** Marks every device offline (on broker start nothing is connected). */
  resetPresence(): Promise<void>;

  // api keys
  createApiKey(name: string, role: Role, key?: string): Promise<{ apiKey: ApiKey; key: string }>;
  findApiKeyByHash(hash: string): Promise<ApiKey | null>;
  listApiKeys(): Promise<ApiKey[]>;
  revokeApiKey(id: string): Promise<boolean>;
  countActiveApiKeys(role?: Role): Promise<number>;

  // dead letters
  addDeadLetters(items: readonly NewDeadLetter[]): Promise<void>;
  listDeadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]>;

  // events
  addEvents(items: readonly NewDeviceEvent[]): Promise<void>;
  listEvents(deviceId: string, filter: { from?: number; to?: number; limit: number }): Promise<DeviceEvent[]>;

  // commands
  createCommand(c: { deviceId: string; name: string; params: Record<string, unknown>; expiresAt: number; now: number }): Promise<Command>;
  getCommand(id: string): Promise<Command | null>;
  listCommands(deviceId: string, limit: number): Promise<Command[]>;
  /**
   * Moves a command along sent → accepted → done | failed. Terminal states and
   * expired commands do not move; returns the command after the attempt, or
   * null if it does not exist for that device.
   */
  advanceCommand(deviceId: string, id: string, status: Exclude<CommandStatus, 'sent' | 'expired'>, detail: string | null, now: number): Promise<Command | null>;
  /** Marks every unfinished command past its expiry as expired; returns them. */
  expireCommands(now: number): Promise<Command[]>;

  // diagnoses and rule sets (the diagnosis engine writes, the api reads)
  addDiagnoses(items: readonly Diagnosis[]): Promise<void>;
  /** Marks active diagnoses cleared at their event time; returns those that were active. */
  clearDiagnoses(items: ReadonlyArray<{ id: string; clearedAt: number }>): Promise<Diagnosis[]>;
  listDiagnoses(filter: DiagnosisFilter): Promise<Diagnosis[]>;
  /** Rule sets that replace a type's shipped file (PUT /rules/:type). */
  getRuleSet(type: string): Promise<{ ruleSet: RuleSet; updatedAt: string } | null>;
  putRuleSet(ruleSet: RuleSet, now: number): Promise<{ ruleSet: RuleSet; updatedAt: string }>;
  deleteRuleSet(type: string): Promise<boolean>;
  /** Every custom rule set's type and update time: the engine polls it to reload changed sets. */
  listRuleSetVersions(): Promise<Array<{ type: string; updatedAt: string }>>;
}

export interface DiagnosisFilter {
  deviceId?: string;
  type?: string;
  fault?: string;
  severity?: Severity;
  status?: DiagnosisStatus;
  /** raisedAt ≥ from (epoch ms, event time). */
  from?: number;
  /** raisedAt < to. */
  to?: number;
  limit: number;
  /** Only rows after this one in the listing's order (newest raisedAt first, then id descending): the next page. */
  after?: { raisedAt: number; id: string };
}

/** The in-process diagnosis bus: raised and cleared diagnoses, after they are persisted. */
export interface DiagnosisBusEvents {
  raised: Diagnosis;
  cleared: Diagnosis;
}

export interface DiagnosisBus {
  on<E extends keyof DiagnosisBusEvents>(event: E, listener: (payload: DiagnosisBusEvents[E]) => void): () => void;
}

/** Publishes platform → device messages (implemented by the broker, in-process). */
export interface CommandPublisher {
  publishCommand(deviceId: string, message: CommandMessage): Promise<void>;
  /** Connected MQTT clients right now (devices only). */
  connectedDevices(): number;
  /** Closes a device's live connection (after it was disabled or its secret rotated). */
  disconnectDevice(deviceId: string): boolean;
}

/** A dependency whose reachability /ready reports. */
export interface HealthCheck {
  name: string;
  check(): Promise<boolean>;
}

/** What every service factory returns: no I/O until start(); stop() is idempotent. */
export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Who is on the other end of an MQTT connection, once authenticated. */
export type Principal =
  | { kind: 'device'; device: { id: string; type: string; model: string | null; site: string | null } }
  | { kind: 'service'; keyId: string; name: string };

export type DevicePrincipal = Extract<Principal, { kind: 'device' }>['device'];

/** A device → platform message that passed authorisation. */
export interface InboundMessage {
  device: DevicePrincipal;
  kind: DevicePublishKind;
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  receivedAt: number;
}

/**
 * The step that gates a device's PUBACK: the broker calls it from
 * authorizePublish and acknowledges only after it resolves. `forward: false`
 * keeps the message away from subscribers (it was dead-lettered).
 */
export interface InboundGate {
  accept(msg: InboundMessage): Promise<{ forward: boolean }>;
}
