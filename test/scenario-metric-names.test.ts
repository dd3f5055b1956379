import { readFileSync } from 'node:fs'
import t from 'tap'
import { METRICS } from '../src/scenario/metrics.ts'
import { SCENARIO_SCHEMA_PATH } from '../src/scenario/load-scenario.ts'

// The schema lists the metrics an expectation may name; metrics.ts measures
// them. The two lists are the same, so no expectation can name a metric that
// is never measured, and editors offer every one that is.
t.test('scenario - the schema\'s metric names are exactly the measured metrics', async (t) => {
  const schema = JSON.parse(readFileSync(SCENARIO_SCHEMA_PATH, 'utf8'))
  t.same(schema.$defs.expectation.properties.metric.enum, Object.keys(METRICS))
})
