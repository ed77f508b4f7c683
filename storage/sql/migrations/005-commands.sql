CREATE TABLE commands (
  id          text PRIMARY KEY,
  device_id   text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  name        text NOT NULL,
  params      jsonb NOT NULL DEFAULT '{}'::jsonb,
  status      text NOT NULL CHECK (status IN ('sent', 'accepted', 'done', 'failed', 'expired')),
  detail      text,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);

CREATE INDEX commands_device_created_idx ON commands (device_id, created_at);
-- expireCommands scans only unfinished commands.
CREATE INDEX commands_unfinished_expiry_idx ON commands (expires_at) WHERE status IN ('sent', 'accepted');
