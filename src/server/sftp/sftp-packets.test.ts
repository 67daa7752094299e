import { describe, expect, it } from 'vitest';
import { MAX_PACKET, MalformedPacket, PacketFramer, PacketReader, attrsReply, nameReply, statusReply, versionReply } from './sftp-packets.js';

function frame(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, body]);
}

describe('PacketFramer', () => {
  it('cuts packets out of pieces of any size, whole ones as views, split ones copied', () => {
    const packets = [frame(3, Buffer.from('first')), frame(6, Buffer.alloc(70_000, 7)), frame(4, Buffer.alloc(0))];
    const stream = Buffer.concat(packets);
    for (const piece of [1, 3, 4, 5, 1000, stream.length]) {
      const f = new PacketFramer();
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; at += piece) {
        f.push(stream.subarray(at, at + piece));
        for (let p = f.next(); p; p = f.next()) out.push(Buffer.from(p.data));
      }
      expect(out.map((p) => p[0])).toEqual([3, 6, 4]);
      expect(out[1].length).toBe(70_001);
      expect(out[0].subarray(1).toString()).toBe('first');
      expect(f.pending).toBe(0);
    }
    const whole = new PacketFramer();
    whole.push(stream);
    expect(whole.next()!.data.buffer).toBe(stream.buffer);
  });

  it('refuses lengths of 0 and beyond the limit', () => {
    for (const len of [0, MAX_PACKET + 1, 0xffffffff]) {
      const f = new PacketFramer();
      const b = Buffer.alloc(8);
      b.writeUInt32BE(len, 0);
      expect(() => f.push(b)).toThrow(MalformedPacket);
    }
  });
});

describe('PacketReader', () => {
  it('reads fields and throws MalformedPacket past the end, on bad UTF-8 and on huge offsets', () => {
    const body = Buffer.concat([Buffer.from([0, 0, 0, 9]), Buffer.from([0, 0, 0, 2]), Buffer.from('hi'), Buffer.from([0, 0, 0, 1, 0, 0, 0, 2])]);
    const r = new PacketReader(Buffer.concat([Buffer.from([5]), body]));
    expect(r.u32()).toBe(9);
    expect(r.text()).toBe('hi');
    expect(r.u64()).toBe(2 ** 32 + 2);
    expect(() => r.u32()).toThrow(MalformedPacket);
    expect(() => new PacketReader(Buffer.from([3, 0, 0, 0, 9, 0xff])).bytes()).toThrow(MalformedPacket);
    expect(() => new PacketReader(Buffer.from([3, 0, 0, 0, 2, 0x66, 0xff])).text()).toThrow(/UTF-8/);
    expect(() => new PacketReader(Buffer.from([3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])).u64()).toThrow(/2\^53/);
  });

  it('reads every attribute flag, skipping extended pairs', () => {
    const a = Buffer.alloc(4 + 8 + 8 + 4 + 8 + 4 + 4 + 1 + 4 + 1);
    let at = a.writeUInt32BE(0x8000000f, 0);
    at = a.writeUInt32BE(0, at);
    at = a.writeUInt32BE(1234, at);
    at = a.writeUInt32BE(1000, at);
    at = a.writeUInt32BE(1001, at);
    at = a.writeUInt32BE(0o100640, at);
    at = a.writeUInt32BE(1_600_000_000, at);
    at = a.writeUInt32BE(1_700_000_000, at);
    at = a.writeUInt32BE(1, at);
    at = a.writeUInt32BE(1, at);
    a[at++] = 0x78;
    at = a.writeUInt32BE(1, at);
    a[at++] = 0x79;
    const r = new PacketReader(Buffer.concat([Buffer.from([9]), a]));
    expect(r.attrs()).toEqual({ size: 1234, uid: 1000, gid: 1001, permissions: 0o100640, atime: 1_600_000_000, mtime: 1_700_000_000 });
    expect(r.rest().length).toBe(0);
  });
});

describe('replies', () => {
  it('encode their own length and fields', () => {
    const s = statusReply(7, 4, 'nope');
    expect(s.readUInt32BE(0)).toBe(s.length - 4);
    expect([s[4], s.readUInt32BE(5), s.readUInt32BE(9)]).toEqual([101, 7, 4]);
    expect(s.toString('utf8', 17, 21)).toBe('nope');
    const a = attrsReply(1, { size: 2 ** 40 + 5, permissions: 0o100644, mtime: 42 });
    expect(a.readUInt32BE(9)).toBe(0x0d);
    expect(a.readUInt32BE(13) * 2 ** 32 + a.readUInt32BE(17)).toBe(2 ** 40 + 5);
    const n = nameReply(2, [{ filename: 'é', longname: 'x', attrs: {} }]);
    expect(n.readUInt32BE(0)).toBe(n.length - 4);
    expect(n.readUInt32BE(9)).toBe(1);
    expect(n.readUInt32BE(13)).toBe(2); // 'é' is two bytes
    const v = versionReply([['a@b', '1']]);
    expect([v[4], v.readUInt32BE(5)]).toEqual([2, 3]);
  });
});
