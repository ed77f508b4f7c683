/**
 * The bytes a device's rule state is checkpointed as: its f64, f32, u32 and u8 parts one after the other,
 * little-endian, with no padding. Checkpoints written by an earlier version must keep loading, so the layout is
 * pinned here against bytes built independently of DeviceState.
 */
import { describe, expect, it } from 'vitest';
import { compileRuleSet } from '../../diagnosis/rules/compile.ts';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { DeviceState } from '../../diagnosis/windows/device-state.ts';
import { TYPES } from './helpers.ts';

describe('rule state bytes', () => {
  for (const [type, rs] of loadShippedRuleSets()) {
    it(`${type}: f64, f32, u32 then u8, little-endian, unpadded; read back from any offset`, () => {
      const layout = compileRuleSet(rs, TYPES.get(type)!);
      const s = new DeviceState('d1', layout, null, null);
      s.f64.forEach((_, i) => (s.f64[i] = i + 0.5));
      s.f32.forEach((_, i) => (s.f32[i] = -i - 0.25));
      s.u32.forEach((_, i) => (s.u32[i] = 100_000 + i));
      s.u8.forEach((_, i) => (s.u8[i] = i % 251));

      const size = layout.f64.size * 8 + layout.f32.size * 4 + layout.u32.size * 4 + layout.u8.size;
      const expected = new DataView(new ArrayBuffer(size));
      let at = 0;
      for (let i = 0; i < layout.f64.size; i++, at += 8) expected.setFloat64(at, i + 0.5, true);
      for (let i = 0; i < layout.f32.size; i++, at += 4) expected.setFloat32(at, -i - 0.25, true);
      for (let i = 0; i < layout.u32.size; i++, at += 4) expected.setUint32(at, 100_000 + i, true);
      for (let i = 0; i < layout.u8.size; i++, at += 1) expected.setUint8(at, i % 251);
      const bytes = s.toBytes();
      expect(bytes.byteLength).toBe(size);
      expect(Buffer.from(bytes).equals(Buffer.from(expected.buffer))).toBe(true);

      // from a copy three bytes into a larger buffer (a database row's buffer)
      const host = new Uint8Array(size + 7);
      host.set(bytes, 3);
      const back = DeviceState.fromBytes('d1', layout, null, null, host.subarray(3, 3 + size))!;
      expect(Array.from(back.f64)).toEqual(Array.from(s.f64));
      expect(Array.from(back.f32)).toEqual(Array.from(s.f32));
      expect(Array.from(back.u32)).toEqual(Array.from(s.u32));
      expect(Array.from(back.u8)).toEqual(Array.from(s.u8));
      // and the state's own copy, not a view of the caller's bytes
      host.fill(0);
      expect(back.f64[1]).toBe(1.5);
      expect(DeviceState.fromBytes('d1', layout, null, null, bytes.subarray(1))).toBeNull();
    });
  }
});
