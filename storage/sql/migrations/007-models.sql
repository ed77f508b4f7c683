-- Anomaly models registered through the api (npm run model:train), one per
-- device type; they replace the shipped model of that type. The ONNX files
-- are stored as base64 text so PGlite and PostgreSQL return them alike.
CREATE TABLE models (
  device_type      text PRIMARY KEY,
  model_id         text NOT NULL,
  card             jsonb NOT NULL,
  anomaly_onnx     text NOT NULL,
  classifier_onnx  text,
  version          integer NOT NULL,
  updated_at       timestamptz NOT NULL
);
