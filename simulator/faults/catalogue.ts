/**
 * The fault catalogue as data: what the simulator injects and what the
 * diagnosis engine and tickets can import (remedy class, command, owner
 * guide, spare part, affected metrics). Codes are slugs and never reused.
 *
 * `affectedMetrics[].effect` is the direction of the metric's mean over a
 * day against the same device without the fault, once the fault is well
 * developed; `when` narrows where it shows most clearly.
 */
export type RemedyClass = 'command' | 'owner' | 'technician';

export interface AffectedMetric {
  metric: string;
  effect: 'up' | 'down';
  when?: string;
}

export interface FaultDef {
  code: string;
  deviceType: string;
  title: string;
  description: string;
  remedyClass: RemedyClass;
  /** Device command that fixes it (remedyClass `command`). */
  command: string | null;
  /** Title of the owner's guide (remedyClass `owner`). */
  ownerGuide: string | null;
  /** Spare part a technician brings (remedyClass `technician`). */
  sparePart: string | null;
  affectedMetrics: AffectedMetric[];
  /** Error codes the device raises on devices/{id}/events as the fault develops; [] = telemetry only. */
  eventCodes: string[];
  /** Progression: severity = u^shape, u = elapsed share from onset to functional failure. */
  shape: number;
}

export interface DeviceCommandDef {
  name: string;
  description: string;
}

const f = (d: FaultDef): FaultDef => d;

