/**
 * Sites: where devices stand. Each site has its own climate (a daily and a
 * seasonal rhythm around its mean, plus slow day-to-day weather) and time
 * zone, shared by every device there.
 */
import { Rng, seedOf } from '../rng.ts';
import { DAY, hourOfDay, yearFraction } from '../time.ts';

export interface SiteEnv {
  id: string;
  utcOffsetH: number;
  meanC: number;
  seasonalAmpC: number;
  dailyAmpC: number;
  /** +1 northern, −1 southern hemisphere. */
  hemisphere: number;
  weatherSeed: number;
}

export function createSite(seed: number | string, id: string): SiteEnv {
  const r = new Rng(seedOf(seed, id, 'site'));
  return {
    id,
    utcOffsetH: r.int(-5, 9),
    meanC: r.uniform(6, 22),
    seasonalAmpC: r.uniform(4, 12),
    dailyAmpC: r.uniform(3, 7),
    hemisphere: r.chance(0.85) ? 1 : -1,
    weatherSeed: seedOf(seed, id, 'weather'),
  };
}

/** Weather anomaly (°C) for a whole day, from a hash: same for every device at the site. */
function dayAnomaly(site: SiteEnv, day: number): number {
  return new Rng((site.weatherSeed ^ Math.imul(day, 0x9e3779b1)) >>> 0).gauss(0, 2.5);
}

/**
 * Outdoor temperature at the site: seasonal + daily rhythm (peak around
 * 15:00 local) + a weather anomaly interpolated between days.
 */
export function outdoorTempC(site: SiteEnv, ts: number): number {
  const season = Math.cos(2 * Math.PI * (yearFraction(ts) - 0.55)) * site.hemisphere;
  const daily = Math.cos((2 * Math.PI * (hourOfDay(ts, site.utcOffsetH) - 15)) / 24);
  const d = ts / DAY;
  const d0 = Math.floor(d);
  const w = d - d0;
  const anomaly = dayAnomaly(site, d0) * (1 - w) + dayAnomaly(site, d0 + 1) * w;
  return site.meanC + site.seasonalAmpC * season + site.dailyAmpC * daily + anomaly;
}

/** Seasonal baseline only (for slow things such as mains water temperature). */
export function seasonalTempC(site: SiteEnv, ts: number): number {
  return site.meanC + site.seasonalAmpC * Math.cos(2 * Math.PI * (yearFraction(ts) - 0.6)) * site.hemisphere;
}

