-- Requests to forget what the diagnosis engine learnt of a device's normal
-- (rule baselines and windows, the anomaly model's calibration): after a
-- repair, a part swap or a move, the device is judged against what it does
-- from then on. The api records the request; the diagnosis service applies
-- each one once (applied_at), whichever process serves the api. `resolved`
-- lists the active diagnoses the request cleared; `faults` narrows it to the
-- rules of those faults (null: the whole device).
CREATE TABLE recalibrations (
  id             text PRIMARY KEY,
  -- orders requests made within the same millisecond
  seq            bigint GENERATED ALWAYS AS IDENTITY,
  device_id      text NOT NULL,
  reason         text,
  resolve_active boolean NOT NULL,
  faults         jsonb,
  requested_at   timestamptz NOT NULL,
  applied_at     timestamptz,
  resolved       jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX recalibrations_pending ON recalibrations (requested_at, seq) WHERE applied_at IS NULL;
CREATE INDEX recalibrations_device ON recalibrations (device_id, requested_at DESC, seq DESC);
