-- Device types and the device registry.
CREATE TABLE device_types (
  name        text PRIMARY KEY,
  -- The validated DeviceType definition (core/domain/device-type.ts).
  definition  jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
  id            text PRIMARY KEY,
  type          text NOT NULL REFERENCES device_types (name),
  model         text,
  firmware      text,
  site          text,
  owner         text,
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  -- sha256 of the device secret; the secret itself is shown once and never stored.
  secret_hash   text NOT NULL,
  online        boolean NOT NULL DEFAULT false,
  last_seen_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX devices_type_idx ON devices (type);
CREATE INDEX devices_site_idx ON devices (site);
-- Few devices are online at once compared with the fleet; the partial index stays small.
CREATE INDEX devices_online_idx ON devices (id) WHERE online;
