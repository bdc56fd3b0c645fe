// ESLint for the TypeScript of the package, the policy pack, the tests and the bench:
// typescript-eslint's recommended rules. Formatting is Prettier's job (.prettierrc.json), not ESLint's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "policy/node_modules/**", "dist/**", "policy/bin/**", "engine/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    rules: {
      // Unused names are errors, except a deliberate `_` prefix.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // Refusing control characters in paths, names and messages is the point of those expressions.
      "no-control-regex": "off",
    },
  },
  {
    // Tests and their helpers stand in for the engine and read JSON of any shape; they may load
    // modules lazily (after mocks are set up).
    files: ["**/*.test.ts", "test/**/*.ts", "policy/tests/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Plain Node.js scripts (CommonJS).
    files: ["**/*.js", "**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: {
        require: "readonly",
        module: "writable",
        process: "readonly",
        console: "readonly",
        __dirname: "readonly",
        setTimeout: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
