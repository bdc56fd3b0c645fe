#!/usr/bin/env node
// Writes the members of an md RAID5 array as md would leave them, clean: a metadata 1.2 superblock 4 KiB
// into each member, and the array's contents cut into 64 KiB chunks over the members' data areas (from
// 1 MiB into each member) in md's default layout, left-symmetric, with each stripe's parity the XOR of its
// data chunks. Test evidence only: the host here has no md driver (and no device-mapper) to make an array
// with, so the superblocks and the stripes are written here, and `mdadm --examine` and `blkid -p` read them.
//
//   node scripts/md-raid5.js size <member bytes> <member count>
//       prints the array's size in bytes: what the contents file of `write` must hold exactly
//   node scripts/md-raid5.js write <array uuid, 32 hex digits> <set name> <contents file> <member file>...
//       writes into each member file (already of its member's size, e.g. made by truncate), in role order
//   node scripts/md-raid5.js verify <contents file> <member file>...
//       reads the members back as md would assemble them (their superblocks say where and how), checks
//       each superblock's checksum, each stripe's parity, and that the data is the contents file byte for
//       byte; prints nothing and exits 0 when all hold
//
// The superblock is struct mdp_superblock_1 of the kernel's include/uapi/linux/raid/md_p.h, its checksum
// that of calc_sb_1_csum in drivers/md/md.c. Times, the event count and the members' own UUIDs are fixed
// (derived from the array's UUID), so the same contents give the same members.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const { Buffer } = require("buffer");

const SECTOR = 512;
const MD_MAGIC = 0xa92b4efc;
const SUPER_OFFSET = 8; // sectors: metadata 1.2 lies 4 KiB from the member's start
const SUPER_BYTES = 4096;
const DATA_OFFSET = 2048; // sectors: the data area starts 1 MiB into the member
const CHUNK = 128; // sectors: 64 KiB, mdadm's default chunk
const LEVEL = 5;
const LAYOUT = 2; // ALGORITHM_LEFT_SYMMETRIC, md's default for RAID5
const MAX_DEV = 128; // role slots after the superblock; those of no member read 0xffff (spare/unused)
const CTIME = 1577836800; // 2020-01-01T00:00:00Z; seconds in the low 40 bits, no microseconds
const UTIME = CTIME + 3600;
const EVENTS = 20n;
const CLEAN = 0xffffffffffffffffn; // resync_offset: nothing left to resync

/** Each member's data sectors: what lies after the data offset, whole chunks only (md's rounding). */
function dataSectors(memberBytes) {
  return Math.floor((Math.floor(memberBytes / SECTOR) - DATA_OFFSET) / CHUNK) * CHUNK;
}

/** Where stripe `stripe` of an n-member left-symmetric RAID5 lies: its parity's member, then its data chunks' in order. */
function stripeLayout(stripe, n) {
  const parity = n - 1 - (stripe % n);
  const data = [];
  for (let k = 0; k < n - 1; k++) data.push((parity + 1 + k) % n);
  return { parity, data };
}

/** calc_sb_1_csum: the little-endian 32-bit words of the superblock and its role table, the checksum word as 0, summed, the carry folded in once. */
function checksum(sb) {
  const copy = Buffer.from(sb);
  copy.writeUInt32LE(0, 216);
  let size = 256 + copy.readUInt32LE(220) * 2;
  let sum = 0n;
  let at = 0;
  for (; size >= 4; size -= 4, at += 4) sum += BigInt(copy.readUInt32LE(at));
  if (size === 2) sum += BigInt(copy.readUInt16LE(at));
  return Number(((sum & 0xffffffffn) + (sum >> 32n)) & 0xffffffffn);
}

