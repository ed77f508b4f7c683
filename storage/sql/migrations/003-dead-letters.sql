-- No foreign key to devices: unknown devices are one of the reasons to dead-letter.
CREATE TABLE dead_letters (
  id             bigserial PRIMARY KEY,
  device_id      text NOT NULL,
  topic          text NOT NULL,
  reason         text NOT NULL,
  detail         text NOT NULL,
  payload        text NOT NULL,
  payload_bytes  integer NOT NULL,
  received_at    timestamptz NOT NULL
);

CREATE INDEX dead_letters_device_received_idx ON dead_letters (device_id, received_at);
CREATE INDEX dead_letters_reason_received_idx ON dead_letters (reason, received_at);
-- The unfiltered listing, newest first.
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);
