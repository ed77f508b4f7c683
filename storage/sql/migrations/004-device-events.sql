-- Append-heavy; no foreign key so event writes never wait on device row locks.
CREATE TABLE device_events (
  id         bigserial PRIMARY KEY,
  device_id  text NOT NULL,
  ts         timestamptz NOT NULL,
  kind       text NOT NULL,
  code       text,
  message    text,
  data       jsonb
);

CREATE INDEX device_events_device_ts_idx ON device_events (device_id, ts);