export const FAULTS: readonly FaultDef[] = [
  // ── screw air compressor ────────────────────────────────────────────────
  f({
    code: 'ac-air-filter-clog', deviceType: 'air-compressor', title: 'Intake air filter clogging',
    description: 'Dust loads the intake filter: its pressure drop rises, the air end works against a deeper inlet vacuum and draws more current.',
    remedyClass: 'owner', command: null, ownerGuide: 'Clean or replace the intake air filter', sparePart: null,
    affectedMetrics: [{ metric: 'airFilterDpMbar', effect: 'up', when: 'loaded' }, { metric: 'motorCurrentA', effect: 'up', when: 'loaded' }, { metric: 'dischargeTempC', effect: 'up', when: 'loaded' }],
    eventCodes: ['W-AIR-FILTER'], shape: 1.6,
  }),
  f({
    code: 'ac-cooler-fouling', deviceType: 'air-compressor', title: 'Oil/air cooler fouling',
    description: 'Dirt and oil mist on the cooler fins cut its heat transfer: oil and discharge temperature climb, most on hot afternoons under load.',
    remedyClass: 'owner', command: null, ownerGuide: 'Clean the oil cooler fins with compressed air', sparePart: null,
    affectedMetrics: [{ metric: 'oilTempC', effect: 'up', when: 'loaded, high ambient' }, { metric: 'dischargeTempC', effect: 'up', when: 'loaded, high ambient' }],
    eventCodes: ['W-HIGH-DISCHARGE-TEMP'], shape: 1.4,
  }),
  f({
    code: 'ac-bearing-wear', deviceType: 'air-compressor', title: 'Air-end bearing wear',
    description: 'Rolling-element bearing wear: vibration grows slowly, then fast; friction adds a little current and heat.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Air-end bearing kit',
    affectedMetrics: [{ metric: 'vibrationRmsMmS', effect: 'up' }, { metric: 'motorCurrentA', effect: 'up', when: 'running' }],
    eventCodes: ['E-VIBRATION'], shape: 2.6,
  }),
  f({
    code: 'ac-air-leak', deviceType: 'air-compressor', title: 'Compressed-air leak in the network',
    description: 'A leak adds a constant demand: the compressor loads more often and for longer, most visibly at night and at weekends.',
    remedyClass: 'owner', command: null, ownerGuide: 'Find and fix compressed-air leaks', sparePart: null,
    affectedMetrics: [{ metric: 'loaded', effect: 'up', when: 'low demand (nights, weekends)' }, { metric: 'motorCurrentA', effect: 'up', when: 'low demand' }, { metric: 'runHours', effect: 'up' }],
    eventCodes: [], shape: 1.2,
  }),
  f({
    code: 'ac-oil-loss', deviceType: 'air-compressor', title: 'Oil loss (leak or carry-over)',
    description: 'Less oil injected means less heat carried away: discharge temperature rises far more than oil temperature until the high-temperature trip.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Oil seal kit and 5 l compressor oil',
    affectedMetrics: [{ metric: 'dischargeTempC', effect: 'up', when: 'loaded' }, { metric: 'oilTempC', effect: 'up', when: 'loaded' }],
    eventCodes: ['E-HIGH-DISCHARGE-TEMP'], shape: 1.8,
  }),
  f({
    code: 'ac-separator-clog', deviceType: 'air-compressor', title: 'Oil-separator element clogging',
    description: 'The separator element loads up: its pressure drop rises and the motor works against a higher internal pressure.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Oil-separator element',
    affectedMetrics: [{ metric: 'separatorDpBar', effect: 'up', when: 'loaded' }, { metric: 'motorCurrentA', effect: 'up', when: 'loaded' }],
    eventCodes: ['W-SEPARATOR'], shape: 1.5,
  }),
  f({
    code: 'ac-inlet-valve-sticking', deviceType: 'air-compressor', title: 'Inlet valve sticking (varnish)',
    description: 'The inlet valve no longer opens fully: delivery drops, load periods lengthen, pressure sags under demand and loaded current falls.',
    remedyClass: 'command', command: 'exercise-inlet-valve', ownerGuide: null, sparePart: null,
    affectedMetrics: [{ metric: 'loaded', effect: 'up' }, { metric: 'dischargePressureBar', effect: 'down', when: 'high demand' }, { metric: 'airFilterDpMbar', effect: 'down', when: 'loaded' }],
    eventCodes: [], shape: 1.3,
  }),

  // ── refrigerator ────────────────────────────────────────────────────────
  f({
    code: 'rf-condenser-dust', deviceType: 'refrigerator', title: 'Dusty condenser coil',
    description: 'Dust and fluff on the condenser raise the condensing temperature: more current, longer runs, warmer compartments at the end.',
    remedyClass: 'owner', command: null, ownerGuide: 'Vacuum the condenser coil behind the appliance', sparePart: null,
    affectedMetrics: [{ metric: 'condenserTempC', effect: 'up', when: 'compressor on' }, { metric: 'compressorDutyPct', effect: 'up' }, { metric: 'compressorCurrentA', effect: 'up', when: 'compressor on' }],
    eventCodes: [], shape: 1.3,
  }),
  f({
    code: 'rf-door-seal-leak', deviceType: 'refrigerator', title: 'Door seal leak',
    description: 'Warm, humid room air leaks past a worn gasket: higher duty, faster frosting, a warmer cabinet.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Door gasket',
    affectedMetrics: [{ metric: 'compressorDutyPct', effect: 'up' }, { metric: 'cabinetTempC', effect: 'up' }],
    eventCodes: [], shape: 1.2,
  }),
  f({
    code: 'rf-refrigerant-leak', deviceType: 'refrigerator', title: 'Refrigerant leak',
    description: 'Undercharge: the evaporator runs warmer, the compressor runs almost all the time at lower current, compartments warm up.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Leak repair and R600a recharge',
    affectedMetrics: [{ metric: 'evaporatorTempC', effect: 'up', when: 'compressor on' }, { metric: 'compressorDutyPct', effect: 'up' }, { metric: 'freezerTempC', effect: 'up' }, { metric: 'cabinetTempC', effect: 'up' }],
    eventCodes: ['E-FREEZER-WARM'], shape: 1.7,
  }),
  f({
    code: 'rf-defrost-heater-failure', deviceType: 'refrigerator', title: 'Defrost heater failure',
    description: 'Defrost cycles run but the heater no longer melts the ice: the evaporator ices up, cooling fades, duty and cabinet temperature rise.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Defrost heater element',
    affectedMetrics: [{ metric: 'evaporatorTempC', effect: 'down', when: 'compressor on' }, { metric: 'compressorDutyPct', effect: 'up' }],
    eventCodes: ['E-DEFROST-TIMEOUT'], shape: 1.2,
  }),
  f({
    code: 'rf-defrost-timer-stuck', deviceType: 'refrigerator', title: 'Defrost timer stuck (no defrost cycles)',
    description: 'The controller stops scheduling defrosts: no defrost periods, ice builds up on the evaporator. A forced defrost clears the ice and restarts the timer.',
    remedyClass: 'command', command: 'defrost', ownerGuide: null, sparePart: null,
    affectedMetrics: [{ metric: 'defrostActive', effect: 'down' }, { metric: 'evaporatorTempC', effect: 'down', when: 'compressor on' }, { metric: 'compressorDutyPct', effect: 'up' }],
    eventCodes: [], shape: 1,
  }),

  // ── washing machine ─────────────────────────────────────────────────────
  f({
    code: 'wm-inlet-valve-clog', deviceType: 'washing-machine', title: 'Inlet valve filter clogged',
    description: 'Limescale and grit in the inlet screen slow the fill: fill times grow until the fill timeout.',
    remedyClass: 'owner', command: null, ownerGuide: 'Clean the inlet hose filter screen', sparePart: null,
    affectedMetrics: [{ metric: 'fillTimeS', effect: 'up' }],
    eventCodes: ['E-FILL-TIMEOUT'], shape: 1.5,
  }),
  f({
    code: 'wm-drain-pump-clog', deviceType: 'washing-machine', title: 'Drain pump filter clogged',
    description: 'Lint and coins block the pump filter: drain times grow until the drain timeout.',
    remedyClass: 'owner', command: null, ownerGuide: 'Empty and clean the drain pump filter', sparePart: null,
    affectedMetrics: [{ metric: 'drainTimeS', effect: 'up' }],
    eventCodes: ['E-DRAIN-TIMEOUT'], shape: 1.5,
  }),
  f({
    code: 'wm-shock-absorber-wear', deviceType: 'washing-machine', title: 'Shock absorber wear',
    description: 'Worn dampers let the tub move: drum vibration during spin rises for the same imbalance.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Shock absorber pair',
    affectedMetrics: [{ metric: 'drumVibrationG', effect: 'up', when: 'spin' }],
    eventCodes: [], shape: 1.8,
  }),
  f({
    code: 'wm-heater-failure', deviceType: 'washing-machine', title: 'Heater element failure',
    description: 'Scale and a failing element slow heating until the water no longer warms; the heating timeout ends the wash cold.',
    remedyClass: 'technician', command: null, ownerGuide: null, sparePart: 'Heating element',
    affectedMetrics: [{ metric: 'heaterTempC', effect: 'down', when: 'wash' }, { metric: 'heaterOn', effect: 'up' }],
    eventCodes: ['E-HEATING-TIMEOUT'], shape: 1.6,
  }),
  f({
    code: 'wm-level-sensor-drift', deviceType: 'washing-machine', title: 'Water-level sensor drift (condensate in the pressure hose)',
    description: 'Condensate in the pressure-switch hose makes the level read high: fills stop early and short. A level-sensor purge clears it.',
    remedyClass: 'command', command: 'purge-level-sensor', ownerGuide: null, sparePart: null,
    affectedMetrics: [{ metric: 'fillTimeS', effect: 'down' }, { metric: 'waterLevelMm', effect: 'up', when: 'idle' }, { metric: 'motorCurrentA', effect: 'down', when: 'wash' }],
    eventCodes: [], shape: 1.2,
  }),
];

/** Commands each simulated device type understands (a command not listed here is acknowledged `failed`). */
export const DEVICE_COMMANDS: Readonly<Record<string, readonly DeviceCommandDef[]>> = {
  'air-compressor': [
    { name: 'exercise-inlet-valve', description: 'Cycles the inlet valve fully open/closed 20 times to free it' },
    { name: 'purge-condensate', description: 'Opens the condensate drain for a few seconds' },
  ],
  refrigerator: [
    { name: 'defrost', description: 'Runs a forced defrost cycle and restarts the defrost timer' },
  ],
  'washing-machine': [
    { name: 'purge-level-sensor', description: 'Runs the drain pump and re-zeros the water-level sensor' },
    { name: 'drum-clean', description: 'Runs a hot drum-cleaning programme' },
  ],
};

const BY_CODE = new Map(FAULTS.map((d) => [d.code, d]));

export function faultDef(code: string): FaultDef {
  const d = BY_CODE.get(code);
  if (!d) throw new Error(`unknown fault code ${code}`);
  return d;
}

export function faultsForType(deviceType: string): FaultDef[] {
  return FAULTS.filter((d) => d.deviceType === deviceType);
}
