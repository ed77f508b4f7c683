/**
 * Device simulator (fleets with injected, labelled faults). Built by the
 * simulator issue; it talks to a running platform over MQTT and HTTP only.
 */
export const SIMULATOR_AVAILABLE = false;
