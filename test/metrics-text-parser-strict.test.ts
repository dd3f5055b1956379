import t from 'tap'
import { parsePromText, sampleValue } from './helpers/prom-text.ts'

// The metrics tests read /metrics with a strict text-format parser of our
// own (test/helpers/prom-text.ts). It has to be able to fail: every way an
// exposition breaks the format below is refused, naming the line, and a
// well-formed one (escapes, NaN and Inf, a timestamp, a histogram) parses
// to the values written.
const GOOD = [
  '# HELP rdma_emu_packets_sent_total Data-plane packets sent, with a \\\\ and a \\n',
  '# TYPE rdma_emu_packets_sent_total counter',
  'rdma_emu_packets_sent_total{node="server0",role="server"} 12',
  'rdma_emu_packets_sent_total{node="we\\"ird\\\\name\\n",role="client"} 3.5e2 1700000000000',
  '',
  '# a comment',
  '# TYPE rdma_emu_mrs gauge',
  'rdma_emu_mrs{node="server0",role="server",} -1',
  'rdma_emu_mrs{node="client0",role="client"} NaN',
  'rdma_emu_mrs{node="client1",role="client"} +Inf',
  '# TYPE lat histogram',
  'lat_bucket{le="0.1"} 1',
  'lat_bucket{le="+Inf"} 2',
  'lat_sum 0.3',
  'lat_count 2',
  '',
].join('\n')

t.test('metrics - the strict text-format parser reads a good exposition', async (t) => {
  const f = parsePromText(GOOD)
  t.equal(f.get('rdma_emu_packets_sent_total')!.type, 'counter')
  t.equal(f.get('rdma_emu_packets_sent_total')!.help, 'Data-plane packets sent, with a \\ and a \n')
  t.equal(sampleValue(f, 'rdma_emu_packets_sent_total', { node: 'server0' }), 12)
  t.equal(sampleValue(f, 'rdma_emu_packets_sent_total', { node: 'we"ird\\name\n' }), 350, 'escaped label value')
  t.equal(f.get('rdma_emu_packets_sent_total')!.samples[1]!.timestampMs, 1700000000000)
  t.equal(sampleValue(f, 'rdma_emu_mrs', { node: 'server0' }), -1, 'a trailing comma in the labels is allowed')
  t.ok(Number.isNaN(sampleValue(f, 'rdma_emu_mrs', { node: 'client0' })))
  t.equal(sampleValue(f, 'rdma_emu_mrs', { node: 'client1' }), Infinity)
  t.equal(f.get('lat')!.samples.length, 4, 'the histogram takes its _bucket, _sum and _count samples')
})

t.test('metrics - the strict text-format parser refuses what breaks the format', async (t) => {
  const bad: Array<[string, string, RegExp]> = [
    ['no final newline', '# TYPE a counter\na 1', /newline/],
    ['bad metric name', '# TYPE 1a gauge\n', /bad metric name/],
    ['unknown type', '# TYPE a countr\n', /unknown type/],
    ['second TYPE', '# TYPE a gauge\n# TYPE a gauge\n', /second TYPE/],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n', /after its samples/],
    ['second HELP', '# HELP a x\n# HELP a y\n', /second HELP/],
    ['value not a number', 'a{node="x"} one\n', /bad sample value/],
    ['no value', 'a{node="x"}\n', /space before the value|value/],
    ['unquoted label value', 'a{node=x} 1\n', /quoted value/],
    ['unterminated label value', 'a{node="x} 1\n', /unterminated|expected/],
    ['bad escape', 'a{node="\\t"} 1\n', /bad escape/],
    ['label twice', 'a{node="x",node="y"} 1\n', /twice/],
    ['reserved label name', 'a{__name__="x"} 1\n', /bad label name/],
    ['bad timestamp', 'a 1 soon\n', /bad timestamp/],
    ['duplicate sample', 'a{node="x"} 1\na{node="x"} 2\n', /given twice/],
    ['family split in two', 'a 1\nb 1\na{n="2"} 1\n', /appears again/],
    ['negative counter', '# TYPE c_total counter\nc_total -1\n', /counter/],
    ['NaN counter', '# TYPE c_total counter\nc_total NaN\n', /counter/],
  ]
  for (const [what, text, why] of bad) {
    t.throws(() => parsePromText(text), { name: 'PromParseError', message: why }, `${what}: refused, saying why`)
  }
})
