-- The diagnosis engine's per-device state (learnt baselines, rolling windows,
-- k-of-n masks; the anomaly model's calibration), checkpointed so that a
-- restart resumes it instead of relearning every device's normal. `part` is
-- 'rules' or 'model'; `state_key` names the compiled rule set or the model the
-- bytes belong to (a state is only restored into the same one). Base64 text
-- so PGlite and PostgreSQL return it alike; no foreign key, like diagnoses.
CREATE TABLE diagnosis_state (
  device_id  text NOT NULL,
  part       text NOT NULL CHECK (part IN ('rules', 'model')),
  state_key  text NOT NULL,
  state      text NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (device_id, part)
);
