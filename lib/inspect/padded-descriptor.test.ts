import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inspectImage, InspectError } from ".";

// qemu-img leaves some snapshot descriptors as text padded to a full sector with NULs; VMware tools do
// the same. Text, then only NULs, is still a descriptor; a NUL followed by more text is not.
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "padded-descriptor-"));
  execFileSync("qemu-img", ["create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", path.join(dir, "disk.vmdk"), "8M"]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a NUL-padded descriptor is inspected like the unpadded one", async () => {
  const plain = await inspectImage(path.join(dir, "disk.vmdk"));
  const text = fs.readFileSync(path.join(dir, "disk.vmdk"));
  const padded = Buffer.alloc(Math.ceil(text.length / 512) * 512 + 512);
  text.copy(padded);
  fs.writeFileSync(path.join(dir, "disk.vmdk"), padded);
  const manifest = await inspectImage(path.join(dir, "disk.vmdk"));
  expect(manifest.chain).toEqual(plain.chain);
  expect(manifest.virtualSize).toBe(8 * 1024 * 1024);
  const info = JSON.parse(
    execFileSync("qemu-img", ["info", "--output=json", "-f", "vmdk", path.join(dir, "disk.vmdk")], { encoding: "utf8" }),
  );
  expect(info["virtual-size"]).toBe(manifest.virtualSize);
});

test("text after a NUL is binary junk, not a descriptor", async () => {
  const file = path.join(dir, "junk.vmdk");
  fs.writeFileSync(
    file,
    Buffer.concat([Buffer.from("# Disk DescriptorFile\nversion=1\n"), Buffer.from([0]), Buffer.from('RW 1 FLAT "x" 0\n')]),
  );
  await expect(inspectImage(file, { format: "vmdk" })).rejects.toThrow(InspectError);
});
