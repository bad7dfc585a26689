// Transpiles one TypeScript file to CommonJS, as the fabric-samples applications' own
// `npm run build` (tsc) would emit it, without their type-checking dev dependencies.
// Usage: node transpile.js IN.ts OUT.js
'use strict';

const fs = require('node:fs');
const ts = require('typescript');

const [input, output] = process.argv.slice(2);
const { outputText } = ts.transpileModule(fs.readFileSync(input, 'utf8'), {
    fileName: input,
    compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
    },
});
fs.writeFileSync(output, outputText);
