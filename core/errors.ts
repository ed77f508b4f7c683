/**
 * The error catalogue: stable codes, never reused. Known errors carry their
 * HTTP status; the api's error handler maps them to `{ code, message }`.
 */
export class FleetdocError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details?: unknown;
  constructor(code: string, statusCode: number, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FleetdocError';
    this.code = code;
    this.statusCode = statusCode;
    this.details = options?.details;
  }
}

function define(code: string, statusCode: number) {
  const make = (message: string, options?: { cause?: unknown; details?: unknown }) =>
    new FleetdocError(code, statusCode, message, options);
  make.code = code;
  return make;
}

export const errors = {
  config: define('FLEETDOC_ERR_CONFIG', 500),
  validation: define('FLEETDOC_ERR_VALIDATION', 400),
  unauthorized: define('FLEETDOC_ERR_UNAUTHORIZED', 401),
  forbidden: define('FLEETDOC_ERR_FORBIDDEN', 403),
  deviceNotFound: define('FLEETDOC_ERR_DEVICE_NOT_FOUND', 404),
  deviceTypeNotFound: define('FLEETDOC_ERR_DEVICE_TYPE_NOT_FOUND', 404),
  commandNotFound: define('FLEETDOC_ERR_COMMAND_NOT_FOUND', 404),
  apiKeyNotFound: define('FLEETDOC_ERR_API_KEY_NOT_FOUND', 404),
  notFound: define('FLEETDOC_ERR_NOT_FOUND', 404),
  deviceExists: define('FLEETDOC_ERR_DEVICE_EXISTS', 409),
  deviceTypeExists: define('FLEETDOC_ERR_DEVICE_TYPE_EXISTS', 409),
  deviceDisabled: define('FLEETDOC_ERR_DEVICE_DISABLED', 409),
  storeUnavailable: define('FLEETDOC_ERR_STORE_UNAVAILABLE', 503),
  commandPublishFailed: define('FLEETDOC_ERR_COMMAND_PUBLISH_FAILED', 503),
  badRequest: define('FLEETDOC_ERR_BAD_REQUEST', 400),
} as const;

export function isFleetdocError(err: unknown): err is FleetdocError {
  return err instanceof FleetdocError;
}
