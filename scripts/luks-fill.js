#!/usr/bin/env node
// Writes a plaintext file into a LUKS container's payload, encrypted as dm-crypt would (aes-xts-plain64,
// 512-byte sectors, IV = the sector's number in the payload, little-endian), given the volume key the
// container was formatted with (`cryptsetup luksFormat --volume-key-file`). Test evidence only: the host
// here has no device-mapper, so a LUKS volume's contents cannot be written through cryptsetup.
//
//   node scripts/luks-fill.js <container> <payload offset in bytes> <volume key file> <plaintext file>
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const { Buffer } = require("buffer");

const [container, offsetText, keyFile, plainFile] = process.argv.slice(2);
if (!plainFile) {
  console.error("usage: luks-fill.js <container> <payload offset in bytes> <volume key file> <plaintext file>");
  process.exit(2);
}
const SECTOR = 512;
const key = fs.readFileSync(keyFile);
if (key.length !== 64) throw new Error(`${keyFile}: an aes-xts-plain64 key of 512 bits is 64 bytes, not ${key.length}`);
const offset = Number(offsetText);
const plain = fs.readFileSync(plainFile);
if (plain.length % SECTOR !== 0) throw new Error(`${plainFile}: ${plain.length} bytes is not a whole number of sectors`);
const room = fs.statSync(container).size - offset;
if (plain.length > room) throw new Error(`${plainFile} (${plain.length} bytes) does not fit the payload (${room} bytes)`);

const out = Buffer.alloc(plain.length);
const iv = Buffer.alloc(16);
for (let sector = 0; sector * SECTOR < plain.length; sector++) {
  iv.fill(0);
  iv.writeBigUInt64LE(BigInt(sector));
  const cipher = crypto.createCipheriv("aes-256-xts", key, iv).setAutoPadding(false);
  const at = sector * SECTOR;
  const done = Buffer.concat([cipher.update(plain.subarray(at, at + SECTOR)), cipher.final()]);
  done.copy(out, at);
}
const fd = fs.openSync(container, "r+");
try {
  fs.writeSync(fd, out, 0, out.length, offset);
} finally {
  fs.closeSync(fd);
}
