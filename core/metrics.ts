import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every Prometheus metric fleetdoc exports, on one registry per process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fleetdoc_' });
  const r = [registry];
  return {
    registry,
    messagesReceived: new Counter({ name: 'fleetdoc_mqtt_messages_received_total', help: 'MQTT messages received from devices', labelNames: ['kind'] as const, registers: r }),
    messagesAccepted: new Counter({ name: 'fleetdoc_ingest_messages_accepted_total', help: 'Device messages that passed validation', labelNames: ['kind'] as const, registers: r }),
    samplesAccepted: new Counter({ name: 'fleetdoc_ingest_samples_accepted_total', help: 'Telemetry samples accepted (a batch payload holds many)', registers: r }),
    deadLettered: new Counter({ name: 'fleetdoc_ingest_dead_letters_total', help: 'Messages dead-lettered, by reason', labelNames: ['reason'] as const, registers: r }),
    pointsWritten: new Counter({ name: 'fleetdoc_store_points_written_total', help: 'Points the telemetry store accepted', registers: r }),
    storeWriteErrors: new Counter({ name: 'fleetdoc_store_write_errors_total', help: 'Failed telemetry store batch writes', registers: r }),
    opsStoreRowsRefused: new Counter({ name: 'fleetdoc_ops_store_rows_refused_total', help: 'Dead letters and events the operational store refused while it answered (dropped; a store that does not answer withholds the PUBACK instead)', labelNames: ['what'], registers: r }),
    storeWriteSeconds: new Histogram({ name: 'fleetdoc_store_write_seconds', help: 'Telemetry store batch write latency', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r }),
    connectedDevices: new Gauge({ name: 'fleetdoc_mqtt_connected_devices', help: 'Devices connected to the broker', registers: r }),
    connectedClients: new Gauge({ name: 'fleetdoc_mqtt_connected_clients', help: 'All MQTT clients connected (devices and services)', registers: r }),
    authFailures: new Counter({ name: 'fleetdoc_mqtt_auth_failures_total', help: 'Refused MQTT connections, by reason', labelNames: ['reason'] as const, registers: r }),
    refusedPublishes: new Counter({ name: 'fleetdoc_mqtt_refused_publishes_total', help: 'Publishes refused by authorisation', registers: r }),
    authLimiterKeys: new Gauge({ name: 'fleetdoc_mqtt_auth_limiter_keys', help: 'Addresses and device ids the CONNECT limiter holds (set on each failed authentication)', labelNames: ['table'] as const, registers: r }),
    forwardsDropped: new Counter({ name: 'fleetdoc_mqtt_forwards_dropped_total', help: 'QoS0 messages not delivered to a subscriber, by reason', labelNames: ['reason'] as const, registers: r }),
    clientsDisconnected: new Counter({ name: 'fleetdoc_mqtt_forced_disconnects_total', help: 'Clients disconnected for misbehaviour, by reason', labelNames: ['reason'] as const, registers: r }),
    spoolBytes: new Gauge({ name: 'fleetdoc_spool_bytes', help: 'Telemetry in the durable spool not yet in the store', registers: r }),
    spoolMaxBytes: new Gauge({ name: 'fleetdoc_spool_max_bytes', help: 'SPOOL_MAX_BYTES: past it QoS1 telemetry is not acknowledged', registers: r }),
    spoolLagMessages: new Gauge({ name: 'fleetdoc_spool_lag_messages', help: 'Acknowledged messages not yet in the store', registers: r }),
    spoolLagSeconds: new Gauge({ name: 'fleetdoc_spool_lag_seconds', help: 'Age (receive time) of the oldest message not yet in the store', registers: r }),
    spoolOldestSampleAgeSeconds: new Gauge({ name: 'fleetdoc_spool_oldest_unsent_sample_age_seconds', help: 'Age (event time) of the oldest sample not yet in the store', registers: r }),
    spoolFullWaits: new Counter({ name: 'fleetdoc_spool_full_waits_total', help: 'QoS1 telemetry messages held without PUBACK because the spool was full', registers: r }),
    droppedMessages: new Counter({ name: 'fleetdoc_ingest_dropped_total', help: 'QoS0 telemetry dropped (no delivery guarantee), by reason', labelNames: ['reason'] as const, registers: r }),
    diagnosesRaised: new Counter({ name: 'fleetdoc_diagnoses_raised_total', help: 'Diagnoses raised, by fault and severity', labelNames: ['fault', 'severity'] as const, registers: r }),
    diagnosesCleared: new Counter({ name: 'fleetdoc_diagnoses_cleared_total', help: 'Diagnoses cleared after the condition was normal long enough', registers: r }),
    diagnosisQueue: new Gauge({ name: 'fleetdoc_diagnosis_queue_samples', help: 'Accepted samples waiting for the diagnosis engine', registers: r }),
    diagnosisDropped: new Counter({ name: 'fleetdoc_diagnosis_dropped_samples_total', help: 'Accepted samples the diagnosis engine could not queue (its backlog past twice DIAGNOSIS_MAX_QUEUE); they get no decision', registers: r }),
    diagnosisBackpressureWaits: new Counter({ name: 'fleetdoc_diagnosis_backpressure_waits_total', help: 'QoS1 telemetry messages held without PUBACK until the diagnosis engine caught up', registers: r }),
    diagnosisDevices: new Gauge({ name: 'fleetdoc_diagnosis_devices', help: 'Devices whose state the diagnosis engine holds', registers: r }),
    diagnosisLate: new Gauge({ name: 'fleetdoc_diagnosis_late_samples', help: 'Samples the diagnosis engine skipped since start because they were older than their device’s latest (event time only moves forward)', registers: r }),
    commandsSent: new Counter({ name: 'fleetdoc_commands_sent_total', help: 'Commands published to devices', registers: r }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
