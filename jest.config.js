// Two projects: `unit` needs only the host; `guest` boots real analysis guests (KVM where it works,
// QEMU software emulation otherwise) and runs one file at a time, since each guest takes a core.
const base = {
  preset: "ts-jest",
  testEnvironment: "node",
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
