// Mocha's spec reporter plus one closing line in the plain form CI tools read:
// "hydranet: N passed, N failed, N skipped". CommonJS because mocha require()s reporters.
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class HydranetReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    runner.on(EVENT_TEST_PASS, () => passed++);
    runner.on(EVENT_TEST_FAIL, () => failed++);
    runner.on(EVENT_TEST_PENDING, () => skipped++);
    runner.once(EVENT_RUN_END, () => {
      process.stdout.write(`\nhydranet: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    });
  }
}
module.exports = HydranetReporter;
