// Two projects: `unit` needs only the host; `guest` boots real analysis guests (KVM where it works,
// QEMU software emulation otherwise) and runs one file at a time, since each guest takes a core.
const base = {
  preset: "ts-jest",
  testEnvironment: "node",
  // Many unit tests spawn bash, ssh or qemu-img; npm test runs them on two workers beside the guest image
  // and engine builds, where jest's 5 s default was seen to run out. A test that needs longer says so.
  testTimeout: 30_000,
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true, diagnostics: false }] },
};

module.exports = {
  projects: [
    {
      ...base,
      displayName: "unit",
      testMatch: ["<rootDir>/**/*.test.ts"],
      testPathIgnorePatterns: ["/node_modules/", "/dist/", "\\.guest\\.test\\.ts$", "/policy/node_modules/"],
    },
    {
      ...base,
      displayName: "guest",
      testMatch: ["<rootDir>/**/*.guest.test.ts"],
      testPathIgnorePatterns: ["/node_modules/", "/dist/"],
    },
  ],
};