/** Member `role`'s metadata 1.2 superblock (struct mdp_superblock_1) with its role table, in a 4 KiB block. */
function superblock(uuid, name, role, members, size) {
  const sb = Buffer.alloc(SUPER_BYTES);
  sb.writeUInt32LE(MD_MAGIC, 0);
  sb.writeUInt32LE(1, 4); // major_version; feature_map and pad0 stay 0: no bitmap, no reshape
  uuid.copy(sb, 16); // set_uuid
  sb.write(name, 32, 32, "latin1"); // set_name
  sb.writeBigUInt64LE(BigInt(CTIME), 64);
  sb.writeUInt32LE(LEVEL, 72);
  sb.writeUInt32LE(LAYOUT, 76);
  sb.writeBigUInt64LE(BigInt(size), 80); // size: the sectors of each member the array uses
  sb.writeUInt32LE(CHUNK, 88);
  sb.writeUInt32LE(members, 92); // raid_disks; bitmap_offset and the reshape fields stay 0
  sb.writeBigUInt64LE(BigInt(DATA_OFFSET), 128);
  sb.writeBigUInt64LE(BigInt(size), 136); // data_size
  sb.writeBigUInt64LE(BigInt(SUPER_OFFSET), 144); // super_offset; recovery_offset stays 0
  sb.writeUInt32LE(role, 160); // dev_number: this member's slot in the role table
  crypto
    .createHash("sha256")
    .update(`${uuid.toString("hex")} member ${role}`)
    .digest()
    .copy(sb, 168, 0, 16); // device_uuid
  sb.writeBigUInt64LE(BigInt(UTIME), 192);
  sb.writeBigUInt64LE(EVENTS, 200);
  sb.writeBigUInt64LE(CLEAN, 208);
  sb.writeUInt32LE(MAX_DEV, 220);
  for (let slot = 0; slot < MAX_DEV; slot++) sb.writeUInt16LE(slot < members ? slot : 0xffff, 256 + slot * 2); // dev_roles
  sb.writeUInt32LE(checksum(sb), 216);
  return sb;
}

function withFiles(files, flags, work) {
  const fds = files.map((file) => fs.openSync(file, flags));
  try {
    return work(fds);
  } finally {
    fds.forEach((fd) => fs.closeSync(fd));
  }
}

function read(fd, length, position, what) {
  const buffer = Buffer.alloc(length);
  const got = fs.readSync(fd, buffer, 0, length, position);
  if (got !== length) throw new Error(`${what}: ${got} bytes at ${position}, not ${length}`);
  return buffer;
}

function write(uuidHex, name, contentsFile, memberFiles) {
  if (!/^[0-9a-fA-F]{32}$/.test(uuidHex)) throw new Error(`${uuidHex}: an array UUID is 32 hex digits`);
  if (Buffer.byteLength(name, "latin1") > 32 || !/^[\x20-\x7e]+$/.test(name))
    throw new Error(`${name}: a set name is 1-32 printable characters`);
  if (memberFiles.length < 3) throw new Error("RAID5 here takes at least 3 members");
  const uuid = Buffer.from(uuidHex, "hex");
  const memberBytes = fs.statSync(memberFiles[0]).size;
  for (const file of memberFiles) {
    if (fs.statSync(file).size !== memberBytes)
      throw new Error(`${file}: the members are not of one size (${memberBytes} bytes, as ${memberFiles[0]})`);
  }
  const n = memberFiles.length;
  const size = dataSectors(memberBytes);
  if (size <= 0) throw new Error(`${memberFiles[0]}: ${memberBytes} bytes leave no room for data after ${DATA_OFFSET} sectors`);
  const arrayBytes = (n - 1) * size * SECTOR;
  if (fs.statSync(contentsFile).size !== arrayBytes)
    throw new Error(`${contentsFile}: the array holds exactly ${arrayBytes} bytes, not ${fs.statSync(contentsFile).size}`);
  const chunkBytes = CHUNK * SECTOR;
  withFiles([contentsFile], "r", ([contents]) =>
    withFiles(memberFiles, "r+", (members) => {
      members.forEach((fd, role) => fs.writeSync(fd, superblock(uuid, name, role, n, size), 0, SUPER_BYTES, SUPER_OFFSET * SECTOR));
      for (let stripe = 0; stripe < size / CHUNK; stripe++) {
        const { parity, data } = stripeLayout(stripe, n);
        const memberAt = (DATA_OFFSET + stripe * CHUNK) * SECTOR;
        const xor = Buffer.alloc(chunkBytes);
        data.forEach((member, k) => {
          const chunk = read(contents, chunkBytes, (stripe * (n - 1) + k) * chunkBytes, contentsFile);
          for (let i = 0; i < chunkBytes; i++) xor[i] ^= chunk[i];
          fs.writeSync(members[member], chunk, 0, chunkBytes, memberAt);
        });
        fs.writeSync(members[parity], xor, 0, chunkBytes, memberAt);
      }
    }),
  );
}

