import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "data/", "bench/results/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-namespace": "off",
      "require-yield": "off"
    }
  },
  {
    // The package barrels load every module of the package: @effect/platform's pulls in the Swagger and Scalar UI
    // bundles (~20 MB of heap), @effect/platform-node's the cluster and socket servers, @effect/ai's the MCP server.
    // The bot imports the modules it uses.
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: ["@effect/platform", "@effect/platform-node", "@effect/ai", "@effect/opentelemetry"].map((name) => ({
            name,
            message: `import the module itself (\`import * as M from "${name}/M"\`): the barrel loads the whole package`
          }))
        }
      ]
    }
  }
)
