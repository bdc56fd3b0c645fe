/**
 * Test ports (test/support/loopback.ts): a guest's forward is set up seconds after its port is picked, so
 * the port must come from where the kernel never hands ports out by itself, and not from the lab's own
 * derived range either.
 */
import * as fs from "fs";
import * as net from "net";
import { deriveSshPort } from "../../lib/config/parse";
import { freeLoopbackPort, TEST_PORTS } from "./loopback";

test("the test range lies below this machine's ephemeral range and below the lab's derived guest ports", () => {
  const [ephemeralLow] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  expect(TEST_PORTS.last).toBeLessThan(ephemeralLow);
  for (const caseId of ["case-1", "case-demo", "ci", "x".repeat(40)]) expect(deriveSshPort(caseId)).toBeGreaterThan(TEST_PORTS.last);
});

test("a port from the test range that can be listened on; a taken one is passed over", async () => {
  const held = net.createServer();
  const heldPort = await freeLoopbackPort();
  await new Promise<void>((resolve) => held.listen(heldPort, "127.0.0.1", resolve));
  const span = TEST_PORTS.last - TEST_PORTS.first + 1;
  // The first pick lands on the held port: it must be passed over, not handed out.
  const random = jest.spyOn(Math, "random").mockReturnValueOnce((heldPort - TEST_PORTS.first + 0.5) / span);
  try {
    const port = await freeLoopbackPort();
    expect(random).toHaveBeenCalledTimes(2);
    expect(port).not.toBe(heldPort);
    expect(port).toBeGreaterThanOrEqual(TEST_PORTS.first);
    expect(port).toBeLessThanOrEqual(TEST_PORTS.last);
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer().once("error", reject);
      server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
    });
  } finally {
    random.mockRestore();
    await new Promise((resolve) => held.close(resolve));
  }
});