function verify(contentsFile, memberFiles) {
  const n = memberFiles.length;
  withFiles([contentsFile, ...memberFiles], "r", ([contents, ...members]) => {
    const sbs = members.map((fd, i) => read(fd, SUPER_BYTES, SUPER_OFFSET * SECTOR, memberFiles[i]));
    sbs.forEach((sb, i) => {
      const what = memberFiles[i];
      if (sb.readUInt32LE(0) !== MD_MAGIC || sb.readUInt32LE(4) !== 1)
        throw new Error(`${what}: no md 1.x superblock at sector ${SUPER_OFFSET}`);
      if (sb.readUInt32LE(220) > (SUPER_BYTES - 256) / 2)
        throw new Error(`${what}: ${sb.readUInt32LE(220)} role slots do not fit the superblock's 4 KiB`);
      if (checksum(sb) !== sb.readUInt32LE(216)) throw new Error(`${what}: the superblock's checksum does not match`);
      // The array's fields (set_uuid to raid_disks) and utime/events are one on every member.
      if (!sb.subarray(16, 96).equals(sbs[0].subarray(16, 96)) || !sb.subarray(192, 208).equals(sbs[0].subarray(192, 208))) {
        throw new Error(`${what}: its superblock disagrees with ${memberFiles[0]}'s on the array`);
      }
      if (sb.readBigUInt64LE(208) !== CLEAN) throw new Error(`${what}: the array is not clean (resync_offset ${sb.readBigUInt64LE(208)})`);
      const role = sb.readUInt16LE(256 + sb.readUInt32LE(160) * 2);
      if (role !== i) throw new Error(`${what}: its role is ${role}, not ${i} (the members are given in role order)`);
    });
    const sb = sbs[0];
    if (sb.readUInt32LE(72) !== 5 || sb.readUInt32LE(76) !== LAYOUT || sb.readUInt32LE(92) !== n) {
      throw new Error(
        `the superblocks say level ${sb.readInt32LE(72)}, layout ${sb.readUInt32LE(76)}, ${sb.readUInt32LE(92)} disks: not a left-symmetric RAID5 of ${n}`,
      );
    }
    const chunk = sb.readUInt32LE(88);
    const size = Number(sb.readBigUInt64LE(80));
    const chunkBytes = chunk * SECTOR;
    const arrayBytes = (n - 1) * size * SECTOR;
    if (fs.fstatSync(contents).size !== arrayBytes)
      throw new Error(`${contentsFile}: ${fs.fstatSync(contents).size} bytes, the array ${arrayBytes}`);
    const dataOffsets = sbs.map((s) => Number(s.readBigUInt64LE(128)));
    for (let stripe = 0; stripe < size / chunk; stripe++) {
      const chunks = members.map((fd, i) => read(fd, chunkBytes, (dataOffsets[i] + stripe * chunk) * SECTOR, memberFiles[i]));
      const xor = Buffer.alloc(chunkBytes);
      for (const c of chunks) for (let i = 0; i < chunkBytes; i++) xor[i] ^= c[i];
      if (xor.some((b) => b !== 0)) throw new Error(`stripe ${stripe}: the parity does not match the data`);
      stripeLayout(stripe, n).data.forEach((member, k) => {
        const at = (stripe * (n - 1) + k) * chunkBytes;
        if (!chunks[member].equals(read(contents, chunkBytes, at, contentsFile))) {
          throw new Error(`the array's bytes ${at}-${at + chunkBytes - 1} (${memberFiles[member]}) differ from ${contentsFile}`);
        }
      });
    }
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "size" && args.length === 2) {
  console.log((Number(args[1]) - 1) * dataSectors(Number(args[0])) * SECTOR);
} else if (mode === "write" && args.length >= 6) {
  write(args[0], args[1], args[2], args.slice(3));
} else if (mode === "verify" && args.length >= 4) {
  verify(args[0], args.slice(1));
} else {
  console.error(
    "usage: md-raid5.js size <member bytes> <member count> | write <array uuid> <set name> <contents file> <member file>... | verify <contents file> <member file>...",
  );
  process.exit(2);
}
