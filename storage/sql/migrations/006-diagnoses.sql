-- Diagnoses the engine raised; no foreign key, like device_events, so the
-- engine's writes never wait on device row locks.
CREATE TABLE diagnoses (
  id          text PRIMARY KEY,
  device_id   text NOT NULL,
  device_type text NOT NULL,
  fault       text NOT NULL,
  status      text NOT NULL CHECK (status IN ('active', 'cleared')),
  severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  confidence  double precision NOT NULL,
  source      text NOT NULL,
  evidence    jsonb NOT NULL,
  remedy      jsonb,
  raised_at   timestamptz NOT NULL,
  cleared_at  timestamptz,
  created_at  timestamptz NOT NULL
);

CREATE INDEX diagnoses_device_raised_idx ON diagnoses (device_id, raised_at);
CREATE INDEX diagnoses_raised_idx ON diagnoses (raised_at);
-- At most one active diagnosis per device and fault: the engine never re-raises an active one.
CREATE UNIQUE INDEX diagnoses_active_uq ON diagnoses (device_id, fault) WHERE status = 'active';

-- Rule sets that replace a device type's shipped rules (PUT /api/v1/rules/:type).
CREATE TABLE rule_sets (
  device_type text PRIMARY KEY,
  rule_set    jsonb NOT NULL,
  updated_at  timestamptz NOT NULL
);
