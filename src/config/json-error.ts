/**
 * Where a JSON text goes wrong. JSON.parse's messages do not always carry a
 * position (V8: `Unexpected token '}', "..." is not valid JSON`), so this
 * small strict scanner finds the first offending offset and says what was
 * expected there, as line and column (both 1-based).
 */
export interface JsonErrorLocation {
  line: number
  column: number
  reason: string
}

class Stop extends Error {
  constructor(readonly at: number, readonly reason: string) {
    super(reason)
  }
}

export function locateJsonError(text: string): JsonErrorLocation | undefined {
  let i = 0
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const describe = (at: number) => (at >= text.length ? 'end of input' : JSON.stringify(text[at]))
  const fail = (expected: string): never => {
    throw new Stop(i, `expected ${expected}, got ${describe(i)}`)
  }
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++, i++) if (text[i] !== word[k]) fail(`"${word}"`)
  }
  const string = () => {
    i++ // opening quote
    while (i < text.length) {
      const c = text[i]!
      if (c === '"') {
        i++
        return
      }
      if (c === '\\') {
        i++
        const e = text[i]
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
              i += k
              fail('4 hex digits after \\u')
            }
          }
          i += 5
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++
        else fail('a valid escape')
      } else if (c < ' ') fail('no control characters in a string')
      else i++
    }
    fail('closing quote "\\""')
  }
  const number = () => {
    if (text[i] === '-') i++
    if (text[i] === '0') i++
    else if (/[1-9]/.test(text[i] ?? '')) while (/[0-9]/.test(text[i] ?? '')) i++
    else fail('a digit')
    if (text[i] === '.') {
      i++
      if (!/[0-9]/.test(text[i] ?? '')) fail('a digit after "."')
      while (/[0-9]/.test(text[i] ?? '')) i++
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++
      if (text[i] === '+' || text[i] === '-') i++
      if (!/[0-9]/.test(text[i] ?? '')) fail('a digit in the exponent')
      while (/[0-9]/.test(text[i] ?? '')) i++
    }
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') return void i++
      for (;;) {
        ws()
        if (text[i] !== '"') fail('a property name in double quotes')
        string()
        ws()
        if (text[i] !== ':') fail('":" after the property name')
        i++
        value()
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') return void i++
        fail('"," or "}"')
      }
    }
    if (c === '[') {
      i++
      ws()
      if (text[i] === ']') return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') return void i++
        fail('"," or "]"')
      }
    }
    if (c === '"') return string()
    if (c === 't') return literal('true')
    if (c === 'f') return literal('false')
    if (c === 'n') return literal('null')
    if (c === '-' || /[0-9]/.test(c ?? '')) return number()
    fail('a value')
  }
  try {
    value()
    ws()
    if (i < text.length) fail('end of input')
    return undefined
  } catch (err) {
    if (!(err instanceof Stop)) throw err
    const before = text.slice(0, err.at).split('\n')
    return { line: before.length, column: before[before.length - 1]!.length + 1, reason: err.reason }
  }
}
